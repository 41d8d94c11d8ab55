-- test/pgtap/22_ingest_name_order.sql: the order ingest gives the words of a full name it splits
-- itself (SplitFullName in src/ingest_attrs.c, roles from src/text_roles.c): «Имя Фамилия» and
-- «Имя Отчество Фамилия» are read by what the words are, Russian order stands when the evidence is
-- unclear, fields given separately are never moved; the golden profile shows the result; matching
-- (cdp_internal._match_name_roles, which calls cdp.name_roles) keeps the order ingest chose.
BEGIN;
SELECT plan(83);

-- full name as written -> family, given, patronymic that ingest must file
CREATE TEMP TABLE v (n int, full_name text, family text, given text, patronymic text, why text);
INSERT INTO v VALUES
 (1, 'Иванова Мария Петровна', 'Иванова', 'Мария', 'Петровна', 'Russian order stands'),
 (2, 'Мария Петровна Иванова', 'Иванова', 'Мария', 'Петровна', '«Имя Отчество Фамилия» is rotated'),
 (3, 'Мария Иванова', 'Иванова', 'Мария', NULL, '«Имя Фамилия» is exchanged'),
 (4, 'Ivanova Mariia', 'Ivanova', 'Mariia', NULL, 'Latin, Russian order stands'),
 (5, 'Mariia Ivanova', 'Ivanova', 'Mariia', NULL, 'Latin «Имя Фамилия» is exchanged'),
 (6, 'Иванова М.П.', 'Иванова', 'М.', 'П.', 'initials after the family name'),
 (7, 'М.П. Иванова', 'Иванова', 'М.', 'П.', 'initials before the family name'),
 (8, 'М. Иванова', 'Иванова', 'М.', NULL, 'one initial before the family name'),
 (9, 'Лебедь Анна', 'Лебедь', 'Анна', NULL, 'a surname not shaped like one, first'),
 (10, 'Анна Лебедь', 'Лебедь', 'Анна', NULL, 'a surname not shaped like one, after a listed given name'),
 (11, 'Ирина Петрова', 'Петрова', 'Ирина', NULL, 'a given name shaped like a surname (Ирина) first'),
 (12, 'Петрова Ирина', 'Петрова', 'Ирина', NULL, 'a given name shaped like a surname (Ирина) second'),
 (13, 'Сергей Петров', 'Петров', 'Сергей', NULL, 'a surname made from a given name (Петров) second'),
 (14, 'Петров Сергей', 'Петров', 'Сергей', NULL, 'a surname made from a given name (Петров) first'),
 (15, 'Иванова-Петрова Мария', 'Иванова-Петрова', 'Мария', NULL, 'double-barrelled surname first'),
 (16, 'Мария Иванова-Петрова', 'Иванова-Петрова', 'Мария', NULL, 'double-barrelled surname second'),
 (17, 'Николай Андреевич Римский-Корсаков', 'Римский-Корсаков', 'Николай', 'Андреевич', 'double-barrelled surname last'),
 (18, 'Иванова', 'Иванова', NULL, NULL, 'one word is the family name'),
 (19, 'Мария', 'Мария', NULL, NULL, 'one word stays the family name, even a given name'),
 (20, 'Мария Петровна', NULL, 'Мария', 'Петровна', 'a given name and a patronymic, no family name'),
 (21, 'Ким Пак', 'Ким', 'Пак', NULL, 'unclear evidence: Russian order stands'),
 (22, 'Смирнова Александрова', 'Смирнова', 'Александрова', NULL, 'two surnames: Russian order stands'),
 (23, 'МАРИЯ ПЕТРОВНА ИВАНОВА', 'ИВАНОВА', 'МАРИЯ', 'ПЕТРОВНА', 'capitals are read the same way'),
 (24, 'Мирра Львовна Кац', 'Кац', 'Мирра', 'Львовна', 'an unlisted given name before a patronymic'),
 (25, 'Лебедь Петровна Мария', 'Лебедь', 'Мария', 'Петровна', 'roles read until they keep the order');

-- 1-25: what the split files (the normalised attrs)
SELECT is(ARRAY[a ->> 'family_name', a ->> 'given_name', a ->> 'patronymic'],
          ARRAY[v.family, v.given, v.patronymic], v.n || ': ' || v.full_name || ': ' || v.why)
  FROM v, LATERAL cdp.normalize_attrs(jsonb_build_object('full_name', v.full_name)) a ORDER BY v.n;

-- 26-50: what the golden profile shows after ingest
SELECT cdp.register_source('names_t');
CREATE TEMP TABLE r AS
SELECT v.n, cdp.upsert_record('names_t', 'k' || v.n, jsonb_build_object('full_name', v.full_name, 'birth_date', '1980-01-02')) AS record_id
  FROM v ORDER BY v.n;
