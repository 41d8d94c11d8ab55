#!/usr/bin/env bash
# test/bench/campaigns.sh: campaign figures (issue 14, doc/benchmarks-campaigns.md), against a running server
# (PG* set, e.g. eval "$(cat tmp_dev/env)"), in a fresh database:
#   build_send_list for a segment of SEGMENT_SHARE of PATIENTS, 4 channels, consent, cap, window,
#     beside a plain CREATE TABLE AS of the same members with their first phone (no checks);
#   mark_sent p50/p95 over MARK_SAMPLE due rows;
#   EVENTS delivery events: COPY into cdp.delivery_event_staging + cdp.ingest_delivery_events(),
#     beside a plain COPY of the same file into an unvalidated table;
#   the metrics of one campaign over 90 days (cdp.campaign_metrics), p50/p95 of METRIC_RUNS runs.
# Each timed step runs REPEAT times (median reported); list builds are rolled back and vacuumed
# away between runs (fresh builds).
#   PATIENTS=100000 SEGMENT_SHARE=0.2 EVENTS=1000000 bash test/bench/campaigns.sh
# GEN=sql (default) writes the patients and consents set-based (test/bench/gen_campaigns.sql, about
# a minute for 1M); GEN=api through cdp.upsert_records and cdp.set_consents (about 6 minutes for 1M).
# GEN_CHECK=1 generates GEN_CHECK_PATIENTS (2000) both ways and compares the data and the send lists.
# REUSE=1 skips the generation (DB kept by an earlier KEEP=1 run); GENERATE_ONLY=1 stops after it.
set -euo pipefail
PATIENTS=${PATIENTS:-100000}
SEGMENT_SHARE=${SEGMENT_SHARE:-0.2}
EVENTS=${EVENTS:-1000000}
MARK_SAMPLE=${MARK_SAMPLE:-1000}
METRIC_RUNS=${METRIC_RUNS:-50}
REPEAT=${REPEAT:-3}
DB=${DB:-cdp_bench_campaigns}
GEN=${GEN:-sql}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d); chmod 755 "$tmp"; trap 'rm -rf "$tmp"' EXIT
q() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
ms() { python3 -c 'import sys,time; print(int(time.time()*1000))'; }
median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:]]; print(round(statistics.median(v),1))' "$@"; }

if [ -n "${GEN_CHECK:-}" ]; then
	# the set-based generation against the API's: same rows (time stamps aside), same send list
	n=${GEN_CHECK_PATIENTS:-2000}
	for g in api sql; do
		env -u GEN_CHECK GEN=$g PATIENTS=$n SEGMENT_SHARE="$SEGMENT_SHARE" DB="${DB}_$g" GENERATE_ONLY=1 bash "$0" >/dev/null
		psql -X -q -v ON_ERROR_STOP=1 -d "${DB}_$g" -At >"$tmp/$g.out" <<'SQL'
SELECT cdp.build_send_list(1, '2026-03-02 12:00+03') - 'at';
SELECT record_id, source_id, source_key, golden_id, raw, family_name, given_name, patronymic, birth_date, sex, phones, emails,
       snils, oms, address, city, handles, extra, attrs_hash, version FROM cdp.record ORDER BY record_id;
SELECT golden_id, status, status_at, registered_on, validated, family_name, given_name, patronymic, sex, birth_date,
       (SELECT jsonb_agg(x - 'first_seen' - 'last_seen') FROM jsonb_array_elements(phones) x),
       (SELECT jsonb_agg(x - 'first_seen' - 'last_seen') FROM jsonb_array_elements(emails) x),
       handles, snils, oms, address, city, last_visit, record_count, rules_version FROM cdp.patient ORDER BY golden_id;
