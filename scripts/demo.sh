#!/usr/bin/env bash
# Set everything up (scripts/setup.sh), then run the simulator demo: three ROS 2 nodes in
# separate processes (sim, grounding, arm controller) execute one instruction.
# Extra arguments go to `vla-grounding demo` (see `vla-grounding demo --help`).
set -eo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
# shellcheck disable=SC1091
source "$ROOT/scripts/env.sh"
cd "$ROOT"
exec vla-grounding demo "$@"
