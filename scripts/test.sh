#!/usr/bin/env bash
# Sets up and builds (scripts/setup.sh), runs the whole test suite, then the
# install test (the examples built against an installed Kestrel).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ctest --test-dir build --output-on-failure -j"$(nproc)"
bash scripts/install_test.sh
