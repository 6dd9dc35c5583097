#!/usr/bin/env bash
# Measure `sbs lab up`: cold (empty uv and venv caches), warm while running, and warm
# after `lab down`. Uses its own state and cache dirs under $1 (default a temp dir) and
# the lab's fixed addresses, so no other lab may run meanwhile.
#   usage: scripts/lab_measure.sh [WORKDIR]
set -euo pipefail
work="${1:-$(mktemp -d /tmp/sbs-lab-measure.XXXXXX)}"
mkdir -p "$work"
state="$work/lab"
export SBS_CACHE_DIR="$work/sbs-cache" UV_CACHE_DIR="$work/uv-cache"
lab() { python3 -m sidebyside.cli.lab "$@" --state-dir "$state"; }
seconds() {
  local start=$SECONDS
  "$@" >"$work/last.log" 2>&1 || { echo "failed: $*" >&2; cat "$work/last.log" >&2; return 1; }
  echo $((SECONDS - start))
}
trap 'lab down --purge >/dev/null 2>&1 || true' EXIT
cold=$(seconds lab up) || exit 1
warm=$(seconds lab up) || exit 1
lab down >/dev/null
restart=$(seconds lab up) || exit 1
echo "cold lab up (empty caches):  ${cold} s"
echo "second lab up (running):     ${warm} s"
echo "lab up after lab down:       ${restart} s"
rm -rf "$work/uv-cache" "$work/sbs-cache"
