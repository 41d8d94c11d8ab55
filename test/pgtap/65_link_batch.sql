-- test/pgtap/65_link_batch.sql: set-based linking (issues 5 and 6).  The same generated clinic
-- data goes through the per-pair oracle (test/oracles/match_pairwise.sql,
-- cdp_test.match_run_pairwise: one _match_cannot_link and one link_records call per pair) and
-- through the batch path (run_matching: _match_link_plan, then link_records_many); links, events with their payloads, redirects, membership intervals,
-- profiles and the review queue must be identical.  The data carries what the constraints read:
-- persons with up to four records (merge chains), namesakes, different SNILS, birth dates of
-- another year, placeholders, households, no_match and match decisions, archived persons.  Then
-- rebuild_patients() must give the live projections, and a second full run must link nothing.
-- Since issue 12 the review queue holds one entry per pair of persons (the first of their record
-- pairs in decision order), none for two persons a no_match decision keeps apart: the oracle's
-- queue is compared reduced so, with what the run wrote (the table, not the view).  The coherence rules and
-- the evidence floor (test/pgtap/66_match_coherence.sql) change no link of this data: the
-- links, events and profiles are compared whole.
-- link_records_many is also compared with link_records called in a loop, and its errors checked.
BEGIN;
\ir ../oracles/match_pairwise.sql
SELECT plan(40);

/* ------------------------------------------------------------------ data */
SELECT setseed(0.29);
SELECT count(cdp.register_source(s)) FROM unnest(ARRAY['reg', 'lab', 'crm']) s;
CREATE TEMP TABLE person AS
SELECT p, (random() < 0.5) AS male,
       (ARRAY['Иванов','Смирнов','Кузнецов','Попов','Соколов','Орлов','Волков','Зайцев'])[1 + floor(random() * 8)::int] AS f,
       floor(random() * 6)::int AS gi, floor(random() * 5)::int AS pi,
       date '1950-01-01' + floor(random() * 20000)::int AS dob,
       '+7916' || lpad(floor(random() * 1e7)::bigint::text, 7, '0') AS phone,
       CASE WHEN random() < 0.4 THEN lpad((100000000 + floor(random() * 800000000))::bigint::text, 9, '0') END AS sn9,
       1 + floor(random() * 4)::int AS nrec
  FROM generate_series(1, 90) p;
-- a valid SNILS from nine digits (checksum of the Pension Fund)
CREATE FUNCTION pg_temp.snils(d text) RETURNS text LANGUAGE sql AS $$
	SELECT d || lpad((CASE WHEN s < 100 THEN s WHEN s IN (100, 101) THEN 0 ELSE s % 101 % 100 END)::text, 2, '0')
	  FROM (SELECT sum(substr(d, i, 1)::int * (10 - i)) AS s FROM generate_series(1, 9) i) x $$;
CREATE TEMP TABLE gen AS
SELECT row_number() OVER (ORDER BY pr.p, r) AS k, pr.p, r,
       jsonb_strip_nulls(jsonb_build_object(
         'family_name', CASE WHEN pr.p % 17 = 0 THEN 'Тестов' WHEN pr.male THEN pr.f ELSE pr.f || 'а' END,
         'given_name', CASE WHEN pr.p % 17 = 0 THEN 'Тест'
                            ELSE (CASE WHEN pr.male THEN ARRAY['Иван','Пётр','Сергей','Олег','Юрий','Павел']
                                       ELSE ARRAY['Анна','Мария','Елена','Ольга','Вера','Нина'] END)[1 + pr.gi] END,
         'patronymic', CASE WHEN random() < 0.2 THEN NULL
                            ELSE (ARRAY['Иванов','Петров','Сергеев','Олегов','Юрьев'])[1 + pr.pi] || CASE WHEN pr.male THEN 'ич' ELSE 'на' END END,
         'birth_date', to_char(CASE WHEN r = 4 THEN pr.dob + 3650                      -- a wholly other birth date
                                    -- slips of one digit that add up to another year over the person
                                    WHEN pr.p % 4 = 1 AND r = 2 THEN pr.dob + 1
                                    WHEN pr.p % 4 = 1 AND r = 3 THEN pr.dob + 1 + interval '1 year'
                                    WHEN r = 3 AND random() < 0.5 THEN pr.dob + 1      -- a slip
                                    ELSE pr.dob END, 'YYYY-MM-DD'),
         'sex', CASE WHEN pr.male THEN 'M' ELSE 'F' END,
         'phone', CASE WHEN random() < 0.2 THEN NULL ELSE pr.phone END,
         'snils', CASE WHEN pr.sn9 IS NULL OR random() < 0.3 THEN NULL
                       WHEN r = 2 AND pr.p % 5 = 0 THEN pg_temp.snils(lpad(((pr.sn9::bigint + 7) % 1000000000)::text, 9, '0'))
                       ELSE pg_temp.snils(pr.sn9) END)) AS attrs
  FROM person pr CROSS JOIN LATERAL generate_series(1, pr.nrec) r;
