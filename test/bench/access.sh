#!/usr/bin/env bash
# test/bench/access.sh: what the access family (issue 15) costs, each figure against the same work
# without it, in the same run.  Usage: test/bench/access.sh [patients=20000] [rounds=5]
# Needs a running server (PG* set, e.g. eval "$(test/scripts/devdb.sh env)") and creates a database
# cdp_bench_access.  Prints medians of the rounds:
#   - a doctor's full scan of cdp.patient under its policy (cdp.in_care per row) vs the owner's;
#   - cdp.patient_profile (role check, resolve, profile, audit row) vs a plain SELECT of the row;
#   - cdp.masked_patients() (pseudonym and masks per row) vs a plain SELECT of the same columns;
#   - ingest, one upsert_record call per row, upsert_records SECURITY DEFINER (0.3.0) vs invoker;
#   - cdp.erase_patient of one patient.
set -euo pipefail
n=${1:-20000}
rounds=${2:-5}
db=cdp_bench_access
dropdb --if-exists "$db" >/dev/null
createdb "$db"
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }

q -c "CREATE EXTENSION cdp" -c "SELECT count(*) FROM cdp.setup_roles()" >/dev/null
q <<SQL >/dev/null
SELECT cdp.register_source('reception', 'internal', 80);
SELECT count(*) FROM cdp.upsert_records('reception',
	ARRAY(SELECT 'r' || i FROM generate_series(1, $n) i),
	ARRAY(SELECT jsonb_build_object('family_name', 'Фамилия' || (i % 997), 'given_name', 'Имя' || (i % 101),
	             'birth_date', (date '1940-01-01' + (i * 7) % 25000)::text, 'sex', CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END,
	             'city', 'Город' || (i % 13), 'phone', '+7916' || lpad(i::text, 7, '0'),
	             'email', 'user' || i || '@mail.ru') FROM generate_series(1, $n) i));
SELECT count(cdp.upsert_clinical_event('reception', 'v' || i, 'visit',
	jsonb_build_object('record_source_id', 'r' || i, 'at', '2026-01-01', 'specialty', CASE WHEN i % 10 = 0 THEN 'кардиолог' ELSE 'терапевт' END)))
  FROM generate_series(1, $n) i;
DO \$\$ BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bench_doctor') THEN CREATE ROLE bench_doctor LOGIN; END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bench_desk') THEN CREATE ROLE bench_desk LOGIN; END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bench_marketer') THEN CREATE ROLE bench_marketer LOGIN; END IF;
END \$\$;
SELECT cdp.grant_role('bench_doctor', 'cdp_doctor', '{"specialties": ["кардиолог"]}');
SELECT cdp.grant_role('bench_desk', 'cdp_registrar');
SELECT cdp.grant_role('bench_marketer', 'cdp_marketer');
VACUUM ANALYZE;
SQL

# ms of one statement, run as a login (or the owner when login is empty): EXPLAIN ANALYZE's total
ms() {
	local login=$1 sql=$2 auth=''
	[ -n "$login" ] && auth="SET SESSION AUTHORIZATION $login;"
	q -c "$auth" -c "EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) $sql" | tail -n +1 |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[0]["Execution Time"])'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

run() {
	local label=$1 login=$2 sql=$3 base_login=$4 base_sql=$5 a b
	a=$(for _ in $(seq "$rounds"); do ms "$login" "$sql"; done | median)
	b=$(for _ in $(seq "$rounds"); do ms "$base_login" "$base_sql"; done | median)
	printf '%-58s %10.2f ms  vs %10.2f ms  (x%.2f)\n' "$label" "$a" "$b" "$(echo "$a / $b" | bc -l)"
}

echo "access costs, $n patients, medians of $rounds rounds"
run "doctor: count(*) FROM cdp.patient (policy in_care)" bench_doctor "SELECT count(*) FROM cdp.patient" \
	"" "SELECT count(*) FROM cdp.patient"
run "doctor: its patients' rows by id (policy in_care)" bench_doctor \
	"SELECT * FROM cdp.patient WHERE golden_id BETWEEN 1 AND 1000" "" "SELECT * FROM cdp.patient WHERE golden_id BETWEEN 1 AND 1000"
run "registrar: patient_profile x 200 (audited)" bench_desk \
	"SELECT count(cdp.patient_profile(g, 'bench')) FROM generate_series(1, 200) g" \
	"" "SELECT count(to_jsonb(p.*)) FROM generate_series(1, 200) g JOIN cdp.patient p ON p.golden_id = g"
run "marketer: masked_patients() (pseudonym + masks per row)" bench_marketer "SELECT count(*) FROM cdp.masked_patients()" \
	"" "SELECT count(*) FROM (SELECT golden_id, sex, birth_date, city, phones, emails, snils FROM cdp.patient WHERE status = 'active') x"

# ingest one call per row: upsert_records as SECURITY DEFINER (0.3.0) and as invoker, alternately
ingest() {
	local tag=$1 start
	start=$(date +%s.%N)
	q -c "SELECT count(cdp.upsert_record('reception', 'x$tag-' || i, jsonb_build_object('family_name', 'Новый' || i, 'birth_date', '1990-01-01'))) FROM generate_series(1, 2000) i" >/dev/null
	echo "$(date +%s.%N) - $start" | bc -l
}
definer=(); invoker=()
for r in $(seq "$rounds"); do
	q -c "ALTER FUNCTION cdp.upsert_records(text, text[], jsonb[], boolean) SECURITY DEFINER" >/dev/null
	definer+=("$(ingest "d$r")")
	q -c "ALTER FUNCTION cdp.upsert_records(text, text[], jsonb[], boolean) SECURITY INVOKER" >/dev/null
	invoker+=("$(ingest "i$r")")
done
q -c "ALTER FUNCTION cdp.upsert_records(text, text[], jsonb[], boolean) SECURITY DEFINER" >/dev/null
d=$(printf '%s\n' "${definer[@]}" | median); i=$(printf '%s\n' "${invoker[@]}" | median)
printf '%-58s %10.0f rows/s vs %10.0f rows/s (x%.2f)\n' "ingest 2,000 rows one call each: definer vs invoker" \
	"$(echo "2000 / $d" | bc -l)" "$(echo "2000 / $i" | bc -l)" "$(echo "$i / $d" | bc -l)"

e=$(for r in $(seq "$rounds"); do s=$(date +%s.%N); q -c "SELECT cdp.erase_patient($((r * 7)), 'bench')" >/dev/null; echo "($(date +%s.%N) - $s) * 1000" | bc -l; done | median)
printf '%-58s %10.1f ms\n' "erase_patient of one patient (client round trip)" "$e"
dropdb "$db"
