-- test/sql/10_types_email.sql: cdp.email (issue 3 item 4): accepted forms and their canonical output
-- (domain lower case, stored in punycode and shown in Unicode (issue 17), local part as written), one rejected literal per line with its
-- exact error, case-insensitive equality, ordering and hashing, binary I/O, indexes and joins.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
-- the operators live in schema cdp: put it on the search path (or write OPERATOR(cdp.=))
SET search_path = public, cdp;

-- ---- accepted forms ----
SELECT v, e, email_local(e) AS local, email_domain(e) AS domain
  FROM (VALUES ('ivanov@mail.ru'), ('  Ivan.Petrov@Mail.RU  '), ('user+tag@sub.example.com'),
               ('o''brien@example.ie'), ('a!#$%&''*+-/=?^_`{|}~z@example.com'), ('x@a-b.example.com'),
               ('иванов@почта.рф'), ('user@ПОЧТА.РФ'), ('a@xn--80a1acny.xn--p1ai'),
               ('Straße@Straße.de'), ('x@例え.テスト'), ('Ivan@mail。ru')) AS t(v),
       LATERAL (SELECT v::cdp.email AS e) AS x;
-- the longest label (63 bytes) and local part (64 bytes)
SELECT octet_length(email_domain(('i@' || repeat('b', 63) || '.ru')::cdp.email)) AS domain_bytes,
       octet_length(email_local((repeat('l', 64) || '@mail.ru')::cdp.email)) AS local_bytes;

-- ---- display (issue 17): people read the domain in Unicode; the stored form stays ASCII ----
-- (text output, casts to text and jsonb show Unicode; email_domain and binary send give the stored
-- ASCII form; every shown form reads back to the same value; "xn--" inside a label is not IDN)
SELECT e AS shown, email_domain(e) AS stored_domain, convert_from(email_send(e), 'UTF8') AS binary_form,
       e::text::cdp.email OPERATOR(cdp.=) e AND e::text::cdp.email::text = e::text AS reads_back, to_jsonb(e) AS json
  FROM (VALUES ('Maria@Почта.РФ'::cdp.email), ('a@xn--mnchen-3ya.de'), ('x@sub.xn--80a1acny.xn--p1ai'),
               ('y@foo-xn--bar.ru'), ('Ivan@Mail.RU')) AS t(e);

-- ---- rejected, one per line ----
SELECT ''::cdp.email;
SELECT '   '::cdp.email;
SELECT 'ivanov'::cdp.email;
SELECT 'ivanov.mail.ru'::cdp.email;
SELECT 'a@b@mail.ru'::cdp.email;
SELECT '@mail.ru'::cdp.email;
SELECT 'ivanov@'::cdp.email;
SELECT 'ivanov@localhost'::cdp.email;
SELECT 'iva nov@mail.ru'::cdp.email;
SELECT 'ivanov@mail .ru'::cdp.email;
SELECT 'Иван Иванов <ivanov@mail.ru>'::cdp.email;
SELECT '<ivanov@mail.ru>'::cdp.email;
SELECT 'ivan..ov@mail.ru'::cdp.email;
SELECT '.ivanov@mail.ru'::cdp.email;
SELECT 'ivanov.@mail.ru'::cdp.email;
SELECT 'ivanov@mail..ru'::cdp.email;
SELECT 'ivanov@.mail.ru'::cdp.email;
SELECT 'ivanov@mail.ru.'::cdp.email;
SELECT 'ivanov@-mail.ru'::cdp.email;
SELECT 'ivanov@mail-.ru'::cdp.email;
SELECT 'ivanov@mail_box.ru'::cdp.email;
SELECT 'ivanov@xn--zz.ru'::cdp.email;
SELECT 'ivanov@[192.0.2.1]'::cdp.email;
SELECT 'ivanov@192.0.2.1'::cdp.email;
SELECT '"ivan ov"@mail.ru'::cdp.email;
SELECT 'ivan,ov@mail.ru'::cdp.email;
SELECT E'iva\u200Bnov@mail.ru'::cdp.email;
SELECT (repeat('l', 65) || '@mail.ru')::cdp.email;
SELECT ('i@' || repeat('b', 64) || '.ru')::cdp.email;
SELECT ('i@' || repeat('b.', 140) || 'ru')::cdp.email;
SELECT repeat('a', 321)::cdp.email;
SELECT (repeat('a', 1000000) || '@mail.ru')::cdp.email;

