#!/usr/bin/env bash
# test/scripts/check.sh: `make check`. Installs what is missing, builds, installs cdp into a private
# copy of PostgreSQL, starts a throwaway cluster and runs every suite through `make installcheck`
# (pg_regress, isolation, pgTAP, TAP incl. the catalog-driven fuzz test) and the accuracy tool's
# unit tests. Every suite runs even if one fails. Cleans up; exit code = verdict.
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

# Every suite runs even when an earlier one fails, so one run shows every failure.
rc=0 npass=0 nfail=0
suite() {
	local name=$1; shift
	log "suite: $name"
	if "$@"; then
		npass=$((npass + 1))
	else
		rc=1 nfail=$((nfail + 1))
		log "suite $name FAILED"
	fi
}
mk() { make -C "$CDP_SRC" --no-print-directory PG_CONFIG="$CDP_BIN/pg_config" CDP_NO_PGTAP=1 "$@"; }
suite pg_regress mk installcheck ISOLATION= TAP_TESTS=
[ -f "$CDP_SRC/regression.diffs" ] && { log "regression.diffs"; head -c 20000 "$CDP_SRC/regression.diffs"; }
suite isolation mk installcheck REGRESS= TAP_TESTS=
[ -f "$CDP_SRC/output_iso/regression.diffs" ] && { log "output_iso/regression.diffs"; head -c 20000 "$CDP_SRC/output_iso/regression.diffs"; }
suite pgTAP make -C "$CDP_SRC" --no-print-directory PG_CONFIG="$CDP_BIN/pg_config" installcheck-pgtap
# the accuracy tool's own unit tests (metrics by hand, and end to end against its mock)
psql -XAtqc 'SELECT 1' >/dev/null || log "warning: psql cannot reach the check cluster"
suite accuracy-tool python3 -m unittest discover -s "$CDP_SRC/test/bench" -p 'test_*.py'
suite TAP mk installcheck REGRESS= ISOLATION=
if [ $rc -eq 0 ]; then log "make check: all suites passed"; else log "make check: FAILED"; fi
# the plain closing line CI reads: suites passed and failed
echo "suites: $npass passed, $nfail failed"
exit $rc
