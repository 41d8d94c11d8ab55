-- test/pgtap/73_golden_link_write.sql: the merge's writes in C (issue 16).  golden_link_apply
-- writes a batch's events, membership intervals and redirects with cdp_internal.golden_link_write
-- (src/golden_link_write.c) unless cdp_internal.golden_link_writer is 'sql' or a table has a trigger, rule
-- or row-level security the C writer cannot honour; then its SQL statements write them.  The same
-- generated link batches go through both paths from the same state (a savepoint rolled back in
-- between); everything the merge writes must be identical: events (kind, subject, golden id,
-- payload, actor, order; times in event order), membership intervals (persons, the events that open
-- and close them and their times), redirects, records, profiles (status and status time of restored
-- persons), the returned golden ids.  Event ids are compared by their rank in the batch (the
-- identity sequence is not rolled back).  Then the fallback: with an insert trigger on
-- patient_redirect the C writer writes nothing and says so, and the SQL path gives the same rows.
-- Then the table locks of a large batch (cdp.merge_lock_tables_links, session 32): the same rows.
BEGIN;
SELECT plan(35);

/* ------------------------------------------------------------------ data */
SELECT setseed(0.73);
SELECT count(cdp.register_source(s)) FROM unnest(ARRAY['reg', 'lab']) s;
-- 240 records of 80 people (the links below join records of different people too: chains)
SELECT ok(count(cdp.upsert_record((ARRAY['reg','lab'])[1 + k % 2], 'w' || k,
              jsonb_build_object('family_name', (ARRAY['Иванов','Смирнов','Попов','Орлов'])[1 + k % 4],
                                 'given_name', (ARRAY['Иван','Пётр','Олег'])[1 + (k / 4) % 3],
                                 'birth_date', (date '1960-01-01' + (k / 3) * 37)::text,
                                 'phone', '+7916' || lpad(((k / 3) * 7919 % 10000000)::text, 7, '0')))) = 240,
          'the records load')
  FROM generate_series(1, 240) k;
CREATE FUNCTION pg_temp.rid(k int) RETURNS bigint LANGUAGE sql AS
	$$ SELECT record_id FROM cdp.record WHERE source_key = 'w' || k $$;
-- a few persons archived (a merge of one with an active person restores it) and no_match decisions
SELECT count(*) AS archived
  FROM cdp.archive_patients(ARRAY(SELECT golden_id FROM cdp.record WHERE source_key IN ('w3', 'w30', 'w61', 'w99')),
                            'test', false) \gset
SELECT count(cdp.record_pair_decision(least(pg_temp.rid(x), pg_temp.rid(y)), greatest(pg_temp.rid(x), pg_temp.rid(y)),
                                      'no_match', 'test'))
  FROM (VALUES (10, 11), (50, 52), (120, 200)) v(x, y) \gset
