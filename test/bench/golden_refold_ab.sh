#!/usr/bin/env bash
# test/bench/golden_refold_ab.sh: the live re-fold alone, golden_refold's statement against
# cdp_internal.golden_refold_rows (src/golden_refold.c), alternated (issue 16, session 36).
#
#   test/bench/golden_refold_ab.sh DB MODE...      e.g.  ... fd_after sql c c sql
#
# DB is a database after a merge (a copy of a first-day snapshot, test/bench/first_day.sh
# SNAPSHOT=..., after cdp.link_records_many of its links, test/bench/golden_merge_replay.sh);
# its survivors are the persons redirects lead to.  Each MODE runs in a rolled-back transaction
# where a new survivorship rules version (the same rules) makes every survivor's row change:
# "sql" golden_refold's statement (UPDATE ... FROM golden_compute), "c" golden_refold_rows.  Prints
# the wall and backend CPU time (/proc/self/stat) of that one statement, the rows changed and an
# md5 of the survivors' rows (must be equal).  Hold `flock /work/bench.lock` at 1M.
set -euo pipefail
DB=${1:?database}; shift
CDP_SRC=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" = 0 ]; then exec runuser -u postgres -- bash "$0" "$DB" "$@"; fi
eval "$(cat "$CDP_SRC/tmp_dev/env")"
for mode in "$@"; do
	if [ "$mode" = sql ]; then
		stmt="WITH u AS (UPDATE cdp.patient p SET
		status = c.status, status_at = c.status_at, registered_on = c.registered_on, validated = c.validated,
		family_name = c.family_name, given_name = c.given_name, patronymic = c.patronymic, sex = c.sex,
		birth_date = c.birth_date, phones = c.phones, emails = c.emails, handles = c.handles,
		snils = c.snils, oms = c.oms, address = c.address, city = c.city, last_visit = c.last_visit,
		record_count = c.record_count, updated_at = c.updated_at, rules_version = c.rules_version
	  FROM s, cdp_internal.golden_compute(s.ids) c
	 WHERE p.golden_id = c.golden_id AND (p.*) IS DISTINCT FROM (c.*) RETURNING 1) SELECT count(*) FROM u"
	else
		stmt="SELECT cdp_internal.golden_refold_rows(s.ids, r.rules, r.version) FROM s, cdp.survivorship_rules_as_of('infinity') r"
	fi
	out=$(psql -XqAt -v ON_ERROR_STOP=1 -d "$DB" <<SQL
BEGIN;
SET LOCAL enable_seqscan = off;
CREATE TEMP TABLE s AS SELECT array_agg(DISTINCT d.new_id ORDER BY d.new_id) AS ids FROM cdp.patient_redirect d JOIN cdp.patient p ON p.golden_id = d.new_id;
INSERT INTO cdp.survivorship_rules (version, rules, at, event_id)
SELECT r.version + 1, r.rules, now(), 0 FROM cdp.survivorship_rules_as_of('infinity') r;
SELECT 't0', clock_timestamp(), pg_read_file('/proc/self/stat');
$stmt;
SELECT 't1', clock_timestamp(), pg_read_file('/proc/self/stat');
SELECT md5(string_agg(p::text, ',' ORDER BY golden_id)) FROM cdp.patient p, s WHERE p.golden_id = ANY (s.ids);
ROLLBACK;
SQL
)
	echo "$out" | awk -v mode="$mode" -v hz="$(getconf CLK_TCK)" '
		/^t[01]\|/ { split($0, a, "|"); s = a[3]; sub(/^.*\) /, "", s); split(s, f, " "); cpu[a[1]] = f[12] + f[13]; ts[a[1]] = a[2]; next }
		NF { rest = rest " " $0 }
		END { cmd = "date -d \"" ts["t1"] "\" +%s.%N"; cmd | getline e; close(cmd); cmd = "date -d \"" ts["t0"] "\" +%s.%N"; cmd | getline b; close(cmd);
		      printf "%-4s %7.2f s wall %7.2f s CPU  rows+md5:%s\n", mode, e - b, (cpu["t1"] - cpu["t0"]) / hz, rest }'
done
