-- test/sql/10_types_phone.sql: cdp.phone (issue 3 item 4): accepted forms and their canonical E.164
-- output, one rejected literal per line with its exact error, accessors, try_/is_valid_, binary
-- I/O, indexes, DISTINCT, GROUP BY and joins.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
-- the operators live in schema cdp: put it on the search path (or write OPERATOR(cdp.=))
SET search_path = public, cdp;

-- ---- accepted forms: canonical output and accessors ----
SELECT v, p, phone_kind(p) AS kind, phone_national(p) AS national, phone_extension(p) AS ext,
       phone_e164(p) AS e164
  FROM (VALUES ('8 (916) 123-45-67'), ('+7 916 1234567'), ('9161234567'), ('8-916-123-45-67'),
               ('79161234567'), ('  8.916.123.45.67  '), ('+7(916)1234567'),
               ('+7-916-123-45-67 доб. 12'), ('+7 916 123-45-67 Доб 12'), ('+7 916 123-45-67 ext. 345'),
               ('+7 916 123-45-67 EXT 345'), ('+7 916 123-45-67 x12'), ('+7 916 123-45-67 #12'),
               ('+79161234567;ext=12'), ('+7 916 123-45-67 доб.: 999999999'),
               ('8 800 555-35-35'), ('+7 804 333-22-11'), ('+7 495 123-45-67'), ('8 (3452) 12-34-56'),
               ('+7 727 123 4567'), ('+7 600 123 4567'),
               ('+44 20 7946 0958'), ('00 44 20 7946 0958'), ('+1 (212) 555-0100'), ('+86 10 1234 5678'),
               ('+380 44 123 4567'), ('+683 1234'), ('+999 123 456 789 012')) AS t(v),
       LATERAL (SELECT v::cdp.phone AS p) AS x;

-- ---- rejected, one per line ----
SELECT ''::cdp.phone;
SELECT '   '::cdp.phone;
SELECT 'abc'::cdp.phone;
SELECT 'тел. +7 916 123-45-67'::cdp.phone;
SELECT '+7 916 123-45-67 (моб.)'::cdp.phone;
SELECT '8 916 123 45 67, 8 916 765 43 21'::cdp.phone;
SELECT '---'::cdp.phone;
SELECT '+'::cdp.phone;
SELECT '+7 916+123-45-67'::cdp.phone;
SELECT '916 123-45-6'::cdp.phone;
SELECT '8 916 123-45-678'::cdp.phone;
SELECT '6 916 123-45-67'::cdp.phone;
SELECT '+7 916 123-45-6'::cdp.phone;
SELECT '+7 916 123-45-678'::cdp.phone;
SELECT '+7 016 123-45-67'::cdp.phone;
SELECT '0161234567'::cdp.phone;
SELECT '+0 916 123 45 67'::cdp.phone;
SELECT '00 0 916 123 45 67'::cdp.phone;
SELECT '+8 916 123-45-67'::cdp.phone;
SELECT '+28 123 456 789'::cdp.phone;
SELECT '+1234567890123456'::cdp.phone;
SELECT '+44 20 79'::cdp.phone;
SELECT '+7 916 123-45-67 доб.'::cdp.phone;
SELECT '+7 916 123-45-67 доб. 012'::cdp.phone;
SELECT '+7 916 123-45-67 доб. 1234567890'::cdp.phone;
SELECT '+7 916 123-45-67 доб. 12 и 13'::cdp.phone;
SELECT 'доб. 12'::cdp.phone;
SELECT repeat('1', 1000000)::cdp.phone;
SELECT repeat(' ', 300)::cdp.phone;

-- ---- try_ and is_valid_ never raise; NULL in, NULL out ----
SELECT left(v, 20) AS v, cdp.try_phone(v), cdp.is_valid_phone(v)
  FROM (VALUES ('8 916 123-45-67'), ('8 916 123-45'), (''), ('x'), (NULL), (repeat('9', 1000000))) AS t(v);