-- consent statements on some persons (a summary row each; since session 31 the C path's move of
-- records does the consent triggers' work itself, cdp_internal.consent_records_moved): grants and
-- withdrawals with an address (suppressions, some lifted by a later grant)
SELECT count(cdp.set_consents(g, ARRAY['marketing', 'treatment'], ARRAY['sms', 'email'], k % 3 <> 0,
                              now() - interval '1 hour' * (100 - k), NULL, CASE WHEN k % 2 = 0 THEN '+7916000' || lpad(k::text, 4, '0') END))
  FROM (SELECT row_number() OVER (ORDER BY golden_id) AS k, golden_id AS g
          FROM (SELECT DISTINCT golden_id FROM cdp.record WHERE source_key ~ '^w[0-9]*[05]$') x) y \gset
SELECT count(cdp.set_consents(g, ARRAY['marketing'], ARRAY['sms'], true, now(), NULL, '+7916000' || lpad((k * 2)::text, 4, '0')))
  FROM (SELECT row_number() OVER (ORDER BY golden_id) AS k, golden_id AS g
          FROM (SELECT DISTINCT golden_id FROM cdp.record WHERE source_key ~ '^w[0-9]*0$') x) y \gset
-- the batches: random links (repeats, links inside one person, chains), evidence objects or NULL
CREATE TEMP TABLE batch AS
SELECT n, pg_temp.rid(1 + floor(random() * 240)::int) AS a, pg_temp.rid(1 + floor(random() * 240)::int) AS b,
       CASE WHEN random() < 0.2 THEN NULL
            ELSE jsonb_build_object('by', 'test', 'n', n, 'p', round(random()::numeric, 3),
                                    'levels', jsonb_build_array(1, 2, n % 3), 'note', 'связь ' || n) END AS ev
  FROM generate_series(1, 400) n;
DELETE FROM batch WHERE a = b;

/* ------------------------------------------------------------------ the plan as arrays */
-- _golden_merge_plan_arrays is _golden_merge_plan's rows aggregated by link (absorbed ids in id order)
CREATE TEMP TABLE plan_in AS
SELECT array_agg(1 + floor(random() * 60)::bigint) AS ga, array_agg(1 + floor(random() * 60)::bigint) AS gb
  FROM generate_series(1, 300);
SELECT is((SELECT (x.ord, x.outcome, x.keep, x.gone, x.restore, x.ab_ord, x.ab_g)::text
             FROM plan_in, cdp_internal._golden_merge_plan_arrays(ga, gb, ARRAY[5, 7, 11]::bigint[], ARRAY[9, 2, 40]::bigint[],
                                                                  ARRAY[3, 8, 30]::bigint[]) x),
          (SELECT (array_agg(p.ord ORDER BY p.ord), array_agg(p.outcome ORDER BY p.ord), array_agg(p.keep ORDER BY p.ord),
                   array_agg(p.gone ORDER BY p.ord), array_agg(p.restore ORDER BY p.ord),
                   (SELECT array_agg(q.ord ORDER BY q.ord, y.g) FROM cdp_internal._golden_merge_plan(ga, gb, ARRAY[5, 7, 11]::bigint[],
                        ARRAY[9, 2, 40]::bigint[], ARRAY[3, 8, 30]::bigint[]) q, unnest(q.absorbed) y(g)),
                   (SELECT array_agg(y.g ORDER BY q.ord, y.g) FROM cdp_internal._golden_merge_plan(ga, gb, ARRAY[5, 7, 11]::bigint[],
                        ARRAY[9, 2, 40]::bigint[], ARRAY[3, 8, 30]::bigint[]) q, unnest(q.absorbed) y(g)))::text
             FROM plan_in, cdp_internal._golden_merge_plan(ga, gb, ARRAY[5, 7, 11]::bigint[], ARRAY[9, 2, 40]::bigint[],
                                                          ARRAY[3, 8, 30]::bigint[]) p
            GROUP BY ga, gb),
          'the plan as arrays is the plan''s rows aggregated by link');
SELECT is((SELECT (x.ord, x.ab_g)::text FROM cdp_internal._golden_merge_plan_arrays(ARRAY[3, 2, 5, 1, 4]::bigint[],
             ARRAY[5, 3, 1, 2, 2]::bigint[], ARRAY[1]::bigint[], ARRAY[4]::bigint[], ARRAY[3]::bigint[]) x),
          '("{1,2,3,4,5}","{5,3,5,2,3,5}")', 'the plan as arrays: absorbed ids in link then id order');

/* ------------------------------------------------------------------ the state a merge writes */
-- everything written since event id "since", event ids by rank, times checked against the events
CREATE FUNCTION pg_temp.link_state(since bigint) RETURNS jsonb LANGUAGE sql AS $$
WITH ev AS (SELECT e.*, row_number() OVER (ORDER BY e.event_id) AS rk FROM cdp.event e WHERE e.event_id > since),
evn AS (SELECT x.event_id, coalesce('n' || ev.rk, x.event_id::text) AS name, ev.at
          FROM (SELECT event_id FROM cdp.event) x LEFT JOIN ev USING (event_id))
SELECT jsonb_build_object(
  'events', (SELECT jsonb_agg(jsonb_build_array(ev.rk, ev.kind, ev.subject, ev.golden_id, ev.payload, ev.actor) ORDER BY ev.event_id) FROM ev),
  'event_times_ordered', (SELECT bool_and(t.ok) FROM (SELECT ev.at >= lag(ev.at, 1, ev.at) OVER (ORDER BY ev.event_id) AS ok FROM ev) t),
  'members', (SELECT jsonb_agg(jsonb_build_array(m.record_id, m.golden_id, f.name, t.name,
                                                 CASE WHEN f.at IS NULL THEN m.from_at::text ELSE (m.from_at = f.at)::text END,
                                                 CASE WHEN t.at IS NULL THEN m.to_at::text ELSE (m.to_at = t.at)::text END)
                               ORDER BY m.record_id, m.from_at, f.name)
                FROM cdp.patient_member m JOIN evn f ON f.event_id = m.from_event LEFT JOIN evn t ON t.event_id = m.to_event),
  'redirects', (SELECT jsonb_agg(jsonb_build_array(d.old_id, d.new_id, e.name,
                                                   CASE WHEN e.at IS NULL THEN d.at::text ELSE (d.at = e.at)::text END) ORDER BY d.old_id)
                  FROM cdp.patient_redirect d JOIN evn e ON e.event_id = d.event_id),
  'records', (SELECT jsonb_agg(jsonb_build_array(r.record_id, r.golden_id) ORDER BY r.record_id) FROM cdp.record r),
  'profiles', (SELECT jsonb_agg(jsonb_build_array(to_jsonb(p) - 'status_at',
                                                  coalesce((SELECT 'restored ' || ev.rk FROM ev WHERE ev.kind = 'patient.restored'
                                                               AND ev.subject = p.golden_id AND ev.at = p.status_at), p.status_at::text))
                                ORDER BY p.golden_id) FROM cdp.patient p),
  'consent', (SELECT jsonb_agg(to_jsonb(c) ORDER BY c.golden_id) FROM cdp_internal.consent_summary c),
  'suppressions', (SELECT jsonb_agg(jsonb_build_array(x.address_key, x.purpose, x.suppressed) ORDER BY x.address_key, x.purpose)
                     FROM cdp.consent_suppression x))
$$;
SELECT max(event_id) AS since FROM cdp.event \gset
CREATE FUNCTION pg_temp.noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
-- the tables this transaction holds in EXCLUSIVE mode of the three a large batch locks whole
CREATE FUNCTION pg_temp.exclusive_tables() RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(l.relation::regclass::text, ',' ORDER BY l.relation::regclass::text), '')
	  FROM pg_locks l
	 WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.mode = 'ExclusiveLock' AND l.granted
	   AND l.relation IN ('cdp.record'::regclass, 'cdp.clinical_event'::regclass, 'cdp.patient'::regclass) $$;

