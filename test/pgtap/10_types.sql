-- test/pgtap/10_types.sql: the identifier types (issue 3 item 4) against independent references.
-- The SNILS and OMS check digits are recomputed here in SQL, straight from the published rules
-- (not from the C code's shortcut), for 1000 random numbers each; hand-checked tables pin known
-- values; phones and e-mails round-trip through their canonical text and keep hash = equality.
BEGIN;
SELECT plan(55);

-- ---- objects ----
SELECT has_type('cdp', 'phone', 'type cdp.phone exists');
SELECT has_type('cdp', 'email', 'type cdp.email exists');
SELECT has_type('cdp', 'snils', 'type cdp.snils exists');
SELECT has_type('cdp', 'oms', 'type cdp.oms exists');
SELECT is((SELECT count(*)::int FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
            WHERE c.opcnamespace = 'cdp'::regnamespace AND c.opcdefault
              AND c.opcintype IN ('cdp.phone'::regtype, 'cdp.email'::regtype, 'cdp.snils'::regtype, 'cdp.oms'::regtype)
              AND a.amname IN ('btree', 'hash')),
          8, 'each type has a default btree and a default hash operator class');
SELECT is((SELECT count(*)::int FROM pg_proc
            WHERE pronamespace = 'cdp'::regnamespace
              AND (proname LIKE 'try\_%' OR proname LIKE 'is\_valid\_%')
              AND proname ~ '(phone|email|snils|oms)$' AND provolatile = 'i' AND proparallel = 's'),
          8, 'try_ and is_valid_ exist for every type, immutable and parallel safe');

-- ---- SNILS: reference check number, written from the rule ----
CREATE FUNCTION pg_temp.ref_snils_check(num text) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	s int := 0;
BEGIN
	FOR i IN 1..9 LOOP
		s := s + substr(num, i, 1)::int * (10 - i);
	END LOOP;
	IF s < 100 THEN
		RETURN s;
	ELSIF s IN (100, 101) THEN
		RETURN 0;
	END IF;
	s := s % 101;
	RETURN CASE WHEN s = 100 THEN 0 ELSE s END;
END $$;

SELECT setseed(0.3);
CREATE TEMP TABLE snils_sample AS
SELECT num, lpad(pg_temp.ref_snils_check(num)::text, 2, '0') AS chk
  FROM (SELECT lpad((1001999 + floor(random() * (999999999 - 1001999)))::bigint::text, 9, '0') AS num
          FROM generate_series(1, 1000)) AS r;

SELECT is((SELECT count(*)::int FROM snils_sample WHERE cdp.is_valid_snils(num || chk)),
          1000, 'SNILS: 1000 random numbers with the reference check number are valid');
SELECT is((SELECT count(*)::int FROM snils_sample, generate_series(1, 99) AS k
            WHERE cdp.is_valid_snils(num || lpad(((chk::int + k) % 100)::text, 2, '0'))),
          0, 'SNILS: every other check number (99 per number) is rejected');
SELECT is((SELECT count(*)::int FROM snils_sample
            WHERE cdp.try_snils(num || chk)::text
                  <> substr(num, 1, 3) || '-' || substr(num, 4, 3) || '-' || substr(num, 7, 3) || ' ' || chk),
          0, 'SNILS: canonical output is XXX-XXX-XXX YY for all 1000');
SELECT is((SELECT count(DISTINCT cdp.try_snils(num || chk))::int FROM snils_sample),
          (SELECT count(DISTINCT num)::int FROM snils_sample), 'SNILS: distinct values agree with distinct numbers');
-- the weighted-sum branches, hand-checked
SELECT results_eq(
  $$SELECT v, cdp.is_valid_snils(v) FROM (VALUES
      ('112-233-445 95'),  -- 1*9+1*8+2*7+2*6+3*5+3*4+4*3+4*2+5*1 = 95
      ('001-019-899 99'),  -- sum 99
      ('001-019-989 00'),  -- sum 100
      ('001-019-998 00'),  -- sum 101
      ('001-019-999 01'),  -- sum 102 -> 1
      ('002-999-989 00'),  -- sum 201 -> 100 -> 00
      ('001-019-989 01'),  -- sum 100: the check is 00, not 01
      ('002-999-989 99'),  -- sum 201: the check is 00, not 99
      ('001-001-998 00'),  -- reserved
      ('001-001-999 65')) AS t(v)$$,
  $$VALUES ('112-233-445 95', true), ('001-019-899 99', true), ('001-019-989 00', true),
           ('001-019-998 00', true), ('001-019-999 01', true), ('002-999-989 00', true),
           ('001-019-989 01', false), ('002-999-989 99', false), ('001-001-998 00', false),
           ('001-001-999 65', true)$$,
  'SNILS: hand-checked values of every branch of the rule');
SELECT is((SELECT count(*)::int FROM generate_series(0, 1001998, 997) AS n, generate_series(0, 99) AS c
            WHERE cdp.is_valid_snils(lpad(n::text, 9, '0') || lpad(c::text, 2, '0'))),
          0, 'SNILS: numbers up to 001-001-998 are never valid');
SELECT throws_ok($$SELECT '123-456-789 65'::cdp.snils$$, '22023',
                 'invalid value for type cdp.snils: "123-456-789 65"', 'SNILS: wrong check is 22023');
SELECT throws_ok($$SELECT '123-456-789 6'::cdp.snils$$, '22P02',
                 'invalid input syntax for type cdp.snils: "123-456-789 6"', 'SNILS: wrong length is 22P02');

-- ---- OMS: reference check digit, the rule taken literally ----
CREATE FUNCTION pg_temp.ref_oms_check(d15 text) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	odd text := '';
	even text := '';
	joined text;
	s int := 0;
BEGIN
	-- positions counted from the right of the 15 digits: position p is character 16 - p
	FOR i IN 1..15 LOOP
		IF (16 - i) % 2 = 1 THEN
			odd := odd || substr(d15, i, 1);   -- written in order, left to right
		ELSE
			even := even || substr(d15, i, 1);
		END IF;
	END LOOP;
	joined := even || (odd::numeric * 2)::text;  -- even digits to the left of 2 * odd number
	FOR i IN 1..length(joined) LOOP
		s := s + substr(joined, i, 1)::int;
	END LOOP;
	RETURN (10 - s % 10) % 10;
END $$;

CREATE TEMP TABLE oms_sample AS
SELECT d15, pg_temp.ref_oms_check(d15) AS chk
  FROM (SELECT lpad(floor(random() * 1e15)::bigint::text, 15, '0') AS d15 FROM generate_series(1, 1000)) AS r;

SELECT is((SELECT count(*)::int FROM oms_sample WHERE cdp.is_valid_oms(d15 || chk)),
          1000, 'OMS: 1000 random numbers with the reference check digit are valid');
SELECT is((SELECT count(*)::int FROM oms_sample, generate_series(1, 9) AS k
            WHERE cdp.is_valid_oms(d15 || ((chk + k) % 10))),
          0, 'OMS: every other check digit (9 per number) is rejected');
SELECT is((SELECT count(*)::int FROM oms_sample WHERE cdp.try_oms(d15 || chk)::text <> d15 || chk),
          0, 'OMS: canonical output is the 16 digits for all 1000');
SELECT is((SELECT count(*)::int FROM oms_sample
            WHERE cdp.try_oms(substr(d15, 1, 4) || ' ' || substr(d15, 5, 4) || '-' || substr(d15, 9, 4)
                              || ' ' || substr(d15, 13, 3) || chk)::text <> d15 || chk),
          0, 'OMS: grouped spellings read the same');
SELECT results_eq(
  $$SELECT v, cdp.is_valid_oms(v) FROM (VALUES ('1234567890123452'), ('1234567890123453'),
      ('0000000000000000'), ('0000000000000018'), ('7700000000000008'), ('7700000000000007')) AS t(v)$$,
  -- 123456789012345: even digits 2468024, odd 13579135 * 2 = 27158270, digit sum 26 + 32 = 58 -> 2
  -- 000000000000001: odd number 00000001 * 2 = 2, sum 2 -> 8
  -- 770000000000000: odd 70000000 * 2 = 140000000, even 7000000, sum 7 + 5 = 12 -> 8
  -- 000000000000000 + 0 passes the check digit but is a placeholder (issue 16)
  $$VALUES ('1234567890123452', true), ('1234567890123453', false), ('0000000000000000', false),
           ('0000000000000018', true), ('7700000000000008', true), ('7700000000000007', false)$$,
  'OMS: hand-checked values');
SELECT throws_ok($$SELECT '1234567890123453'::cdp.oms$$, '22023',
                 'invalid value for type cdp.oms: "1234567890123453"', 'OMS: wrong check digit is 22023');
SELECT throws_ok($$SELECT '12345678901234'::cdp.oms$$, '22P02',
                 'invalid input syntax for type cdp.oms: "12345678901234"', 'OMS: wrong length is 22P02');

-- ---- phones ----
SELECT results_eq(
  $$SELECT cdp.try_phone(v)::text FROM (VALUES ('8 (916) 123-45-67'), ('+7 916 1234567'), ('9161234567'),
      ('8-916-123-45-67'), ('+7-916-123-45-67 доб. 12'), ('+44 20 7946 0958'), ('00 44 20 7946 0958'),
      ('8 800 555 35 35'), ('+7 916 12'), ('ab'), ('+0 123 456 789')) AS t(v)$$,
  $$VALUES ('+79161234567'), ('+79161234567'), ('+79161234567'), ('+79161234567'), ('+79161234567;ext=12'),
           ('+442079460958'), ('+442079460958'), ('+78005553535'), (NULL), (NULL), (NULL)$$,
  'phone: the forms of the brief and their canonical E.164');
SELECT results_eq(
  $$SELECT cdp.phone_kind(v::cdp.phone) FROM (VALUES ('+7 916 123 45 67'), ('8 800 100 00 00'),
      ('+7 804 100 00 00'), ('+7 495 100 00 00'), ('+7 351 100 00 00'), ('+7 812 100 00 00'),
      ('+7 727 100 00 00'), ('+44 20 7946 0958')) AS t(v)$$,
  $$VALUES ('mobile'), ('toll_free'), ('toll_free'), ('landline'), ('landline'), ('landline'),
           ('unknown'), ('unknown')$$,
  'phone: phone_kind follows the +7 numbering plan');
SELECT is(cdp.phone_national('+380 44 123 4567'), '441234567', 'phone: a 3-digit country code is cut off');
SELECT is(cdp.phone_national('+44 20 7946 0958'), '2079460958', 'phone: a 2-digit country code is cut off');
SELECT is(cdp.phone_extension('+7 916 123 45 67'), NULL, 'phone: no extension is NULL');
SELECT is(cdp.phone_e164('+7 916 123 45 67 доб. 5'), '+79161234567', 'phone: phone_e164 drops the extension');
CREATE TEMP TABLE phone_sample AS
SELECT ('+7 9' || lpad(floor(random() * 1e9)::bigint::text, 9, '0')
        || CASE WHEN random() < 0.3 THEN ' доб. ' || (1 + floor(random() * 999))::int ELSE '' END) AS v
  FROM generate_series(1, 1000);
ALTER TABLE phone_sample ADD COLUMN p cdp.phone;
UPDATE phone_sample SET p = v::cdp.phone;
SELECT is((SELECT count(*)::int FROM phone_sample WHERE p::text::cdp.phone OPERATOR(cdp.<>) p
              OR p::text <> p::text::cdp.phone::text),
          0, 'phone: 1000 random numbers survive text output and input');
SELECT is((SELECT count(*)::int FROM phone_sample
            WHERE cdp.phone_e164(v::cdp.phone) <> '+' || regexp_replace(split_part(v, ' доб. ', 1), '[^0-9]', '', 'g')),
          0, 'phone: phone_e164 is the digits before the extension');
SELECT is((SELECT count(*)::int FROM phone_sample a, phone_sample b
            WHERE a.v < b.v AND (a.p OPERATOR(cdp.=) b.p) <> (a.p::text = b.p::text)),
          0, 'phone: equality agrees with the canonical text on 500000 pairs');
SELECT is((SELECT count(*)::int FROM phone_sample a, phone_sample b
            WHERE a.v < b.v AND (cdp.phone_cmp(a.p, b.p) <> -cdp.phone_cmp(b.p, a.p)
                                 OR (cdp.phone_cmp(a.p, b.p) < 0)
                                    <> ((cdp.phone_e164(a.p)::numeric, coalesce(cdp.phone_extension(a.p), 0))
                                        < (cdp.phone_e164(b.p)::numeric, coalesce(cdp.phone_extension(b.p), 0))))),
          0, 'phone: comparison is antisymmetric and orders by (number, extension)');
SELECT throws_ok($$SELECT 'abc'::cdp.phone$$, '22P02',
                 'invalid input syntax for type cdp.phone: "abc"', 'phone: letters are 22P02');
SELECT throws_ok($$SELECT '+0 916 123 45 67'::cdp.phone$$, '22023',
                 'invalid value for type cdp.phone: "+0 916 123 45 67"', 'phone: country code 0 is 22023');

-- ---- e-mails ----
CREATE TEMP TABLE email_sample AS
SELECT i, l || '@' || d AS v, upper(l) || '@' || d AS v_upper
  FROM (SELECT i, (ARRAY['ivan', 'Петров', 'o.brien', 'user+tag', 'Straße'])[1 + i % 5] || (i % 97) AS l,
               (ARRAY['mail.ru', 'Почта.рф', 'Example.COM'])[1 + i % 3] AS d
          FROM generate_series(1, 1000) AS i) AS s;
SELECT is((SELECT count(*)::int FROM email_sample WHERE v::cdp.email OPERATOR(cdp.<>) v_upper::cdp.email),
          0, 'email: upper-casing the local part gives an equal address');
SELECT is((SELECT count(*)::int FROM email_sample
            WHERE cdp.email_hash(v::cdp.email) <> cdp.email_hash(v_upper::cdp.email)
               OR cdp.email_hash_extended(v::cdp.email, 99) <> cdp.email_hash_extended(v_upper::cdp.email, 99)),
          0, 'email: equal addresses hash alike');
SELECT is((SELECT count(*)::int FROM email_sample WHERE v::cdp.email::text::cdp.email::text <> v::cdp.email::text),
          0, 'email: the canonical text reads back unchanged');
SELECT is((SELECT count(DISTINCT v::cdp.email)::int FROM email_sample),
          (SELECT count(DISTINCT lower(v::cdp.email::text))::int FROM email_sample),
          'email: DISTINCT agrees with lower(canonical text)');

-- sorting uses the sort-support comparator and abbreviated keys; amcheck verifies index order
CREATE EXTENSION IF NOT EXISTS amcheck;
CREATE TEMP TABLE email_mix AS
SELECT ((ARRAY['Пользователь', 'пользователь', 'ПОЛЬЗОВАТЕЛЬ', 'Straße', 'STRASSE', 'a', 'A.b', 'ab', 'a-', 'a!'])[1 + i % 10]
        || (i % 700) || (ARRAY['@mail.ru', '@почта.рф', '@b.ru', '@a.ru'])[1 + i % 4])::cdp.email AS e
  FROM generate_series(1, 20000) AS i;
CREATE INDEX email_mix_e ON email_mix (e);
SELECT lives_ok($$SELECT bt_index_check('email_mix_e', true)$$, 'email: amcheck finds the btree index in order');
SELECT is((SELECT count(*)::int FROM (SELECT e, lag(e) OVER (ORDER BY e) AS prev FROM email_mix) AS s
            WHERE prev IS NOT NULL AND cdp.email_cmp(prev, e) > 0),
          0, 'email: a sort with abbreviated keys agrees with email_cmp');
SELECT is((SELECT count(*)::int FROM (SELECT e, lag(e) OVER (ORDER BY e) AS prev FROM email_mix) AS s
            WHERE prev IS NOT NULL AND cdp.email_cmp(prev, e) = 0
              AND cdp.email_hash(prev) <> cdp.email_hash(e)),
          0, 'email: neighbours that compare equal hash alike');
CREATE INDEX phone_sample_p ON phone_sample (p);
SELECT lives_ok($$SELECT bt_index_check('phone_sample_p', true)$$, 'phone: amcheck finds the btree index in order');
SELECT is(cdp.email_domain('иванов@почта.рф'), 'xn--80a1acny.xn--p1ai', 'email: IDN domain to punycode');
SELECT throws_ok($$SELECT 'ivan@@mail.ru'::cdp.email$$, '22P02',
                 'invalid input syntax for type cdp.email: "ivan@@mail.ru"', 'email: two @ are 22P02');

-- ---- btree deduplication: allowed where equal means equal bytes, not for e-mails ----
CREATE EXTENSION IF NOT EXISTS pageinspect;
CREATE TEMP TABLE dedup AS
SELECT ('+7 916 000 00 ' || lpad((i % 10)::text, 2, '0'))::cdp.phone AS p,
       ('ivan' || (i % 10) || '@mail.ru')::cdp.email AS e,
       '123-456-789 64'::cdp.snils AS s, '1234567890123452'::cdp.oms AS o
  FROM generate_series(1, 1000) AS i;
CREATE INDEX dedup_p ON dedup (p);
CREATE INDEX dedup_e ON dedup (e);
CREATE INDEX dedup_s ON dedup (s);
CREATE INDEX dedup_o ON dedup (o);
SELECT ok((SELECT allequalimage FROM bt_metap('dedup_p')), 'phone: btree indexes may deduplicate');
SELECT ok((SELECT allequalimage FROM bt_metap('dedup_s')), 'snils: btree indexes may deduplicate');
SELECT ok((SELECT allequalimage FROM bt_metap('dedup_o')), 'oms: btree indexes may deduplicate');
SELECT ok(NOT (SELECT allequalimage FROM bt_metap('dedup_e')), 'email: btree indexes do not deduplicate (equal may differ in case)');

-- ---- mutation fuzzing: the input function, try_ and is_valid_ share one parser ----
-- parses(v, t): whether v::t succeeds; any error other than 22P02/22023 propagates and fails the suite
CREATE FUNCTION pg_temp.parses(v text, typ text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('SELECT %L::%s', v, typ);
	RETURN true;
EXCEPTION WHEN invalid_text_representation OR invalid_parameter_value THEN
	RETURN false;
END $$;
-- mutate(s, n): n random edits (delete, insert, replace, double) drawn from troublesome pieces
CREATE FUNCTION pg_temp.mutate(s text, n int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	pieces text[] := ARRAY['0', '1', '7', '8', '9', ' ', '-', '(', ')', '.', '+', '@', '#', 'x', 'X',
	                       ';', '=', 'a', 'Z', 'д', 'Б', 'ß', 'İ', 'é', E'\u200B', E'\t', '。', 'xn--',
	                       '..', '@@', ' доб. ', ';ext=', '00', '"', '<', E'\u00A0'];
	r float8;
	pos int;
	piece text;
BEGIN
	FOR i IN 1..n LOOP
		r := random();
		pos := 1 + floor(random() * (length(s) + 1))::int;
		piece := pieces[1 + floor(random() * array_length(pieces, 1))::int];
		IF r < 0.3 THEN
			s := overlay(s PLACING '' FROM pos FOR 1);
		ELSIF r < 0.6 THEN
			s := overlay(s PLACING piece FROM pos FOR 0);
		ELSIF r < 0.95 THEN
			s := overlay(s PLACING piece FROM pos FOR 1);
		ELSE
			s := s || s;
		END IF;
	END LOOP;
	RETURN s;
END $$;
CREATE TEMP TABLE fuzz AS
SELECT typ, pg_temp.mutate(seed, 1 + (i % 3)) AS v
  FROM (VALUES ('cdp.phone', '8 (916) 123-45-67'), ('cdp.phone', '+7 916 123-45-67 доб. 12'),
               ('cdp.phone', '+44 20 7946 0958'), ('cdp.phone', '+79161234567;ext=12'),
               ('cdp.email', 'Ivan.Petrov@Mail.RU'), ('cdp.email', 'иванов@почта.рф'),
               ('cdp.email', 'user+tag@xn--80a1acny.xn--p1ai'),
               ('cdp.snils', '123-456-789 64'), ('cdp.snils', '11223344595'),
               ('cdp.oms', '1234 5678 9012 3452'), ('cdp.oms', '7700000000000008')) AS s(typ, seed),
       generate_series(1, 400) AS i;
ALTER TABLE fuzz ADD COLUMN parses boolean, ADD COLUMN valid boolean, ADD COLUMN tried text;
UPDATE fuzz SET parses = pg_temp.parses(v, typ),
                valid = CASE typ WHEN 'cdp.phone' THEN cdp.is_valid_phone(v) WHEN 'cdp.email' THEN cdp.is_valid_email(v)
                                 WHEN 'cdp.snils' THEN cdp.is_valid_snils(v) ELSE cdp.is_valid_oms(v) END,
                tried = CASE typ WHEN 'cdp.phone' THEN cdp.try_phone(v)::text WHEN 'cdp.email' THEN cdp.try_email(v)::text
                                 WHEN 'cdp.snils' THEN cdp.try_snils(v)::text ELSE cdp.try_oms(v)::text END;
SELECT is((SELECT count(*)::int FROM fuzz WHERE parses <> valid), 0,
          'fuzz: the input function accepts exactly what is_valid_ accepts (4400 mutants)');
SELECT is((SELECT count(*)::int FROM fuzz WHERE (tried IS NOT NULL) <> valid), 0,
          'fuzz: try_ returns a value exactly when is_valid_ is true');
SELECT cmp_ok((SELECT count(*)::int FROM fuzz WHERE valid), '>', 0, 'fuzz: some mutants are still valid');
SELECT cmp_ok((SELECT count(*)::int FROM fuzz WHERE NOT valid), '>', 0, 'fuzz: some mutants are invalid');
SELECT is((SELECT count(*)::int FROM fuzz WHERE typ = 'cdp.phone' AND valid AND cdp.try_phone(tried)::text <> tried), 0,
          'fuzz: accepted phones are canonical (their output reads back the same)');
SELECT is((SELECT count(*)::int FROM fuzz WHERE typ = 'cdp.email' AND valid AND cdp.try_email(tried)::text <> tried), 0,
          'fuzz: accepted e-mails are canonical');
SELECT is((SELECT count(*)::int FROM fuzz WHERE typ = 'cdp.snils' AND valid AND cdp.try_snils(tried)::text <> tried), 0,
          'fuzz: accepted SNILS are canonical');
SELECT is((SELECT count(*)::int FROM fuzz WHERE typ = 'cdp.oms' AND valid AND cdp.try_oms(tried)::text <> tried), 0,
          'fuzz: accepted OMS numbers are canonical');

SELECT * FROM finish();
ROLLBACK;
