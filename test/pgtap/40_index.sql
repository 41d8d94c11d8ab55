-- test/pgtap/40_index.sql: the fuzzy-name index family: objects, real Russian name variants that
-- must meet (and names that must not), exact similarities, the threshold setting, and input limits.
BEGIN;
SELECT plan(55);

SELECT has_opclass('cdp', 'name_gin_ops', 'operator class cdp.name_gin_ops exists');
SELECT has_operator('text', 'cdp', '%', 'text', 'boolean', 'operator cdp.% (text, text) exists');
SELECT has_operator('text', 'cdp', '<->', 'text', 'real', 'operator cdp.<-> (text, text) exists');
SELECT has_function('cdp', 'name_similarity', ARRAY['text', 'text']);
SELECT has_function('cdp', 'name_index_keys', ARRAY['text']);
SELECT volatility_is('cdp', 'name_similarity', ARRAY['text', 'text'], 'immutable');
SELECT volatility_is('cdp', 'name_similar', ARRAY['text', 'text'], 'stable',
                     'the % function is STABLE: it reads cdp.name_similarity_threshold');

-- spellings of one person that must be similar (cdp.%) at the default threshold
SELECT ok(a OPERATOR(cdp.%) b, format('%s ~ %s (similarity %s)', a, b, cdp.name_similarity(a, b)))
  FROM (VALUES ('Иванова Мария Петровна', 'Ivanova Mariia Petrovna'),
               ('Иванова Мария', 'IVANOVA MARIA'),
               ('Иванова Мария', 'Иваннова Мария'),
               ('Иванова Юлия', 'Ivanova Iuliia'),
               ('Иванова Юлия', 'Ivanova Yulia'),
               ('Щербаков Алексей', 'Shcherbakov Aleksei'),
               ('Щербаков Алексей', 'Scherbakov Alexey'),
               ('Хабибуллин Тимур', 'Khabibullin Timur'),
               ('Цветкова Наталья', 'Tsvetkova Natalia'),
               ('Фёдоров Пётр', 'Fedorov Petr'),
               ('Ковальчук Евгений', 'Kovalchuk Evgeniy'),
               ('Соловьёв Илья', 'Solovyov Ilya'),
               ('Жуков Георгий', 'Zhukov Georgy'),
               ('Мария Петровна Иванова', 'Иванова Мария Петровна'),
               ('Иванов Сергей Петрович', 'Иванова Сергей Петрович'),
               ('Смирнова Ольга', 'Smirnova Olga'),
               ('Кузнецов Дмитрий', 'Kuznetsov Dmitry'),
               ('Иванова Мария Петровна', 'Ivanova Mariia')) v(a, b);

-- (the library is loaded now, so its setting exists)
SELECT is(current_setting('cdp.name_similarity_threshold'), '0.55', 'the default threshold is 0.55');

-- different people that must not be similar
SELECT ok(NOT a OPERATOR(cdp.%) b, format('%s !~ %s (similarity %s)', a, b, cdp.name_similarity(a, b)))
  FROM (VALUES ('Иванова Мария', 'Петрова Ольга'),
               ('Иванов Сергей', 'Сидоров Олег'),
               ('Иванова Мария Петровна', 'Петрова Ольга Ивановна')) v(a, b);

-- exact values of the word-level similarity
SELECT is(cdp.name_similarity('Иванова Мария Петровна', 'Ivanova Mariia'), (2.0 / 3)::real,
          'a missing patronymic costs one word of three: 2/3');
SELECT is(cdp.name_similarity('Иванова Мария Петровна', 'Иванов Мария Петровна'), (2.75 / 3)::real,
          'a one-edit word weighs 0.75: 2.75/3');
SELECT is(cdp.name_similarity('Иванова Мария Петровна', 'Иванова Мария Павловна'), 0.5::real,
          'a different patronymic: 2 of 4 distinct words');
SELECT is(('Иванова' OPERATOR(cdp.<->) 'Сидоров'), 1::real, 'distance of unrelated names is 1');
-- session 24: among equally similar names, the one spelt as the query comes first
SELECT is(('Иванова Мария' OPERATOR(cdp.<->) 'иванова  мария'), 0::real, 'names spelt alike (case, spaces) are at distance 0');
SELECT ok(('Иванова Мария' OPERATOR(cdp.<->) 'IVANOVA MARIIA') > 0 AND ('Иванова Мария' OPERATOR(cdp.<->) 'IVANOVA MARIIA') < 0.0001,
          'the same name spelt otherwise is a hair further (similarity still 1)');
