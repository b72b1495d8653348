#!/usr/bin/env bash
# Peer runtimes for the benchmarks (ONNX Runtime and OpenVINO, from PyPI), and
# NNCF, the peer post-training quantizer that bench/ptq_peers.py measures.
# Source it from a bench script:   source bench/peers.sh
#
# Makes, once, a virtual environment at <repo>/build/peers with Debian's
# /usr/bin/python3 (python3-venv) and pip-installs the pinned packages below
# into it; reuses it when it is there with exactly these versions. Then
# defines PEER_PYTHON (<repo>/build/peers/bin/python, absolute, so that it
# works from any directory). On failure it prints one error line (pip's
# output is in build/peers.log) and returns non-zero, which stops a caller
# running under `set -e`.
#
# Running it directly (`bash bench/peers.sh`) only sets up the environment.

# nncf 3.4.0 installs with these numpy/onnx versions unchanged (it only adds
# its own dependencies: scipy, scikit-learn, networkx, ...).
PEER_PACKAGES=(onnxruntime==1.32.0 openvino==2026.4.1 numpy==2.4.6 onnx==1.23.2 nncf==3.4.0)

_peers_setup() {
  local root venv log pkg out missing=()
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  venv="$root/build/peers"
  log="$root/build/peers.log"
  # Installed and at the pinned versions? (importlib.metadata only: fast,
  # imports none of the runtimes.)
  local check='import importlib.metadata as m, sys
for spec in sys.argv[1:]:
    name, want = spec.split("==")
    try:
        ok = m.version(name) == want
    except m.PackageNotFoundError:
        ok = False
    if not ok:
        print(spec)'
  if [ -x "$venv/bin/python" ] && out=$("$venv/bin/python" -c "$check" "${PEER_PACKAGES[@]}" 2>/dev/null); then
    [ -z "$out" ] || mapfile -t missing <<<"$out"
  else
    missing=("${PEER_PACKAGES[@]}")
  fi
  if [ "${#missing[@]}" -gt 0 ]; then
    mkdir -p "$root/build"
    : >"$log"
    if [ ! -x "$venv/bin/pip" ]; then
      rm -rf "$venv"
      if ! /usr/bin/python3 -m venv "$venv" >>"$log" 2>&1; then
        rm -rf "$venv"
        echo "peers.sh: error: '/usr/bin/python3 -m venv $venv' failed (is python3-venv installed? see $log)" >&2
        return 1
      fi
    fi
    if ! "$venv/bin/pip" install --disable-pip-version-check --no-input "${PEER_PACKAGES[@]}" >>"$log" 2>&1; then
      echo "peers.sh: error: pip install ${PEER_PACKAGES[*]} into $venv failed (no route to PyPI, or no wheel for this Python? see $log)" >&2
      return 1
    fi
    for pkg in onnxruntime openvino numpy onnx nncf; do
      if ! "$venv/bin/python" -c "import $pkg" >>"$log" 2>&1; then
        echo "peers.sh: error: $venv/bin/python cannot import $pkg after installing (see $log)" >&2
        return 1
      fi
    done
    echo "peers.sh: installed ${PEER_PACKAGES[*]} into $venv" >&2
  fi
  PEER_PYTHON="$venv/bin/python"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  _peers_setup
  echo "PEER_PYTHON=$PEER_PYTHON"
else
  _peers_setup || return 1
fi
