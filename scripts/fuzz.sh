#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz), makes their seed corpora from the
# repository's own files and runs each target in turn for SECONDS (default 60).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]       (default: 60 s, every target)
#   scripts/fuzz.sh --regressions [TARGET...]  replay tests/fuzz/regressions/<target>/*
#
# Build: clang 14 (CC=clang-14 CXX=clang++-14), -DKESTREL_BUILD_FUZZERS=ON,
# -O1 -gline-tables-only, in build-fuzz: the libraries are instrumented with
# -fsanitize=fuzzer-no-link,address,undefined, the targets link libFuzzer.
# Seeds: tests/fuzz/make_seeds.py writes build-fuzz/fuzz/seeds/<target>/
# (ONNX models and node tests, .kestrel files converted by build/kestrel,
# Fashion-MNIST PNG/JPEG, IDX, .npy and the JSON examples of docs/ and tests/);
# the corpus the fuzzer grows stays in build-fuzz/fuzz/corpus/<target>/, so a
# later run carries on from it.
#
# Each target runs in libFuzzer's fork mode with one job (-fork=1) and
# -ignore_crashes/-ignore_ooms/-ignore_timeouts, so one shallow bug does not
# end the run: every crash, leak, OOM (-rss_limit_mb=2048) and timeout
# (-timeout=10 s per input) is saved under build-fuzz/fuzz/artifacts/<target>/.
# Per target the script prints executions, CPU seconds (user + sys of the
# fuzzer and its jobs) and the new artifact files. Replay one with
#   build-fuzz/tests/fuzz/<target> FILE
# and keep small reproducers in tests/fuzz/regressions/<target>/ (replayed by
# `scripts/fuzz.sh --regressions`, which says per file whether it still
# crashes; exit status 1 when one does).
#
# Exit status: 0 when no target left a new artifact, 1 when one did, 2 on a
# build or seed error. The machine has 2 shared cores: the build runs with
# nice -n 10 and JOBS (default 2) jobs, and one fuzzer runs at a time.
# Env: KESTREL_FUZZ_BUILD_DIR (build-fuzz), JOBS, KESTREL_CLI (the CLI that converts the
# .kestrel seeds; default build/kestrel, else one built in build-fuzz), FUZZ_FLAGS (extra
# libFuzzer flags).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
build_dir=${KESTREL_FUZZ_BUILD_DIR:-build-fuzz}
jobs=${JOBS:-2}
all_targets=(onnx_import_fuzzer model_file_fuzzer image_fuzzer idx_fuzzer npy_fuzzer preprocess_json_fuzzer
             quant_config_fuzzer)

regressions=0
seconds=60
if [[ ${1:-} == --regressions ]]; then
  regressions=1
  shift
