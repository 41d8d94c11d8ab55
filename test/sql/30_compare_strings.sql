-- test/sql/30_compare_strings.sql: Jaro, Jaro-Winkler and OSA distance (src/cmp_jaro.c, src/cmp_osa.c)
-- quiet whether or not an earlier test created the extension
SET client_min_messages = warning;
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
RESET client_min_messages;
SET extra_float_digits = 0;

-- classical values (Winkler 1990; Cohen, Ravikumar and Fienberg 2003)
SELECT round(cdp.jaro_winkler('MARTHA', 'MARHTA')::numeric, 3) AS martha,
       round(cdp.jaro_winkler('DWAYNE', 'DUANE')::numeric, 3) AS dwayne,
       round(cdp.jaro_winkler('DIXON', 'DICKSONX')::numeric, 3) AS dixon,
       round(cdp.jaro('MARTHA', 'MARHTA')::numeric, 3) AS jaro_martha,
       round(cdp.jaro('DIXON', 'DICKSONX')::numeric, 3) AS jaro_dixon;
-- multibyte: the same letters in Cyrillic give the same values as in Latin
SELECT cdp.jaro_winkler('МАРТА', 'МАРФА') = cdp.jaro_winkler('MARTA', 'MARFA') AS cyr_eq_lat,
       round(cdp.jaro_winkler('МАРТА', 'МАРФА')::numeric, 4) AS marta_marfa,
       round(cdp.jaro_winkler('Иванов', 'Иванова')::numeric, 4) AS ivanov,
       round(cdp.jaro_winkler('Пётр', 'Петр')::numeric, 4) AS pyotr;
-- edge cases: empty strings, identity, symmetry, parameters
SELECT cdp.jaro('', '') AS both_empty, cdp.jaro('', 'a') AS one_empty, cdp.jaro('abc', 'abc') AS same,
       cdp.jaro('abc', 'xyz') AS disjoint, cdp.jaro_winkler('a', 'a') AS one_char;
SELECT cdp.jaro_winkler('DIXON', 'DICKSONX', 0) = cdp.jaro('DIXON', 'DICKSONX') AS no_prefix_scale,
       cdp.jaro_winkler('DIXON', 'DICKSONX', 0.1, 0.8) = cdp.jaro('DIXON', 'DICKSONX') AS below_threshold,
       cdp.jaro_winkler('abcdxyz', 'abcdzyx', 0.25) <= 1 AS capped_prefix,
       -- jaro = (3/6 + 3/5 + 3/3) / 3 = 0.7 exactly, not above the threshold despite rounding
       cdp.jaro_winkler('butler', 'baker') = cdp.jaro('butler', 'baker') AS at_threshold;
SELECT cdp.jaro_winkler('a', 'b', 0.3);
SELECT cdp.jaro_winkler('a', 'b', -0.1);
SELECT cdp.jaro_winkler('a', 'b', 0.1, 1.5);
SELECT cdp.jaro_winkler(NULL, 'b') IS NULL AS strict_null;

-- OSA: transposition counts 1, but no substring is edited twice
SELECT cdp.osa_distance('CA', 'ABC') AS ca_abc, cdp.osa_distance('ab', 'ba') AS swap,
       cdp.osa_distance('kitten', 'sitting') AS kitten, cdp.osa_distance('', 'abc') AS from_empty,
       cdp.osa_distance('Иванов', 'Ивнаов') AS cyr_swap, cdp.osa_distance('ёж', 'еж') AS yo;
SELECT cdp.osa_distance('kitten', 'sitting', 2) AS capped, cdp.osa_distance('kitten', 'sitting', 3) AS at_cap,
       cdp.osa_distance('kitten', 'sitting', 0) AS zero_cap, cdp.osa_distance('abc', 'abc', 0) AS same_zero,
       cdp.osa_distance('a', 'abcdef', 2) AS length_gap;
SELECT cdp.osa_distance('a', 'b', -1);
SELECT cdp.osa_distance('a', 'b', NULL) IS NULL AS strict_null;
SELECT round(cdp.osa_similarity('Иванов', 'Иваново')::numeric, 4) AS sim, cdp.osa_similarity('', '') AS empty,
       cdp.osa_similarity('ab', 'cd') AS none;

-- multibyte edges: common prefixes and suffixes are cut on bytes and moved back to character starts
-- (б = D0 B1 and в = D0 B2 share their first byte; the emoji differ only in their last byte)
SELECT cdp.osa_distance('абв', 'авб') AS shared_lead, cdp.osa_distance('ж😀', 'ж😁') AS last_byte,
       cdp.osa_distance('😀ж', '😁ж') AS first_char, cdp.osa_distance('😀a', 'a😀') AS emoji_swap,
       cdp.osa_distance('日本語', '日本誤') AS cjk, cdp.osa_distance('ая', 'яа', 0) AS swap_capped,
       round(cdp.jaro('😀жx', 'ж😀x')::numeric, 4) AS jaro_emoji;

-- length cap and encoding
SELECT cdp.osa_distance(repeat('я', 1000), repeat('я', 999) || 'б') AS at_limit;
SELECT cdp.osa_distance(repeat('я', 1001), 'a');
SELECT cdp.jaro('a', repeat('b', 1001));

