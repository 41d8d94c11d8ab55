-- test/bench/link_equivalence.sql: the per-pair oracle (test/oracles/match_pairwise.sql) and the
-- batch path of run_matching('full') on a loaded database (issues 5 and 6), each inside a rolled-back
-- transaction; prints the counts and an md5 per part of the resulting state (events after the
-- run with payloads, records' persons, redirects, membership, profiles without status_at, review
-- queue).  Equal hashes: the same state.  Usage, after LINK=0 test/bench/match_speed.sh 20000:
--   psql -X -d cdp_bench_match -f test/bench/link_equivalence.sql
-- (the per-pair run takes minutes at 20k records: one link_records call per link).
\ir ../oracles/match_pairwise.sql
CREATE OR REPLACE FUNCTION pg_temp.snap(base bigint, part text) RETURNS text LANGUAGE sql AS $$
	WITH ev AS (SELECT e.*, row_number() OVER (ORDER BY e.event_id) AS seq FROM cdp.event e WHERE e.event_id > base),
	m AS (SELECT event_id, seq FROM ev)
	SELECT md5(CASE part
	WHEN 'events' THEN (SELECT jsonb_agg(jsonb_build_array(seq, kind, subject, golden_id, payload) ORDER BY seq) FROM ev)
	WHEN 'records' THEN (SELECT jsonb_agg(jsonb_build_array(record_id, golden_id) ORDER BY record_id) FROM cdp.record)
	WHEN 'redirects' THEN (SELECT jsonb_agg(jsonb_build_array(d.old_id, d.new_id, COALESCE(-m.seq, d.event_id)) ORDER BY d.old_id)
	                         FROM cdp.patient_redirect d LEFT JOIN m ON m.event_id = d.event_id)
	WHEN 'members' THEN (SELECT jsonb_agg(jsonb_build_array(x.record_id, x.golden_id, COALESCE(-f.seq, x.from_event), COALESCE(-t.seq, x.to_event))
	                                       ORDER BY x.record_id, COALESCE(f.seq + 1e12, x.from_event))
	                       FROM cdp.patient_member x LEFT JOIN m f ON f.event_id = x.from_event LEFT JOIN m t ON t.event_id = x.to_event)
	WHEN 'patients' THEN (SELECT jsonb_agg(to_jsonb(p) - 'status_at' ORDER BY p.golden_id) FROM cdp.patient p)
	WHEN 'review' THEN (SELECT jsonb_agg(jsonb_build_array(q.record_a, q.record_b, q.score, q.weight, q.levels, q.flags, q.version, q.reason, q.status)
	                                     ORDER BY q.pair_id) FROM cdp_internal.match_review q)
	END::text) || ' ' || part $$;
SELECT max(event_id) AS base FROM cdp.event \gset
BEGIN;
SELECT cdp_test.match_run_pairwise('full') AS r;
SELECT pg_temp.snap(:base, p) FROM unnest(ARRAY['events','records','redirects','members','patients','review']) p;
ROLLBACK;
BEGIN;
SELECT cdp.run_matching('full') - 'times' AS r;
SELECT pg_temp.snap(:base, p) FROM unnest(ARRAY['events','records','redirects','members','patients','review']) p;
ROLLBACK;
