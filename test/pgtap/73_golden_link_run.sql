-- test/pgtap/73_golden_link_run.sql: a run's links with their evidence in parts (issue 12, session
-- 36).  cdp_internal.golden_link_run(a, b, probability, weight, rule, forced, levels, rules, by,
-- settings_version) must do exactly what cdp.link_records_many(a, b, evidence) does with the evidence
-- cdp_internal._match_link_args builds from the same parts: the same golden ids, events (payloads to
-- the byte: the evidence built into each payload by golden_link_write), membership, redirects,
-- records and profiles, with the C writer, with the SQL writer (which builds the evidence with
-- _match_link_args) and with the table locks of a large batch; the same error for a record that
-- does not exist.  golden_link_write's checks of the parts.
BEGIN;
SELECT plan(15);

/* ------------------------------------------------------------------ data */
SELECT setseed(0.36);
SELECT count(cdp.register_source(s)) FROM unnest(ARRAY['reg', 'lab']) s;
SELECT ok(count(cdp.upsert_record((ARRAY['reg','lab'])[1 + k % 2], 'w' || k,
              jsonb_build_object('family_name', (ARRAY['Иванов','Смирнов','Попов','Орлов'])[1 + k % 4],
                                 'given_name', (ARRAY['Иван','Пётр','Олег'])[1 + (k / 4) % 3],
                                 'birth_date', (date '1960-01-01' + (k / 3) * 37)::text))) = 200,
          'the records load')
  FROM generate_series(1, 200) k;
CREATE FUNCTION pg_temp.rid(k int) RETURNS bigint LANGUAGE sql AS
	$$ SELECT record_id FROM cdp.record WHERE source_key = 'w' || k $$;
-- archived persons (a merge of one with an active person restores it) and no_match decisions
SELECT count(*) AS archived
  FROM cdp.archive_patients(ARRAY(SELECT golden_id FROM cdp.record WHERE source_key IN ('w3', 'w30', 'w61')), 'test', false) \gset
SELECT count(cdp.record_pair_decision(least(pg_temp.rid(x), pg_temp.rid(y)), greatest(pg_temp.rid(x), pg_temp.rid(y)),
                                      'no_match', 'test'))
  FROM (VALUES (10, 11), (50, 52), (120, 190)) v(x, y) \gset
-- the links (chains, repeats, links inside one person) with odd evidence values: NaN, infinities,
-- repeated weights, rules out of range, levels outside the cached ones
CREATE TEMP TABLE batch AS
SELECT n, pg_temp.rid(1 + floor(random() * 200)::int) AS a, pg_temp.rid(1 + floor(random() * 200)::int) AS b,
       CASE n % 50 WHEN 0 THEN 'NaN'::float8 WHEN 1 THEN 'Infinity' ELSE (ARRAY[0.1::float8 + 0.2::float8, 0.999999999999, 0.5])[1 + n % 3] END AS p,
       CASE n % 40 WHEN 3 THEN '-Infinity'::float8 ELSE (ARRAY[12.3455::float8, -7.0005, 2.0005, 1e300])[1 + n % 4] END AS w,
       (n % 7) - 2 AS r, n % 3 = 0 AS f,
       ARRAY[n % 5 - 1, (n * 31) % 200 - 100, -32768 + n % 2, 0]::smallint[] AS v
  FROM generate_series(1, 300) n;
DELETE FROM batch WHERE a = b;
CREATE TEMP TABLE parts AS
SELECT array_agg(a ORDER BY n) AS a, array_agg(b ORDER BY n) AS b, array_agg(p ORDER BY n) AS p, array_agg(w ORDER BY n) AS w,
       array_agg(r ORDER BY n) AS r, array_agg(f ORDER BY n) AS f, array_agg(v ORDER BY n) AS v,
       '[{"name": "phone"}, 7, "s", null]'::jsonb AS rules
  FROM batch;

/* ------------------------------------------------------------------ the state a merge writes */
-- everything written since event id "since", event ids by rank (the sequence is not rolled back)
CREATE FUNCTION pg_temp.link_state(since bigint) RETURNS jsonb LANGUAGE sql AS $$
WITH ev AS (SELECT e.*, row_number() OVER (ORDER BY e.event_id) AS rk FROM cdp.event e WHERE e.event_id > since),
evn AS (SELECT x.event_id, coalesce('n' || ev.rk, x.event_id::text) AS name, ev.at
          FROM (SELECT event_id FROM cdp.event) x LEFT JOIN ev USING (event_id))
