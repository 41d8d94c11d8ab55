#!/usr/bin/env bash
# test/scripts/check.sh: `make check`. Installs what is missing, builds, installs cdp into a private
# copy of PostgreSQL, starts a throwaway cluster and runs every suite through `make installcheck`
# (pg_regress, isolation, pgTAP, TAP incl. the catalog-driven fuzz test), the accuracy tool's
# unit tests (test/python) and the libFuzzer harness (test/fuzz, CDP_FUZZ_SECONDS a target, default 10). Every
# suite runs even if one fails. Cleans up; exit code = verdict.
set -euo pipefail
CDP_SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$CDP_SRC/test/scripts/lib.sh"

cdp_throwaway_cluster test/scripts/check.sh "$CDP_SRC/tmp_checkdb"  # not tmp_check: PGXS TAP runs wipe that

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
mk() { make -C "$CDP_SRC" --no-print-directory PG_CONFIG="$CDP_BIN/pg_config" CDP_NO_PGTAP=1 CDP_NO_PYTHON=1 "$@"; }
suite pg_regress mk installcheck ISOLATION= TAP_TESTS=
[ -f "$CDP_SRC/regression.diffs" ] && { log "regression.diffs"; head -c 20000 "$CDP_SRC/regression.diffs"; }
suite isolation mk installcheck REGRESS= TAP_TESTS=
[ -f "$CDP_SRC/output_iso/regression.diffs" ] && { log "output_iso/regression.diffs"; head -c 20000 "$CDP_SRC/output_iso/regression.diffs"; }
suite pgTAP make -C "$CDP_SRC" --no-print-directory PG_CONFIG="$CDP_BIN/pg_config" installcheck-pgtap
# the accuracy tool's own unit tests in test/python (metrics by hand, and end to end against its mock)
psql -XAtqc 'SELECT 1' >/dev/null || log "warning: psql cannot reach the check cluster"
suite accuracy-tool make -C "$CDP_SRC" --no-print-directory PG_CONFIG="$CDP_BIN/pg_config" installcheck-python
suite TAP mk installcheck REGRESS= ISOLATION=
# the libFuzzer harness over the C kernels (doc/fuzzing.md): built with clang and sanitizers, each
# target fuzzed for a bounded time; any crash, leak, sanitizer report or broken oracle fails it
suite libFuzzer make -C "$CDP_SRC/test/fuzz" --no-print-directory -j2 run FUZZ_SECONDS="${CDP_FUZZ_SECONDS:-10}" PG_CONFIG="$CDP_BIN/pg_config"
if [ $rc -eq 0 ]; then log "make check: all suites passed"; else log "make check: FAILED"; fi
# the plain closing line CI reads: suites passed and failed
echo "suites: $npass passed, $nfail failed"
exit $rc