SELECT ok(count(cdp.upsert_record((ARRAY['reg','lab','crm'])[1 + k % 3], 'g' || k, attrs)) > 150, 'the generated records load')
  FROM gen;
CREATE FUNCTION pg_temp.rid(k bigint) RETURNS bigint LANGUAGE sql AS
	$$ SELECT record_id FROM cdp.record WHERE source_key = 'g' || k $$;
-- a household of two records of one family name, no_match and match decisions on true pairs,
-- archived persons
SELECT cdp.relate_records(pg_temp.rid(a.k), pg_temp.rid(b.k), 'spouse')
  FROM gen a JOIN gen b ON b.p = a.p AND b.r = 2 WHERE a.r = 1 AND a.p % 9 = 1;
SELECT count(cdp.record_pair_decision(pg_temp.rid(a.k), pg_temp.rid(b.k), 'no_match', 'test'))
  FROM gen a JOIN gen b ON b.p = a.p AND b.r = 2 WHERE a.r = 1 AND a.p % 7 = 3;
SELECT count(cdp.record_pair_decision(pg_temp.rid(a.k), pg_temp.rid(b.k), 'match', 'test'))
  FROM gen a JOIN gen b ON b.p = a.p AND b.r = a.r + 1 WHERE a.p % 11 = 4;
SELECT count(*) FROM cdp.archive_patients(ARRAY(SELECT r.golden_id FROM gen g JOIN cdp.record r ON r.source_key = 'g' || g.k
                                                 WHERE g.p % 6 = 2 AND g.r = 1), 'test', false);

/*
 * The observable state after a run: events after base (numbered from 1, without their times),
 * records' persons, redirects and membership (event ids after base numbered alike), profiles
 * (without status_at, a time) and the review queue (pair ids as ranks).
 */
