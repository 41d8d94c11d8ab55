#!/usr/bin/env bash
# test/bench/duckdb_vs_cdp.sh: issue 12's speed comparison in the same run: the DuckDB peer
# (test/bench/duckdb_pipeline.mjs) and cdp's first-day migration (test/bench/first_day.sh) on the
# same file, alternated (round 1: DuckDB then cdp; round 2: cdp then DuckDB; ...), each run under
# `flock -o /work/bench.lock`, with the accuracy of both against the file's person_id and the ratios.
#
#   test/bench/duckdb_vs_cdp.sh FILE [ROUNDS=2]
#
# FILE is a test/bench/gen_clinic.py CSV (read only).  Environment:
#   THREADS=2   DuckDB's threads (SET threads)
#   DB=NAME     cdp's database (default cdp_bench_duckdb_vs; kept by each cdp run for its accuracy,
#               then dropped)
#   OUT=DIR     where each run's full output goes (default tmp_dev/duckdb_vs_cdp)
# The DuckDB pipeline installs @duckdb/node-api from npm into test/bench/duckdb/ (git-ignored) when
# it is missing.  cdp runs against the dev cluster (tmp_dev/env); run as root or as postgres.
#
# Figures: cdp's "train + full" is train_matching + run_matching('full') (issue 12's target), its
# "load" is copy + ingest + analyze; DuckDB's "match" is everything after its load (normalise,
# block, compare, train, score, cluster), its "whole" adds the load.  The ratios are cdp over DuckDB:
# train + full over DuckDB's match, and load + train + full over DuckDB's whole pipeline.
# Accuracy of cdp: its open memberships (cdp.patient_member) against the staging table's person_id,
# the same pairwise and B-cubed formulas as the pipeline's.  Figures: doc/benchmarks-match.md.
set -euo pipefail
FILE=${1:?usage: test/bench/duckdb_vs_cdp.sh FILE [ROUNDS]}
ROUNDS=${2:-2}
THREADS=${THREADS:-2}
DB=${DB:-cdp_bench_duckdb_vs}
CDP_SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$CDP_SRC/tmp_dev/duckdb_vs_cdp}
LOCK=${LOCK:-/work/bench.lock}
mkdir -p "$OUT"
[ "$(id -u)" != 0 ] || chown postgres: "$OUT"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- bash -c "$1"; else bash -c "$1"; fi; }
persons=$(($(cut -d, -f3 "$FILE" | tail -n +2 | sort -u | wc -l)))

duck() {
	local log=$OUT/duckdb_$1.log
	echo "$(date -u +%T) DuckDB #$1 (waiting for the lock; load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
	flock -o "$LOCK" node "$CDP_SRC/test/bench/duckdb_pipeline.mjs" "$FILE" "$THREADS" >"$log" 2>&1
	grep '^RESULT' "$log" | sed "s/^RESULT/duckdb $1 load_avg=$(cut -d' ' -f1 /proc/loadavg)/" >>"$OUT/results"
	tail -n +1 "$log" | grep -v '^RESULT' >&2
}

