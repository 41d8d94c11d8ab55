-- test/sql/40_index.sql: the fuzzy-name operator class cdp.name_gin_ops and its operators.
-- Shows that a top-10 lookup uses the index, that index results equal a sequential scan's on a few
-- thousand generated names, and what bad input gives.
SET client_min_messages = warning;  -- the same output whether or not cdp is installed already
CREATE EXTENSION IF NOT EXISTS cdp;
RESET client_min_messages;
SET cdp.name_similarity_threshold = 0.5;

-- one person, many spellings: Cyrillic, ICAO, informal, capitals, a doubled letter, word order
SELECT a, b, cdp.name_similarity(a, b) AS sim, a OPERATOR(cdp.%) b AS similar,
       a OPERATOR(cdp.<->) b AS dist
  FROM (VALUES ('Иванова Мария', 'Ivanova Mariia'),
               ('Иванова Мария', 'IVANOVA MARIA'),
               ('Иванова Мария', 'Иваннова Мария'),
               ('Иванова Мария', 'Мария Иванова'),
               ('Иванова Мария Петровна', 'Ivanova Mariia'),
               ('Иванова Мария Петровна', 'Иванов Мария Петровна'),
               ('Иванова Мария Петровна', 'Ivanova Marya Petrovna'),
               ('Иванова Мария Петровна', 'Петрова Мария Ивановна'),
               ('Иванова Мария', 'Сидоров Олег')) v(a, b);

-- similarity is symmetric and 1 for equal names
SELECT cdp.name_similarity('Ivanova Mariia', 'Иваннова Мария') = cdp.name_similarity('Иваннова Мария', 'Ivanova Mariia') AS symmetric,
       cdp.name_similarity('Иванова Мария', 'Иванова Мария') AS equal_names;

-- the keys of a name: its name key's words and their one-letter deletions, plus those of its
-- normalised spelling; spellings in one script share all keys, across scripts the name key's
SELECT cdp.name_index_keys('IVANOVA MARIIA') = cdp.name_index_keys('Ivanova Mariia') AS same_keys,
       cdp.name_index_keys('Иванова Мария') @> cdp.name_index_keys('Ivanova Maria') AS cyrillic_has_latin_keys,
       cardinality(cdp.name_index_keys('Ivanova')) AS keys_of_latin_word,
       cardinality(cdp.name_index_keys('Иванова')) AS keys_of_cyrillic_word;

-- the threshold is a setting
SET cdp.name_similarity_threshold = 0.7;
SELECT 'Иванова Мария Петровна' OPERATOR(cdp.%) 'Ivanova Mariia' AS similar_at_07;
SET cdp.name_similarity_threshold = 0.5;
SELECT 'Иванова Мария Петровна' OPERATOR(cdp.%) 'Ivanova Mariia' AS similar_at_05;
SET cdp.name_similarity_threshold = 1.5;
RESET cdp.name_similarity_threshold;
SHOW cdp.name_similarity_threshold;

-- bad input: empty, punctuation only, emoji, mixed scripts in one word, NULL, 10 kB, over the cap
SELECT cdp.name_similarity('', '') AS empty_empty, '' OPERATOR(cdp.%) '' AS empty_similar,
       cdp.name_index_keys('') AS empty_keys, cdp.name_index_keys(' .,-! ') AS punctuation_keys;
SELECT cdp.name_similarity('Иванова 😀 Мария', 'Иванова Мария') AS emoji,
       cdp.name_similarity('Ivanоvа Mария', 'Иванова Мария') AS mixed_scripts,
       cdp.name_similarity(NULL, 'Иванова') IS NULL AS null_is_null;
SELECT cdp.name_similarity(repeat('Иванова ', 1300), 'Иванова Мария') AS ten_kb,
       cardinality(cdp.name_index_keys(repeat('Иванова ', 1300))) AS ten_kb_keys,
       cardinality(cdp.name_index_keys(repeat('я', 5000))) AS long_word_keys;
SELECT cdp.name_similarity(repeat('x', 70000), 'x');

