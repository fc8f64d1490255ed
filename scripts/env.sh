# Source me (bash): `source scripts/env.sh`. Activates the checkout's venv and colcon
# overlay, and confines ROS 2 traffic to this machine (loopback discovery, the Fast DDS
# profile in config/fastdds_localhost.xml). Override ROS_DOMAIN_ID /
# ROS_AUTOMATIC_DISCOVERY_RANGE yourself to talk to other machines (a real robot).
_vla_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -f "$_vla_root/install/setup.bash" ]; then
  echo "vla_grounding is not set up yet: run scripts/setup.sh first" >&2
  return 1 2>/dev/null || exit 1
fi
export VIRTUAL_ENV="$_vla_root/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
# colcon's setup.bash reads unset variables: relax `set -u` while sourcing it.
case $- in *u*) _vla_nounset=1; set +u ;; *) _vla_nounset=0 ;; esac
# shellcheck disable=SC1091
. "$_vla_root/install/setup.bash"
[ "$_vla_nounset" = 1 ] && set -u
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
# Fast DDS 2.x (Jazzy) reads FASTRTPS_DEFAULT_PROFILES_FILE; 3.x (Kilted) FASTDDS_DEFAULT_PROFILES_FILE.
export FASTRTPS_DEFAULT_PROFILES_FILE="${FASTRTPS_DEFAULT_PROFILES_FILE:-$_vla_root/config/fastdds_localhost.xml}"
export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-$_vla_root/config/fastdds_localhost.xml}"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
unset _vla_root _vla_nounset
