-- test/pgtap/84_segment_changed.sql: the persons an incremental refresh evaluates
-- (cdp_internal.seg_changed, issue 13, session 27).  A consent statement's records are looked up
-- only when the log's range holds a merge or unmerge (they were its person's when it was given),
-- and only ids with a redirect are resolved to their survivor.  Several changes in one range
-- (a statement and then a merge or an unmerge moving its records; an id merged away named by the
-- log): after each, the incremental refresh gives exactly the members a full refresh of a twin gives,
-- and evaluates the persons named.
BEGIN;
SELECT plan(14);

SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS src \gset
SELECT count(cdp.upsert_record('his', 'p' || i, jsonb_build_object('family_name', 'Ф' || i, 'given_name', 'И' || i, 'sex', 'F',
         'birth_date', (current_date - interval '40 years' - i * interval '1 day')::date::text, 'phones', jsonb_build_array('+7916' || lpad(i::text, 7, '0')))))
  FROM generate_series(1, 6) i \gset
CREATE FUNCTION pg_temp.g(k text) RETURNS bigint LANGUAGE sql AS $$ SELECT cdp.golden_id('his', k) $$;
CREATE FUNCTION pg_temp.rec(k text) RETURNS bigint LANGUAGE sql AS $$
	SELECT r.record_id FROM cdp.record r JOIN cdp.source s USING (source_id) WHERE s.name = 'his' AND r.source_key = k $$;
SELECT count(cdp.set_consent(golden_id, 'marketing', 'sms', true, now() - interval '1 day')) FROM cdp.patient \gset
SELECT cdp.create_segment('инкрементальный', '{"attr": "sex", "op": "=", "value": "F"}', 'marketing', NULL, 'sms') AS a,
       cdp.create_segment('полный', '{"attr": "sex", "op": "=", "value": "F"}', 'marketing', NULL, 'sms') AS b \gset
SELECT (cdp.refresh_segment(:a, 'full') ->> 'size') AS n0, (cdp.refresh_segment(:b, 'full') ->> 'size') AS n1 \gset
SELECT is(:n0::int, 6, 'precondition: the six women with SMS consent are members');
-- incremental of a, full of b, and the members that differ
CREATE FUNCTION pg_temp.round() RETURNS TABLE (mode text, evaluated int, diff bigint) LANGUAGE plpgsql AS $$
DECLARE
	ra	jsonb := cdp.refresh_segment((SELECT segment_id FROM cdp.segment WHERE name = 'инкрементальный'), 'incremental');
	rb	jsonb := cdp.refresh_segment((SELECT segment_id FROM cdp.segment WHERE name = 'полный'), 'full');
BEGIN
	RETURN QUERY SELECT ra ->> 'mode', (ra ->> 'evaluated')::int, (SELECT count(*) FROM (
		(SELECT m.golden_id FROM cdp.segment_member m JOIN cdp.segment s USING (segment_id) WHERE s.name = 'инкрементальный'
		 EXCEPT SELECT m.golden_id FROM cdp.segment_member m JOIN cdp.segment s USING (segment_id) WHERE s.name = 'полный')
		UNION ALL
		(SELECT m.golden_id FROM cdp.segment_member m JOIN cdp.segment s USING (segment_id) WHERE s.name = 'полный'
		 EXCEPT SELECT m.golden_id FROM cdp.segment_member m JOIN cdp.segment s USING (segment_id) WHERE s.name = 'инкрементальный')) d);
END $$;

-- a withdrawal alone: its person only (no merge in the range: the records are not looked up)
SELECT cdp.set_consent(pg_temp.g('p1'), 'marketing', 'sms', false) IS NOT NULL AS w \gset
SELECT results_eq('SELECT * FROM pg_temp.round()', $$VALUES ('incremental', 1, 0::bigint)$$, 'a withdrawal: one person evaluated, the same members as a full refresh');
SELECT ok(NOT EXISTS (SELECT 1 FROM cdp.segment_member WHERE segment_id = :a AND golden_id = pg_temp.g('p1')), 'she left');

