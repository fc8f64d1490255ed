#!/usr/bin/env bash
# Add the ROS 2 packages the registry's wheels lack (launch, launch_testing, the ros2 CLI, tf2,
# message_filters, cv_bridge, control_msgs) to this checkout's .venv, from the prebuilt Jazzy
# extras (default: ../shared/ros2-jazzy-extras; override with VLA_ROS_EXTRAS=DIR). CI runs it;
# a ROS 2 install has these from the distribution instead. Idempotent: a second run only checks.
# Exit code 3, with one line, when the extras are not there (a user's bare machine): the tests
# that need them then skip and say why. Any other failure is an error.
set -eo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EXTRAS="${VLA_ROS_EXTRAS:-$ROOT/../shared/ros2-jazzy-extras}"
log() { printf '[ros-extras] %s\n' "$*" >&2; }

if [ ! -f "$EXTRAS/install.sh" ]; then
  log "no ROS 2 extras at $EXTRAS: launch, ros2 CLI, tf2, message_filters and cv_bridge tests will be skipped"
  exit 3
fi
[ -x "$ROOT/.venv/bin/python" ] || { log "run scripts/setup.sh first (no .venv)"; exit 2; }

# cv_bridge's compiled half links Debian's OpenCV 4.6 and Boost.Python (runtime libraries only).
DEBS=(libboost-python1.74.0 libopencv-core406 libopencv-imgproc406 libopencv-imgcodecs406)
missing=()
for deb in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q "install ok installed" || missing+=("$deb")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing cv_bridge's runtime libraries: ${missing[*]}"
    start=$SECONDS
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    log "installed in $((SECONDS - start)) s"
  else
    log "cv_bridge needs: apt-get install ${missing[*]} (as root); without them its tests skip"
  fi
fi
bash "$EXTRAS/install.sh" "$ROOT/.venv"
