-- test/bench/name_lookup/measure.sql: timing and recall of a top-10 name lookup over bench.query.
-- bench.run(label, sql, short): runs sql (with $1 = the query name, returning ids) once per query
-- after a warm-up pass over the first 50, and records the time of each execution and whether a
-- person with the true person's name (surname, sex, given name, patronymic) is among the ten.
-- short: query with the first two words only (surname and given name, as in a Latin passport) and
-- count a hit when a person with the true surname, sex and given name is among the ten; the
-- 'order' queries, whose first words are not the surname, are left out.
CREATE TABLE bench.result (label text, qid int, kind text, ms float8, hit boolean, nfound int);

CREATE FUNCTION bench.run(label text, sql text, short boolean DEFAULT false) RETURNS void
	LANGUAGE plpgsql AS $$
DECLARE
	r record;
	ids bigint[];
	q text;
	t0 timestamptz;
	t1 timestamptz;
BEGIN
	FOR r IN SELECT * FROM bench.query WHERE qid <= 50 ORDER BY qid LOOP
		EXECUTE sql INTO ids USING r.q;
	END LOOP;
	FOR r IN SELECT * FROM bench.query WHERE NOT (short AND kind = 'order') ORDER BY qid LOOP
		q := CASE WHEN short THEN split_part(r.q, ' ', 1) || ' ' || split_part(r.q, ' ', 2) ELSE r.q END;
		t0 := clock_timestamp();
		EXECUTE sql INTO ids USING q;
		t1 := clock_timestamp();
		INSERT INTO bench.result
		SELECT label, r.qid, r.kind, extract(epoch FROM t1 - t0) * 1000,
		       EXISTS (SELECT 1 FROM people p JOIN people t ON t.id = r.truth
		                WHERE p.id = ANY (coalesce(ids, '{}'))
		                  AND (p.sur_i, p.sex, p.given_i) = (t.sur_i, t.sex, t.given_i)
		                  AND (short OR p.patr_i = t.patr_i)),
		       coalesce(cardinality(ids), 0);
	END LOOP;
END $$;

-- bench.timed(sql): milliseconds one statement takes (index builds)
CREATE FUNCTION bench.timed(sql text) RETURNS numeric
	LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
	EXECUTE sql;
	RETURN round(extract(epoch FROM clock_timestamp() - t0)::numeric * 1000);
END $$;