-- a few thousand generated people: Cyrillic and Latin, with a few bad names among them
CREATE TABLE idx_people (id int PRIMARY KEY, name text);
INSERT INTO idx_people
SELECT i, CASE WHEN i % 3 = 0 THEN cdp.translit(n, CASE WHEN i % 2 = 0 THEN 'icao' ELSE 'informal' END) ELSE n END
  FROM (SELECT i, (ARRAY['Иванов', 'Петров', 'Сидоров', 'Смирнов', 'Кузнецов', 'Попов', 'Соколов', 'Лебедев',
                         'Козлов', 'Новиков', 'Морозов', 'Волков'])[1 + i % 12]
                  || CASE WHEN i % 2 = 0 THEN 'а ' ELSE ' ' END
                  || CASE WHEN i % 2 = 0 THEN (ARRAY['Мария', 'Анна', 'Ольга', 'Юлия', 'Елена', 'Наталья', 'Ирина'])[1 + i / 2 % 7]
                          ELSE (ARRAY['Иван', 'Пётр', 'Сергей', 'Алексей', 'Дмитрий', 'Андрей', 'Юрий'])[1 + i / 2 % 7] END
                  || ' '
                  || (ARRAY['Петров', 'Иванов', 'Сергеев', 'Алексеев', 'Андреев'])[1 + i / 14 % 5]
                  || CASE WHEN i % 2 = 0 THEN 'на' ELSE 'ич' END AS n
          FROM generate_series(1, 3000) i) g;
INSERT INTO idx_people VALUES (3001, ''), (3002, '😀😀'), (3003, repeat('Иванова ', 1300)),
                              (3004, 'Ivanоvа Mария'), (3005, NULL), (3006, '- . -');
CREATE INDEX idx_people_name ON idx_people USING gin (name cdp.name_gin_ops);
ANALYZE idx_people;

CREATE TABLE idx_query (qid int PRIMARY KEY, q text);
INSERT INTO idx_query VALUES (1, 'Ivanova Mariia'), (2, 'IVANOVA MARIA PETROVNA'), (3, 'Иваннова Мария'),
       (4, 'Иванов Мария Петровна'), (5, 'Мария Иванова'), (6, 'Smirnov Iurii Sergeevich'),
       (7, 'Kuznetsova Yulia'), (8, 'Соколва Мария'), (9, ''), (10, '😀😀'), (11, repeat('Иванова ', 1300)),
       (12, 'Сидоров'), (13, 'Ivanоvа Mария'), (14, 'Lebedeva Natalia Andreevna');

-- the lookup of the issue uses the index
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT id, name FROM idx_people WHERE name OPERATOR(cdp.%) 'Ivanova Mariia'
 ORDER BY name OPERATOR(cdp.<->) 'Ivanova Mariia' LIMIT 10;
SELECT id, name, round((name OPERATOR(cdp.<->) 'Ivanova Mariia')::numeric, 3) AS dist
  FROM idx_people WHERE name OPERATOR(cdp.%) 'Ivanova Mariia'
 ORDER BY name OPERATOR(cdp.<->) 'Ivanova Mariia', id LIMIT 10;

