#!/usr/bin/env bash
# test/bench/ingest_speed.sh: cdp.upsert_record throughput against a plain INSERT of the same rows
# into an unvalidated table, in the same run; one session and 4 concurrent sessions; event-log bytes
# per record. Runs against the server in PG* (e.g. eval "$(cat tmp_dev/env)").
#
#   test/bench/ingest_speed.sh [ROWS=100000] [REPEATS=3]
#
# Prints the median of REPEATS runs for each figure.  PER_ROW=0 skips the one-call-per-row runs
# (a few ms per call).  Since issue 16 a batch writes the golden profile of every record it creates
# in its own statement, so the created-record figures include live profiles; the "changed" rows
# re-send every record with one attribute changed (the update path: record.updated events and
# refresh_patients of each changed person).
set -euo pipefail
rows=${1:-100000}
repeats=${2:-3}
db=cdp_bench_ingest
psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
export PGDATABASE=$db
q() { psql -XqAt -v ON_ERROR_STOP=1 "$@"; }

q <<SQL
CREATE EXTENSION cdp;
SELECT cdp.register_source('reception', 'internal', 80);
SELECT setseed(0.42);
-- messy but valid records: mixed name forms, phone formats, e-mail case, SNILS with and without dashes
CREATE TABLE staging AS
SELECT i, 'R' || i AS source_id, jsonb_strip_nulls(jsonb_build_object(
  'family_name', (ARRAY['Иванова','ПЕТРОВ','Sidorova','Кузнецов','Smirnova','Попов','Lebedeva','Козлов'])[1 + i % 8] || CASE WHEN i % 3 = 0 THEN '' ELSE ' ' END,
  'given_name', (ARRAY['Мария','Иван','Anna','Сергей','Olga','Дмитрий','Елена','Алексей'])[1 + (i / 8) % 8],
  'patronymic', CASE WHEN i % 4 = 0 THEN NULL ELSE (ARRAY['Петровна','Иванович','Sergeevna','Андреевич'])[1 + i % 4] END,
  'dob', CASE i % 3 WHEN 0 THEN to_char(date '1940-01-01' + (i * 37) % 25000, 'DD.MM.YYYY')
                    WHEN 1 THEN to_char(date '1940-01-01' + (i * 37) % 25000, 'YYYY-MM-DD')
                    ELSE to_char(date '1940-01-01' + (i * 37) % 25000, 'YYYYMMDD') END,
  'sex', CASE WHEN i % 2 = 0 THEN 'ж' ELSE 'M' END,
  'phone', CASE i % 3 WHEN 0 THEN format('8 (9%s) %s-%s-%s', lpad((i % 100)::text, 2, '0'), lpad((i % 1000)::text, 3, '0'), lpad((i % 97)::text, 2, '0'), lpad((i % 89)::text, 2, '0'))
                      WHEN 1 THEN format('+7 9%s %s', lpad((i % 100)::text, 2, '0'), lpad((i % 10000000)::text, 7, '0'))
                      ELSE format('9%s%s', lpad((i % 100)::text, 2, '0'), lpad((i % 10000000)::text, 7, '0')) END,
  'email', CASE WHEN i % 5 = 0 THEN NULL ELSE format('User.%s@Mail.RU', i) END,
  'city', (ARRAY['Москва','Санкт-Петербург','Казань'])[1 + i % 3],
  'vk', CASE WHEN i % 7 = 0 THEN 'https://vk.com/id' || i END,
  'visit_note', 'first visit'
)) AS attrs
FROM generate_series(1, $rows) i;
CREATE TABLE plain (source text, source_id text, attrs jsonb, PRIMARY KEY (source, source_id));
SQL

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now_ms() { date +%s%3N; }