/* ------------------------------------------------------------------ many links: SQL, then C */
SAVEPOINT s;
SET LOCAL cdp_internal.golden_link_writer = 'sql';
SELECT cdp.link_records_many(array_agg(a ORDER BY n), array_agg(b ORDER BY n), array_agg(ev ORDER BY n)) AS res_sql FROM batch \gset
SELECT pg_temp.link_state(:since) AS state_sql \gset
ROLLBACK TO SAVEPOINT s;
SET LOCAL cdp_internal.golden_link_writer = 'c';
SELECT cdp.link_records_many(array_agg(a ORDER BY n), array_agg(b ORDER BY n), array_agg(ev ORDER BY n)) AS res_c FROM batch \gset
SELECT pg_temp.link_state(:since) AS state_c \gset
SELECT is(:'res_c'::bigint[], :'res_sql'::bigint[], 'many links: the same golden id per link');
SELECT is((:'state_c'::jsonb) -> 'events', (:'state_sql'::jsonb) -> 'events', 'many links: the same events, payloads and order');
SELECT ok(jsonb_array_length((:'state_c'::jsonb) -> 'events') > 300
          AND (SELECT count(*) FROM jsonb_array_elements((:'state_c'::jsonb) -> 'events') e WHERE e ->> 1 = 'patient.merged') > 50
          AND (SELECT count(*) FROM jsonb_array_elements((:'state_c'::jsonb) -> 'events') e WHERE e ->> 1 = 'record.linked') > 50
          AND (SELECT count(*) FROM jsonb_array_elements((:'state_c'::jsonb) -> 'events') e WHERE e ->> 1 = 'patient.restored') > 0
          AND (SELECT count(*) FROM unnest(:'res_c'::bigint[]) g WHERE g IS NULL) > 0,
          'the batch merges, links inside persons, restores archived persons and meets no_match decisions');
