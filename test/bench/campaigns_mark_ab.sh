#!/usr/bin/env bash
# test/bench/campaigns_mark_ab.sh: mark_sent before/after on a kept campaign database (issue 14,
# doc/benchmarks-campaigns.md "Session 25"), against a running server (PG* set, e.g. eval "$(cat tmp_dev/env)").
# Alternates two definition files RUNS times: each run installs A (or B), then calls
# cdp_internal.campaign_mark on N due rows (hashint8 order), one commit a call, in a fresh session,
# and prints p50/p95 and the backend's CPU a call (/proc/self/stat around the calls) with the load.
#   A=main_defs.sql B=branch_defs.sql DB=cl1m24 N=1000 RUNS=3 bash test/bench/campaigns_mark_ab.sh
# Make the files with test/bench/campaign_defs.py (and DROP/CREATE INDEX lines as the versions
# differ); run it under flock /work/bench.lock.  The marks are committed: put the rows back to due
# between holds (UPDATE cdp.campaign_send SET status = 'due', sent_at = NULL, sent_day = NULL,
# refused_at = NULL, reason = NULL WHERE status IN ('sent', 'refused')).
set -euo pipefail
DB=${DB:?DB names the database}; N=${N:-1000}; RUNS=${RUNS:-3}; AT=${AT:-2026-03-02 12:00+03}
cpu="(split_part(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ', 12)::float8 + split_part(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ', 13)::float8) / 100"
run() {	# run LABEL
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" <<SQL
CREATE TEMP TABLE lat (ms float8);
CREATE TEMP TABLE c0 AS SELECT $cpu AS c;
DO \$\$
DECLARE s bigint; t timestamptz;
BEGIN
	FOR s IN SELECT send_id FROM cdp.campaign_send WHERE status = 'due' ORDER BY hashint8(send_id) LIMIT $N LOOP
		t := clock_timestamp();
		PERFORM cdp_internal.campaign_mark(s, '$AT');
		INSERT INTO lat VALUES (extract(epoch FROM clock_timestamp() - t) * 1000);
		COMMIT;
	END LOOP;
END \$\$;
SELECT format('$1: %s calls, p50 %s ms, p95 %s ms, backend CPU %s ms a call, load %s', count(*),
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 3),
              round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 3),
              round((($cpu - (SELECT c FROM c0)) * 1000 / count(*))::numeric, 3), '$(cut -d' ' -f1-3 /proc/loadavg)') FROM lat;
SQL
}
date -u; uptime
for r in $(seq "$RUNS"); do
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "${A:?}" >/dev/null; run "A ($A) run $r"
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "${B:?}" >/dev/null; run "B ($B) run $r"
done
date -u; uptime
