#!/usr/bin/env bash
# The real SDFormat checker (`ign sdf -k`) for the Gazebo world tests: Debian's libsdformat-dev
# and ignition-tools (SDFormat 12, which reads SDF 1.9). CI runs it as root; elsewhere it says
# what to install. Exit 3 with one line when it cannot install them (the tests then skip).
set -eo pipefail
log() { printf '[sdformat] %s\n' "$*" >&2; }
if command -v ign >/dev/null && ign sdf --versions >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  log "no 'ign sdf': apt-get install libsdformat-dev ignition-tools (as root) to run the SDF checks"
  exit 3
fi
log "installing libsdformat-dev ignition-tools"
start=$SECONDS
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libsdformat-dev ignition-tools >/dev/null
log "installed in $((SECONDS - start)) s"