SELECT is((:'state_c'::jsonb) -> 'event_times_ordered', 'true'::jsonb, 'C path: event times follow event ids');
SELECT is((:'state_c'::jsonb) -> 'members', (:'state_sql'::jsonb) -> 'members', 'many links: the same membership intervals');
SELECT ok(NOT ((:'state_c'::jsonb) -> 'members')::text LIKE '%"false"%', 'membership times are their events'' times');
SELECT is((:'state_c'::jsonb) -> 'redirects', (:'state_sql'::jsonb) -> 'redirects', 'many links: the same redirects');
SELECT is((:'state_c'::jsonb) -> 'records', (:'state_sql'::jsonb) -> 'records', 'many links: the same persons of records');
SELECT is((:'state_c'::jsonb) -> 'profiles', (:'state_sql'::jsonb) -> 'profiles', 'many links: the same profiles, restored status');
SELECT is((:'state_c'::jsonb) -> 'consent', (:'state_sql'::jsonb) -> 'consent', 'many links: the same consent summary rows');
SELECT is((:'state_c'::jsonb) -> 'suppressions', (:'state_sql'::jsonb) -> 'suppressions', 'many links: the same suppressions');
SELECT ok(jsonb_array_length((:'state_c'::jsonb) -> 'consent') > 0
          AND (SELECT count(*) FROM jsonb_array_elements((:'state_c'::jsonb) -> 'suppressions') x WHERE NOT (x ->> 2)::boolean) > 0
          AND (SELECT count(*) FROM cdp_internal.consent_summary s LEFT JOIN cdp_internal.consent_summary_of(NULL) x ON x.golden_id = s.golden_id
                WHERE (s.allowed, s.internal, s.partner, s.statements) IS DISTINCT FROM (x.allowed, x.internal, x.partner, x.statements)) = 0,
          'the batch meets summary rows and lifted suppressions; the rows the C path left equal their recomputation');
-- the projections the C path wrote are the log's: a replay gives them back
SELECT cdp.rebuild_patients() IS NOT NULL AS rebuilt \gset
SELECT is(pg_temp.link_state(:since) -> 'members', (:'state_c'::jsonb) -> 'members', 'rebuild_patients replays the C path''s membership');
SELECT is(pg_temp.link_state(:since) -> 'redirects', (:'state_c'::jsonb) -> 'redirects', 'rebuild_patients replays the C path''s redirects');

/* ------------------------------------------------------------------ evidence NULL, one link */
ROLLBACK TO SAVEPOINT s;
SET LOCAL cdp_internal.golden_link_writer = 'sql';
SELECT cdp.link_records_many(ARRAY[pg_temp.rid(1), pg_temp.rid(4), pg_temp.rid(7)], ARRAY[pg_temp.rid(2), pg_temp.rid(5), pg_temp.rid(1)]) AS res_sql \gset
SELECT cdp.link_records(pg_temp.rid(8), pg_temp.rid(9), NULL) AS one_sql \gset
SELECT pg_temp.link_state(:since) AS state_sql \gset
ROLLBACK TO SAVEPOINT s;
SET LOCAL cdp_internal.golden_link_writer = 'c';
SELECT cdp.link_records_many(ARRAY[pg_temp.rid(1), pg_temp.rid(4), pg_temp.rid(7)], ARRAY[pg_temp.rid(2), pg_temp.rid(5), pg_temp.rid(1)]) AS res_c \gset
SELECT cdp.link_records(pg_temp.rid(8), pg_temp.rid(9), NULL) AS one_c \gset
SELECT pg_temp.link_state(:since) AS state_c \gset
SELECT is(ARRAY[:'res_c'::bigint[], ARRAY[:'one_c'::bigint, :'one_c'::bigint, :'one_c'::bigint]],
          ARRAY[:'res_sql'::bigint[], ARRAY[:'one_sql'::bigint, :'one_sql'::bigint, :'one_sql'::bigint]],
          'no evidence, one link: the same golden ids');
SELECT is(:'state_c'::jsonb, :'state_sql'::jsonb, 'no evidence, one link: the same events, membership, redirects, profiles');

/* ------------------------------------------------------------------ the fallback */
ROLLBACK TO SAVEPOINT s;
SET LOCAL cdp_internal.golden_link_writer = 'c';
SELECT (SELECT golden_id FROM cdp.record WHERE record_id = pg_temp.rid(1)) AS g1,
       (SELECT golden_id FROM cdp.record WHERE record_id = pg_temp.rid(2)) AS g2 \gset
SELECT (w.written, w.m_keep, w.m_gone, w.fin_rec)::text AS direct
  FROM cdp_internal.golden_link_write(ARRAY[pg_temp.rid(1)], ARRAY[pg_temp.rid(2)], NULL, ARRAY['m']::"char"[],
                                      ARRAY[:g1::bigint], ARRAY[:g2::bigint], ARRAY[false], ARRAY[pg_temp.rid(2)], ARRAY[1]) w \gset