SELECT record_id, golden_id, from_event, to_event FROM cdp.patient_member ORDER BY record_id;
SELECT record_id FROM cdp_internal.match_queue ORDER BY record_id;
SELECT event_id, actor, kind, subject, golden_id,
       CASE WHEN kind = 'record.created' THEN payload #- '{record,created_at}' #- '{record,updated_at}' ELSE payload - 'at' END
  FROM cdp.event WHERE kind IN ('record.created', 'consent.granted') ORDER BY event_id;
SELECT record_id, purpose, channel, event_id, granted, given_for, records, address, evidence FROM cdp.consent_statement
 ORDER BY record_id, purpose, channel, event_id;
SELECT segment_id, golden_id, version, channels FROM cdp.segment_member ORDER BY 1, 2;
SELECT golden_id, trigger_key, purpose, status, reason, channel, address, arm, due_at, message, provenance
  FROM cdp.campaign_send ORDER BY golden_id;
SQL
		[ -n "${KEEP:-}" ] || dropdb "${DB}_$g"
	done
	if cmp -s "$tmp/api.out" "$tmp/sql.out"; then
		echo "generation check, $n patients: set-based = API ($(wc -l < "$tmp/sql.out") lines compared, send list included)"
		exit 0
	fi
	echo "generation check, $n patients: DIFFERENT"; diff "$tmp/api.out" "$tmp/sql.out" | head -20; exit 1
fi
echo "== $PATIENTS patients, a segment of ${SEGMENT_SHARE} of them, $EVENTS delivery events"
if [ -z "${REUSE:-}" ]; then
dropdb --if-exists "$DB" >/dev/null; createdb "$DB"
q -c "CREATE EXTENSION cdp CASCADE" -c "SELECT cdp.register_source('his', 'internal', 80)" >/dev/null
t0=$(ms)
if [ "$GEN" = api ]; then
q <<SQL >/dev/null
SELECT count(*) FROM generate_series(0, ($PATIENTS - 1) / 20000) b,
  LATERAL cdp.upsert_records('his',
    ARRAY(SELECT 'p' || lpad(i::text, 8, '0') FROM generate_series(b * 20000 + 1, least((b + 1) * 20000, $PATIENTS)) i ORDER BY 1),
    ARRAY(SELECT jsonb_build_object('family_name', 'Фамилия' || i, 'given_name', (ARRAY['Анна', 'Мария', 'Олег', 'Иван'])[1 + i % 4],
           'sex', CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END, 'birth_date', (date '1950-01-01' + i % 18000)::text,
           'city', (ARRAY['Москва', 'Новосибирск', 'Казань', 'Владивосток'])[1 + i % 4],
           'phones', jsonb_build_array('+7916' || lpad(i::text, 7, '0')),
           'emails', CASE WHEN i % 3 <> 0 THEN jsonb_build_array('p' || i || '@mail.ru') END)
          FROM generate_series(b * 20000 + 1, least((b + 1) * 20000, $PATIENTS)) i ORDER BY 'p' || lpad(i::text, 8, '0')));
SQL
echo "load: $(( $(ms) - t0 )) ms"
t0=$(ms)
q <<SQL >/dev/null
SELECT count(cdp.set_consents(golden_id, ARRAY['marketing'], ARRAY['messenger', 'sms', 'email'], true, now() - interval '1 year'))
  FROM cdp.patient WHERE abs(hashint8(golden_id) % 1000) < 1000 * $SEGMENT_SHARE;
SELECT cdp.create_segment('bench', '{"attr": "status", "op": "=", "value": "active"}', 'marketing');
SELECT cdp.refresh_segment(1, 'full');
ANALYZE;
SQL
echo "consents + segment: $(( $(ms) - t0 )) ms; members: $(q -Atc 'SELECT count(*) FROM cdp.segment_member')"
else
	# set-based: the same rows written straight into the tables (test/bench/gen_campaigns.sql)
	q -v patients="$PATIENTS" -v share="$SEGMENT_SHARE" -v his=1 -f "$here/gen_campaigns.sql" >/dev/null
	echo "load + consents (set-based): $(( $(ms) - t0 )) ms"
	t0=$(ms)
	q -c "SELECT cdp.create_segment('bench', '{\"attr\": \"status\", \"op\": \"=\", \"value\": \"active\"}', 'marketing')" \
	  -c "SELECT cdp.refresh_segment(1, 'full')" -c "ANALYZE" >/dev/null
	echo "segment: $(( $(ms) - t0 )) ms; members: $(q -Atc 'SELECT count(*) FROM cdp.segment_member')"