-- ---- try_ and is_valid_ never raise; NULL in, NULL out ----
SELECT left(v, 20) AS v, cdp.try_email(v), cdp.is_valid_email(v)
  FROM (VALUES ('Ivan@Mail.RU'), ('ivan@'), (''), ('x'), (NULL), (repeat('9', 1000000))) AS t(v);

-- ---- casts and arrays ----
SELECT ' Ivan@Mail.RU '::text::cdp.email::text AS email_text;
SELECT '{"Ivan@Mail.RU","иванов@почта.рф"}'::cdp.email[] AS emails;

-- ---- case-insensitive local part: equality, ordering, hashing agree ----
SELECT 'Ivan@mail.ru'::cdp.email = 'ivan@MAIL.RU' AS ascii_case,
       'Иванов@почта.рф'::cdp.email = 'иванов@ПОЧТА.РФ' AS cyrillic_case,
       'иванов@почта.рф'::cdp.email = 'иванов@xn--80a1acny.xn--p1ai' AS punycode_same,
       'ivan@mail.ru'::cdp.email = 'ivan@mail.com' AS other_domain,
       'ivan@mail.ru'::cdp.email <> 'ivan.ov@mail.ru' AS other_local,
       'a@z.ru'::cdp.email < 'a.b@b.ru' AS local_first,
       'B@a.ru'::cdp.email > 'a@z.ru' AS folded_local,
       'ivan@a.ru'::cdp.email < 'IVAN@b.ru' AS then_domain;
SELECT email_hash('Ivan@mail.ru') = email_hash('iVAN@Mail.Ru') AS hash_ascii,
       email_hash('ИВАНОВ@почта.рф') = email_hash('иванов@почта.рф') AS hash_cyrillic,
       email_hash_extended('Straße@x.de', 7) = email_hash_extended('STRASSE@x.de', 7) AS hash_fold_sharp_s,
       'Straße@x.de'::cdp.email = 'STRASSE@x.de' AS eq_fold_sharp_s;

-- ---- binary: the canonical address as text ----
SELECT email_send(' Ivan@Mail.RU ');
\getenv abs_builddir PG_ABS_BUILDDIR
\set bin :abs_builddir '/results/10_types_email.bin'
CREATE TEMP TABLE email_src (e cdp.email, es cdp.email[]);
INSERT INTO email_src VALUES ('Ivan@Mail.RU', '{"иванов@почта.рф","a@b.ru"}'), (NULL, '{}'),
                             ('x@例え.テスト', NULL);
COPY email_src TO :'bin' WITH (FORMAT binary);
CREATE TEMP TABLE email_dst (e cdp.email, es cdp.email[]);
COPY email_dst FROM :'bin' WITH (FORMAT binary);
SELECT * FROM email_dst;
SELECT (SELECT array_agg(ROW(e, es)::text ORDER BY e) FROM email_src)
     = (SELECT array_agg(ROW(e, es)::text ORDER BY e) FROM email_dst) AS round_trip_equal;
-- recv runs the text parser: a text column has the same binary form
CREATE TEMP TABLE email_only (e cdp.email);
COPY (SELECT '  Ivan@ПОЧТА.РФ '::text) TO :'bin' WITH (FORMAT binary);
COPY email_only FROM :'bin' WITH (FORMAT binary);
SELECT * FROM email_only;
COPY (SELECT 'ivan@localhost'::text) TO :'bin' WITH (FORMAT binary);
COPY email_only FROM :'bin' WITH (FORMAT binary);
COPY (SELECT ''::text) TO :'bin' WITH (FORMAT binary);
COPY email_only FROM :'bin' WITH (FORMAT binary);
COPY (SELECT repeat('a', 2000) || '@mail.ru') TO :'bin' WITH (FORMAT binary);
COPY email_only FROM :'bin' WITH (FORMAT binary);

-- ---- DISTINCT, GROUP BY, joins: spellings that differ only in case are one address ----
CREATE TEMP TABLE inbox (id int, e cdp.email);
INSERT INTO inbox
SELECT i, ((CASE i % 3 WHEN 0 THEN 'User' WHEN 1 THEN 'USER' ELSE 'user' END) || (i % 25)
           || CASE WHEN i % 2 = 0 THEN '@Mail.RU' ELSE '@mail.ru' END)::cdp.email
  FROM generate_series(1, 500) AS i;
