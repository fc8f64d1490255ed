#!/usr/bin/env bash
# Set everything up (scripts/setup.sh), then lint and run the test suite.
# Extra arguments go to pytest (e.g. `scripts/test.sh -k sim -x`). Slow, training-sized
# tests are deselected unless you pass `-m slow` or `-m ""`.
set -eo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
# shellcheck disable=SC1091
source "$ROOT/scripts/env.sh"
cd "$ROOT"
export VLA_REQUIRE_ROS=1  # a broken ROS build fails the run instead of skipping ROS tests
echo "[test] ruff check"
ruff check .
echo "[test] pytest"
args=("$@")
[[ " ${args[*]} " == *" -m "* ]] || args=(-m "not slow" "${args[@]}")
exec pytest "${args[@]}"