per_row=${PER_ROW:-1}
plain1=(); cdp1=(); batch1=(); plain4=(); cdp4=(); batch4=(); upd1=(); upd4=()
reset_cdp() { q -c "DROP EXTENSION cdp CASCADE" -c "CREATE EXTENSION cdp" -c "SELECT cdp.register_source('reception', 'internal', 80)" >/dev/null; }
# every record of the staging table again, with its city changed (the update path)
q -c "CREATE TABLE staging2 AS SELECT i, source_id, attrs || jsonb_build_object('city', 'Тула') AS attrs FROM staging" >/dev/null
# batches of 5,000 rows, the way a COPY-loaded staging table is ingested
batch_sql() { local t=${2:-staging}; echo "DO \$\$ DECLARE b int; BEGIN FOR b IN SELECT DISTINCT (i - 1) / 5000 FROM $t WHERE $1 ORDER BY 1 LOOP
  PERFORM count(*) FROM cdp.upsert_records('reception', ARRAY(SELECT source_id FROM $t WHERE $1 AND (i - 1) / 5000 = b ORDER BY i),
                                           ARRAY(SELECT attrs FROM $t WHERE $1 AND (i - 1) / 5000 = b ORDER BY i));
  COMMIT; END LOOP; END \$\$"; }
for r in $(seq "$repeats"); do
	q -c "TRUNCATE plain" >/dev/null
	t0=$(now_ms); q -c "INSERT INTO plain SELECT 'reception', source_id, attrs FROM staging" >/dev/null; t1=$(now_ms)
	plain1+=($((t1 - t0)))
	# cdp: a fresh extension each repeat so every upsert creates a record
	if [ "$per_row" = 1 ]; then
		reset_cdp
		t0=$(now_ms); q -c "SELECT count(cdp.upsert_record('reception', source_id, attrs)) FROM staging" >/dev/null; t1=$(now_ms)
		cdp1+=($((t1 - t0)))
	fi
	reset_cdp
	t0=$(now_ms); q -c "$(batch_sql true)" >/dev/null; t1=$(now_ms)
	batch1+=($((t1 - t0)))
	t0=$(now_ms); q -c "$(batch_sql true staging2)" >/dev/null; t1=$(now_ms)
	upd1+=($((t1 - t0)))
	if [ "$r" = "$repeats" ]; then
		bytes=$(q -c "SELECT round(pg_total_relation_size('cdp.event')::numeric / count(*)) FROM cdp.event WHERE kind = 'record.created'")
		payload=$(q -c "SELECT round(avg(pg_column_size(e.*))) FROM cdp.event e WHERE kind = 'record.created'")
	fi
	# 4 concurrent sessions, each a quarter of the rows
	q -c "TRUNCATE plain" >/dev/null
	t0=$(now_ms)
	for k in 0 1 2 3; do q -c "INSERT INTO plain SELECT 'reception', source_id, attrs FROM staging WHERE i % 4 = $k" >/dev/null & done; wait
	t1=$(now_ms); plain4+=($((t1 - t0)))
	if [ "$per_row" = 1 ]; then
		reset_cdp
		t0=$(now_ms)
		for k in 0 1 2 3; do q -c "SELECT count(cdp.upsert_record('reception', source_id, attrs)) FROM staging WHERE i % 4 = $k" >/dev/null & done; wait
		t1=$(now_ms); cdp4+=($((t1 - t0)))
	fi
	reset_cdp
	t0=$(now_ms)
	for k in 0 1 2 3; do q -c "$(batch_sql "i % 4 = $k")" >/dev/null & done; wait
	t1=$(now_ms); batch4+=($((t1 - t0)))
	t0=$(now_ms)
	for k in 0 1 2 3; do q -c "$(batch_sql "i % 4 = $k" staging2)" >/dev/null & done; wait
	t1=$(now_ms); upd4+=($((t1 - t0)))
done
# idempotent replay of the rows as stored (the changed ones): nothing is written
t0=$(now_ms); q -c "SELECT count(cdp.upsert_record('reception', source_id, attrs)) FROM staging2 WHERE i % 4 = 0" >/dev/null; t1=$(now_ms)
replay=$(( (t1 - t0) * 4 ))
t0=$(now_ms); q -c "$(batch_sql true staging2)" >/dev/null; t1=$(now_ms)
replayb=$((t1 - t0))

p1=$(printf '%s\n' "${plain1[@]}" | median); c1=$(printf '%s\n' "${cdp1[@]}" | median)
p4=$(printf '%s\n' "${plain4[@]}" | median); c4=$(printf '%s\n' "${cdp4[@]}" | median)
b1=$(printf '%s\n' "${batch1[@]}" | median); b4=$(printf '%s\n' "${batch4[@]}" | median)
n1=$(printf '%s\n' "${upd1[@]}" | median); n4=$(printf '%s\n' "${upd4[@]}" | median)
[ "$per_row" = 1 ] || { c1=0; c4=0; }
awk -v n="$rows" -v p1="$p1" -v c1="$c1" -v p4="$p4" -v c4="$c4" -v b1="$b1" -v b4="$b4" -v b="$bytes" -v pl="$payload" -v rp="$replay" -v rb="$replayb" -v n1="$n1" -v n4="$n4" -v k="$repeats" 'BEGIN {
	printf "rows: %d, median of %d runs\n", n, k
	printf "%-44s %12s %12s %8s\n", "", "plain INSERT", "cdp", "ratio"
	printf "%-44s %10.0f/s %10.0f/s %8.2f\n", "upsert_records, batches of 5000, 1 session", n/(p1/1000), n/(b1/1000), p1/b1
	printf "%-44s %10.0f/s %10.0f/s %8.2f\n", "upsert_records, batches of 5000, 4 sessions", n/(p4/1000), n/(b4/1000), p4/b4
	printf "%-44s %10.0f/s %10.0f/s %8.2f\n", "  every record changed, 1 session", n/(p1/1000), n/(n1/1000), p1/n1
	printf "%-44s %10.0f/s %10.0f/s %8.2f\n", "  every record changed, 4 sessions", n/(p4/1000), n/(n4/1000), p4/n4
	if (c1 > 0) {
		printf "%-44s %10.0f/s %10.0f/s %8.2f\n", "upsert_record, one call per row, 1 session", n/(p1/1000), n/(c1/1000), p1/c1
		printf "%-44s %10.0f/s %10.0f/s %8.2f\n", "upsert_record, one call per row, 4 sessions", n/(p4/1000), n/(c4/1000), p4/c4
	}
	printf "%-44s %23.0f/s\n", "idempotent replay, one call per row", n/(rp/1000)
	printf "%-44s %23.0f/s\n", "idempotent replay, batches of 5000", n/(rb/1000)
	printf "event log bytes per record: %d (table + indexes), row size %d\n", b, pl
}'
psql -XqAt -d postgres -c "DROP DATABASE $db"
