-- test/pgtap/69_match_keys_roles.sql: cdp.name_roles remembers what it learnt about each word for the
-- rest of a query (issue 12, session 28: the keys step read the roles of 1M records' names, a few
-- thousand distinct words); the answers over many rows in one query equal those of one query per
-- row, whichever role a word had when it was first seen, and the features and keys of every record
-- keyed in one statement equal those of records keyed one at a time.
BEGIN;
SELECT plan(5);

-- words met first in one position and later in another (Мария as a family name, then as a given
-- name; Петровна in each field), initials, missing parts, spaces, Latin, a word too long to remember
CREATE TEMP TABLE n (id int, f text, g text, p text);
INSERT INTO n VALUES
	(1, 'Мария', 'Петровна', 'Иванова'), (2, 'Иванова', 'Мария', 'Петровна'), (3, 'Мария', 'Иванова', NULL),
	(4, 'Петровна', 'Мария', 'Иванова'), (5, 'Иванова', 'Петровна', 'Мария'), (6, 'Мирра', 'Петровна', 'Иванова'),
	(7, 'Петров', 'Иван', NULL), (8, 'Иван', 'Петров', NULL), (9, 'Ирина', 'Петрова', NULL), (10, 'Петрова', 'Ирина', NULL),
	(11, 'И.', 'Мария', NULL), (12, 'Мария', 'И', 'Иванова'), (13, NULL, 'Мария', 'Петровна'), (14, 'Мария', NULL, NULL),
	(15, ' Мария ', 'Иванова', NULL), (16, 'Мария', ' Иванова', NULL), (17, 'Ivan', 'Petrov', NULL), (18, 'Petrov', 'Ivan', 'Ivanovich'),
	(19, 'Ivanovich', 'Ivan', 'Petrov'), (20, 'Ivan', 'Ivanovich', 'Petrov'), (21, repeat('Мария', 20), 'Иванова', NULL),
	(22, 'Иванова', repeat('Мария', 20), NULL), (23, 'Мария', 'Мария', 'Мария'), (24, 'Сидоренко', 'Мирра', NULL),
	(25, 'Мирра', 'Сидоренко', NULL), (26, 'Мирра', 'Сидоренко', NULL), (27, 'Иванова', 'Мария', 'Петровна');
-- the rows again in another order: every word is then first seen in another position
INSERT INTO n SELECT 100 + id, f, g, p FROM n ORDER BY id DESC;

-- one query per row: nothing remembered from one row to the next
CREATE TEMP TABLE alone (id int, r text[]);
DO $$
DECLARE x record;
BEGIN
	FOR x IN SELECT * FROM n ORDER BY id LOOP
		EXECUTE 'INSERT INTO alone SELECT $1, cdp.name_roles($2, $3, $4)' USING x.id, x.f, x.g, x.p;
	END LOOP;
END $$;

SELECT set_eq($$SELECT id, cdp.name_roles(f, g, p) FROM n$$, $$SELECT id, r FROM alone$$,
              'one query over every row reads each the same as a query of its own');
SELECT set_eq($$SELECT id, cdp.name_roles(f, g, p) FROM (SELECT * FROM n ORDER BY id DESC) x$$, $$SELECT id, r FROM alone$$,
              'in either order of the rows');
SELECT is((SELECT array_agg(r ORDER BY id) FROM alone WHERE id IN (4, 27)),
          ARRAY[ARRAY['Петровна', 'Мария', 'Иванова'], ARRAY['Иванова', 'Мария', 'Петровна']],
          'a patronymic in the family field keeps the order given; «Фамилия Имя Отчество» is kept');
SELECT is((SELECT array_agg(r ORDER BY id) FROM alone WHERE id IN (1, 2, 3)),
          ARRAY[ARRAY['Иванова', 'Мария', 'Петровна'], ARRAY['Иванова', 'Мария', 'Петровна'], ARRAY['Иванова', 'Мария', NULL]],
          'the rules read «Имя Отчество Фамилия» and «Имя Фамилия» back into order');

-- the keys of records keyed in one statement equal those of records keyed one at a time
SELECT cdp.register_source('reg');
SELECT count(cdp.upsert_record('reg', 'k' || id, jsonb_strip_nulls(jsonb_build_object('family_name', f, 'given_name', g,
	'patronymic', p, 'birth_date', '1980-01-01', 'phone', '+7 916 000-00-' || lpad((id % 100)::text, 2, '0')))))
  FROM n WHERE length(coalesce(f, '') || coalesce(g, '')) < 60;
SELECT cdp_internal._match_refresh_keys(NULL);
CREATE TEMP TABLE together AS SELECT record_id, flags, feat, bk FROM cdp_internal.match_key;
SELECT count(cdp_internal._match_refresh_keys(ARRAY[record_id])) FROM cdp.record;
SELECT set_eq($$SELECT record_id, flags, feat, bk FROM cdp_internal.match_key$$, $$SELECT * FROM together$$,
              'the features and keys of every record keyed together equal those of each keyed alone');

SELECT * FROM finish();
ROLLBACK;