-- ---- casts, arrays, equality of different spellings ----
SELECT '8 (916) 123-45-67'::text::cdp.phone::text AS phone_text;
SELECT '{"8 (916) 123-45-67","+44 20 7946 0958"}'::cdp.phone[] AS phones;
SELECT '8 (916) 123-45-67'::cdp.phone = '+7 916 1234567' AS same,
       '8 (916) 123-45-67'::cdp.phone = '+7 916 1234567 доб. 1' AS ext_differs,
       '+7 916 1234567'::cdp.phone < '+7 916 1234567 доб. 1' AS no_ext_first,
       '+7 916 1234567 доб. 2'::cdp.phone < '+7 916 1234567 доб. 10' AS ext_numeric,
       '+1 212 555 0100'::cdp.phone < '+7 916 1234567' AS by_number;
SELECT phone_hash('8 (916) 123-45-67') = phone_hash('+7 916 1234567') AS hash_same,
       phone_hash_extended('8 (916) 123-45-67', 42) = phone_hash_extended('+7 916 1234567', 42) AS hash_ext_same;

-- ---- binary: int8 number, int4 extension, int4 reserved ----
SELECT phone_send('+7 916 123-45-67 доб. 12');

-- binary round trip through COPY
\getenv abs_builddir PG_ABS_BUILDDIR
\set bin :abs_builddir '/results/10_types_phone.bin'
CREATE TEMP TABLE phone_src (p cdp.phone, ps cdp.phone[]);
INSERT INTO phone_src VALUES ('8 916 123-45-67', '{"+44 20 7946 0958","8 800 555 35 35 доб. 7"}'),
                             ('+7 916 123-45-67 доб. 12', NULL), (NULL, '{}');
COPY phone_src TO :'bin' WITH (FORMAT binary);
CREATE TEMP TABLE phone_dst (p cdp.phone, ps cdp.phone[]);
COPY phone_dst FROM :'bin' WITH (FORMAT binary);
SELECT * FROM phone_dst;
SELECT (SELECT array_agg(ROW(p, ps)::text ORDER BY p) FROM phone_src)
     = (SELECT array_agg(ROW(p, ps)::text ORDER BY p) FROM phone_dst) AS round_trip_equal;
-- recv is as strict as text input: a 16-byte bytea has the same binary field form
CREATE TEMP TABLE phone_only (p cdp.phone);
-- valid: 79161234567, extension 12, reserved 0
COPY (SELECT '\x000000126e6094870000000c00000000'::bytea) TO :'bin' WITH (FORMAT binary);
COPY phone_only FROM :'bin' WITH (FORMAT binary);
SELECT * FROM phone_only;
-- reserved field not 0
COPY (SELECT '\x000000126e6094870000000c00000001'::bytea) TO :'bin' WITH (FORMAT binary);
COPY phone_only FROM :'bin' WITH (FORMAT binary);
-- negative number
COPY (SELECT '\xffffffffffffffff0000000000000000'::bytea) TO :'bin' WITH (FORMAT binary);
COPY phone_only FROM :'bin' WITH (FORMAT binary);
-- +7 with 9 national digits (7916123456)
COPY (SELECT '\x00000001d7d675400000000000000000'::bytea) TO :'bin' WITH (FORMAT binary);
COPY phone_only FROM :'bin' WITH (FORMAT binary);
-- 16 digits (1234567890123456)
COPY (SELECT '\x000462d53c8abac00000000000000000'::bytea) TO :'bin' WITH (FORMAT binary);
COPY phone_only FROM :'bin' WITH (FORMAT binary);
-- extension with 10 digits (1234567890)
COPY (SELECT '\x000000126e609487499602d200000000'::bytea) TO :'bin' WITH (FORMAT binary);
COPY phone_only FROM :'bin' WITH (FORMAT binary);
-- 12 bytes instead of 16
COPY (SELECT '\x000000126e6094870000000c'::bytea) TO :'bin' WITH (FORMAT binary);
COPY phone_only FROM :'bin' WITH (FORMAT binary);

-- ---- DISTINCT, GROUP BY, hash join, sort ----
CREATE TEMP TABLE calls (id int, p cdp.phone);
INSERT INTO calls
SELECT i, (CASE i % 3 WHEN 0 THEN '8 ' WHEN 1 THEN '+7 ' ELSE '' END
           || (9160000000 + (i % 40) * 1117)::text
           || CASE WHEN i % 7 = 0 THEN ' доб. ' || (i % 3 + 1) ELSE '' END)::cdp.phone
  FROM generate_series(1, 600) AS i;