CREATE FUNCTION pg_temp.snap(base bigint, part text) RETURNS jsonb LANGUAGE sql SET jit = off AS $$  -- jit: this check query is priced above the JIT thresholds
	WITH ev AS (SELECT e.*, row_number() OVER (ORDER BY e.event_id) AS seq FROM cdp.event e WHERE e.event_id > base),
	m AS (SELECT event_id, seq FROM ev)
	SELECT CASE part
	WHEN 'events' THEN (SELECT jsonb_agg(jsonb_build_array(seq, kind, subject, golden_id, payload) ORDER BY seq) FROM ev)
	WHEN 'records' THEN (SELECT jsonb_agg(jsonb_build_array(record_id, golden_id) ORDER BY record_id) FROM cdp.record)
	WHEN 'redirects' THEN (SELECT jsonb_agg(jsonb_build_array(d.old_id, d.new_id, COALESCE(-m.seq, d.event_id)) ORDER BY d.old_id)
	                         FROM cdp.patient_redirect d LEFT JOIN m ON m.event_id = d.event_id)
	WHEN 'members' THEN (SELECT jsonb_agg(jsonb_build_array(x.record_id, x.golden_id, COALESCE(-f.seq, x.from_event), COALESCE(-t.seq, x.to_event))
	                                       ORDER BY x.record_id, COALESCE(f.seq + 1e12, x.from_event))
	                       FROM cdp.patient_member x LEFT JOIN m f ON f.event_id = x.from_event LEFT JOIN m t ON t.event_id = x.to_event)
	WHEN 'patients' THEN (SELECT jsonb_agg(to_jsonb(p) - 'status_at' ORDER BY p.golden_id) FROM cdp.patient p)
	WHEN 'review' THEN (SELECT jsonb_agg(jsonb_build_array(q.record_a, q.record_b, q.score, q.weight, q.levels, q.flags, q.version, q.reason, q.status)
	                                     ORDER BY q.record_a, q.record_b)
	                      FROM cdp_internal.match_review q)
	-- the oracle's queue reduced as a run keeps it: one entry per pair of persons, none for two
	-- persons a no_match decision keeps apart (issue 12)
	WHEN 'review_kept' THEN (SELECT jsonb_agg(jsonb_build_array(q.record_a, q.record_b, q.score, q.weight, q.levels, q.flags, q.version, q.reason, q.status)
	                                     ORDER BY q.record_a, q.record_b)
	                      FROM (SELECT DISTINCT ON (LEAST(ra.golden_id, rb.golden_id), GREATEST(ra.golden_id, rb.golden_id)) q.*
	                              FROM cdp_internal.match_review q
	                              JOIN cdp.record ra ON ra.record_id = q.record_a JOIN cdp.record rb ON rb.record_id = q.record_b
	                             WHERE ra.golden_id <> rb.golden_id
	                               AND NOT EXISTS (SELECT 1 FROM cdp.pair_decision d
	                                                 JOIN cdp.record da ON da.record_id = d.record_a JOIN cdp.record db ON db.record_id = d.record_b
	                                                WHERE d.decision = 'no_match'
	                                                  AND LEAST(da.golden_id, db.golden_id) = LEAST(ra.golden_id, rb.golden_id)
	                                                  AND GREATEST(da.golden_id, db.golden_id) = GREATEST(ra.golden_id, rb.golden_id))
	                             ORDER BY LEAST(ra.golden_id, rb.golden_id), GREATEST(ra.golden_id, rb.golden_id), q.pair_id) q)
	END $$;

SELECT max(event_id) AS base FROM cdp.event \gset
SAVEPOINT before_run;

/* ------------------------------------------------------------------ the per-pair oracle */
SELECT cdp_test.match_run_pairwise('full') AS ref_result \gset
SELECT pg_temp.snap(:base, 'events') AS ref_events, pg_temp.snap(:base, 'records') AS ref_records,
       pg_temp.snap(:base, 'redirects') AS ref_redirects, pg_temp.snap(:base, 'members') AS ref_members,
       pg_temp.snap(:base, 'patients') AS ref_patients, pg_temp.snap(:base, 'review_kept') AS ref_review,
       pg_temp.snap(:base, 'review') AS ref_review_all \gset
ROLLBACK TO SAVEPOINT before_run;

/* ------------------------------------------------------------------ the batch path */
SELECT max(event_id) AS base2 FROM cdp.event \gset
SELECT is(:base2::bigint, :base::bigint, 'the reference run was rolled back');
CREATE TEMP TABLE res AS SELECT cdp.run_matching('full') AS r;
SELECT ok(r -> 'times' ? 'plan_s' AND r -> 'times' ? 'merge_s' AND r -> 'times' ? 'link_s', 'the batch run reports its step times') FROM res;
SELECT is(r - 'times' - 'queued' - 'name_only' - 'review_pairs' - 'review_persons' - 'review_over_limit' - 'review_undecidable' - 'review_decided_apart',
          :'ref_result'::jsonb - 'queued',
          'the batch run returns the same counts as the reference run') FROM res;
SELECT is((r ->> 'review_pairs')::bigint + (r ->> 'review_decided_apart')::bigint, (:'ref_result'::jsonb ->> 'queued')::bigint,
          'the uncertain record pairs and those of persons decided apart are the pairs the reference run queued') FROM res;
