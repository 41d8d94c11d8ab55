-- test/pgtap/66_match_train_order.sql: training gives the same model whatever order the records
-- were loaded in (issue 12, session 40).  400 records of 150 persons on a few common names (two or
-- three records each, some without a birth date, a patronymic or a phone), loaded in three orders,
-- so that the same contents get their record ids in another order each time, and trained with a
-- sample smaller than the blocked pairs (so both samples are drawn: u's random pairs and the
-- blocked pairs EM fits m on).  The samples are drawn by the records' content
-- (src/match_walk_sample.c), not by id or position: the parameters (u, m, lambda, the per-rule
-- counts) must be identical, bit for bit.  Before session 40 the walk drew them by position and
-- the three loads gave three models.
BEGIN;
SELECT plan(8);

SELECT count(cdp.register_source(n)) AS src FROM unnest(ARRAY['reg', 'lab']) n \gset
\ir ../fixtures/match_former_rules.sql
-- the default document with the rules it shipped before session 40: its rule of the family and the
-- given name alone blocks these namesakes into more pairs than the smallest sample (the shipped
-- rules block fewer than 1,000 here)
SELECT cdp.configure_matching(pg_temp.former_rules()) AS cfg \gset
CREATE TEMP TABLE fx AS
SELECT k, CASE WHEN k % 2 = 0 THEN 'reg' ELSE 'lab' END AS src, 'r' || k AS key,
       jsonb_strip_nulls(jsonb_build_object(
         'family_name', (ARRAY['Иванов', 'Смирнов', 'Кузнецов', 'Попов', 'Васильев'])[1 + p % 5]
                        || CASE WHEN k % 7 = 3 THEN 'а' ELSE '' END,
         'given_name', (ARRAY['Иван', 'Пётр', 'Сергей', 'Андрей', 'Алексей', 'Дмитрий'])[1 + (p / 5) % 6],
         'patronymic', CASE WHEN k % 5 <> 4 THEN (ARRAY['Иванович', 'Петрович', 'Сергеевич', 'Андреевич'])[1 + (p / 30) % 4] END,
         'birth_date', CASE WHEN k % 3 <> 2 THEN (date '1950-01-01' + (p * 7919) % 20000)::text END,
         'sex', 'M',
         'phone', CASE WHEN k % 4 = 1 THEN '+7903' || (1000000 + p)::text END)) AS attrs
  FROM (SELECT k, (k / 2) % 150 AS p FROM generate_series(0, 399) k) s;

-- one trial: loads the fixture in the order of ord (one upsert_record each, so record ids follow
-- that order), trains with 1,000 sampled pairs and returns the parameters without the times, then
-- undoes it all (the block's subtransaction; the record id sequence goes on)
CREATE FUNCTION pg_temp.trial(ord text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r record; res jsonb;
BEGIN
	BEGIN
		FOR r IN EXECUTE 'SELECT f.src, f.key, f.attrs FROM fx f ORDER BY ' || ord LOOP
			PERFORM cdp.upsert_record(r.src, r.key, r.attrs);
		END LOOP;
		res := jsonb_build_object('params', cdp.train_matching(1000) - 'times' - 'trained_at',
			'first', (SELECT source_key FROM cdp.record ORDER BY record_id LIMIT 1));
		RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = res::text;
	EXCEPTION WHEN raise_exception THEN
		RETURN SQLERRM::jsonb;
	END;
END $$;
CREATE TEMP TABLE trial(o int, what text, res jsonb);
INSERT INTO trial VALUES
	(1, 'forward', pg_temp.trial('f.k')),
	(2, 'reverse', pg_temp.trial('f.k DESC')),
	(3, 'shuffled', pg_temp.trial('md5(f.key)'));

SELECT is((SELECT count(*) FROM cdp.record), 0::bigint, 'each trial is undone');
SELECT is((SELECT count(DISTINCT res ->> 'first') FROM trial), 3::bigint,
          'the three loads give the first record id to three different records');
SELECT ok((SELECT (res -> 'params' ->> 'blocked_pairs')::float8 > 1000 FROM trial WHERE o = 1),
          'the blocked pairs are more than the sample: EM reads a sample of them');
SELECT ok((SELECT (res -> 'params' ->> 'trained')::boolean AND (res -> 'params' ->> 'records')::int = 400 FROM trial WHERE o = 1),
          'the forward load trains on 400 records');
SELECT is(t.res -> 'params' -> 'u', f.res -> 'params' -> 'u', t.what || ': the same u as the forward load')
  FROM trial t, trial f WHERE f.o = 1 AND t.o > 1 ORDER BY t.o;
SELECT is(t.res -> 'params', f.res -> 'params', t.what || ': the same parameters (m, lambda, per rule) as the forward load')
  FROM trial t, trial f WHERE f.o = 1 AND t.o > 1 ORDER BY t.o;
SELECT * FROM finish();
ROLLBACK;
