#!/usr/bin/env bash
# `kestrel serve` measured by Triton's own load generator, perf_analyzer (C++,
# KServe v2 over HTTP with binary tensors), with dynamic batching on and off,
# and `kestrel bench` on the same file in the same minutes (batch 1 and the
# largest batch, before and after), so that the ratios the serving targets
# name come from one run:
#
#   bench/serve_perf_analyzer.sh MODEL.kestrel [--threads 2] [--concurrency "1 8 32"]
#                                [--requests 600] [--batch 8] [--server-args "..."]
#
# MODEL is a .kestrel file, converted with --max-batch N for batching to have
# an effect (--batch defaults to the model's max batch). The server runs one
# session of --threads threads (the bench's setting), on this machine's cores,
# which the client shares.
#
# perf_analyzer comes from PyPI: the tritonclient 2.41.0 wheel, the last that
# ships the binary, unpacked into build/perf-analyzer (a venv of the python3
# first on PATH) with the CUDA runtime it links (nvidia-cuda-runtime-cu12; it
# is loaded, never used). It also needs Debian's libb64-0d. perf_analyzer
# reads the model's configuration from GET /v2/models/NAME/config and
# generates random inputs; it checks no results (bench/serve_load.py does).
# Prints one table in Markdown; the raw CSV files stay in build/perf-analyzer/runs.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[[ $# -ge 1 && $1 != -* ]] || usage
model=$1
shift
threads=2 concurrency="1 8 32" requests=600 batch="" server_args=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --threads) threads=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --server-args) server_args=$2; shift 2 ;;
    *) echo "serve_perf_analyzer: unknown argument $1" >&2; usage ;;
  esac
done
kestrel=${KESTREL_CLI:-build/kestrel}
[[ -x $kestrel ]] || { echo "serve_perf_analyzer: $kestrel not found (build first: bash scripts/setup.sh)" >&2; exit 2; }
[[ -f $model ]] || { echo "serve_perf_analyzer: no such model file: $model" >&2; exit 2; }

venv=build/perf-analyzer
analyzer=$venv/bin/perf_analyzer
if [[ ! -x $analyzer ]]; then
  echo "serve_perf_analyzer: installing perf_analyzer (tritonclient 2.41.0) into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q nvidia-cuda-runtime-cu12
  "$venv/bin/pip" download -q --no-deps -d "$venv/wheel" tritonclient==2.41.0
  python3 - "$venv" <<'EOF'
import glob, os, sys, zipfile
venv = sys.argv[1]
wheel = glob.glob(os.path.join(venv, "wheel", "tritonclient-2.41.0-*.whl"))[0]
with zipfile.ZipFile(wheel) as archive:
    data = archive.read("tritonclient-2.41.0.data/data/bin/perf_analyzer")
path = os.path.join(venv, "bin", "perf_analyzer")
with open(path, "wb") as out:
    out.write(data)
os.chmod(path, 0o755)
EOF
fi
if [[ $(/sbin/ldconfig -p) != *libb64.so.0d* ]]; then
  echo "serve_perf_analyzer: perf_analyzer needs libb64.so.0d: apt-get install libb64-0d" >&2
  exit 2
fi
cuda_lib=$(echo "$venv"/lib/python3*/site-packages/nvidia/cuda_runtime/lib)
export LD_LIBRARY_PATH=$cuda_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

if [[ -z $batch ]]; then
  batch=$("$kestrel" inspect --model "$model" | sed -n 's/^max_batch: *//p')
  batch=${batch:-1}
fi
runs=$venv/runs
mkdir -p "$runs"

bench_median() {  # batch -> "median_ms images_per_s"
  "$kestrel" bench --model "$model" --threads "$threads" --batch "$1" --iterations 60 --json |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print("%.3f %.1f" % (r["latency_ms"]["median"], 1000.0 * r["batch"] / r["latency_ms"]["median"]))'
}

server_pid=""
stop_server() { [[ -n $server_pid ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; server_pid=""; }
trap stop_server EXIT

start_server() {  # extra flags...
  local log=$runs/server.out
  # shellcheck disable=SC2086  # server_args is a word list
  "$kestrel" serve --port 0 --model "$model" --name m --sessions 1 --threads "$threads" $server_args "$@" >"$log" 2>"$runs/server.err" &
  server_pid=$!
  local port=""
  for _ in $(seq 1 300); do
    port=$(sed -n 's|.*listening on http://[^:]*:\([0-9]*\).*|\1|p' "$log")
    [[ -n $port ]] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$runs/server.err" >&2; exit 1; }
    sleep 0.1
  done
  [[ -n $port ]] || { echo "serve_perf_analyzer: the server did not start" >&2; exit 1; }
  echo "$port"
}

read -r b1_before _ < <(bench_median 1)
read -r _ bn_before < <(bench_median "$batch")

rows=()
for mode in on off; do
  if [[ $mode == on ]]; then port=$(start_server --max-batch "$batch"); else port=$(start_server --no-batching); fi
  for c in $concurrency; do
    csv=$runs/batching_${mode}_c$c.csv
    "$analyzer" -m m -u "127.0.0.1:$port" -i http --concurrency-range "$c:$c" \
      --measurement-mode count_windows --measurement-request-count "$requests" \
      --stability-percentage 50 --max-trials 6 -f "$csv" >"$runs/batching_${mode}_c$c.log" 2>&1 ||
      { echo "serve_perf_analyzer: perf_analyzer failed at concurrency $c, batching $mode:" >&2; tail -5 "$runs/batching_${mode}_c$c.log" >&2; exit 1; }
    rows+=("$(python3 - "$csv" "$mode" "$c" <<'EOF'
import csv, sys
row = next(csv.DictReader(open(sys.argv[1])))
us = lambda key: float(row[key]) / 1000.0
print("| %s | %s | %.1f | %.2f | %.2f | %.2f | %.2f |" % (
    sys.argv[2], sys.argv[3], float(row["Inferences/Second"]), us("p50 latency"), us("p99 latency"),
    us("Server Queue"), us("Server Compute Infer")))
EOF
)")
  done
  stop_server
done

read -r b1_after _ < <(bench_median 1)
read -r _ bn_after < <(bench_median "$batch")

echo "model $model, $threads threads, $(lscpu | sed -n 's/^Model name: *//p')"
echo "kestrel bench: batch 1 median $b1_before / $b1_after ms (before / after); batch $batch $bn_before / $bn_after images/s"
echo
echo "| batching | clients | requests/s | p50 ms | p99 ms | server queue ms | server compute ms |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