-- a withdrawal, then a merge moving her records into another person, in one range
SELECT pg_temp.g('p2') AS p2, pg_temp.g('p3') AS p3 \gset
SELECT cdp.set_consent(:p2, 'marketing', 'sms', false) IS NOT NULL AS w \gset
SELECT cdp.link_records(pg_temp.rec('p3'), pg_temp.rec('p2'), '{"test": "seg27"}') IS NOT NULL AS l \gset
SELECT ok((SELECT count(DISTINCT golden_id) FROM cdp.record WHERE record_id IN (pg_temp.rec('p2'), pg_temp.rec('p3'))) = 1, 'precondition: p2 and p3 are one person');
SELECT results_eq('SELECT mode, diff FROM pg_temp.round()', $$VALUES ('incremental', 0::bigint)$$,
                  'a withdrawal then a merge in one range: the same members as a full refresh');
SELECT ok((SELECT cdp_internal.seg_changed(s, 0, (SELECT max(event_id) FROM cdp.event)) @> ARRAY[:p2, :p3]::bigint[]
             FROM cdp.segment s WHERE s.segment_id = :a), 'both ids of the merge are named, the one merged away and the survivor');
SELECT ok(cdp.resolve_patient(:p2) IS NOT NULL AND cdp.resolve_patient(:p3) IS NOT NULL
          AND (SELECT cdp_internal.seg_changed(s, 0, (SELECT max(event_id) FROM cdp.event)) @> ARRAY[cdp.resolve_patient(:p2)]
                 FROM cdp.segment s WHERE s.segment_id = :a), 'an id merged away resolves to its survivor through the redirect');

-- a grant on the merged person, then an unmerge giving one record back, in one range
SELECT cdp.set_consent(cdp.resolve_patient(:p2), 'marketing', 'sms', true, clock_timestamp()) IS NOT NULL AS w \gset
SELECT cdp.unmerge(pg_temp.rec('p3'), 'test') IS NOT NULL AS u \gset
SELECT ok((SELECT count(DISTINCT golden_id) FROM cdp.record WHERE record_id IN (pg_temp.rec('p2'), pg_temp.rec('p3'))) = 2, 'precondition: unmerged');
SELECT results_eq('SELECT mode, diff FROM pg_temp.round()', $$VALUES ('incremental', 0::bigint)$$,
                  'a grant then an unmerge in one range: the same members as a full refresh');

-- statements on two persons, a merge of two others: everybody named, the same members
SELECT cdp.set_consent(pg_temp.g('p4'), 'marketing', 'sms', false) IS NOT NULL AS w, cdp.set_consent(pg_temp.g('p1'), 'marketing', 'sms', true, clock_timestamp()) IS NOT NULL AS w2 \gset
SELECT cdp.link_records(pg_temp.rec('p5'), pg_temp.rec('p6'), '{"test": "seg27"}') IS NOT NULL AS l \gset
SELECT results_eq('SELECT mode, diff FROM pg_temp.round()', $$VALUES ('incremental', 0::bigint)$$,
                  'statements and a merge of others in one range: the same members as a full refresh');
SELECT ok(EXISTS (SELECT 1 FROM cdp.segment_member WHERE segment_id = :a AND golden_id = pg_temp.g('p1')), 'p1 granted again: back');
SELECT ok(NOT EXISTS (SELECT 1 FROM cdp.segment_member WHERE segment_id = :a AND golden_id = pg_temp.g('p4')), 'p4 withdrew: gone');

-- a source's trust changed in a range that names persons too: everyone (seg_changed NULL), a full
-- refresh (session 27, seg28: the range is read once for both)
SELECT cdp.set_consent(pg_temp.g('p4'), 'marketing', 'sms', true, clock_timestamp()) IS NOT NULL AS w \gset
SELECT cdp.register_source('his', 'internal', 81) IS NOT NULL AS src2 \gset
SELECT ok((SELECT cdp_internal.seg_changed(s, s.refresh_mark, (SELECT max(event_id) FROM cdp.event)) IS NULL
             FROM cdp.segment s WHERE s.segment_id = :a), 'a source updated in the range: everyone changed (NULL)');
SELECT results_eq('SELECT mode, diff FROM pg_temp.round()', $$VALUES ('full', 0::bigint)$$,
                  'a source updated in the range: the refresh runs in full, the same members');

SELECT * FROM finish();
ROLLBACK;
