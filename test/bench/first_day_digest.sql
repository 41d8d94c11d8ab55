-- test/bench/first_day_digest.sql: what a first-day migration (test/bench/first_day.sh with KEEP=1)
-- ended with, independent of ids, times and the order two ingest sessions interleaved in: each
-- person as the sorted list of its records' (source, source id); each profile's values by its
-- person; the review queue's pairs and scores by records; the events counted by kind.  Two runs of
-- the same file with the same definitions must print the same line, but for what depends on the
-- matching's sampling (issue 16).
--   psql -XAt -d cdp_bench_first_day -f test/bench/first_day_digest.sql
WITH rk AS (
	SELECT r.record_id, r.golden_id, s.name || ':' || r.source_key AS k
	  FROM cdp.record r JOIN cdp.source s USING (source_id)),
person AS (
	SELECT golden_id, string_agg(k, ',' ORDER BY k) AS members FROM rk GROUP BY golden_id)
SELECT concat_ws(' ',
	'records', (SELECT count(*) FROM cdp.record),
	md5((SELECT string_agg(k || '=' || (to_jsonb(r) - 'record_id' - 'golden_id' - 'source_id' - 'created_at' - 'updated_at')::text, ';' ORDER BY k)
	       FROM cdp.record r JOIN rk USING (record_id))),
	'persons', (SELECT count(*) FROM person),
	md5((SELECT string_agg(members, ';' ORDER BY members) FROM person)),
	'profiles', (SELECT count(*) FROM cdp.patient),
	md5((SELECT string_agg(pe.members || '=' || (to_jsonb(p) - 'golden_id' - 'status_at' - 'updated_at' - 'registered_on' - 'last_visit')::text,
	                       ';' ORDER BY pe.members)
	       FROM cdp.patient p JOIN person pe USING (golden_id))),
	'open_members', (SELECT count(*) FROM cdp.patient_member WHERE to_event IS NULL),
	'review', (SELECT count(*) FROM cdp.review_queue),
	md5((SELECT string_agg(least(a.k, b.k) || '|' || greatest(a.k, b.k) || '|' || round(q.score::numeric, 6) || '|' || coalesce(q.reason, ''),
	                       ';' ORDER BY least(a.k, b.k), greatest(a.k, b.k))
	       FROM cdp.review_queue q JOIN rk a ON a.record_id = q.record_a JOIN rk b ON b.record_id = q.record_b)),
	'events', (SELECT string_agg(kind || '=' || n, ',' ORDER BY kind) FROM (SELECT kind, count(*) n FROM cdp.event GROUP BY kind) e));