INSERT INTO inbox
SELECT 1000 + i, ((CASE i % 2 WHEN 0 THEN 'Пользователь' ELSE 'пользователь' END) || (i % 5) || '@почта.рф')::cdp.email
  FROM generate_series(1, 50) AS i;
-- lower(text) is an independent key for these values: the counts must agree
SELECT count(*) AS rows, count(DISTINCT e) AS distinct_emails, count(DISTINCT lower(e::text)) AS distinct_lower
  FROM inbox;
SELECT count(*) AS groups FROM (SELECT e FROM inbox GROUP BY e) AS g;
SELECT count(*) AS lower_pairs FROM inbox a JOIN inbox b ON lower(a.e::text) = lower(b.e::text);
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT DISTINCT e FROM inbox;
SELECT count(*) FROM (SELECT DISTINCT e FROM inbox) AS d;
RESET enable_sort;
SET enable_hashagg = off;
SELECT count(*) FROM (SELECT DISTINCT e FROM inbox) AS d;
RESET enable_hashagg;
SET enable_mergejoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM inbox a JOIN inbox b ON a.e = b.e;
SELECT count(*) FROM inbox a JOIN inbox b ON a.e = b.e;
RESET enable_mergejoin;
SET enable_hashjoin = off;
SELECT count(*) FROM inbox a JOIN inbox b ON a.e = b.e;
RESET enable_hashjoin;
RESET enable_nestloop;

-- ---- btree and hash indexes are used ----
CREATE TEMP TABLE subscriber (e cdp.email);
INSERT INTO subscriber SELECT ('client' || i || '@Clinic.example')::cdp.email FROM generate_series(1, 3000) AS i;
CREATE INDEX subscriber_btree ON subscriber (e);
ANALYZE subscriber;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM subscriber WHERE e = 'CLIENT42@clinic.example';
SELECT * FROM subscriber WHERE e = 'CLIENT42@clinic.example';
SELECT * FROM subscriber WHERE e >= 'client1000@clinic.example' ORDER BY e LIMIT 3;
DROP INDEX subscriber_btree;
CREATE INDEX subscriber_hash ON subscriber USING hash (e);
EXPLAIN (COSTS OFF) SELECT * FROM subscriber WHERE e = 'CLIENT42@clinic.example';
SELECT * FROM subscriber WHERE e = 'CLIENT42@clinic.example';
RESET enable_seqscan;
RESET enable_bitmapscan;
CREATE TEMP TABLE account (e cdp.email PRIMARY KEY);
INSERT INTO account VALUES ('Ivan@mail.ru');
INSERT INTO account VALUES ('IVAN@MAIL.RU');

-- arrays of addresses take a GIN index; lookups ignore the case of the local part
CREATE TEMP TABLE rec (id int, emails cdp.email[]);
INSERT INTO rec SELECT i, ARRAY[('Client' || i || '@Mail.RU')::cdp.email] FROM generate_series(1, 2000) AS i;
CREATE INDEX rec_emails ON rec USING gin (emails);
ANALYZE rec;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM rec WHERE emails && ARRAY['CLIENT42@mail.ru'::cdp.email];
SELECT id FROM rec WHERE emails && ARRAY['CLIENT42@mail.ru'::cdp.email];
RESET enable_seqscan;

-- ---- a database that is not UTF-8: ASCII addresses work, non-ASCII ones are refused clearly ----
SELECT current_database() AS regress_db \gset
DROP DATABASE IF EXISTS cdp_types_sql_ascii;
CREATE DATABASE cdp_types_sql_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\c cdp_types_sql_ascii
CREATE EXTENSION cdp;
SELECT 'Ivan@Mail.RU'::cdp.email, 'ivan@xn--80a1acny.xn--p1ai'::cdp.email;
SELECT 'иванов@mail.ru'::cdp.email;
SELECT 'ivan@почта.рф'::cdp.email;
SELECT '+7 916 123-45-67 ext. 12'::cdp.phone;
SELECT '+7 916 123-45-67 доб. 12'::cdp.phone;
\c :regress_db
DROP DATABASE cdp_types_sql_ascii;
-- binary input is verified against the encoding before the parser sees it
SET search_path = public, cdp;
CREATE TEMP TABLE email_bad (e cdp.email);
\getenv abs_builddir PG_ABS_BUILDDIR
\set bin :abs_builddir '/results/10_types_email.bin'
COPY (SELECT '\x69ff40612e7275'::bytea) TO :'bin' WITH (FORMAT binary);
COPY email_bad FROM :'bin' WITH (FORMAT binary);
