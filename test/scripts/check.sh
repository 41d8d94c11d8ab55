#!/usr/bin/env bash
# test/scripts/check.sh: `make check`. Installs what is missing, builds, installs cdp into a private
# copy of PostgreSQL, starts a throwaway cluster and runs every suite through `make installcheck`
# (pg_regress, isolation, pgTAP, TAP), then the fuzz smoke run. Cleans up; exit code = verdict.
set -euo pipefail
CDP_SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$CDP_SRC/test/scripts/lib.sh"

[ -n "${CDP_NO_DEPS:-}" ] || cdp_deps
if [ "$(id -u)" = 0 ]; then
	cdp_drop_root test/scripts/check.sh "$@"
	exit $?
fi

cdp_tmp_install
dir=$CDP_SRC/tmp_check
cdp_cluster_stop "$dir"
rm -rf "$dir"
trap 'cdp_cluster_stop "$dir"' EXIT
cdp_cluster_start "$dir"
log "cluster up on $PGHOST port $PGPORT"

rc=0
make -C "$CDP_SRC" PG_CONFIG="$CDP_BIN/pg_config" installcheck || rc=$?
if [ $rc -ne 0 ]; then
	for f in "$CDP_SRC"/regression.diffs "$CDP_SRC"/output_iso/regression.diffs; do
		[ -f "$f" ] && { log "$f"; head -c 20000 "$f"; }
	done
fi
if [ -x "$CDP_SRC/test/fuzz/run.sh" ]; then
	bash "$CDP_SRC/test/fuzz/run.sh" || rc=$?
fi
if [ $rc -eq 0 ]; then log "make check: all suites passed"; else log "make check: FAILED"; fi
exit $rc
