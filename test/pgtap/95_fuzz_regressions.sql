-- test/pgtap/95_fuzz_regressions.sql: the findings of the libFuzzer harness (test/fuzz,
-- doc/fuzzing.md) that SQL can reach, each as it showed, so they stay fixed.
BEGIN;
SELECT plan(8);

SELECT ok(cdp.register_source('fuzz') IS NOT NULL, 'a source for the fuzz regressions');
CREATE TEMP TABLE fz (k text PRIMARY KEY, id bigint);
INSERT INTO fz VALUES
 ('o1', cdp.upsert_record('fuzz', 'o1', '{"family_name":"Олег","given_name":"Анна"}')),
 ('o2', cdp.upsert_record('fuzz', 'o2', '{"family_name":"О.","given_name":"Анне"}')),
 ('o3', cdp.upsert_record('fuzz', 'o3', '{"family_name":"Мария","given_name":"Аааа"}')),
 ('o4', cdp.upsert_record('fuzz', 'o4', '{"family_name":"Мари","given_name":"Аа"}'));

SELECT ok(cdp.configure_matching($j$
{"comparisons": [
  {"attr": "family_name", "comparator": "name", "levels": [{"if": "osa", "le": 1}, {"if": "osa", "le": 3}]},
  {"attr": "given_name", "comparator": "name", "levels": [{"if": "prefix", "n": 4}, {"if": "prefix", "n": 3}]}],
 "blocking": [["family_name"]], "name_roles": false}$j$) > 0,
          'settings with osa and prefix levels on names are accepted');

-- fuzz_match: an osa level skipped pairs whose byte lengths differed by more than the cap,
-- though a Cyrillic letter is two bytes
SELECT is((SELECT level FROM cdp.explain_match((SELECT id FROM fz WHERE k = 'o3'), (SELECT id FROM fz WHERE k = 'o4'))
            WHERE attr = 'family_name'),
          'отличается не более чем на 1 знак',
          'osa <= 1 holds for мария / мари (one deletion, two bytes)');
SELECT is((SELECT level FROM cdp.explain_match((SELECT id FROM fz WHERE k = 'o1'), (SELECT id FROM fz WHERE k = 'o2'))
            WHERE attr = 'family_name'),
          'отличается не более чем на 3 знак',
          'osa <= 3 holds for олег / о. (three edits, five bytes)');
SELECT is(cdp.osa_distance('мария', 'мари', 1), 1, 'and osa_distance agrees on the first pair');

-- fuzz_match: a prefix level compared n bytes, not n characters
SELECT is((SELECT level FROM cdp.explain_match((SELECT id FROM fz WHERE k = 'o3'), (SELECT id FROM fz WHERE k = 'o4'))
            WHERE attr = 'given_name'),
          'не совпадает',
          'prefix 4 does not hold for аааа / аа (four bytes, but two letters in common)');
SELECT is((SELECT level FROM cdp.explain_match((SELECT id FROM fz WHERE k = 'o1'), (SELECT id FROM fz WHERE k = 'o2'))
            WHERE attr = 'given_name'),
          'совпадает начало',
          'prefix 3 holds for анна / анне');

-- fuzz_ingest: a handle URL with several trailing slashes is the same handle
SELECT is(cdp.normalize_attrs('{"vk": "https://vk.com/ivanova//", "telegram": "t.me/petrov/"}') -> 'handles',
          '{"vk": "ivanova", "telegram": "petrov"}'::jsonb,
          'every trailing slash of a handle URL is dropped');

SELECT * FROM finish();
ROLLBACK;