fi
q -c "SELECT cdp.create_campaign('{\"name\": \"bench\", \"segment\": 1, \"channels\": [\"messenger\", \"sms\", \"email\", \"social\"],
  \"templates\": {\"messenger\": \"{given_name}, a\", \"sms\": \"{given_name}, b\", \"email\": \"{given_name}, c\", \"social\": \"d\"},
  \"window\": {\"hours\": [9, 21]}, \"cap\": {\"max\": 2, \"per\": \"30 days\", \"quiet\": \"3 days\"}, \"holdout\": 0.1,
  \"arms\": {\"A\": 0.5, \"B\": 0.5}}')" >/dev/null
[ -z "${GENERATE_ONLY:-}" ] || exit 0
else
	echo "(reusing $DB: generation skipped)"
	q -c "DELETE FROM cdp.campaign_delivery" -c "DELETE FROM cdp.delivery_event_staging" -c "DELETE FROM cdp.campaign_send" -c "VACUUM ANALYZE" >/dev/null
fi
# each run a fresh build: rolled back, then the dead rows vacuumed away (outside the timing), so a
# run neither finds the previous run's rows nor pays for their dead index entries; beside the wall
# time, the server backend's CPU time (/proc/<pid>/stat around the call), which other load on the
# machine does not inflate
cpu_sql="(split_part(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ', 12)::float8 + split_part(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ', 13)::float8) / 100"
timed() {	# timed <sql>: prints "<wall ms> <backend cpu s>"
	local t0 out
	t0=$(ms)
	out=$(q -At -c "BEGIN" -c "SELECT $cpu_sql" -c "$1" -c "SELECT $cpu_sql" -c "ROLLBACK" | grep -E '^[0-9.]+$' | tr '\n' ' ')
	echo "$(( $(ms) - t0 )) $(python3 -c "import sys; a=sys.argv[1:]; print(round(float(a[-1])-float(a[0]),2))" $out)"
}
builds=(); plains=(); bcpu=(); pcpu=()
for r in $(seq "$REPEAT"); do
	q -c "VACUUM cdp.campaign_send, cdp_internal.seg_touch, cdp.audit_log" >/dev/null
	read -r w c < <(timed "SELECT cdp.build_send_list(1, '2026-03-02 12:00+03') IS NOT NULL"); builds+=("$w"); bcpu+=("$c")
	read -r w c < <(timed "CREATE TEMP TABLE plain_list AS SELECT m.golden_id, p.phones -> 0 ->> 'value' AS address, p.given_name || ', a' AS message FROM cdp.segment_member m JOIN cdp.patient p USING (golden_id) WHERE m.segment_id = 1"); plains+=("$w"); pcpu+=("$c")