-- an independent reference: OSA by the textbook recurrence in PL/pgSQL, on random strings over a
-- small mixed alphabet (many repeats and transpositions), short (bit-parallel path) and long
-- (dynamic-programming path), with and without a cap. '0' (U+0030) and 'а' (U+0430) share their
-- low byte, so strings holding both take the character loops even when short.
CREATE FUNCTION pg_temp.osa_ref(a text, b text) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  n int := length(a); m int := length(b); d int[]; v int;
BEGIN
  d := array_fill(0, ARRAY[n + 1, m + 1], ARRAY[0, 0]);
  FOR i IN 0..n LOOP d[i][0] := i; END LOOP;
  FOR j IN 0..m LOOP d[0][j] := j; END LOOP;
  FOR i IN 1..n LOOP
    FOR j IN 1..m LOOP
      v := least(d[i-1][j] + 1, d[i][j-1] + 1,
                 d[i-1][j-1] + CASE WHEN substr(a, i, 1) = substr(b, j, 1) THEN 0 ELSE 1 END);
      IF i > 1 AND j > 1 AND substr(a, i, 1) = substr(b, j-1, 1) AND substr(a, i-1, 1) = substr(b, j, 1) THEN
        v := least(v, d[i-2][j-2] + 1);
      END IF;
      d[i][j] := v;
    END LOOP;
  END LOOP;
  RETURN d[n][m];
END $$;
SELECT setseed(0.42);
CREATE TEMP TABLE osa_pairs AS
SELECT coalesce((SELECT string_agg(substr('абвa0', 1 + floor(random() * 5)::int, 1), '')
                 FROM generate_series(1, (random() * l)::int) WHERE g > 0), '') AS a,
       coalesce((SELECT string_agg(substr('абвa0', 1 + floor(random() * 5)::int, 1), '')
                 FROM generate_series(1, (random() * l)::int) WHERE g > 0), '') AS b
FROM generate_series(1, 150) g, (VALUES (8), (100)) AS t(l);
-- near pairs: b is a with up to two edits (substitution, deletion), so small caps are exercised around the answer
INSERT INTO osa_pairs
SELECT a, overlay(overlay(a placing substr('бв', 1 + (g % 2), 1) from 1 + (g * 7) % greatest(length(a), 1) for g % 2)
                  placing '' from 1 + (g * 13) % greatest(length(a), 1) for (g / 2) % 2)
FROM (SELECT a, (row_number() OVER ())::int AS g FROM osa_pairs) s;
ALTER TABLE osa_pairs ADD COLUMN ref int;
UPDATE osa_pairs SET ref = pg_temp.osa_ref(a, b);
SELECT count(*) AS pairs, count(*) FILTER (WHERE length(a) > 64) AS long_pairs, count(*) FILTER (WHERE ref <= 3) AS near,
       count(*) FILTER (WHERE cdp.osa_distance(a, b) <> ref) AS wrong,
       count(*) FILTER (WHERE cdp.osa_distance(a, b) <> cdp.osa_distance(b, a)) AS asymmetric
FROM osa_pairs;
SELECT count(*) AS capped_calls,
       count(*) FILTER (WHERE cdp.osa_distance(a, b, k) <> least(ref, k + 1)) AS wrong
FROM osa_pairs, (VALUES (0), (1), (2), (3), (30)) AS c(k);

-- the same for Jaro: the textbook character loop in PL/pgSQL against the bit-parallel and the
-- character-loop paths of cdp.jaro, and Winkler's prefix bonus on top
CREATE FUNCTION pg_temp.jaro_ref(a text, b text) RETURNS float8 LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  n int := length(a); m int := length(b); w int := greatest(greatest(n, m) / 2 - 1, 0);
  fa bool[] := array_fill(false, ARRAY[greatest(n, 1)]); fb bool[] := array_fill(false, ARRAY[greatest(m, 1)]);
  matches int := 0; t int := 0; k int := 1;
BEGIN
  IF n = 0 AND m = 0 THEN RETURN 1; END IF;
  IF n = 0 OR m = 0 THEN RETURN 0; END IF;
  FOR i IN 1..n LOOP
    FOR j IN greatest(1, i - w)..least(m, i + w) LOOP
      IF NOT fb[j] AND substr(a, i, 1) = substr(b, j, 1) THEN
        fa[i] := true; fb[j] := true; matches := matches + 1; EXIT;
      END IF;
    END LOOP;
  END LOOP;
  IF matches = 0 THEN RETURN 0; END IF;
  FOR i IN 1..n LOOP
    CONTINUE WHEN NOT fa[i];
    WHILE NOT fb[k] LOOP k := k + 1; END LOOP;
    IF substr(a, i, 1) <> substr(b, k, 1) THEN t := t + 1; END IF;
    k := k + 1;
  END LOOP;
  RETURN (matches::float8 / n + matches::float8 / m + (matches - t / 2)::float8 / matches) / 3;
END $$;
ALTER TABLE osa_pairs ADD COLUMN jref float8;
UPDATE osa_pairs SET jref = pg_temp.jaro_ref(a, b);
SELECT count(*) AS pairs, count(*) FILTER (WHERE length(a) <= 64 AND length(b) <= 64 AND (a ~ '0' AND a ~ 'а' OR b ~ '0' AND b ~ 'а')) AS short_colliding,
       count(*) FILTER (WHERE abs(cdp.jaro(a, b) - jref) > 1e-12) AS wrong_jaro,
       count(*) FILTER (WHERE abs(cdp.jaro_winkler(a, b) - CASE WHEN jref <= 0.7 + 1e-12 THEN jref ELSE jref + 0.1 * (
             SELECT count(*) FROM generate_series(1, least(4, length(a), length(b))) i
             WHERE substr(a, 1, i) = substr(b, 1, i)) * (1 - jref) END) > 1e-12) AS wrong_winkler
FROM osa_pairs;