SELECT is(ARRAY[p.family_name, p.given_name, p.patronymic], ARRAY[v.family, v.given, v.patronymic],
          'golden profile of ' || v.full_name)
  FROM v JOIN r USING (n) JOIN cdp.record rec USING (record_id) JOIN cdp.patient p USING (golden_id)
 ORDER BY v.n;

-- 51-75: matching reads the order ingest chose as it is (the roles are idempotent on it)
SELECT is(cdp_internal._match_name_roles(rec.family_name, rec.given_name, rec.patronymic),
          ARRAY[rec.family_name, rec.given_name, rec.patronymic], 'matching keeps ' || v.full_name)
  FROM v JOIN r USING (n) JOIN cdp.record rec USING (record_id)
 ORDER BY v.n;

-- 76-78: fields the source gives separately are its truth: never moved, the split only fills gaps
SELECT is(ARRAY[a ->> 'family_name', a ->> 'given_name'], ARRAY['Мария', 'Иванова'],
          'family_name and given_name given separately are not exchanged')
  FROM cdp.normalize_attrs('{"family_name": "Мария", "given_name": "Иванова"}') a;
SELECT is(ARRAY[a ->> 'family_name', a ->> 'given_name', a ->> 'patronymic'], ARRAY['Иванова', 'Маша', NULL],
          'a full name fills only the parts not given separately, in its read order')
  FROM cdp.normalize_attrs('{"given_name": "Маша", "full_name": "Мария Иванова"}') a;
CREATE TEMP TABLE sep AS SELECT cdp.upsert_record('names_t', 'sep', '{"family_name": "Мария", "given_name": "Иванова"}') AS record_id;
SELECT is((SELECT ARRAY[p.family_name, p.given_name] FROM sep JOIN cdp.record rec USING (record_id) JOIN cdp.patient p USING (golden_id)),
          ARRAY['Мария', 'Иванова'], 'the golden profile keeps separately given fields as the source filed them');

-- 79-80: cdp.name_roles (which matching's cdp_internal._match_name_roles calls) on a cross product of word
-- kinds: initials, patronymics, surnames, listed and unlisted given names, Latin, capitals
CREATE TEMP TABLE w (x text);
INSERT INTO w VALUES (NULL), (''), ('М.'), ('Ли'), ('Иванова'), ('Иванов'), ('Петров'), ('Мария'), ('Маша'),
 ('Ирина'), ('Анна'), ('Лебедь'), ('Мирра'), ('Кац'), ('Петровна'), ('Сергеевич'), ('Ильич'), ('Mariia'),
 ('Ivanova'), ('Petrovna'), ('Sergei'), ('Иванова-Петрова'), ('Толстой'), ('Кузнецёв'), ('ТОЛСТАЯ'),
 ('Шевченко'), ('Гогиашвили'), ('Саша'), ('Захаров'), ('Ким'), ('Натальей'), ('Александрова'), (' Мария '),
 ('Ёлкина'), ('Жанна'), ('Никита'), ('Ilya'), ('ILYICH'), ('Kuznetsov'), ('Анна Мария'), ('Оглы');
CREATE TEMP TABLE t AS
SELECT f.x AS f, g.x AS g, p.x AS p, cdp.name_roles(f.x, g.x, p.x) AS c
  FROM w f, w g, (SELECT x FROM w WHERE x IS NULL OR x IN ('Петровна', 'Иванова', 'М.', 'Мария', 'ILYICH', 'Кац', 'Ивановна')) p;
SELECT is((SELECT array_agg(ARRAY[f, g, p]::text) FROM t
            WHERE c IS DISTINCT FROM ARRAY[f, g, p] AND c IS DISTINCT FROM ARRAY[g, f, p] AND c IS DISTINCT FROM ARRAY[p, f, g]),
          NULL, 'cdp.name_roles only keeps, exchanges family and given, or rotates: no word lost or doubled');
SELECT is((SELECT count(DISTINCT CASE WHEN c = ARRAY[f, g, p] THEN 'kept' WHEN c[1] IS NOT DISTINCT FROM g THEN 'exchanged' ELSE 'rotated' END)
             FROM t), 3::bigint,
          'the cross product has kept, exchanged and rotated triples');

-- 81-83: cdp.name_roles itself
SELECT is(cdp.name_roles(NULL, NULL, NULL), ARRAY[NULL, NULL, NULL]::text[], 'name_roles: all parts missing');
SELECT is(cdp.name_roles('Мария', 'Петровна', 'Иванова'), ARRAY['Иванова', 'Мария', 'Петровна'],
          'name_roles: the parts come back as given, reordered');
SELECT throws_ok($$SELECT cdp.name_roles(repeat('а', 40000), 'Мария', NULL)$$, '54000', NULL,
          'name_roles: a part over 64 kB is refused');

SELECT * FROM finish();
ROLLBACK;
