#!/usr/bin/env bash
# test/bench/campaigns_list_ab.sh: build_send_list before/after on a kept campaign database (issue 14,
# doc/benchmarks-campaigns.md "Session 26"), against a running server (PG* set, e.g. eval "$(cat tmp_dev/env)").
# Alternates two definition files RUNS times: each build runs in a fresh session and a transaction
# that installs A (or B) with CREATE OR REPLACE, calls cdp.build_send_list(C, AT) and rolls back
# (the dead rows vacuumed away outside the timing); it prints the wall time, the backend's CPU
# (/proc/self/stat around the call), the due rows and the load; after each pair, the plain
# CREATE TABLE AS of the segment's members with their first phone, for reference.
#   A=main_defs.sql B=branch_defs.sql DB=cl1m24 C=2 SEG=1 RUNS=3 bash test/bench/campaigns_list_ab.sh
# Make the files with test/bench/campaign_defs.py ('--so=$libdir/cdp': the installed library must
# hold both versions' C symbols); run it under flock /work/bench.lock.
set -euo pipefail
DB=${DB:?DB names the database}; A=${A:?A names a definitions file}; B=${B:?B names a definitions file}
C=${C:-2}; SEG=${SEG:-1}; RUNS=${RUNS:-3}; AT=${AT:-2026-03-02 12:00+03}
cpu="(split_part(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ', 12)::float8 + split_part(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ', 13)::float8) / 100"
ms() { date +%s%3N; }
build() {	# build LABEL DEFS
	psql -X -q -d "$DB" -c "VACUUM cdp.campaign_send, cdp_internal.seg_touch, cdp.audit_log"
	local t0 out
	t0=$(ms)
	out=$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c "BEGIN" -f "$2" -c "SELECT $cpu" \
		-c "SELECT (cdp.build_send_list($C, '$AT')) ->> 'due'" -c "SELECT $cpu" -c "ROLLBACK" | tr '\n' ' ')
	read -r c0 due c1 <<<"$out"
	echo "$1: wall $(( $(ms) - t0 )) ms, backend CPU $(echo "$c1 - $c0" | bc) s, due $due, load $(cut -d' ' -f1-3 /proc/loadavg)"
}
plain() {
	local t0 out
	t0=$(ms)
	out=$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c "BEGIN" -c "SELECT $cpu" \
		-c "CREATE TEMP TABLE plain_list AS SELECT m.golden_id, p.phones -> 0 ->> 'value' AS address, p.given_name || ', a' AS message FROM cdp.segment_member m JOIN cdp.patient p USING (golden_id) WHERE m.segment_id = $SEG" \
		-c "SELECT $cpu" -c "ROLLBACK" | tr '\n' ' ')
	read -r c0 c1 <<<"$out"
	echo "plain CREATE TABLE AS: wall $(( $(ms) - t0 )) ms, backend CPU $(echo "$c1 - $c0" | bc) s"
}
date -u; uptime
for r in $(seq 1 "$RUNS"); do
	build "A run $r" "$A"
	build "B run $r" "$B"
	plain
done
date -u; uptime