SELECT jsonb_build_object(
  'events', (SELECT jsonb_agg(jsonb_build_array(ev.rk, ev.kind, ev.subject, ev.golden_id, ev.payload::text,
                                                pg_column_size(ev.payload), md5(ev.payload::text), ev.actor) ORDER BY ev.event_id) FROM ev),
  'members', (SELECT jsonb_agg(jsonb_build_array(m.record_id, m.golden_id, f.name, t.name) ORDER BY m.record_id, m.from_at, f.name)
                FROM cdp.patient_member m JOIN evn f ON f.event_id = m.from_event LEFT JOIN evn t ON t.event_id = m.to_event),
  'redirects', (SELECT jsonb_agg(jsonb_build_array(d.old_id, d.new_id, e.name) ORDER BY d.old_id)
                  FROM cdp.patient_redirect d JOIN evn e ON e.event_id = d.event_id),
  'records', (SELECT jsonb_agg(jsonb_build_array(r.record_id, r.golden_id) ORDER BY r.record_id) FROM cdp.record r),
  'profiles', (SELECT jsonb_agg(to_jsonb(p) - 'status_at' ORDER BY p.golden_id) FROM cdp.patient p))
$$;
-- the payloads' bytes: a digest of the stored jsonb of every event since
CREATE FUNCTION pg_temp.payload_bytes(since bigint) RETURNS text LANGUAGE sql AS $$
	SELECT md5(string_agg(jsonb_send(e.payload)::text, ',' ORDER BY e.event_id)) FROM cdp.event e WHERE e.event_id > since $$;
SELECT max(event_id) AS since FROM cdp.event \gset

/* ------------------------------------------------------------------ the reference: link_records_many */
SAVEPOINT s;
SET LOCAL cdp_internal.golden_link_writer = 'c';
SELECT cdp.link_records_many(x.a, x.b, (SELECT y.evidence FROM cdp_internal._match_link_args(
         ARRAY(SELECT generate_series(1, cardinality(x.a))), x.a, x.b, x.p, x.w, x.r, x.f, x.v, x.rules, 'run_matching', 7) y)) AS res_ref
  FROM parts x \gset
SELECT pg_temp.link_state(:since) AS state_ref, pg_temp.payload_bytes(:since) AS bytes_ref \gset
SELECT ok((SELECT count(*) FROM cdp.event e WHERE e.event_id > :since AND e.kind = 'patient.merged') > 30
          AND (SELECT count(*) FROM cdp.event e WHERE e.event_id > :since AND e.kind = 'record.linked') > 30
          AND (SELECT count(*) FROM cdp.event e WHERE e.event_id > :since AND e.kind = 'patient.restored') > 0
          AND (SELECT count(*) FROM unnest(:'res_ref'::bigint[]) g WHERE g IS NULL) > 0,
          'the batch merges, links inside persons, restores archived persons and meets no_match decisions');

/* ------------------------------------------------------------------ golden_link_run, C writer */
ROLLBACK TO SAVEPOINT s;
SET LOCAL cdp_internal.golden_link_writer = 'c';
SELECT cdp_internal.golden_link_run(x.a, x.b, x.p, x.w, x.r, x.f, x.v, x.rules, 'run_matching', 7) AS res_c FROM parts x \gset
SELECT pg_temp.link_state(:since) AS state_c, pg_temp.payload_bytes(:since) AS bytes_c \gset
SELECT is(:'res_c'::bigint[], :'res_ref'::bigint[], 'C writer: the same golden id per link');
SELECT is((:'state_c'::jsonb) -> 'events', (:'state_ref'::jsonb) -> 'events', 'C writer: the same events, payloads and order');
SELECT is(:'bytes_c'::text, :'bytes_ref'::text, 'C writer: the payloads are the same bytes');
SELECT is(:'state_c'::jsonb, :'state_ref'::jsonb, 'C writer: the same membership, redirects, records, profiles');

/* ------------------------------------------------------------------ golden_link_run, SQL writer */
ROLLBACK TO SAVEPOINT s;
SET LOCAL cdp_internal.golden_link_writer = 'sql';
SELECT cdp_internal.golden_link_run(x.a, x.b, x.p, x.w, x.r, x.f, x.v, x.rules, 'run_matching', 7) AS res_sql FROM parts x \gset
SELECT pg_temp.link_state(:since) AS state_sql, pg_temp.payload_bytes(:since) AS bytes_sql \gset
SELECT is(:'res_sql'::bigint[], :'res_ref'::bigint[], 'SQL writer: the same golden id per link');
SELECT is(:'bytes_sql' || ' ' || :'state_sql', :'bytes_ref' || ' ' || :'state_ref', 'SQL writer: the same rows and payload bytes');