done
b=$(median "${builds[@]}"); p=$(median "${plains[@]}")
echo "build_send_list ($(q -Atc 'SELECT count(*) FROM cdp.segment_member') members): median ${b} ms (runs: ${builds[*]} ms; backend CPU ${bcpu[*]} s); plain CREATE TABLE AS of the members: ${p} ms (runs: ${plains[*]} ms; CPU ${pcpu[*]} s); ratio $(python3 -c "print(round($b/$p,1))")x; load average $(cut -d' ' -f1-3 /proc/loadavg)"
q -c "SELECT cdp.build_send_list(1, '2026-03-02 12:00+03')" >/dev/null
# MARK_RUNS runs of MARK_SAMPLE calls each (other due rows each time), each in its own session;
# PREWARM=1 first reads cdp's tables and indexes into shared buffers (pg_prewarm), as a running
# server's cache would hold them (the sample is random across the population); MARK_COMMIT=1
# commits after each call, as a gateway marking one row per transaction does (the time is the call's)
[ -z "${PREWARM:-}" ] || q -At -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm" -c "SELECT 'prewarmed ' || pg_size_pretty(sum(pg_prewarm(c.oid)) * current_setting('block_size')::bigint) || ' of shared_buffers ' || current_setting('shared_buffers') FROM pg_class c WHERE c.relnamespace IN ('cdp'::regnamespace, 'cdp_internal'::regnamespace) AND c.relkind IN ('r', 'i')"
for mr in $(seq "${MARK_RUNS:-1}"); do
q -At <<SQL
CREATE TEMP TABLE lat (ms float8);
DO \$\$
DECLARE s bigint; t timestamptz;
BEGIN
	FOR s IN SELECT send_id FROM cdp.campaign_send WHERE status = 'due' ORDER BY hashint8(send_id) LIMIT $MARK_SAMPLE LOOP
		t := clock_timestamp();
		PERFORM cdp_internal.campaign_mark(s, '2026-03-02 12:00+03');
		INSERT INTO lat VALUES (extract(epoch FROM clock_timestamp() - t) * 1000);
		${MARK_COMMIT:+COMMIT;}
	END LOOP;
END \$\$;
SELECT format('mark_sent (run $mr, load before $(cut -d' ' -f1-3 /proc/loadavg)): %s calls, p50 %s ms, p95 %s ms', count(*), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 3),
              round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 3)) FROM lat;
SQL
done
q -c "UPDATE cdp.campaign_send SET status = 'sent', sent_at = '2026-03-02 12:00+03'::timestamptz + (send_id % 90) * interval '1 day', sent_day = date '2026-03-02' + (send_id % 90)::int WHERE status = 'due'" >/dev/null
# EVENTS_PER_SEND events per sent row (EVENTS / sent rows at least); EVENT_REPEAT timed runs (default
# REPEAT); EVENTS_ONCE=1: one timed run, committed, and no second ingest for the metrics (10M events)
EVENTS_PER_SEND=${EVENTS_PER_SEND:-50}
EVENT_REPEAT=${EVENT_REPEAT:-$REPEAT}
q -c "\copy (SELECT s.send_id, (ARRAY['delivered', 'opened', 'clicked', 'converted'])[1 + (i % 4)], s.sent_at + i * interval '1 minute', 'e' || s.send_id || '-' || i, '{}' FROM cdp.campaign_send s, generate_series(1, $EVENTS_PER_SEND) i WHERE s.status = 'sent' LIMIT $EVENTS) TO '$tmp/events.csv' CSV"
n=$(wc -l < "$tmp/events.csv")
ing=(); cps=()
end_tx=ROLLBACK; [ -z "${EVENTS_ONCE:-}" ] || { EVENT_REPEAT=1; end_tx=COMMIT; }
for r in $(seq "$EVENT_REPEAT"); do
	t0=$(ms); q -c "BEGIN" -c "\copy cdp.delivery_event_staging FROM '$tmp/events.csv' CSV" -c "SELECT cdp.ingest_delivery_events()" -c "$end_tx" >/dev/null; ing+=($(( $(ms) - t0 )))
	t0=$(ms); q -c "BEGIN" -c "CREATE TEMP TABLE raw_events (send_id bigint, kind text, at timestamptz, provider_event_id text, detail jsonb)" -c "\copy raw_events FROM '$tmp/events.csv' CSV" -c "ROLLBACK" >/dev/null; cps+=($(( $(ms) - t0 )))