SELECT is(:'direct' || (SELECT string_agg(e.kind || ' ' || e.payload::text, ',') FROM cdp.event e WHERE e.event_id > :since),
          format('(t,{%s},{%s},{%s})patient.merged {"a": %s, "b": %s, "from": %s, "into": %s, "records": [%s], "evidence": null}',
                 :g1, :g2, pg_temp.rid(2), pg_temp.rid(1), pg_temp.rid(2), :g2, :g1, pg_temp.rid(2)),
          'without triggers the C writer writes (a direct call)');
ROLLBACK TO SAVEPOINT s;
CREATE TRIGGER noop AFTER INSERT ON cdp.patient_redirect FOR EACH ROW EXECUTE FUNCTION pg_temp.noop();
SELECT is((cdp_internal.golden_link_write(ARRAY[pg_temp.rid(1)], ARRAY[pg_temp.rid(2)], NULL, ARRAY['m']::"char"[],
                                          ARRAY[1::bigint], ARRAY[2::bigint], ARRAY[false], NULL, NULL)).written,
          false, 'a table with an insert trigger: the C writer writes nothing and says so');
ROLLBACK TO SAVEPOINT s;
SET LOCAL cdp_internal.golden_link_writer = 'sql';
SELECT cdp.link_records_many(array_agg(a ORDER BY n), array_agg(b ORDER BY n), array_agg(ev ORDER BY n)) AS res_sql FROM batch \gset
SELECT pg_temp.link_state(:since) AS state_sql \gset
ROLLBACK TO SAVEPOINT s;
CREATE TRIGGER noop AFTER INSERT ON cdp.patient_redirect FOR EACH ROW EXECUTE FUNCTION pg_temp.noop();
SET LOCAL cdp_internal.golden_link_writer = 'c';
SELECT cdp.link_records_many(array_agg(a ORDER BY n), array_agg(b ORDER BY n), array_agg(ev ORDER BY n)) AS res_fb FROM batch \gset
SELECT is(:'res_fb'::bigint[], :'res_sql'::bigint[], 'fallback: the same golden id per link');
SELECT is(pg_temp.link_state(:since), :'state_sql'::jsonb, 'fallback: the same rows as the SQL path');

/* ------------------------------------------------------------------ table locks (session 32) */
-- a batch of cdp.merge_lock_tables_links links or more locks cdp.record, cdp.clinical_event and
-- cdp.patient whole (golden_lock_tables) instead of every row of its persons, and reads the persons
-- once: the same rows as the row locks, two persons without a profile row made and folded in both
ROLLBACK TO SAVEPOINT s;
SET LOCAL cdp_internal.golden_link_writer = 'c';
SET LOCAL cdp.merge_lock_tables_links = 0;
DELETE FROM cdp.patient p WHERE p.golden_id IN (SELECT golden_id FROM cdp.record WHERE source_key IN ('w17', 'w18'));
SELECT cdp.link_records_many(array_agg(a ORDER BY n), array_agg(b ORDER BY n), array_agg(ev ORDER BY n)) AS res_rows FROM batch \gset
SELECT pg_temp.link_state(:since) AS state_rows, pg_temp.exclusive_tables() AS excl_rows \gset
ROLLBACK TO SAVEPOINT s;
SET LOCAL cdp_internal.golden_link_writer = 'c';
SET LOCAL cdp.merge_lock_tables_links = 100;
DELETE FROM cdp.patient p WHERE p.golden_id IN (SELECT golden_id FROM cdp.record WHERE source_key IN ('w17', 'w18'));
SELECT cdp.link_records_many(array_agg(a ORDER BY n), array_agg(b ORDER BY n), array_agg(ev ORDER BY n)) AS res_tables FROM batch \gset
SELECT pg_temp.link_state(:since) AS state_tables, pg_temp.exclusive_tables() AS excl_tables \gset
SELECT is(:'excl_rows' || ' / ' || :'excl_tables', ' / cdp.clinical_event,cdp.patient,cdp.record',
          'only the batch at the threshold holds the three tables in EXCLUSIVE mode');
