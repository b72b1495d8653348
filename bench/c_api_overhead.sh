#!/usr/bin/env bash
# The C API's cost over the library's Session::run (argument checks, input
# and output copies), on the bundled CNN and on a two-node model, interleaved
# call by call; medians. A benchmark, so it is disabled in the test suite.
#
#   bash bench/c_api_overhead.sh     (needs build/, from scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
build/tests/kestrel_tests --gtest_also_run_disabled_tests --gtest_filter='CApiBenchmark.*' | grep -E "median|OK|FAILED"