SELECT cmp_ok((r ->> 'review_decided_apart')::bigint, '>', 0::bigint, 'some are of persons decided apart') FROM res;
SELECT is((r ->> 'queued')::bigint, jsonb_array_length(:'ref_review'::jsonb)::bigint,
          'one review entry per pair of persons') FROM res;
-- the data exercises what the batch path must reproduce
SELECT cmp_ok((:'ref_result'::jsonb ->> 'linked')::int, '>=', 40, 'the reference run links many pairs');
SELECT cmp_ok((:'ref_result'::jsonb ->> 'held_by_constraints')::int, '>', 0, 'some pairs are held by constraints');
SELECT cmp_ok((:'ref_result'::jsonb ->> 'decided_by_people')::int, '>', 0, 'some pairs were decided by people');
SELECT ok(EXISTS (SELECT 1 FROM jsonb_array_elements(:'ref_events'::jsonb) e
                   WHERE e ->> 1 = 'patient.merged' AND jsonb_array_length(e -> 4 -> 'records') > 1),
          'some merge moves a person of several records (a chain)');
SELECT ok(EXISTS (SELECT 1 FROM jsonb_array_elements(:'ref_events'::jsonb) e WHERE e ->> 1 = 'patient.restored'),
          'some merge restores an archived person');
SELECT ok(EXISTS (SELECT 1 FROM jsonb_array_elements(:'ref_review'::jsonb) q WHERE q ->> 7 = 'у этих людей разные даты рождения')
          AND EXISTS (SELECT 1 FROM jsonb_array_elements(:'ref_review'::jsonb) q WHERE q ->> 7 = 'записаны как родственники')
          AND EXISTS (SELECT 1 FROM jsonb_array_elements(:'ref_review_all'::jsonb) q WHERE q ->> 7 = 'решение «не совпадают» между этими людьми'),
          'pairs are held by birth date, relation and no_match decision');

SELECT is(pg_temp.snap(:base, 'events'), :'ref_events'::jsonb, 'the same events in the same order with the same payloads');
SELECT is(pg_temp.snap(:base, 'records'), :'ref_records'::jsonb, 'every record is in the same person');
SELECT is(pg_temp.snap(:base, 'redirects'), :'ref_redirects'::jsonb, 'the same redirects');
SELECT is(pg_temp.snap(:base, 'members'), :'ref_members'::jsonb, 'the same membership intervals');
SELECT is(pg_temp.snap(:base, 'patients'), :'ref_patients'::jsonb, 'the same profiles');
SELECT is(pg_temp.snap(:base, 'review'), :'ref_review'::jsonb,
          'the same review entries, one per pair of persons, none for persons decided apart');

/* ------------------------------------------------------------------ replay and idempotence */
CREATE TEMP TABLE live_patient AS SELECT * FROM cdp.patient;
CREATE TEMP TABLE live_member AS SELECT * FROM cdp.patient_member;
CREATE TEMP TABLE live_redirect AS SELECT * FROM cdp.patient_redirect;
CREATE TEMP TABLE live_record AS SELECT record_id, golden_id FROM cdp.record;
SELECT cmp_ok(cdp.rebuild_patients(), '>', 0::bigint, 'rebuild_patients replays the log');
SELECT is((SELECT count(*) FROM (SELECT * FROM cdp.patient EXCEPT SELECT * FROM live_patient) x)
        + (SELECT count(*) FROM (SELECT * FROM live_patient EXCEPT SELECT * FROM cdp.patient) x), 0::bigint,
          'the replayed profiles equal the live ones after a batch run');
SELECT is((SELECT count(*) FROM (SELECT * FROM cdp.patient_member EXCEPT SELECT * FROM live_member) x)
        + (SELECT count(*) FROM (SELECT * FROM live_member EXCEPT SELECT * FROM cdp.patient_member) x), 0::bigint,
          'the replayed membership equals the live one');
SELECT is((SELECT count(*) FROM (SELECT * FROM cdp.patient_redirect EXCEPT SELECT * FROM live_redirect) x)
        + (SELECT count(*) FROM (SELECT * FROM live_redirect EXCEPT SELECT * FROM cdp.patient_redirect) x)
        + (SELECT count(*) FROM (SELECT record_id, golden_id FROM cdp.record EXCEPT SELECT * FROM live_record) x), 0::bigint,
          'the replayed redirects and persons equal the live ones');
