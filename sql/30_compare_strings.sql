-- sql/30_compare_strings.sql: Jaro, Jaro-Winkler and OSA distance (src/cmp_jaro.c, src/cmp_osa.c)
-- quiet whether or not an earlier test created the extension
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cdp;
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
       cdp.jaro_winkler('abcdxyz', 'abcdzyx', 0.25) <= 1 AS capped_prefix;
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

-- length cap and encoding
SELECT cdp.osa_distance(repeat('я', 1000), repeat('я', 999) || 'б') AS at_limit;
SELECT cdp.osa_distance(repeat('я', 1001), 'a');
SELECT cdp.jaro('a', repeat('b', 1001));

-- an independent reference: OSA by the textbook recurrence in PL/pgSQL, on random strings over a
-- small mixed alphabet (many repeats and transpositions), short (bit-parallel path) and long
-- (dynamic-programming path), with and without a cap
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
SELECT coalesce((SELECT string_agg(substr('абвaб', 1 + floor(random() * 5)::int, 1), '')
                 FROM generate_series(1, (random() * l)::int) WHERE g > 0), '') AS a,
       coalesce((SELECT string_agg(substr('абвaб', 1 + floor(random() * 5)::int, 1), '')
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