done
i=$(median "${ing[@]}"); c=$(median "${cps[@]}")
echo "delivery events: $n rows; COPY + ingest_delivery_events median ${i} ms = $(python3 -c "print(int($n/($i/1000)))") rows/s; plain COPY ${c} ms = $(python3 -c "print(int($n/($c/1000)))") rows/s; ratio $(python3 -c "print(round($c/$i,2))") (runs: ${ing[*]} / ${cps[*]}; load $(cut -d' ' -f1-3 /proc/loadavg))"
[ -n "${EVENTS_ONCE:-}" ] || q -c "\copy cdp.delivery_event_staging FROM '$tmp/events.csv' CSV" -c "SELECT cdp.ingest_delivery_events()" >/dev/null
q -At <<SQL
CREATE TEMP TABLE lat (ms float8);
DO \$\$
DECLARE t timestamptz; n bigint;
BEGIN
	FOR r IN 1..$METRIC_RUNS LOOP
		t := clock_timestamp();
		SELECT count(*) INTO n FROM (SELECT * FROM cdp.campaign_metrics WHERE campaign_id = 1 AND day BETWEEN '2026-03-01' AND '2026-05-30') x;
		INSERT INTO lat VALUES (extract(epoch FROM clock_timestamp() - t) * 1000);
	END LOOP;
END \$\$;
SELECT format('campaign_metrics, one campaign over 90 days (%s sent rows, %s roll-up rows): p50 %s ms, p95 %s ms',
              (SELECT count(*) FROM cdp.campaign_send WHERE status = 'sent'), (SELECT count(*) FROM cdp.campaign_rollup WHERE campaign_id = 1),
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1), round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 1)) FROM lat;
SQL
# beside it, the same metrics computed from the send rows (what the view read before the roll-up),
# METRIC_PLAIN_RUNS runs, and whether the two agree
q -At <<SQL
CREATE TEMP TABLE lat (ms float8);
CREATE TEMP VIEW plain_metrics AS
	SELECT s.campaign_id, s.sent_day AS day, s.channel, s.arm, count(*) AS sent, count(s.delivered_at) AS delivered,
	       round(count(s.delivered_at)::numeric / count(*), 4) AS deliverability, count(s.opened_at) AS opened, count(s.clicked_at) AS clicked,
	       round(count(s.clicked_at)::numeric / NULLIF(count(s.delivered_at), 0), 4) AS ctr,
	       round(count(s.clicked_at)::numeric / NULLIF(count(s.opened_at), 0), 4) AS click_to_open, count(s.converted_at) AS converted,
	       round(count(s.converted_at)::numeric / NULLIF(count(s.delivered_at), 0), 4) AS conversion_rate, sum(s.revenue) AS revenue,
	       count(s.bounced) AS bounced, count(*) FILTER (WHERE s.bounced = 'hard') AS hard_bounced, count(s.unsubscribed_at) AS unsubscribed,
	       count(s.complained_at) AS complained, count(s.returned_at) AS returned
	  FROM cdp.campaign_send s WHERE s.status = 'sent' GROUP BY s.campaign_id, s.sent_day, s.channel, s.arm;
DO \$\$
DECLARE t timestamptz; n bigint;
BEGIN
	FOR r IN 1..${METRIC_PLAIN_RUNS:-10} LOOP
		t := clock_timestamp();
		SELECT count(*) INTO n FROM (SELECT * FROM plain_metrics WHERE campaign_id = 1 AND day BETWEEN '2026-03-01' AND '2026-05-30') x;
		INSERT INTO lat VALUES (extract(epoch FROM clock_timestamp() - t) * 1000);
	END LOOP;
END \$\$;
SELECT format('the same from the send rows (plain GROUP BY): p50 %s ms, p95 %s ms; rows differing from campaign_metrics: %s; load %s',
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1), round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 1),
              (SELECT count(*) FROM ((SELECT * FROM plain_metrics EXCEPT SELECT * FROM cdp.campaign_metrics)
                                     UNION ALL (SELECT * FROM cdp.campaign_metrics EXCEPT SELECT * FROM plain_metrics)) d),
              '$(cut -d' ' -f1-3 /proc/loadavg)') FROM lat;
SQL
[ -n "${KEEP:-}" ] || dropdb "$DB"
