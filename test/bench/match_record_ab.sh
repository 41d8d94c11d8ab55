#!/usr/bin/env bash
# test/bench/match_record_ab.sh: match_record latency of two definitions alternated on one loaded
# database (issue 12): the lookup query (cdp_internal._match_lookup_query) and the block key index
# (cdp_internal.match_block_bk) of git revision REF against those of this worktree.
#   DB=cdp_mr1m REF=main test/bench/match_record_ab.sh [RUNS] [CALLS]
# The database must be loaded and trained already (e.g. test/bench/match_speed.sh with DB=..., FILE=...,
# CANDIDATES=0 TRAIN=0 LINK=0 AGAIN=0). Per run and per side: the block index is rebuilt as that side
# defines it, the lookup function replaced, the dev cluster (tmp_dev) restarted (empty shared buffers,
# warm OS cache), then CALLS records (default 200, the same ones each time) are looked up twice: a cold
# pass and a warm pass, p50 / p95 / max in ms. RUNS (default 3) alternates the sides. The worktree's
# definitions stay in place at the end. Heavy at 1M (an index build per side and run):
#   flock /work/bench.lock test/bench/match_record_ab.sh
# PICK=common looks up CALLS records of the commonest names instead (the family and given name pairs
# that most records share, e.g. «Иванов Александр» on a name-dense population; issue 12's "every name,
# commonest included").
set -euo pipefail
RUNS=${1:-3}
CALLS=${2:-200}
CDP_SRC=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" = 0 ]; then exec runuser -u postgres -- bash "$0" "$@"; fi
eval "$(cat "$CDP_SRC/tmp_dev/env")"
export PGDATABASE=${DB:-cdp_bench_match}
REF=${REF:-main}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the lookup function and the block key index of one side, as SQL (the install's text, CREATE OR REPLACE)
defs() {
	python3 - "$1" "$2" "$3" <<'PY'
import re, sys
run, tables, out = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3]
a = run.index('CREATE FUNCTION cdp_internal._match_lookup_query')
b = run.index('COMMENT ON FUNCTION cdp_internal._match_lookup_query')
idx = re.search(r'CREATE INDEX match_block_bk ON cdp_internal\.match_block [^;]*;', tables).group(0)
with open(out, 'w') as f:
    f.write('DROP INDEX IF EXISTS cdp_internal.match_block_bk;\n' + idx + '\n')
    f.write(run[a:b].replace('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION', 1).replace('@extschema@', 'cdp'))
PY
}
git -c safe.directory="*" -C "$CDP_SRC" show "$REF:sql/parts/67_match_run.sql" >"$tmp/ref_run.sql"
git -c safe.directory="*" -C "$CDP_SRC" show "$REF:sql/parts/60_match_tables.sql" >"$tmp/ref_tables.sql"
defs "$tmp/ref_run.sql" "$tmp/ref_tables.sql" "$tmp/ref.sql"
defs "$CDP_SRC/sql/parts/67_match_run.sql" "$CDP_SRC/sql/parts/60_match_tables.sql" "$tmp/this.sql"
PICK_WHERE=
if [ "${PICK:-}" = common ]; then
	PICK_WHERE="WHERE (family_name, given_name) IN (SELECT family_name, given_name FROM cdp.record WHERE family_name IS NOT NULL AND given_name IS NOT NULL GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2 LIMIT 10)"
fi
cat >"$tmp/lat.sql" <<SQL
CREATE TEMP TABLE lat(pass int, ms float8);
DO \$\$ DECLARE r bigint; t0 timestamptz; BEGIN
 FOR p IN 1..2 LOOP
  FOR r IN SELECT record_id FROM cdp.record $PICK_WHERE ORDER BY pg_catalog.hashint8(record_id) LIMIT $CALLS LOOP
    t0 := clock_timestamp(); PERFORM * FROM cdp.match_record(r);
    INSERT INTO lat VALUES (p, extract(epoch FROM clock_timestamp() - t0) * 1000);
  END LOOP;
 END LOOP; END \$\$;
SELECT string_agg(format('%s p50 %s p95 %s max %s', CASE pass WHEN 1 THEN 'cold' ELSE 'warm' END, round(p50::numeric, 1),
                         round(p95::numeric, 1), round(mx::numeric, 1)), ' | ' ORDER BY pass)
  FROM (SELECT pass, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) p50, percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) p95,
               max(ms) mx FROM lat GROUP BY pass) x;
SQL
echo "database $PGDATABASE: $(psql -XqAt -c 'SELECT count(*) FROM cdp.record') records; $REF against this worktree; load $(cut -d' ' -f1 /proc/loadavg)"
for run in $(seq 1 "$RUNS"); do
	for side in ref this; do
		psql -XqAt -v ON_ERROR_STOP=1 -f "$tmp/$side.sql"
		psql -XqAt -c "VACUUM cdp_internal.match_block"
		pg_ctl -D "$CDP_SRC/tmp_dev/data" restart -m fast -w >/dev/null
		label=$side; [ "$side" = ref ] && label=$REF
		echo "run $run $label: $(psql -XqAt -v ON_ERROR_STOP=1 -f "$tmp/lat.sql" | tail -1)   load $(cut -d' ' -f1 /proc/loadavg)"
	done
done