SELECT is((cdp.run_matching('full') ->> 'linked')::int, 0, 'a second full run on unchanged data links nothing');

/* ------------------------------------------------------------------ link_records_many itself */
ROLLBACK TO SAVEPOINT before_run;
-- links in a fixed order: chains, repeats (already one person), a no_match pair, archived persons
CREATE TEMP TABLE l AS
SELECT row_number() OVER (ORDER BY x.o) AS i, x.a, x.b, jsonb_build_object('n', x.o) AS ev
  FROM (SELECT a.k * 1000 + b.k AS o, pg_temp.rid(a.k) AS a, pg_temp.rid(b.k) AS b
          FROM gen a JOIN gen b ON b.k IN (a.k + 1, a.k + 7, a.k + 40) WHERE a.k % 3 <> 0
        UNION ALL
        SELECT 1e9::bigint + a.k, pg_temp.rid(a.k), pg_temp.rid(b.k)
          FROM gen a JOIN gen b ON b.k = a.k + 1 WHERE a.k % 5 = 0) x;
SELECT ok((SELECT count(*) FROM l) > 100, 'enough links to compare');
SELECT max(event_id) AS base3 FROM cdp.event \gset
SAVEPOINT before_links;
CREATE TEMP TABLE one_by_one AS SELECT l.i, cdp.link_records(l.a, l.b, l.ev) AS g FROM l ORDER BY l.i;
SELECT jsonb_agg(g ORDER BY i) AS ref_ret FROM one_by_one \gset
SELECT pg_temp.snap(:base3, 'events') AS ref_events, pg_temp.snap(:base3, 'records') AS ref_records,
       pg_temp.snap(:base3, 'redirects') AS ref_redirects, pg_temp.snap(:base3, 'members') AS ref_members,
       pg_temp.snap(:base3, 'patients') AS ref_patients \gset
ROLLBACK TO SAVEPOINT before_links;
SELECT is(to_jsonb(cdp.link_records_many((SELECT array_agg(a ORDER BY i) FROM l), (SELECT array_agg(b ORDER BY i) FROM l),
                                         (SELECT array_agg(ev ORDER BY i) FROM l))),
          :'ref_ret'::jsonb, 'link_records_many returns what link_records returns link by link');
SELECT ok(:'ref_ret'::jsonb @> '[null]' AND EXISTS (SELECT 1 FROM jsonb_array_elements(:'ref_events'::jsonb) e WHERE e ->> 1 = 'record.linked'),
          'the links include refused ones and ones within one person');
SELECT ok(pg_temp.snap(:base3, 'events') = :'ref_events'::jsonb AND pg_temp.snap(:base3, 'redirects') = :'ref_redirects'::jsonb,
          'link_records_many appends the same events and redirects');
SELECT ok(pg_temp.snap(:base3, 'records') = :'ref_records'::jsonb AND pg_temp.snap(:base3, 'members') = :'ref_members'::jsonb
          AND pg_temp.snap(:base3, 'patients') = :'ref_patients'::jsonb,
          'link_records_many leaves the same persons, membership and profiles');

SELECT throws_ok($$SELECT cdp.link_records_many(NULL, ARRAY[1]::bigint[])$$, '22004', 'a and b must not be null', 'null arrays are refused');
SELECT throws_ok($$SELECT cdp.link_records_many(ARRAY[1, 2]::bigint[], ARRAY[1]::bigint[])$$, '2202E',
                 'a, b and evidence must be one-dimensional arrays of the same length', 'arrays of different lengths are refused');
SELECT throws_ok(format('SELECT cdp.link_records_many(ARRAY[%s, %s], ARRAY[%s, %s])', pg_temp.rid(1), pg_temp.rid(2), pg_temp.rid(3), pg_temp.rid(2)),
                 '22023', format('cannot link record "%s" to itself', pg_temp.rid(2)), 'a self link is refused');