cdp() {
	local log=$OUT/cdp_$1.log
	echo "$(date -u +%T) cdp #$1 (waiting for the lock; load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
	as_pg "cd '$CDP_SRC' && eval \"\$(cat tmp_dev/env)\" && KEEP=1 DB=$DB flock -o '$LOCK' test/bench/first_day.sh $persons '$FILE'" >"$log" 2>&1
	cat "$log" >&2
	# accuracy against the truth, then the database is dropped (untimed, outside the lock)
	as_pg "cd '$CDP_SRC' && eval \"\$(cat tmp_dev/env)\" && psql -XqAt -d $DB -F ' ' -c \"
		CREATE TEMP TABLE m AS SELECT s.person_id AS p, pm.golden_id AS c
		  FROM stage s JOIN cdp.source so ON so.name = s.source
		  JOIN cdp.record r ON r.source_id = so.source_id AND r.source_key = s.source_id
		  JOIN cdp.patient_member pm ON pm.record_id = r.record_id AND pm.to_event IS NULL;
		WITH cp AS (SELECT c, p, count(*)::float8 AS k FROM m GROUP BY c, p),
		     cs AS (SELECT c, count(*)::float8 AS k FROM m GROUP BY c),
		     ps AS (SELECT p, count(*)::float8 AS k FROM m GROUP BY p),
		     x AS (SELECT (SELECT sum(k * (k - 1) / 2) FROM cp) AS tp, (SELECT sum(k * (k - 1) / 2) FROM cs) AS pred,
		                  (SELECT sum(k * (k - 1) / 2) FROM ps) AS truth, (SELECT count(*) FROM m) AS n,
		                  (SELECT sum(cp.k * cp.k / cs.k) FROM cp JOIN cs USING (c)) AS bp,
		                  (SELECT sum(cp.k * cp.k / ps.k) FROM cp JOIN ps USING (p)) AS br)
		SELECT format('records=%s pw_p=%s pw_r=%s pw_f1=%s b3_p=%s b3_r=%s b3_f1=%s clusters=%s max=%s ge20=%s', n,
		       round((tp / pred)::numeric, 4), round((tp / truth)::numeric, 4), round((2 * tp / (pred + truth))::numeric, 4),
		       round((bp / n)::numeric, 4), round((br / n)::numeric, 4), round((2 * bp * br / (n * (bp + br)))::numeric, 4),
		       (SELECT count(*) FROM cs), (SELECT max(k) FROM cs), (SELECT count(*) FROM cs WHERE k >= 20)) FROM x\"" >"$OUT/cdp_$1.acc"
	as_pg "cd '$CDP_SRC' && eval \"\$(cat tmp_dev/env)\" && psql -XqAt -d postgres -c 'DROP DATABASE $DB'"
	awk -v r="$1" -v acc="$(tail -1 "$OUT/cdp_$1.acc")" '
		/^1\. copy into staging/ { copy = $(NF - 3) } /^2\. ingest/ { ingest = $(NF - 5) } /^3\. analyze/ { an = $(NF - 3) }
		/^4\. train_matching/ { tr = $(NF - 3) } /^5\. run_matching/ { full = $(NF - 3) }
		/^first-day migration/ { la = $0; sub(/.*load average /, "", la); sub(/ .*/, "", la) }
		END { printf "cdp %s load_avg=%s load=%.2f train=%.2f full=%.2f train_full=%.2f total=%.2f %s\n", r, la,
		      copy + ingest + an, tr, full, tr + full, copy + ingest + an + tr + full, acc }' "$log" >>"$OUT/results"
}

: >"$OUT/results"
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then duck "$r"; cdp "$r"; else cdp "$r"; duck "$r"; fi
done

# medians and ratios
python3 - "$OUT/results" <<'PY'
import sys, statistics as st
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def kv(r): return {k: v for k, v in (x.split('=', 1) for x in r[2:])}
d = [kv(r) for r in rows if r[0] == 'duckdb']
c = [kv(r) for r in rows if r[0] == 'cdp']
for r in rows: print(' '.join(r))
med = lambda xs, k: st.median(float(x[k]) for x in xs)
dm = {k: med(d, k) for k in ('load', 'normalise', 'block', 'compare', 'train', 'score', 'cluster', 'total', 'cpu')}
d_match = st.median(float(x['total']) - float(x['load']) for x in d)
cm = {k: med(c, k) for k in ('load', 'train', 'full', 'train_full', 'total')}
c_ltf = st.median(float(x['load']) + float(x['train_full']) for x in c)
print(f"medians of {len(d)} DuckDB and {len(c)} cdp runs:")
print(f"  DuckDB: load {dm['load']:.1f} s, normalise {dm['normalise']:.1f}, block {dm['block']:.1f}, compare {dm['compare']:.1f}, "
      f"train {dm['train']:.1f}, score {dm['score']:.1f}, cluster {dm['cluster']:.1f}; match (all but load) {d_match:.1f} s, whole {dm['total']:.1f} s")
print(f"  cdp:    load (copy + ingest + analyze) {cm['load']:.1f} s, train {cm['train']:.1f} s, full {cm['full']:.1f} s, train + full {cm['train_full']:.1f} s, "
      f"load + train + full {c_ltf:.1f} s")
print(f"  ratio cdp train + full / DuckDB match:          {cm['train_full'] / d_match:.2f}")
print(f"  ratio cdp load + train + full / DuckDB whole:   {c_ltf / dm['total']:.2f}")
PY