-- the canonical text is an independent key: the counts must agree
SELECT count(*) AS rows, count(DISTINCT p) AS distinct_phones, count(DISTINCT p::text) AS distinct_texts,
       count(DISTINCT phone_e164(p)) AS distinct_numbers FROM calls;
SELECT count(*) AS groups FROM (SELECT p FROM calls GROUP BY p) AS g;
SELECT count(*) AS text_pairs FROM calls a JOIN calls b ON a.p::text = b.p::text;
SELECT p, count(*) FROM calls GROUP BY p ORDER BY p LIMIT 4;
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT DISTINCT p FROM calls;
SELECT count(*) FROM (SELECT DISTINCT p FROM calls) AS d;
RESET enable_sort;
SET enable_hashagg = off;
SELECT count(*) FROM (SELECT DISTINCT p FROM calls) AS d;
RESET enable_hashagg;
SET enable_mergejoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM calls a JOIN calls b ON a.p = b.p;
SELECT count(*) FROM calls a JOIN calls b ON a.p = b.p;
RESET enable_mergejoin;
RESET enable_nestloop;
SET enable_hashjoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM calls a JOIN calls b ON a.p = b.p;
SELECT count(*) FROM calls a JOIN calls b ON a.p = b.p;
RESET enable_hashjoin;
RESET enable_nestloop;

-- ---- btree and hash indexes are used ----
CREATE TEMP TABLE book (p cdp.phone);
INSERT INTO book SELECT ('+7 916 ' || lpad(i::text, 7, '0'))::cdp.phone FROM generate_series(1, 3000) AS i;
CREATE INDEX book_btree ON book (p);
ANALYZE book;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM book WHERE p = '8 916 000-00-42';
SELECT * FROM book WHERE p = '8 916 000-00-42';
EXPLAIN (COSTS OFF) SELECT * FROM book WHERE p BETWEEN '8 916 000-00-10' AND '8 916 000-00-13' ORDER BY p;
SELECT * FROM book WHERE p BETWEEN '8 916 000-00-10' AND '8 916 000-00-13' ORDER BY p;
DROP INDEX book_btree;
CREATE INDEX book_hash ON book USING hash (p);
EXPLAIN (COSTS OFF) SELECT * FROM book WHERE p = '8 916 000-00-42';
SELECT * FROM book WHERE p = '8 916 000-00-42';
RESET enable_seqscan;
RESET enable_bitmapscan;
CREATE TEMP TABLE contact (p cdp.phone PRIMARY KEY);
INSERT INTO contact VALUES ('8 916 123-45-67');
INSERT INTO contact VALUES ('+7 (916) 123 45 67');
-- hash partitioning uses the extended hash
CREATE TEMP TABLE parted (p cdp.phone) PARTITION BY HASH (p);
CREATE TEMP TABLE parted_0 PARTITION OF parted FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TEMP TABLE parted_1 PARTITION OF parted FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO parted SELECT p FROM book;
SELECT count(*) = 3000 AS all_rows, (SELECT count(*) FROM parted_0) > 0 AS p0, (SELECT count(*) FROM parted_1) > 0 AS p1
  FROM parted;
-- arrays of phones take a GIN index (the array operator class uses the element's btree class)
CREATE TEMP TABLE rec (id int, phones cdp.phone[]);
INSERT INTO rec SELECT i, ARRAY[('+7 916 ' || lpad(i::text, 7, '0'))::cdp.phone,
                                ('+7 495 ' || lpad((i % 100)::text, 7, '0'))::cdp.phone]
  FROM generate_series(1, 2000) AS i;
CREATE INDEX rec_phones ON rec USING gin (phones);
ANALYZE rec;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM rec WHERE phones @> ARRAY['8 916 000-00-42'::cdp.phone];
SELECT id FROM rec WHERE phones @> ARRAY['8 916 000-00-42'::cdp.phone];
SELECT count(*) FROM rec WHERE phones && ARRAY['8 (495) 000-00-42'::cdp.phone];
RESET enable_seqscan;
