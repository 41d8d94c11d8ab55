-- test/sql/20_text.sql: the text family's functions on the examples of doc/text.md, their errors,
-- and the UTF-8 check in a database whose encoding does not guarantee it (SQL_ASCII).
SET client_min_messages = warning;  -- quiet whether or not an earlier file created it
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
RESET client_min_messages;
-- the six spellings of one patient from issue 4
SELECT s AS spelling, cdp.normalize_name(s) AS normalized, cdp.name_key(s) AS key,
       cdp.name_base_key(s) AS base_key, cdp.name_sex_hint(s) AS sex
  FROM unnest(ARRAY['Иванова Мария Петровна', 'ИВАНОВА М.П.', 'Ivanova Mariia', 'Ivanova Maria',
                    'Иванова Марья', 'Иваннова Мария']) s;
-- one name by every scheme
SELECT scheme, cdp.translit('Щукина Юлия Сергеевна', scheme) AS latin,
       cdp.translit(cdp.translit('Щукина Юлия Сергеевна', scheme), 'lat2cyr') AS read_back
  FROM unnest(ARRAY['icao', 'gost_b', 'bgn', 'informal']) scheme;
-- case style is kept
SELECT cdp.translit('ЩУКИНА', 'icao') AS upper, cdp.translit('щукина', 'icao') AS lower,
       cdp.translit('Щ. Ю.', 'icao') AS initials;
-- word forms
SELECT s, cdp.surname_base(s), cdp.patronymic_base(s), cdp.given_name_base(s), cdp.name_sex_hint(s)
  FROM unnest(ARRAY['Достоевская', 'Ильинична', 'Петровичу', 'Наташа', 'Лебедь']) s;
SELECT cdp.given_name_bases('Женя'), cdp.russian_stem('Марией Петровной');
-- errors
\set VERBOSITY default
SELECT cdp.translit('Юлия', 'iso9');
SELECT cdp.name_key(repeat('x', 65537));
-- SQL_ASCII: bytes that are not UTF-8 are refused rather than misread
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT current_database() AS regress_db \gset
DROP DATABASE IF EXISTS cdp_text_sql_ascii;
CREATE DATABASE cdp_text_sql_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\c cdp_text_sql_ascii
CREATE EXTENSION cdp;
SELECT cdp.normalize_name(convert_from('\x49d0b2616effff'::bytea, 'SQL_ASCII'));
SELECT cdp.name_key(convert_from(convert_to('Юлия', 'UTF8'), 'SQL_ASCII')) AS utf8_bytes_work;
-- functions that read text datums as UTF-8 need a UTF-8 database: one error for every family
SELECT cdp.jaro('a', 'b');
SELECT cdp.osa_distance('a', 'b');
SELECT cdp.name_similarity('Ivan', 'Ivan');
\c :regress_db
DROP DATABASE cdp_text_sql_ascii;