SELECT is(('Иванова Мария' OPERATOR(cdp.<->) 'IVANOVA MARIIA'), ('IVANOVA MARIIA' OPERATOR(cdp.<->) 'Иванова Мария'), '<-> stays symmetric');
SELECT is((SELECT array_agg(n ORDER BY n OPERATOR(cdp.<->) 'Петрова Анна', id)
             FROM (VALUES (1, 'PETROVA ANNA'), (2, 'Petrova Anna'), (3, 'Петрова Анна'), (4, 'Петрова Анна Ивановна')) v(id, n)),
          ARRAY['Петрова Анна', 'PETROVA ANNA', 'Petrova Anna', 'Петрова Анна Ивановна'],
          'ordered by <->: the spelling asked first, then its other spellings by id, then the less similar');

-- the threshold setting moves the % operator, not the similarity
SET LOCAL cdp.name_similarity_threshold = 0.7;
SELECT ok(NOT 'Иванова Мария Петровна' OPERATOR(cdp.%) 'Ivanova Mariia', 'at 0.7 a missing patronymic is not similar');
SET LOCAL cdp.name_similarity_threshold = 0;
SELECT ok(NOT 'Иванова' OPERATOR(cdp.%) 'Сидоров', 'at 0 names without a shared key are still not similar');
RESET cdp.name_similarity_threshold;

-- anchoring (issue 18): two or more paired words need one equal word and another word beginning alike
SELECT ok(NOT 'Иванова Мария' OPERATOR(cdp.%) 'Иванов Марина',
          'two words each one edit off are not similar (similarity 0.75, no anchor)');
SELECT ok('Иванова Мария' OPERATOR(cdp.%) 'Иванов Мария', 'an equal given name anchors the surname''s gender form');
SELECT ok('Мария Ivanova' OPERATOR(cdp.%) 'Иванова Мария', 'the anchor is found across scripts and word order');
SELECT ok('Иванова Мария' OPERATOR(cdp.%) 'Иванова Мраия',
          'a typo among the first letters of the only other word still begins alike');
SELECT volatility_is('cdp', 'name_gin_extract_query', ARRAY['text', 'internal', 'smallint', 'internal', 'internal', 'internal', 'internal'],
                     'stable', 'extract_query is STABLE: it reads the threshold');
SELECT ok((SELECT procost FROM pg_proc WHERE oid = 'cdp.name_similar(text, text)'::regprocedure) >= 100,
          'the % function is costed as the ICU work it does, so the planner prefers the index');

-- the restriction estimator of % (issue 18): realistic row estimates from the column's statistics
SELECT is((SELECT oprrest::regproc::text FROM pg_operator WHERE oid = 'cdp.%(text,text)'::regoperator),
          'cdp_internal.name_similar_sel', '% is estimated by cdp_internal.name_similar_sel, not matchingsel');
-- 29 001 distinct names, all in the statistics sample, sorted: 14 495 Latin, 10 spellings of
-- «Иванова Мария Петровна» in the middle (where histogram bound 50 of 100 falls), 14 496 Cyrillic
-- names after them.  matchingsel counts the one matching bound as 1 % of the table (about 290 rows).
CREATE TEMP TABLE sel_names AS
SELECT substr(w, 1, 7) || ' ' || substr(w, 8, 6) || ' ' || substr(w, 14, 8) AS name
  FROM (SELECT translate(md5(i::text), '0123456789', 'ghijklmnop') AS w FROM generate_series(1, 14495) i) s
UNION ALL
SELECT 'Иванова Мария ' || overlay('Петровна' placing l from p for 1)
  FROM (VALUES (2, 'у'), (3, 'а'), (4, 'у'), (5, 'и'), (6, 'е'), (7, 'о'), (7, 'а'), (8, 'о'), (8, 'ы')) v(p, l)
UNION ALL
SELECT 'Иванова Мария Петровна'
UNION ALL
SELECT 'Я' || substr(w, 1, 6) || ' ' || substr(w, 8, 6) || ' ' || substr(w, 14, 8)
  FROM (SELECT translate(md5(i::text), '0123456789abcdef', 'абвгдежзиклмнопр') AS w FROM generate_series(1, 14496) i) s;
