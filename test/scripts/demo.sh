#!/usr/bin/env bash
# test/scripts/demo.sh: `make demo`. Installs what is missing, builds, installs cdp into a private
# copy of PostgreSQL, starts a throwaway cluster, runs test/demo/demo.sh against it and cleans up.
set -euo pipefail
CDP_SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$CDP_SRC/test/scripts/lib.sh"

[ -n "${CDP_NO_DEPS:-}" ] || cdp_deps
if [ "$(id -u)" = 0 ]; then
	cdp_drop_root test/scripts/demo.sh "$@"
	exit $?
fi

cdp_tmp_install
dir=$CDP_SRC/tmp_demo
cdp_cluster_stop "$dir"
rm -rf "$dir"
trap 'cdp_cluster_stop "$dir"; rm -rf "$dir"' EXIT
cdp_cluster_start "$dir"
bash "$CDP_SRC/test/demo/run.sh"
