#!/bin/bash
# test/bench/consent_summary_move_ab.sh POST_DB PRE_DB [RUNS] [BASE]: the consent summary's
# trigger in a bulk record move (session 26, issue 16; doc/benchmarks-ingest.md "Session 26: the
# consent summary in a bulk merge").  On POST_DB (a first-day migration after
# run_matching('full'), e.g. fd100k_post) every record whose holder differs from PRE_DB's (the
# same load before matching) is sent back to its first holder in one UPDATE, in a transaction
# rolled back, RUNS times (default 3) for each of: BASE's (default main) consent_summary_of and
# consent_summary_sync, the worktree's, and the trigger disabled.  The definitions are loaded
# inside the rolled-back transactions, so POST_DB is left as it was.  Prints each run's time.
# Run under `flock /work/bench.lock` from the worktree, with the dev cluster's env (tmp_dev/env).
set -euo pipefail
POST=$1; PRE=$2; N=${3:-3}; BASE=${4:-main}
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
extract() {  # $1 = file of 80_consent.sql; prints CREATE OR REPLACE of the two functions
	python3 - "$1" <<'PY'
import sys
src = open(sys.argv[1]).read()
for name in ('consent_summary_of', 'consent_summary_sync'):
    i = src.index('CREATE FUNCTION cdp_internal.%s(' % name)
    j = src.index('\n$$;\n', i) + 5
    print(src[i:j].replace('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION', 1).replace('@extschema@', 'cdp'))
PY
}
git show "$BASE:sql/parts/80_consent.sql" > "$tmp/base80.sql"
extract "$tmp/base80.sql" > "$tmp/base_defs.sql"
extract sql/parts/80_consent.sql > "$tmp/new_defs.sql"
chmod -R a+rX "$tmp"
{
	echo 'SET client_min_messages = warning;'
	echo 'CREATE TEMP TABLE first_holder (record_id bigint PRIMARY KEY, golden_id bigint NOT NULL);'
	echo "\\copy first_holder from program 'psql -X -d $PRE -c \"copy (select record_id, golden_id from cdp.record) to stdout\"'"
	echo 'ANALYZE first_holder;'
	echo 'SELECT count(*) AS moved FROM cdp.record r JOIN first_holder f USING (record_id) WHERE r.golden_id <> f.golden_id;'
	echo '\timing on'
	for i in $(seq 1 "$N"); do
		for v in base new off; do
			echo 'BEGIN;'
			if [ $v = off ]; then echo 'ALTER TABLE cdp.record DISABLE TRIGGER consent_summary_update;'
			else echo "\\i $tmp/${v}_defs.sql"; fi
			echo "\\echo == move $v $i"
			echo 'UPDATE cdp.record r SET golden_id = f.golden_id FROM first_holder f WHERE f.record_id = r.record_id AND r.golden_id <> f.golden_id;'
			echo 'ROLLBACK;'
		done
	done
} > "$tmp/ab.sql"
uptime
psql -X -d "$POST" -f "$tmp/ab.sql" | grep -E '^ *[0-9]+$|== move|^Time: .*\(' || true
uptime
