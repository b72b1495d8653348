#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer run of the test suite (unit
# tests, ONNX conformance on the reference interpreter and the compiled path,
# the CLI's bad-input cases, the API examples), built with gcc in build-asan:
#   -O1 -g1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# (every UBSan finding stops the test, like an ASan report), then
#   ctest -LE trained_models
# The trained-model group (../shared/models) is left out: it repeats the
# ResNet-50/MobileNetV2 paths the suite already runs on its own models.
# The Python module is not built (Debian's python3 is not instrumented).
#
#   scripts/sanitize.sh            the whole suite
#   scripts/sanitize.sh --subset   all but the slow ResNet-50/MobileNetV2 model tests
#                                  (ctest -E "$slow_tests" below)
#   scripts/sanitize.sh -R REGEX   only the tests matching REGEX (ctest -R)
#
# Leaks are reported (LeakSanitizer, detect_leaks=1). Third-party reports are
# suppressed in scripts/{asan,lsan,ubsan}.supp, each line with its reason;
# everything else is a failure. The last line says PASS or FAIL with the
# failing tests; the exit status is 0 or 1 (2 when the build fails).
# Env: KESTREL_ASAN_BUILD_DIR (build-asan), JOBS (2: build and ctest jobs).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${KESTREL_ASAN_BUILD_DIR:-build-asan}
jobs=${JOBS:-2}
# The model tests that run ResNet-50 / MobileNetV2 at 224x224 on the
# reference kernels: minutes each under ASan on 2 cores.
slow_tests='ResNet|MobileNet'

# The bad-input catalogue (BadInput.Catalogue/*) runs too: under ASan its
# memory bound is ASan's allocator's (max_allocation_size_mb) instead of
# RLIMIT_AS, which an ASan binary cannot start under
# (tests/unit/bad_input_catalogue.cc).
ctest_args=(-LE trained_models)
case ${1:-} in
  "") ;;
  --subset) ctest_args+=(-E "$slow_tests") ;;
  -R) ctest_args+=(-R "${2:?-R needs a regex}") ;;
  *) echo "usage: scripts/sanitize.sh [--subset | -R REGEX]" >&2; exit 2 ;;
esac

sanitize="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
flags="-O1 -g1 -DNDEBUG"
echo "== build ($build_dir, gcc, $sanitize)"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKESTREL_BUILD_PYTHON=OFF \
  -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ \
  -DCMAKE_C_FLAGS="$sanitize" -DCMAKE_CXX_FLAGS="$sanitize" \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="$flags" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
  >/dev/null
# Test discovery (gtest_discover_tests) runs the instrumented test binary.
export ASAN_OPTIONS="detect_leaks=1:check_initialization_order=1:suppressions=$PWD/scripts/asan.supp${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$PWD/scripts/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
start=$(date +%s)
if ! nice -n 10 cmake --build "$build_dir" -j"$jobs" >"$build_dir/sanitize-build.log" 2>&1; then
  grep -E "error|Error" "$build_dir/sanitize-build.log" | head -20 >&2
  echo "sanitize.sh: FAIL: build failed (log: $build_dir/sanitize-build.log)" >&2
  exit 2
fi
echo "   built in $(( $(date +%s) - start )) s"

echo "== ctest ${ctest_args[*]}"
start=$(date +%s)
status=0
nice -n 10 ctest --test-dir "$build_dir" --output-on-failure -j"$jobs" "${ctest_args[@]}" \
  >"$build_dir/sanitize-test.log" 2>&1 || status=$?
elapsed=$(( $(date +%s) - start ))
grep -E '^[0-9]+% tests passed|tests failed out of|Total Test time' "$build_dir/sanitize-test.log" || true
# Where each failing test stopped: the sanitizer's first report line and frames.
failed=$(sed -n 's/^[[:space:]]*[0-9]* - \(.*\) ([A-Za-z ]*)$/\1/p' "$build_dir/sanitize-test.log" | sort -u)
if [[ -n $failed ]]; then
  echo "== failing tests (details in $build_dir/sanitize-test.log)"
  echo "$failed" | sed 's/^/  /'
  echo "== first sanitizer reports"
  grep -E -A6 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$build_dir/sanitize-test.log" |
    grep -E 'ERROR|runtime error|#[0-4] ' | head -60 || true
fi
echo "   ctest ran ${elapsed} s"
if [[ $status -ne 0 ]]; then
  echo "sanitize.sh: FAIL: $(echo "$failed" | grep -c . || true) tests failed under ASan+UBSan"
  exit 1
fi
echo "sanitize.sh: PASS: no sanitizer reports, every test passed"
