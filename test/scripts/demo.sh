#!/usr/bin/env bash
# test/scripts/demo.sh: `make demo`. Installs what is missing, builds, installs cdp into a private
# copy of PostgreSQL, starts a throwaway cluster, runs test/demo/demo.sh against it and cleans up.
set -euo pipefail
CDP_SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$CDP_SRC/test/scripts/lib.sh"

# the demo's files (charts) land in the caller's tree, even when the run moves to a scratch copy
export CDP_DEMO_OUT=${CDP_DEMO_OUT:-$CDP_SRC/demo_output}
mkdir -p "$CDP_DEMO_OUT"
[ "$(id -u)" != 0 ] || chown postgres: "$CDP_DEMO_OUT"
cdp_throwaway_cluster test/scripts/demo.sh "$CDP_SRC/tmp_demo"
bash "$CDP_SRC/test/demo/run.sh"
