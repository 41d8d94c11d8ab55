-- test/bench/name_lookup/measure.sql: timing and recall of a top-10 name lookup over bench.query.
-- bench.run(label, sql, short): runs sql (with $1 = the query name, returning ids) once per query
-- after a warm-up pass over the first 50, and records the time of each execution and whether the
-- ten are a hit, as the population's bench.hits(qid, ids, short) says (gen.sql: a person with the
-- true person's name; clinic.sql: another record of the true person, under three protocols: hit,
-- issue, issue_strict; see clinic.sql).
-- short: query with the first two words only (surname and given name, as in a Latin passport); the
-- 'order' queries, whose first words are not the surname, are left out.
CREATE TABLE bench.result (label text, qid int, kind text, ms float8, hit boolean, nfound int, issue boolean, issue_strict boolean);

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
		SELECT label, r.qid, r.kind, extract(epoch FROM t1 - t0) * 1000, h.hit, h.nfound, h.issue, h.issue_strict
		  FROM bench.hits(r.qid, coalesce(ids, '{}'), short) h;
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
