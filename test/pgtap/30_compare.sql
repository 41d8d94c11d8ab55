-- test/pgtap/30_compare.sql: the comparators on real Russian name pairs (src/cmp_*.c, doc/compare.md).
-- Expected Jaro-Winkler values are worked out by hand from the formula (see the comments), or are the
-- classical Latin values carried over letter for letter into Cyrillic.
BEGIN;
SELECT plan(47);

-- Jaro-Winkler, prefix scale 0.1, threshold 0.7
SELECT is(round(cdp.jaro_winkler(a, b)::numeric, 3), expected, format('jaro_winkler(%s, %s)', a, b))
FROM (VALUES
  ('MARTHA', 'MARHTA', 0.961), ('DWAYNE', 'DUANE', 0.840), ('DIXON', 'DICKSONX', 0.813),
  -- the same letter patterns in Cyrillic: two bytes a letter, same values
  ('МАРТХА', 'МАРХТА', 0.961), ('ДВАЙНЕ', 'ДУАНЕ', 0.840), ('ДИЖОН', 'ДИЦКСОНЖ', 0.813),
  -- m = 4, t = 0: jaro = (4/5 + 4/5 + 1)/3 = 0.8667, prefix 3: + 0.3 * 0.1333
  ('МАРТА', 'МАРФА', 0.907),
  -- jaro = (6/6 + 6/7 + 1)/3 = 0.9524, prefix 4: + 0.4 * 0.0476
  ('ИВАНОВ', 'ИВАНОВА', 0.971),
  -- jaro = (1 + 7/8 + 1)/3 = 0.9583, prefix 4
  ('СЕРГЕЕВ', 'СЕРГЕЕВА', 0.975),
  -- jaro = (1 + 9/10 + 1)/3 = 0.9667, prefix 4
  ('АЛЕКСАНДР', 'АЛЕКСАНДРА', 0.980),
  -- window 1: only О and Л match, jaro = (2/5 + 2/3 + 1)/3 = 0.6889 <= 0.7, so no prefix bonus
  ('ОЛЬГА', 'ОЛЯ', 0.689),
  -- ё is a letter of its own here (normalise first): jaro = (3/4 + 3/4 + 1)/3, prefix 1
  ('ПЁТР', 'ПЕТР', 0.850),
  ('ЕКАТЕРИНА', 'ЕКАТЕРИНА', 1.000)
) AS t(a, b, expected);

-- Jaro-Winkler is symmetric
SELECT ok(bool_and(cdp.jaro_winkler(a, b) = cdp.jaro_winkler(b, a)), 'jaro_winkler is symmetric')
FROM (VALUES ('МАРТА', 'МАРФА'), ('ОЛЬГА', 'ОЛЯ'), ('DIXON', 'DICKSONX'), ('Щербаков', 'Щербакова')) AS t(a, b);

-- OSA distance on Russian spelling variants
SELECT is(cdp.osa_distance(a, b), expected, format('osa_distance(%s, %s)', a, b))
FROM (VALUES
  ('CA', 'ABC', 3),                -- OSA, not full Damerau-Levenshtein (which gives 2)
  ('ИВАНОВ', 'ИВНАОВ', 1),         -- swapped neighbours
  ('СИДОРОВ', 'СИДОРВО', 1),
  ('МАРИЯ', 'МАРЬЯ', 1),
  ('НАТАЛЬЯ', 'НАТАЛИЯ', 1),
  ('ФЁДОРОВ', 'ФЕДОРОВ', 1),
  ('ЩЕРБАКОВ', 'ЩЕРБАКОВА', 1),
  ('АЛЕКСЕЙ', 'АЛЕКСЕЕВ', 2),      -- Й -> Е, then В added
  ('', 'ЮЛИЯ', 4)
) AS t(a, b, expected);
SELECT is(cdp.osa_distance('АЛЕКСЕЙ', 'АЛЕКСЕЕВ', 1), 2, 'osa_distance over the cap gives max_distance + 1');
SELECT is(cdp.osa_distance('АЛЕКСЕЙ', 'АЛЕКСЕЕВ', 2), 2, 'osa_distance at the cap is exact');

-- token sets: the same person written differently scores high
SELECT cmp_ok(cdp.token_set_similarity(a, b), '>=', 0.9::float8, format('token_set_similarity(%s, %s) >= 0.9', a, b))
FROM (VALUES
  ('ИВАНОВА М.П.', 'Иванова Мария Петровна'),
  ('Петрова Анна Сергеевна', 'анна петрова'),
  ('Семёнов Пётр Ильич', 'СЕМЕНОВ ПЕТР ИЛЬИЧ'),
  ('Салтыков-Щедрин М.Е.', 'Салтыков Щедрин Михаил Евграфович'),
  ('Кузнецова Ольга', 'Кузнецова Ольга Викторовна')
) AS t(a, b);
-- ... and ranks above a different person with a similar-looking name
SELECT cmp_ok(cdp.token_set_similarity(a, same), '>', cdp.token_set_similarity(a, other),
              format('%s is closer to %s than to %s', a, same, other))
FROM (VALUES
  ('Иванова Мария Петровна', 'ИВАНОВА М.П.', 'Иванова Н.П.'),
  ('Иванова Мария Петровна', 'Иванова Мария', 'Иванова Марина Павловна'),
  ('Смирнов Алексей', 'Смирнов Алексей Иванович', 'Смирнова Алиса'),
  ('Ким Виктор', 'Виктор Ким', 'Ким Виктория')
) AS t(a, same, other);
SELECT ok(cdp.token_set_similarity(a, b) BETWEEN 0 AND 1, format('token_set_similarity(%s, %s) in [0, 1]', a, b))
FROM (VALUES ('', ''), ('Иванов', ''), ('А. Б. В.', 'Алла'), ('Иванов Иван', 'Петров Пётр')) AS t(a, b);

-- levels
SELECT is(cdp.date_level('1985-03-12', '1985-12-03'), 'day_month_swapped', 'date_level: day and month swapped');
SELECT is(cdp.date_level('1985-03-12', '1986-03-12'), 'one_digit', 'date_level: one digit');
SELECT is(cdp.date_level('1989-03-12', '1990-03-12'), 'year_off_by_one', 'date_level: year off by one');
SELECT is(cdp.phone_level('8 (916) 123-45-67', '+79161234567'), 'same_last7', 'phone_level: trunk prefix 8 vs +7');
SELECT is(cdp.phone_level('+79161234567', '+79161235467'), 'one_digit', 'phone_level: adjacent digits swapped');
SELECT is(cdp.email_level('M.Ivanova@Mail.RU', 'm.ivanova@mail.ru'), 'exact', 'email_level ignores case');
SELECT is(cdp.email_level('m.ivanova@mail.ru', 'm.ivanova@mial.ru'), 'typo', 'email_level: domain typo');

-- limits
SELECT throws_ok($$SELECT cdp.jaro_winkler(repeat('ж', 1001), 'ж')$$, '54000', NULL, 'jaro_winkler refuses more than 1000 characters');
SELECT lives_ok($$SELECT cdp.jaro_winkler(repeat('ж', 1000), repeat('ж', 1000))$$, 'jaro_winkler takes 1000 two-byte characters');

SELECT * FROM finish();
ROLLBACK;