/* ------------------------------------------------------------------ table locks */
ROLLBACK TO SAVEPOINT s;
SET LOCAL cdp_internal.golden_link_writer = 'c';
SET LOCAL cdp.merge_lock_tables_links = 100;
SELECT cdp_internal.golden_link_run(x.a, x.b, x.p, x.w, x.r, x.f, x.v, x.rules, 'run_matching', 7) AS res_t FROM parts x \gset
SELECT is((SELECT string_agg(l.relation::regclass::text, ',' ORDER BY l.relation::regclass::text) FROM pg_locks l
            WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.mode = 'ExclusiveLock' AND l.granted
              AND l.relation IN ('cdp.record'::regclass, 'cdp.clinical_event'::regclass, 'cdp.patient'::regclass))
          || ' ' || :'res_t' || ' ' || pg_temp.payload_bytes(:since) || ' ' || pg_temp.link_state(:since)::text,
          'cdp.clinical_event,cdp.patient,cdp.record ' || :'res_ref' || ' ' || :'bytes_ref' || ' ' || :'state_ref',
          'a batch at the threshold: the three tables locked, the same golden ids and rows');

/* ------------------------------------------------------------------ a record that does not exist */
ROLLBACK TO SAVEPOINT s;
SELECT throws_ok(format($$SELECT cdp_internal.golden_link_run(ARRAY[%s, %s], ARRAY[%s, 999999999], '{0.5,0.5}', '{1,1}', '{0,0}', '{f,f}',
                                                            '{{1},{1}}', '[]', 'x', 1)$$, pg_temp.rid(1), pg_temp.rid(3), pg_temp.rid(2)),
                 'P0002', 'record "999999999" does not exist', 'a record that does not exist: link_records_many''s error');
SELECT is(cdp_internal.golden_link_run('{}', '{}', '{}', '{}', '{}', '{}', '{}', '[]', 'x', 1), '{}'::bigint[], 'no link: nothing');

/* ------------------------------------------------------------------ golden_link_write's parts */
SELECT throws_ok(format($$SELECT cdp_internal.golden_link_write(ARRAY[%s], ARRAY[%s], ARRAY['{}'::jsonb], ARRAY['s']::"char"[],
                                                              ARRAY[1::bigint], ARRAY[NULL::bigint], ARRAY[false], NULL, NULL,
                                                              '{0.5}', '{1}', '{0}', '{f}', '{{1}}', '[]', 'x', 1)$$, pg_temp.rid(1), pg_temp.rid(2)),
                 '22023', 'evidence and its parts must not both be given', 'the evidence whole and in parts: refused');
SELECT throws_ok(format($$SELECT cdp_internal.golden_link_write(ARRAY[%s], ARRAY[%s], NULL, ARRAY['s']::"char"[],
                                                              ARRAY[1::bigint], ARRAY[NULL::bigint], ARRAY[false], NULL, NULL,
                                                              '{0.5}', '{1}', NULL, '{f}', '{{1}}', '[]', 'x', 1)$$, pg_temp.rid(1), pg_temp.rid(2)),
                 '22004', 'argument 12 of golden_link_write must not be null', 'a part NULL: refused');
SELECT throws_ok(format($$SELECT cdp_internal.golden_link_write(ARRAY[%s], ARRAY[%s], NULL, ARRAY['s']::"char"[],
                                                              ARRAY[1::bigint], ARRAY[NULL::bigint], ARRAY[false], NULL, NULL,
                                                              '{0.5,0.5}', '{1}', '{0}', '{f}', '{{1}}', '[]', 'x', 1)$$, pg_temp.rid(1), pg_temp.rid(2)),
                 '2202E', 'arrays given to golden_link_write do not match in length', 'parts of another length: refused');
SELECT throws_ok(format($$SELECT cdp_internal.golden_link_write(ARRAY[%s], ARRAY[%s], NULL, ARRAY['s']::"char"[],
                                                              ARRAY[1::bigint], ARRAY[NULL::bigint], ARRAY[false], NULL, NULL,
                                                              '{0.5}', '{1}', '{0}', '{f}', '{1}', '[]', 'x', 1)$$, pg_temp.rid(1), pg_temp.rid(2)),
                 '2202E', 'argument 14 of golden_link_write must have one row of levels per link', 'levels not one row per link: refused');

SELECT * FROM finish();
ROLLBACK;