SELECT is(:'res_tables'::bigint[], :'res_rows'::bigint[], 'table locks: the same golden id per link as row locks');
SELECT is(:'state_tables'::jsonb, :'state_rows'::jsonb, 'table locks: the same events, membership, redirects, records, profiles, consent rows');
-- link_records (a batch of one, whose persons golden_link_apply reads itself) at a threshold of 1
ROLLBACK TO SAVEPOINT s;
SET LOCAL cdp.merge_lock_tables_links = 0;
SELECT cdp.link_records(pg_temp.rid(8), pg_temp.rid(9), NULL) AS one_rows \gset
SELECT pg_temp.link_state(:since) AS state_rows \gset
ROLLBACK TO SAVEPOINT s;
SET LOCAL cdp.merge_lock_tables_links = 1;
SELECT cdp.link_records(pg_temp.rid(8), pg_temp.rid(9), NULL) AS one_tables \gset
SELECT is(pg_temp.exclusive_tables() || ' ' || :'one_tables' || ' ' || pg_temp.link_state(:since)::text,
          'cdp.clinical_event,cdp.patient,cdp.record ' || :'one_rows' || ' ' || :'state_rows',
          'one link at a threshold of 1: the tables locked, the same golden id and rows');

/* ------------------------------------------------------------------ the move of records (session 31) */
ROLLBACK TO SAVEPOINT s;
SELECT throws_ok(format('SELECT cdp_internal.golden_move_records(ARRAY[%s, %s], ARRAY[1, 1]::bigint[])', pg_temp.rid(2), pg_temp.rid(1)),
                 '22023', 'rec must be strictly ascending', 'the move refuses records out of order (or twice)');
SELECT throws_ok('SELECT cdp_internal.golden_move_records(ARRAY[1]::bigint[], ARRAY[1, 2]::bigint[])',
                 '2202E', 'rec and keep must have the same length', 'the move refuses arrays of different lengths');
-- an update trigger of its own on cdp.record: the move writes nothing, the UPDATE runs and fires it
CREATE TABLE pg_temp.fired (n int);
CREATE FUNCTION pg_temp.count_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO pg_temp.fired VALUES (1); RETURN NULL; END $$;
CREATE TRIGGER count_update AFTER UPDATE ON cdp.record FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.count_update();
SELECT is(cdp_internal.golden_move_records(ARRAY[pg_temp.rid(1)], ARRAY[pg_temp.rid(1)]) IS FALSE
          AND (SELECT count(*) FROM pg_temp.fired) = 0, true, 'an update trigger on cdp.record: the move writes nothing and says so');
SET LOCAL cdp_internal.golden_link_writer = 'c';
SELECT cdp.link_records_many(array_agg(a ORDER BY n), array_agg(b ORDER BY n), array_agg(ev ORDER BY n)) AS res_fb FROM batch \gset
SELECT is(pg_temp.link_state(:since), :'state_sql'::jsonb, 'an update trigger on cdp.record: the UPDATE moves the records, the same rows');
SELECT is((SELECT count(*) FROM pg_temp.fired), 1::bigint, 'an update trigger on cdp.record: it fires once, for the one UPDATE');

-- persons without a profile row (session 29: the lock step counts the rows it locks and makes the
-- missing ones only then): the batch makes and folds them as refresh_patients would
SELECT count(cdp.upsert_record('reg', 'z' || k, jsonb_build_object('family_name', 'Зуев', 'given_name', 'Ян',
                                                                    'birth_date', '1970-0' || (1 + k / 3) || '-01')))
  FROM generate_series(1, 4) k;
SELECT array_agg(golden_id ORDER BY source_key) AS zg FROM cdp.record WHERE source_key LIKE 'z_' \gset
DELETE FROM cdp.patient p WHERE p.golden_id IN (SELECT golden_id FROM cdp.record WHERE source_key IN ('z1', 'z4'));
SELECT is(cdp.link_records_many(ARRAY[(SELECT record_id FROM cdp.record WHERE source_key = 'z1'), (SELECT record_id FROM cdp.record WHERE source_key = 'z3')],
                                ARRAY[(SELECT record_id FROM cdp.record WHERE source_key = 'z2'), (SELECT record_id FROM cdp.record WHERE source_key = 'z4')]),
          ARRAY[(:'zg'::bigint[])[1], (:'zg'::bigint[])[3]], 'persons without profile rows merge into the older ids');
SELECT is((SELECT array_agg(golden_id || ':' || record_count ORDER BY golden_id) FROM cdp.patient WHERE golden_id = ANY (:'zg'::bigint[])),
          ARRAY[(:'zg'::bigint[])[1] || ':2', (:'zg'::bigint[])[3] || ':2'], 'the survivors have their profile rows, of two records each');
SELECT is(cdp_internal.golden_refold(ARRAY[(:'zg'::bigint[])[1], (:'zg'::bigint[])[3]]), 0, 'the new rows are folded as a re-fold would fold them');

SELECT * FROM finish();
ROLLBACK;
