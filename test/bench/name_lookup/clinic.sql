-- test/bench/name_lookup/clinic.sql: the people and queries of test/bench/name_lookup.sh from a
-- test/bench/gen_clinic.py population (POPULATION=default or name-dense) instead of gen.sql.
-- psql variables: csv (the generator's file), nq (queries).
-- A row is one source record's full name as the source wrote it (full_name, or the parts joined);
-- a query is the name of one record of a person with two or more records, taken out of the table,
-- and it is found when one of the ten rows returned is another record of that person.  kind says
-- whether the query's full name (by name key) is shared by at most 10 persons ('rare') or more
-- ('common'): among dozens of namesakes a name-only top 10 cannot hold the right one by design.
CREATE TABLE bench.stage (source text, source_id text, person_id bigint, family_name text, given_name text,
	patronymic text, full_name text, birth_date text, sex text, phone text, email text, snils text, oms text,
	address text, city text, vk text, telegram text);
COPY bench.stage FROM :'csv' WITH (FORMAT csv, HEADER true);  -- server-side: the file is readable by the server
CREATE TABLE bench.all_people AS
SELECT row_number() OVER ()::bigint AS id, person_id,
       coalesce(nullif(full_name, ''), concat_ws(' ', nullif(family_name, ''), nullif(given_name, ''), nullif(patronymic, ''))) AS name
  FROM bench.stage;
DELETE FROM bench.all_people WHERE name = '';
-- namesakes: persons per full name key
CREATE TABLE bench.namesakes AS
SELECT cdp.name_key(name) AS k, count(DISTINCT person_id) AS persons FROM bench.all_people GROUP BY 1;
CREATE TABLE bench.query (qid int PRIMARY KEY, truth bigint NOT NULL, kind text NOT NULL, q text NOT NULL, qrec bigint NOT NULL);
INSERT INTO bench.query
SELECT row_number() OVER (ORDER BY hashint8(p.id)), p.person_id,
       CASE WHEN n.persons <= 10 THEN 'rare' ELSE 'common' END, p.name, p.id
  FROM bench.all_people p JOIN bench.namesakes n ON n.k = cdp.name_key(p.name)
 WHERE p.person_id IN (SELECT person_id FROM bench.all_people GROUP BY 1 HAVING count(*) >= 2)
 ORDER BY hashint8(p.id) LIMIT :nq;
CREATE TABLE people AS SELECT id, name, person_id FROM bench.all_people WHERE id NOT IN (SELECT qrec FROM bench.query);
ALTER TABLE people ADD PRIMARY KEY (id);
DROP TABLE bench.stage, bench.all_people;
ANALYZE people;

-- bench.run as in measure.sql, with the hit of this population (another record of the person);
-- short: the first two words of the query, hit the same way
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
	FOR r IN SELECT * FROM bench.query ORDER BY qid LOOP
		q := CASE WHEN short THEN split_part(r.q, ' ', 1) || ' ' || split_part(r.q, ' ', 2) ELSE r.q END;
		t0 := clock_timestamp();
		EXECUTE sql INTO ids USING q;
		t1 := clock_timestamp();
		INSERT INTO bench.result
		SELECT label, r.qid, r.kind, extract(epoch FROM t1 - t0) * 1000,
		       EXISTS (SELECT 1 FROM people p WHERE p.id = ANY (coalesce(ids, '{}')) AND p.person_id = r.truth),
		       coalesce(cardinality(ids), 0);
	END LOOP;
END $$;

CREATE FUNCTION bench.timed(sql text) RETURNS numeric
	LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
	EXECUTE sql;
	RETURN round(extract(epoch FROM clock_timestamp() - t0)::numeric * 1000);
END $$;