SELECT throws_ok(format('SELECT cdp.link_records_many(ARRAY[%s], ARRAY[-5])', pg_temp.rid(1)), 'P0002',
                 'record "-5" does not exist', 'an unknown record is refused');
SELECT throws_ok(format('SELECT cdp.link_records_many(ARRAY[%s], ARRAY[%s], ARRAY[''[1]''::jsonb])', pg_temp.rid(1), pg_temp.rid(2)), '22023',
                 'link evidence must be a JSON object', 'evidence that is not an object is refused');
-- the first bad element is reported, whichever check finds it (the evidence is checked apart from the
-- records since session 34)
SELECT throws_ok(format('SELECT cdp.link_records_many(ARRAY[%s, %s, %s], ARRAY[%s, %s, %s], ARRAY[''{}'', ''[1]'', ''{}'']::jsonb[])',
                        pg_temp.rid(1), pg_temp.rid(2), pg_temp.rid(3), pg_temp.rid(2), pg_temp.rid(3), pg_temp.rid(3)), '22023',
                 'link evidence must be a JSON object', 'bad evidence in element 2 is reported before a self link in element 3');
SELECT throws_ok(format('SELECT cdp.link_records_many(ARRAY[%s, %s], ARRAY[-5, %s], ARRAY[''{}'', ''[1]'']::jsonb[])',
                        pg_temp.rid(1), pg_temp.rid(1), pg_temp.rid(2)), 'P0002',
                 'record "-5" does not exist', 'an unknown record in element 1 is reported before bad evidence in element 2');

-- the C planners refuse inconsistent input instead of reading past an array
SELECT throws_ok($$SELECT * FROM cdp_internal._match_link_plan(ARRAY[1, 2]::bigint[], ARRAY[3]::bigint[], ARRAY[0.9, 0.9], ARRAY[0, 0],
                   ARRAY[1, 2, 3]::bigint[], ARRAY[1, 2, 3]::bigint[], NULL, NULL, 0, NULL, NULL, NULL, NULL, 0.9, 0.5,
                   ARRAY['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], 20, 0.5)$$, '2202E', 'arrays given to _match_link_plan do not match in length',
                 'the link plan refuses pair arrays of different lengths');
SELECT throws_ok($$SELECT * FROM cdp_internal._match_link_plan(ARRAY[1]::bigint[], ARRAY[9]::bigint[], ARRAY[0.9], ARRAY[0],
                   ARRAY[1, 2]::bigint[], ARRAY[1, 2]::bigint[], NULL, NULL, 0, NULL, NULL, NULL, NULL, 0.9, 0.5,
                   ARRAY['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], 20, 0.5)$$, '22023', 'record "9" of pair 1 is not among the records given',
                 'the link plan refuses a pair whose record it was not given');
-- a chain, a repeat and a refusal by hand: 3 merges into 1, 2 into 1 already, 4 held off by 1
SELECT is((SELECT array_agg(outcome::text || ':' || coalesce(keep::text, '') || ':' || coalesce(gone::text, '') || ':' ||
                            coalesce(absorbed::text, '') ORDER BY ord)
             FROM cdp_internal._golden_merge_plan(ARRAY[3, 2, 5, 1, 4]::bigint[], ARRAY[5, 3, 1, 2, 2]::bigint[],
                                         ARRAY[1]::bigint[], ARRAY[4]::bigint[], ARRAY[3]::bigint[])),
          ARRAY['m:3:5:{5}', 'm:2:3:{3,5}', 'm:1:2:{2,3,5}', 's:1::', 'n:::'],
          'the merge plan keeps the smallest id, moves whole persons and refuses a no_match join');
SELECT is((SELECT array_agg(restore ORDER BY ord) FROM cdp_internal._golden_merge_plan(ARRAY[3, 2]::bigint[], ARRAY[5, 3]::bigint[],
                                                                               NULL, NULL, ARRAY[3]::bigint[])),
          ARRAY[true, false], 'an archived survivor merging with an active person is restored once');

SELECT * FROM finish();
ROLLBACK;
