#!/usr/bin/env bash
# ThreadSanitizer run of the tests in which several threads use the library
# at once: kestrel_tests --gtest_filter='CApi*:CppApi*:Concurrency*' (one
# model shared by sessions on four threads, sessions created and destroyed
# while others run, one session run from two threads, per-thread last errors,
# conversion beside sessions), built in its own directory with
# -fsanitize=thread. The tests run twice:
#
#  1. OMP_NUM_THREADS=1 and no suppressions. oneDNN then runs on the threads
#     that call it, so every thread in the process is one TSAN watches and
#     any report is real.
#  2. OpenMP's default team size, with scripts/tsan.supp. libgomp and libdnnl
#     are not instrumented: TSAN cannot see libgomp's barriers, so memory the
#     calling thread writes before a parallel region looks unsynchronized to
#     the pooled worker threads that read it. The suppressions drop exactly
#     the reports that pass through those two libraries.
#
# Why not the whole suite: the other tests use one thread of their own, so
# under TSAN they would only repeat pass 2's OpenMP noise, at the cost of
# slowed-down ResNet-50 runs.
#
# Usage: scripts/tsan.sh   (env: KESTREL_TSAN_BUILD_DIR, JOBS, KESTREL_STRESS_RUNS)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${KESTREL_TSAN_BUILD_DIR:-build-tsan}
jobs=${JOBS:-1}
filter='CApi*:CppApi*:Concurrency*'

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS=-fsanitize=thread -DCMAKE_CXX_FLAGS=-fsanitize=thread \
  -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread >/dev/null
cmake --build "$build_dir" -j"$jobs" --target kestrel_tests

# Fewer stress runs than the default: still past a session re-creation
# (every 500 runs) on every thread, in a fraction of the time.
export KESTREL_STRESS_RUNS=${KESTREL_STRESS_RUNS:-600}
common_options="halt_on_error=0 second_deadlock_stack=1"

# With high-entropy ASLR (vm.mmap_rnd_bits > 28) TSAN can fail to map its
# shadow memory: setarch -R runs the tests without ASLR. A report makes the
# test binary exit non-zero (TSAN's exitcode 66).
run_tests() { setarch "$(uname -m)" -R "$build_dir/tests/kestrel_tests" --gtest_filter="$filter"; }

echo "== pass 1: OMP_NUM_THREADS=1, no suppressions"
OMP_NUM_THREADS=1 TSAN_OPTIONS="$common_options ${TSAN_OPTIONS:-}" run_tests
echo "== pass 2: OpenMP default, third-party suppressions (scripts/tsan.supp)"
TSAN_OPTIONS="$common_options suppressions=$PWD/scripts/tsan.supp ${TSAN_OPTIONS:-}" run_tests
echo "tsan.sh: no data races reported"
