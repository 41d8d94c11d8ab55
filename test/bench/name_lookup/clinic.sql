-- test/bench/name_lookup/clinic.sql: the people and queries of test/bench/name_lookup.sh from a
-- test/bench/gen_clinic.py population (POPULATION=default or name-dense) instead of gen.sql.
-- psql variables: csv (the generator's file), nq (queries).
-- A row is one source record's full name as the source wrote it (full_name, or the parts joined);
-- a query is the name of one record (qrec) of a person with two or more records.  The table keeps
-- every record, the queries' own too (as the issue's 988,489 names did), and the lookup returns 11
-- rows, so bench.hits can score three protocols from one execution:
--   held out   (hit): the query's own record is taken out of the ten (the first ten of the 11 rows
--               without qrec, = a table without it); found when one of them is another record of
--               the person.  This is what the benchmark reported before session 23.
--   as written (issue): issue 18's words, "a query is another record's name of the same person,
--               found if any of the top 10 is a record of that person": the first ten rows, the
--               query's own record staying in the table and counting as a record of the person.
--   strict     (issue_strict): the first ten rows, the own record staying in the table (it takes a
--               place) but not counting.
-- kind says
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
-- (one query per person, so another record of the person always stays in the table)
INSERT INTO bench.query
SELECT row_number() OVER (ORDER BY hashint8(id)), person_id, kind, name, id
  FROM (SELECT DISTINCT ON (p.person_id) p.person_id, CASE WHEN n.persons <= 10 THEN 'rare' ELSE 'common' END AS kind, p.name, p.id
          FROM bench.all_people p JOIN bench.namesakes n ON n.k = cdp.name_key(p.name)
         WHERE p.person_id IN (SELECT person_id FROM bench.all_people GROUP BY 1 HAVING count(*) >= 2)
         ORDER BY p.person_id, hashint8(p.id)) q
 ORDER BY hashint8(id) LIMIT :nq;
CREATE TABLE people AS SELECT id, name, person_id FROM bench.all_people;
ALTER TABLE people ADD PRIMARY KEY (id);
DROP TABLE bench.stage, bench.all_people;
ANALYZE people;

-- bench.hits (bench.run is measure.sql's): the three protocols above for the ids a lookup returned
-- (in rank order, up to 11), and how many rows the held-out ten hold
CREATE FUNCTION bench.hits(qno int, ids bigint[], short boolean)
	RETURNS TABLE (hit boolean, issue boolean, issue_strict boolean, nfound int)
	LANGUAGE sql STABLE AS $$
	SELECT EXISTS (SELECT 1 FROM people p WHERE p.id = ANY (h.top) AND p.person_id = bq.truth),
	       EXISTS (SELECT 1 FROM people p WHERE p.id = ANY (ids[1:10]) AND p.person_id = bq.truth),
	       EXISTS (SELECT 1 FROM people p WHERE p.id = ANY (ids[1:10]) AND p.id <> bq.qrec AND p.person_id = bq.truth),
	       coalesce(cardinality(h.top), 0)
	  FROM bench.query bq CROSS JOIN LATERAL (SELECT (array_remove(ids, bq.qrec))[1:10] AS top) h
	 WHERE bq.qid = qno $$;
