-- test/pgtap/66_match_arrival_order.sql: what matching guarantees whatever order the records arrive
-- in (issue 12).  The chain of 66_match_coherence (five records, each sharing a phone with the
-- next, whose ends were born in other years and are of other sexes) and a person of four records
-- with a record agreeing with one of them only, loaded one record per incremental run in several
-- orders, then a full run, and once all at once by a full run.  The persons may differ with the
-- order (the decisions are greedy, strongest first among the pairs a run sees: doc/matching.md,
-- "Arrival order"); what must hold in every case: no person holds two records that contradict
-- each other (birth dates apart by more than a slip, two sexes), the ends of the chain are never
-- one person, and the person of four records that agree on everything is one.
BEGIN;
SELECT plan(32);

SELECT count(cdp.register_source(n)) AS src FROM unnest(ARRAY['reg', 'lab', 'crm']) n \gset
CREATE TEMP TABLE fx(name text PRIMARY KEY, src text, attrs jsonb);
INSERT INTO fx VALUES
 ('ch1', 'reg', '{"family_name":"Зуев","given_name":"Артём","patronymic":"Павлович","birth_date":"1971-03-04","sex":"M","phones":["+79031000001"]}'),
 ('ch2', 'lab', '{"family_name":"Зуев","given_name":"Артём","patronymic":"Павлович","phones":["+79031000001","+79031000002"]}'),
 ('ch3', 'crm', '{"family_name":"Зуев","given_name":"Артём","patronymic":"Павлович","phones":["+79031000002","+79031000003"]}'),
 ('ch4', 'reg', '{"family_name":"Зуев","given_name":"Артём","patronymic":"Павлович","phones":["+79031000003","+79031000004"]}'),
 ('ch5', 'lab', '{"family_name":"Зуев","given_name":"Артём","patronymic":"Павлович","birth_date":"1994-08-21","sex":"F","phones":["+79031000004"]}'),
 ('a1', 'reg', '{"family_name":"Лаптев","given_name":"Игорь","patronymic":"Олегович","birth_date":"1966-12-30","sex":"M","phone":"+79032000001","email":"lapt@mail.ru"}'),
 ('a2', 'lab', '{"family_name":"Лаптев","given_name":"Игорь","patronymic":"Олегович","birth_date":"1966-12-30","sex":"M","phone":"+79032000001"}'),
 ('a3', 'crm', '{"family_name":"Лаптев","given_name":"Игорь","patronymic":"Олегович","birth_date":"1966-12-30","sex":"M","phone":"+79032000001"}'),
 ('a4', 'reg', '{"family_name":"Лаптев","given_name":"Игорь","patronymic":"Олегович","birth_date":"1966-12-30","sex":"M","phone":"+79032000001"}'),
 ('ax', 'crm', '{"family_name":"Лаптев","given_name":"Игорь","email":"lapt@mail.ru"}');

-- loads the fixture in the given order, one incremental run per record
CREATE FUNCTION pg_temp.load(ord text[]) RETURNS int LANGUAGE plpgsql AS $$
DECLARE n text; k int := 0;
BEGIN
	FOREACH n IN ARRAY ord LOOP
		PERFORM cdp.upsert_record(f.src, f.name, f.attrs) FROM fx f WHERE f.name = n;
		k := k + (cdp.run_matching() ->> 'processed')::int;
	END LOOP;
	RETURN k;
END $$;
CREATE FUNCTION pg_temp.g(n text) RETURNS bigint LANGUAGE sql AS $$ SELECT golden_id FROM cdp.record WHERE source_key = n $$;
-- pairs of records of one person that contradict each other: birth dates apart by more than a
-- slip (cdp.date_level other than exact, day and month exchanged, one digit), or two sexes
CREATE FUNCTION pg_temp.contradictions() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM cdp.record a JOIN cdp.record b ON b.golden_id = a.golden_id AND b.record_id > a.record_id
	 WHERE cdp.date_level(a.birth_date, b.birth_date) NOT IN ('exact', 'day_month_swapped', 'one_digit') OR a.sex <> b.sex $$;
-- one trial: loads the fixture in the given order (NULL: all at once, one full run), reads what
-- must hold, runs a full run and reads it again, then undoes it all (the block's subtransaction)
CREATE FUNCTION pg_temp.trial(ord text[]) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE res jsonb;
BEGIN
	BEGIN
		IF ord IS NULL THEN
			PERFORM cdp.upsert_record(f.src, f.name, f.attrs) FROM fx f;
			res := jsonb_build_object('processed', (cdp.run_matching('full') ->> 'processed')::int);
		ELSE
			res := jsonb_build_object('processed', pg_temp.load(ord));
		END IF;
		res := res || jsonb_build_object('contradictions', pg_temp.contradictions(),
			'ends_apart', pg_temp.g('ch1') <> pg_temp.g('ch5'), 'four_one', pg_temp.g('a4') = pg_temp.g('a1'),
			'persons', (SELECT count(DISTINCT golden_id) FROM cdp.record));
		PERFORM cdp.run_matching('full');
		res := res || jsonb_build_object('full_contradictions', pg_temp.contradictions(),
			'full_ends_apart', pg_temp.g('ch1') <> pg_temp.g('ch5'));
		RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = res::text;
	EXCEPTION WHEN raise_exception THEN
		RETURN SQLERRM::jsonb;
	END;
END $$;
CREATE TEMP TABLE trial(o int, what text, res jsonb);
INSERT INTO trial VALUES
	(1, 'all at once', pg_temp.trial(NULL)),
	(2, 'forward', pg_temp.trial(ARRAY['ch1', 'ch2', 'ch3', 'ch4', 'ch5', 'a1', 'a2', 'a3', 'a4', 'ax'])),
	(3, 'reverse', pg_temp.trial(ARRAY['ax', 'a4', 'a3', 'a2', 'a1', 'ch5', 'ch4', 'ch3', 'ch2', 'ch1'])),
	(4, 'middle out', pg_temp.trial(ARRAY['ch3', 'a2', 'ch2', 'a3', 'ch4', 'ax', 'ch1', 'a1', 'ch5', 'a4'])),
	(5, 'ends first', pg_temp.trial(ARRAY['ch1', 'ch5', 'ch2', 'ch4', 'ch3', 'a1', 'ax', 'a2', 'a3', 'a4']));

SELECT is((SELECT count(*) FROM cdp.record), 0::bigint, 'each trial is undone');
SELECT is(res ->> 'processed', '10', what || ': every record is matched') FROM trial ORDER BY o;
SELECT is(res ->> 'contradictions', '0', what || ': no person holds records that contradict') FROM trial ORDER BY o;
SELECT is(res ->> 'ends_apart', 'true', what || ': the ends of the chain are two persons') FROM trial ORDER BY o;
SELECT is(res ->> 'four_one', 'true', what || ': the person of four records is one') FROM trial ORDER BY o;
SELECT is(res ->> 'full_contradictions', '0', what || ': a full run after it contradicts nothing either') FROM trial ORDER BY o;
SELECT is(res ->> 'full_ends_apart', 'true', what || ': nor joins the ends') FROM trial ORDER BY o;

-- training samples pairs in the order it reads the records: it must read them from the first page,
-- not from wherever another session's scan of the same large table has got to
SELECT ok((SELECT 'synchronize_seqscans=off' = ANY (p.proconfig) FROM pg_proc p
            WHERE p.oid = 'cdp.train_matching(int, int)'::regprocedure),
          'train_matching runs with synchronize_seqscans off');
SELECT * FROM finish();
ROLLBACK;