CREATE FUNCTION pg_temp.est(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE j jsonb;
BEGIN
	EXECUTE format('EXPLAIN (FORMAT JSON) SELECT * FROM sel_names WHERE name OPERATOR(cdp.%%) %L', q) INTO j;
	RETURN (j -> 0 -> 'Plan' ->> 'Plan Rows')::float8;
END $$;
SELECT lives_ok($$SELECT pg_temp.est('Иванова Мария Петровна')$$, 'a column without statistics is estimated (default)');
ANALYZE sel_names;
SELECT cmp_ok(pg_temp.est('Иванова Мария Петровна'), '<=', 60::float8,
              'a name 10 rows of 29 001 are similar to, one histogram bound among them, is estimated at no more than 60 rows');
SELECT cmp_ok(pg_temp.est('Иванова Мария Петровна'), '>=',
              (SELECT count(*) FROM sel_names WHERE name OPERATOR(cdp.%) 'Иванова Мария Петровна')::float8 / 2,
              'and at no less than half the rows a scan finds');
SELECT cmp_ok(pg_temp.est('Zzyzx Qwertz Plonk'), '<=', 50::float8, 'a name no row is similar to is estimated at a few rows');

-- the cache of built names (session 25): the first argument goes through a per-backend cache of
-- 8192 slots (reset past 8 MB), the second is built anew for each value at the call site; the
-- functions are symmetric, so both orders agree.  8 000 distinct names in 24 000 pairs replace
-- slots and reset the cache.
CREATE TEMP TABLE cache_pairs AS
WITH f AS (SELECT * FROM unnest(ARRAY['Иванова', 'Ivanova', 'Петрова', 'Сидорова', 'Smirnova', 'Кузнецова', 'Попова',
                                      'Васильева', 'Соколова', 'Михайлова', 'Новикова', 'Фёдорова', 'Морозова', 'Волкова',
                                      'Алексеева', 'Лебедева', 'Семёнова', 'Егорова', 'Павлова', 'Козлова']) WITH ORDINALITY f(f, fi)),
     g AS (SELECT * FROM unnest(ARRAY['Мария', 'Mariia', 'Анна', 'Елена', 'Ольга', 'Наталья', 'Natalia', 'Ирина', 'Татьяна',
                                      'Светлана', 'Юлия', 'Iuliia', 'Марина', 'Дарья', 'Алёна', 'Софья', 'Ксения', 'Вера', 'Нина',
                                      'Мраия']) WITH ORDINALITY g(g, gi)),
     p AS (SELECT * FROM unnest(ARRAY['Петровна', 'Ивановна', 'Сергеевна', 'Александровна', 'Alekseevna', 'Дмитриевна',
                                      'Андреевна', 'Юрьевна', 'Игоревна', 'Олеговна', 'Викторовна', 'Павловна', 'Николаевна',
                                      'Михайловна', 'Владимировна', 'Петровнв', 'Васильевна', 'Евгеньевна', 'Романовна',
                                      'Борисовна']) WITH ORDINALITY p(p, pi)),
     n AS (SELECT (fi - 1) * 400 + (gi - 1) * 20 + pi - 1 AS i, f, g, p FROM f, g, p),
     k AS (SELECT k, (k * 7919) % 8000 AS ia, (k * 104729) % 8000 AS ib FROM generate_series(1::bigint, 24000) k)
-- a three-word name against: its first two words, the same two words with another patronymic, or any name
SELECT a.f || ' ' || a.g || ' ' || a.p AS a,
       CASE k.k % 3 WHEN 0 THEN a.f || ' ' || a.g WHEN 1 THEN a.f || ' ' || a.g || ' ' || b.p ELSE b.f || ' ' || b.g || ' ' || b.p END AS b
  FROM k JOIN n a ON a.i = k.ia JOIN n b ON b.i = k.ib;
SELECT is((SELECT count(*) FILTER (WHERE cdp.name_similarity(a, b) <> cdp.name_similarity(b, a)
                                      OR (a OPERATOR(cdp.<->) b) <> (b OPERATOR(cdp.<->) a)
                                      OR (a OPERATOR(cdp.%) b) <> (b OPERATOR(cdp.%) a))::int FROM cache_pairs), 0,
          'through the cache and without it, 24 000 pairs of 8 000 names give the same similarity, distance and %');
SELECT cmp_ok((SELECT count(*) FILTER (WHERE a OPERATOR(cdp.%) b)::int FROM cache_pairs), '>', 100,
              'and many of those pairs are similar');

-- input limits
SELECT throws_ok($$SELECT cdp.name_similarity(repeat('a', 70000), 'a')$$, '54000', NULL,
                 'a name over 64 kB is refused with 54000');
SELECT is(cdp.name_index_keys(''), '{}'::int[], 'an empty name has no keys');
SELECT is(cdp.name_similarity('😀', '😀'), 0::real, 'emoji only: no words, similarity 0');

SELECT * FROM finish();
ROLLBACK;