elif [[ $# -gt 0 ]]; then
  seconds=$1
  [[ $seconds =~ ^[0-9]+$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS | --regressions] [TARGET...]" >&2; exit 2; }
  shift
fi
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all_targets[@]}")

cc=${CC:-clang-14}
cxx=${CXX:-clang++-14}
command -v "$cxx" >/dev/null || { echo "fuzz.sh: $cxx not found (Debian package clang-14)" >&2; exit 2; }

echo "== build ($build_dir, $cxx)"
# OSS-Fuzz's optimization flags: -O1 with line tables keeps stacks readable
# and the build short.
flags="-O1 -gline-tables-only -DNDEBUG"
CC=$cc CXX=$cxx cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKESTREL_BUILD_FUZZERS=ON \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="$flags" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$flags" \
  -DKESTREL_BUILD_TESTS=OFF -DKESTREL_BUILD_PYTHON=OFF >/dev/null
# The CLI that converts the .kestrel seeds: KESTREL_CLI, else build/kestrel
# (the normal build's), else one built here.
cli=${KESTREL_CLI:-}
[[ -n $cli || ! -x build/kestrel ]] || cli=build/kestrel
build_targets=(kestrel_fuzzers)
if [[ -z $cli ]]; then cli=$build_dir/kestrel; build_targets+=(kestrel); fi
nice -n 10 cmake --build "$build_dir" -j"$jobs" --target "${build_targets[@]}" >"$build_dir/fuzz-build.log" 2>&1 || {
  grep -E "error|Error" "$build_dir/fuzz-build.log" | head -20 >&2
  echo "fuzz.sh: build failed (full log: $build_dir/fuzz-build.log)" >&2
  exit 2
}

fuzz_dir=$build_dir/fuzz
# libFuzzer and LeakSanitizer stop on a leak; UBSan findings are fatal
# (-fno-sanitize-recover) and print a stack.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1

mkdir -p "$fuzz_dir"
if (( regressions )); then
  echo "== regressions (tests/fuzz/regressions/<target>/)"
  failed=0
  for target in "${targets[@]}"; do
    dir=tests/fuzz/regressions/$target
    [[ -d $dir ]] || continue
    for file in "$dir"/*; do
      [[ -f $file && $file != *.md ]] || continue
      if "$build_dir/tests/fuzz/$target" "$file" >"$fuzz_dir/replay.log" 2>&1; then
        echo "  fixed     $file"
      else
        echo "  CRASHES   $file: $(grep -m1 -E 'ERROR: |runtime error|SUMMARY' "$fuzz_dir/replay.log")"
        failed=1
      fi
    done
  done
  exit $failed
fi

# Known bugs whose inputs the targets skip while fuzzing, so that one bug
# does not hide the others (see the target's header; the reproducers in
# tests/fuzz/regressions/ still replay them).


echo "== seeds ($fuzz_dir/seeds)"
rm -rf "$fuzz_dir/seeds"
mkdir -p "$fuzz_dir"
/usr/bin/python3 tests/fuzz/make_seeds.py "$repo" "$(realpath "$cli")" "$fuzz_dir/seeds" || {
  echo "fuzz.sh: making seeds failed" >&2
  exit 2
}

dictionary() {
  case $1 in
    preprocess_json_fuzzer) echo "-dict=tests/fuzz/preprocess_json.dict" ;;
    quant_config_fuzzer) echo "-dict=tests/fuzz/quant_config.dict" ;;
  esac
}

# The last status line of a run: "#N ..." (fork mode: "#N: cov: ...").
executions() { grep -oE '^#[0-9]+' "$1" | tail -1 | tr -d '#'; }

summary=()
found=0
for target in "${targets[@]}"; do
  binary=$build_dir/tests/fuzz/$target
  corpus=$fuzz_dir/corpus/$target
  artifacts=$fuzz_dir/artifacts/$target
  log=$fuzz_dir/$target.log
  mkdir -p "$corpus" "$artifacts"
  before=$(ls "$artifacts" | sort)
  echo "== $target: ${seconds}s"
  TIMEFORMAT='%U %S'
  # shellcheck disable=SC2046
  { time nice -n 10 "$binary" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" $(dictionary "$target") ${FUZZ_FLAGS:-} \
      "$corpus" "$fuzz_dir/seeds/$target" >"$log" 2>&1; } 2>"$fuzz_dir/$target.time" || true
  read -r user sys <"$fuzz_dir/$target.time"
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f", u + s }')
  new=$(comm -13 <(echo "$before") <(ls "$artifacts" | sort) | grep -v '^$' || true)
  count=$(echo -n "$new" | grep -c . || true)
  summary+=("$(printf '%-24s %12s %10s %6s' "$target" "$(executions "$log")" "$cpu" "$count")")
  grep -E '^#[0-9]+' "$log" | tail -1 | sed 's/^/  last status: /' || true
  if [[ -n $new ]]; then
    found=1
    echo "$new" | head -10 | sed "s|^|  new: $artifacts/|"
    (( count <= 10 )) || echo "  ... and $((count - 10)) more"
    # The distinct first lines of the sanitizer reports (many files are often one bug).
    grep -hE 'runtime error:|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)' "$log" |
      sed -E 's/0x[0-9a-f]+/0x.../g; s/pid [0-9]+/pid .../' | sort | uniq -c | sort -rn | head -5 | sed 's/^/  report: /'
  fi
done

echo "== summary (${seconds}s per target; logs in $fuzz_dir/<target>.log)"
printf '%-24s %12s %10s %6s\n' target executions cpu_s new
printf '%s\n' "${summary[@]}"
if (( found )); then
  echo "fuzz.sh: FAIL: new crashes, leaks, OOMs or timeouts in $fuzz_dir/artifacts/"
  exit 1
fi
echo "fuzz.sh: PASS: no new findings"
