-- test/pgtap/31_compare_osa_cap.sql: cdp.osa_distance(a, b, max_distance) against the uncapped
-- cdp.osa_distance(a, b) on generated pairs (src/cmp_osa.c, doc/compare.md). Caps 0 to 2 take the
-- closed form between the common prefix and suffix, 3 the bounded search, 4 and more the
-- bit-parallel or banded programme with an early exit; the uncapped call takes the bit-parallel or
-- full programme. So every capped answer is checked by an independent path: it must equal
-- least(uncapped, max_distance + 1). Pairs: random strings over Latin, Cyrillic, mixed and
-- emoji/CJK alphabets (1 to 4 bytes a letter), and the same strings after 1 to 3 random edits
-- (substitution, deletion, insertion, swap of neighbours), short and long (over 16 bytes for the
-- 16-byte scans, over 64 characters for the programme).
BEGIN;
SELECT plan(8);

CREATE FUNCTION pg_temp.edit(s text, letters text, n int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  p int; c text;
BEGIN
  FOR k IN 1..n LOOP
    p := 1 + floor(random() * greatest(length(s), 1))::int;
    c := substr(letters, 1 + floor(random() * length(letters))::int, 1);
    CASE floor(random() * 4)::int
      WHEN 0 THEN s := overlay(s placing c from p for 1);
      WHEN 1 THEN s := overlay(s placing '' from p for 1);
      WHEN 2 THEN s := overlay(s placing c from p for 0);
      ELSE s := overlay(s placing substr(s, p + 1, 1) || substr(s, p, 1) from p for 2);
    END CASE;
  END LOOP;
  RETURN s;
END $$;

CREATE FUNCTION pg_temp.word(letters text, len int) RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(string_agg(substr(letters, 1 + floor(random() * length(letters))::int, 1), ''), '')
  FROM generate_series(1, len)
$$;

SELECT setseed(0.31);
CREATE TEMP TABLE osa_cap_pairs AS
WITH alphabet(script, letters) AS (VALUES
  ('latin', 'abcdefgh'), ('cyrillic', 'абвгдеёжзР'), ('mixed', 'aбcдeё0 -Р'),
  ('wide', 'a😀я日😁b語ж')),
words AS (
  SELECT script, letters, g,
         pg_temp.word(letters, (random() * CASE WHEN g % 8 = 0 THEN 90 ELSE 24 END)::int) AS a
  FROM alphabet, generate_series(1, 1500) g)
SELECT script, a,
       CASE WHEN g % 3 = 0 THEN pg_temp.word(letters, length(a) + floor(random() * 5)::int - 2)
            ELSE pg_temp.edit(a, letters, 1 + g % 3 + floor(random() * 2)::int) END AS b
FROM words;

SELECT is((SELECT count(DISTINCT script)::int FROM osa_cap_pairs), 4, 'pairs in four alphabets');
SELECT cmp_ok((SELECT count(*) FROM osa_cap_pairs WHERE cdp.osa_distance(a, b) BETWEEN 1 AND 3), '>', 1500::bigint,
              'many pairs within 3 edits, where the caps decide');
SELECT cmp_ok((SELECT count(*) FROM osa_cap_pairs WHERE length(a) > 64 AND length(b) > 64), '>', 50::bigint,
              'long pairs (over 64 characters)');
SELECT is((SELECT count(*)::int FROM osa_cap_pairs, generate_series(0, 6) k
           WHERE cdp.osa_distance(a, b, k) <> least(cdp.osa_distance(a, b), k + 1)), 0,
          'osa_distance(a, b, k) = least(osa_distance(a, b), k + 1) for k = 0..6');
SELECT is((SELECT count(*)::int FROM osa_cap_pairs, generate_series(0, 4) k
           WHERE cdp.osa_distance(a, b, k) <> cdp.osa_distance(b, a, k)), 0,
          'the capped distance is symmetric');
-- the same pairs behind a common prefix and suffix of two-byte letters: the scans must stop on
-- character boundaries whatever the byte at which the strings part
SELECT is((SELECT count(*)::int FROM osa_cap_pairs, generate_series(0, 3) k,
                  (VALUES ('Жж', 'ёЁ'), ('Ѐ', 'ё'), ('Иванов ', ' Петрович')) AS w(pre, suf)
           WHERE cdp.osa_distance(pre || a || suf, pre || b || suf, k) <> least(cdp.osa_distance(a, b), k + 1)), 0,
          'a common prefix and suffix do not change the capped distance');
SELECT is((SELECT count(*)::int FROM osa_cap_pairs
           WHERE cdp.osa_distance(a, a, 0) <> 0 OR cdp.osa_distance(a, '', 2) <> least(length(a), 3)), 0,
          'identical strings give 0, the empty string the capped length');
SELECT is(ARRAY[cdp.osa_distance('ab😀c', 'a😀bc', 1), cdp.osa_distance('日本', '本日', 1),
                cdp.osa_distance('Жёлтый', 'Желтый', 0), cdp.osa_distance('абв', 'ба', 2),
                cdp.osa_distance('абвгд', 'бавгдё', 2), cdp.osa_distance('ab', 'ba', 0)],
          ARRAY[1, 1, 1, 2, 2, 1],
          'transpositions of multibyte letters, and two edits at both ends');

SELECT * FROM finish();
ROLLBACK;