-- every query, through the index and through a sequential scan, at three thresholds
CREATE FUNCTION pg_temp.lookup(via_index boolean, threshold real, tbl text DEFAULT 'idx_people')
RETURNS TABLE (qid int, id int, top10 boolean)
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('cdp.name_similarity_threshold', threshold::text, true);
	PERFORM set_config('enable_seqscan', CASE WHEN via_index THEN 'off' ELSE 'on' END, true);
	PERFORM set_config('enable_bitmapscan', CASE WHEN via_index THEN 'on' ELSE 'off' END, true);
	PERFORM set_config('enable_indexscan', CASE WHEN via_index THEN 'on' ELSE 'off' END, true);
	-- EXECUTE: planned at each call, so the settings above choose the plan (a cached plan would not)
	RETURN QUERY EXECUTE format('SELECT q.qid, p.id, false FROM idx_query q, %I p WHERE p.name OPERATOR(cdp.%%) q.q', tbl);
	RETURN QUERY EXECUTE format('SELECT q.qid, t.id, true FROM idx_query q,
		LATERAL (SELECT p.id FROM %I p WHERE p.name OPERATOR(cdp.%%) q.q
		          ORDER BY p.name OPERATOR(cdp.<->) q.q, p.id LIMIT 10) t', tbl);
END $$;
CREATE FUNCTION pg_temp.plan_uses_index(sql text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE l text; BEGIN
	FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || sql LOOP
		IF l LIKE '%Index Scan%' THEN RETURN true; END IF;
	END LOOP;
	RETURN false;
END $$;
-- the plans those two forms get with and without the index
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT q.qid, p.id FROM idx_query q, idx_people p WHERE p.name OPERATOR(cdp.%) q.q;
RESET enable_seqscan;
SET enable_bitmapscan = off; SET enable_indexscan = off;
EXPLAIN (COSTS OFF) SELECT q.qid, p.id FROM idx_query q, idx_people p WHERE p.name OPERATOR(cdp.%) q.q;
RESET enable_bitmapscan; RESET enable_indexscan;

BEGIN;
CREATE TEMP TABLE via_index AS
SELECT t, l.* FROM unnest(ARRAY[0.3, 0.5, 0.8]::real[]) t, LATERAL pg_temp.lookup(true, t) l;
CREATE TEMP TABLE via_seqscan AS
SELECT t, l.* FROM unnest(ARRAY[0.3, 0.5, 0.8]::real[]) t, LATERAL pg_temp.lookup(false, t) l;
COMMIT;
-- the two runs really took different plans
SELECT set_config('enable_seqscan', 'off', false) IS NOT NULL AS index_forced;
SELECT pg_temp.plan_uses_index('SELECT p.id FROM idx_people p WHERE p.name OPERATOR(cdp.%) ''Ivanova Mariia''') AS index_plan;
RESET enable_seqscan;
SET enable_bitmapscan = off; SET enable_indexscan = off;
SELECT pg_temp.plan_uses_index('SELECT p.id FROM idx_people p WHERE p.name OPERATOR(cdp.%) ''Ivanova Mariia''') AS index_plan_when_off;
RESET enable_bitmapscan; RESET enable_indexscan;
-- nothing found one way and not the other
(SELECT * FROM via_index EXCEPT SELECT * FROM via_seqscan)
UNION ALL
(SELECT * FROM via_seqscan EXCEPT SELECT * FROM via_index);
-- and the comparison is not empty: rows found per threshold, query and form
SELECT t, qid, count(*) FILTER (WHERE NOT top10) AS found, count(*) FILTER (WHERE top10) AS top10
  FROM via_index GROUP BY t, qid ORDER BY t, qid;

DROP TABLE idx_people, idx_query;

-- anchoring (issue 18): two or more paired words need one equal word, so a name that meets the
-- query only through one-edit words is not similar, however high its similarity
SELECT a, b, cdp.name_similarity(a, b) AS sim, a OPERATOR(cdp.%) b AS similar
  FROM (VALUES ('Иванова Мария', 'Иванов Марина'),      -- both words one edit off: not anchored
               ('Иванова Мария', 'Иванов Мария'),       -- one equal word anchors the other
               ('Иванова Мария Петровна', 'Иванов Марина Петровна'),
               ('Иванова', 'Иванов')) v(a, b);         -- one paired word needs no anchor
-- the anchor's cover (session 22): the equal word and the words beginning alike must reach the
-- threshold by themselves (as if they paired with weight 1).  «Поова» meets «Попова» through its
-- normalised spelling only (the name key folds it to pova: two edits), so only Анна and Сергеевна
-- cover: 2 of 4 + 3 - 2 words, under 0.55, though the similarity is 0.69.  Words after the sixth
-- count for both names, so a long name is still similar to itself.
SELECT a, b, cdp.name_similarity(a, b) AS sim, a OPERATOR(cdp.%) b AS similar, b OPERATOR(cdp.%) a AS commuted
  FROM (VALUES ('Поова Анна Сергеевна', 'Попова Анна Сергеевна Иванова'),
               ('Попова Анна Сергеевна', 'Попова Анна Сергеевна Иванова'),
               ('Поова Анна Сергеевна', 'Попова Анна Сергеевна'),
               ('Петров Александр Алексеевич', 'Алексеев Александр Александрович'),
               (rtrim(repeat('Ян ', 9)), rtrim(repeat('Ян ', 9)))) v(a, b);

-- a name-dense population: 6 surnames, 5 given names, 4 patronymics, so dozens share each full
-- name; one, two and three words, both scripts, typos; index and sequential scan must agree
CREATE TABLE idx_dense (id int PRIMARY KEY, name text);
INSERT INTO idx_dense
SELECT i, CASE WHEN i % 4 = 0 THEN cdp.translit(n, 'icao') ELSE n END
  FROM (SELECT i, CASE i % 7
                    WHEN 0 THEN s                                   -- surname only
                    WHEN 1 THEN g || ' ' || s                       -- no patronymic, given name first
                    WHEN 2 THEN overlay(s PLACING '' FROM 3 FOR 1) || ' ' || g || ' ' || p   -- a typo
                    WHEN 3 THEN s || ' ' || overlay(g PLACING 'ы' FROM 2 FOR 1) || ' ' || p
                    ELSE s || ' ' || g || ' ' || p END AS n
          FROM (SELECT i, (ARRAY['Иванова', 'Смирнова', 'Кузнецова', 'Попова', 'Иванов', 'Смирнов'])[1 + i % 6] AS s,
                       (ARRAY['Мария', 'Анна', 'Марина', 'Елена', 'Ольга'])[1 + i / 6 % 5] AS g,
                       (ARRAY['Петровна', 'Ивановна', 'Сергеевна', 'Иванович'])[1 + i / 30 % 4] AS p
                  FROM generate_series(1, 4000) i) x) y;
CREATE INDEX idx_dense_name ON idx_dense USING gin (name cdp.name_gin_ops);
ANALYZE idx_dense;
CREATE TABLE idx_query (qid int PRIMARY KEY, q text);
INSERT INTO idx_query VALUES (1, 'Иванова Мария'), (2, 'Иванова Мария Петровна'), (3, 'Ivanova Mariia Ivanovna'),
       (4, 'Мария Иванова'), (5, 'Иванов Марина'), (6, 'Ивнова Мария Петровна'), (7, 'Смирнова'),
       (8, 'Kuznetsova Olga'), (9, 'Попова Анна Сергеевна Иванова'), (10, 'Ианова Марна Петрвна'), (11, 'Иванова'),
       -- every word begins like another (the scan then asks the word keys too, session 22)
       (12, 'Иванов Иван Иванович');
CREATE TEMP TABLE dense_cmp (via text, t real, qid int, id int, top10 boolean);
BEGIN;
INSERT INTO dense_cmp SELECT 'index', t, l.* FROM unnest(ARRAY[0.3, 0.55, 0.8]::real[]) t, LATERAL pg_temp.lookup(true, t, 'idx_dense') l;
INSERT INTO dense_cmp SELECT 'seqscan', t, l.* FROM unnest(ARRAY[0.3, 0.55, 0.8]::real[]) t, LATERAL pg_temp.lookup(false, t, 'idx_dense') l;
COMMIT;
-- the index plan was used, and nothing is found one way and not the other
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM idx_dense WHERE name OPERATOR(cdp.%) 'Иванова Мария Петровна';
RESET enable_seqscan;
(SELECT t, qid, id, top10 FROM dense_cmp WHERE via = 'index' EXCEPT SELECT t, qid, id, top10 FROM dense_cmp WHERE via = 'seqscan')
UNION ALL
(SELECT t, qid, id, top10 FROM dense_cmp WHERE via = 'seqscan' EXCEPT SELECT t, qid, id, top10 FROM dense_cmp WHERE via = 'index');
-- rows found per threshold and query (namesakes by the hundred)
SELECT t, qid, count(*) FILTER (WHERE NOT top10) AS found, count(*) FILTER (WHERE top10) AS top10
  FROM dense_cmp WHERE via = 'index' GROUP BY t, qid ORDER BY t, qid;
DROP TABLE idx_dense, idx_query;
