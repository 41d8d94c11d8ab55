-- test/pgtap/63_match_features.sql: the C feature builder (_match_features, issue 6) computes the
-- very features, blocking keys and placeholder flags of the SQL expressions it replaces, on
-- generated records with every kind of value (names in two scripts, placeholders, empty names,
-- phones shared by many people, e-mails in upper case, extra and handle attrs) and every blocking
-- transform; settings it cannot compile keep the SQL form.
BEGIN;
SELECT plan(23);

SELECT setseed(0.63);
SELECT cdp.register_source('f1');
CREATE TEMP TABLE gen AS
SELECT i, jsonb_strip_nulls(jsonb_build_object(
         'family_name', (ARRAY['Иванов','Петрова','Smirnov','Ёлкин','Неизвестный','тест', NULL,'Кузнецова-Петрова','  Сидоров  '])[1 + floor(random() * 9)::int],
         'given_name', (ARRAY['Пётр','Анна','Olga','Саша','Тест', NULL,'Мария','J.'])[1 + floor(random() * 8)::int],
         'patronymic', (ARRAY['Петрович','Ивановна', NULL,'тестович'])[1 + floor(random() * 4)::int],
         'birth_date', CASE WHEN random() < 0.9 THEN to_char(date '1950-01-01' + floor(random() * 20000)::int, 'YYYY-MM-DD') END,
         'sex', (ARRAY['M','F', NULL])[1 + floor(random() * 3)::int],
         'phone', CASE WHEN random() < 0.3 THEN '+7 495 000-00-00' WHEN random() < 0.7 THEN '+7916' || lpad(floor(random() * 1e7)::text, 7, '0') END,
         'email', CASE WHEN random() < 0.4 THEN (ARRAY[' Test@Mail.RU ','anna@example.com','USER' || i || '@ya.ru'])[1 + floor(random() * 3)::int] END,
         'snils', CASE WHEN random() < 0.2 THEN '112-233-445 95' END,
         'address', CASE WHEN random() < 0.5 THEN 'Москва, ул. Ленина, д. ' || floor(random() * 50) END,
         'city', (ARRAY['Москва','Тверь', NULL])[1 + floor(random() * 3)::int],
         'vk', CASE WHEN random() < 0.3 THEN 'id-' || floor(random() * 100) || ' x' END,
         'card', CASE WHEN random() < 0.3 THEN ' C' || floor(random() * 100) || ' ' END,
         'nick', CASE WHEN random() < 0.3 THEN (ARRAY['Петя','PETYA','Ann'])[1 + floor(random() * 3)::int] END,
         'work_phone', CASE WHEN random() < 0.3 THEN '8 (916) ' || floor(random() * 1000) END,
         'alt_email', CASE WHEN random() < 0.3 THEN ' Alt' || floor(random() * 10) || '@Mail.ru' END)) AS attrs
  FROM generate_series(1, 600) i;
INSERT INTO cdp.record (source_id, source_key, raw, family_name, given_name, patronymic, birth_date, sex, phones, emails,
                        snils, oms, address, city, handles, extra, attrs_hash)
SELECT s.source_id, g.i::text, g.attrs, n.family_name, n.given_name, n.patronymic, n.birth_date, n.sex, n.phones, n.emails,
       n.snils, n.oms, n.address, n.city, n.handles, COALESCE(n.extra, '{}'), md5(g.attrs::text)
  FROM gen g JOIN cdp.source s ON s.name = 'f1'
 CROSS JOIN LATERAL jsonb_populate_record(NULL::cdp.record, cdp.normalize_attrs(g.attrs, true)) n;
-- the reception phone is shared by many differently named people: a suspicious value
SELECT ok(cdp_internal._match_refresh_suspicious(), 'the shared phone is taken as suspicious');

-- compares the C and SQL forms of the active settings on every record
CREATE FUNCTION pg_temp.diff() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint; s jsonb := (cdp_internal._match_active()).settings;
BEGIN
	EXECUTE format('SELECT count(*) FROM (%s) c FULL JOIN (%s) q USING (record_id)
	                 WHERE c.flags IS DISTINCT FROM q.flags OR c.feat IS DISTINCT FROM q.feat OR c.bk IS DISTINCT FROM q.bk
	                    OR c.golden_id IS DISTINCT FROM q.golden_id',
	               cdp_internal._match_feature_query(s, 'cdp.record r'), cdp_internal._match_feature_query(s, 'cdp.record r', true)) INTO n;
	RETURN n;
END $$;

SELECT ok((SELECT kinds IS NOT NULL FROM cdp_internal._match_feature_program((cdp_internal._match_active()).settings)), 'the default settings compile for the C builder');
SELECT is(pg_temp.diff(), 0::bigint, 'default settings: C and SQL features, keys and flags are equal on every record');
SELECT cmp_ok((SELECT count(*) FROM (SELECT * FROM cdp_internal._match_walk('count', cdp_internal._match_feature_query((cdp_internal._match_active()).settings, 'cdp.record r'),
              (cdp_internal._match_active()).program, 0, 0, 0, 0, NULL)) x), '>', 0::bigint, 'the kernel reads the C form');

-- the full re-key's scan (_match_write_keys_scan, issue 12, session 32) writes the rows of the
-- query writer (_match_write_keys over _match_feature_query) in the same physical order
CREATE FUNCTION pg_temp.scan_vs_query() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	a record := cdp_internal._match_active();
	fp record := cdp_internal._match_feature_program(a.settings);
	d text[];
	n bigint;
BEGIN
	FOR i IN 1 .. 2 LOOP
		TRUNCATE cdp_internal.match_key, cdp_internal.match_block;
		IF i = 1 THEN
			n := cdp_internal._match_write_keys_scan(fp.kinds, fp.rules, fp.ph_pos, fp.ph_names,
				(SELECT array_agg(y.attr ORDER BY y.comp) FROM cdp_internal._match_layout(a.settings) y),
				COALESCE((a.settings ->> 'name_roles')::boolean, false), a.version);
		ELSE
			n := cdp_internal._match_write_keys(format('SELECT f.record_id, f.flags, f.feat, f.bk, q.queued_at, f.birth_date FROM (%s) f'
				' LEFT JOIN cdp_internal.match_queue q ON q.record_id = f.record_id',
				cdp_internal._match_feature_query(a.settings, 'cdp.record r', false, true)), a.version);
		END IF;
		d := d || concat_ws(' ', n,
			(SELECT md5(string_agg(k::text, E'\n' ORDER BY ctid)) FROM (SELECT ctid, record_id, version, flags, feat, bk, queued_at FROM cdp_internal.match_key) k),
			(SELECT md5(string_agg(b::text, E'\n' ORDER BY ctid)) FROM (SELECT ctid, bk, record_id, birth_date FROM cdp_internal.match_block) b));
	END LOOP;
	RETURN CASE WHEN d[1] = d[2] THEN 'equal' ELSE d[1] || ' <> ' || d[2] END;
END $$;
UPDATE cdp_internal.match_queue SET queued_at = queued_at - interval '1 day' WHERE record_id % 3 = 0;
DELETE FROM cdp_internal.match_queue WHERE record_id % 5 = 0;
SELECT is(pg_temp.scan_vs_query(), 'equal', 'default settings (name_roles): the scan writes the query writer''s rows in its order, queued_at included');
UPDATE cdp_internal.match_settings SET settings = settings || '{"name_roles": false}' WHERE active;
SELECT is(pg_temp.scan_vs_query(), 'equal', 'without name_roles: the same rows in the same order');
-- a queue whose ids spread far (an entry of no record): looked up by a binary search, not by a table
INSERT INTO cdp_internal.match_queue (record_id, queued_at) VALUES (1000000000000, now());
SELECT is(pg_temp.scan_vs_query(), 'equal', 'a queue of ids spread wide: the same rows in the same order');
DELETE FROM cdp_internal.match_queue WHERE record_id = 1000000000000;
UPDATE cdp_internal.match_settings SET settings = settings || '{"name_roles": true}' WHERE active;

-- the full re-key's writer (_match_write_keys, issue 12, session 30) writes the rows and the
-- physical order of match_key, and the rows of match_block, that its SQL statements write (they
-- run when a table cannot be written from C: here a trigger on match_block)
CREATE TEMP TABLE rekey (how text, n bigint, keys text, key_order text, block text, dates bigint, idx bigint);
CREATE FUNCTION pg_temp.rekey(how text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE n bigint := cdp_internal._match_refresh_keys(NULL);
BEGIN
	INSERT INTO rekey
	SELECT how, n,
	       (SELECT md5(string_agg(k::text, E'\n' ORDER BY k.record_id)) FROM (SELECT record_id, version, flags, feat, bk, queued_at FROM cdp_internal.match_key) k),
	       (SELECT md5(string_agg(record_id::text, ',' ORDER BY ctid)) FROM cdp_internal.match_key),
	       (SELECT md5(string_agg(b::text, E'\n' ORDER BY b.bk, b.record_id)) FROM cdp_internal.match_block b),
	       (SELECT count(*) FROM cdp_internal.match_block b JOIN cdp.record r USING (record_id) WHERE b.birth_date IS DISTINCT FROM r.birth_date),
	       (SELECT count(*) FROM pg_indexes WHERE schemaname = 'cdp_internal' AND tablename IN ('match_key', 'match_block'));
END $$;
CREATE FUNCTION pg_temp.no_op() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END $$;
SELECT is(cdp_internal._match_write_keys('SELECT 1::bigint, 0, NULL::text[], NULL::text[], NULL::timestamptz, NULL::date WHERE false', 1), 0::bigint,
          'the writer writes these tables from C');
SELECT pg_temp.rekey('c');
CREATE TRIGGER keys31_no_op BEFORE INSERT ON cdp_internal.match_block FOR EACH ROW EXECUTE FUNCTION pg_temp.no_op();
SELECT is(cdp_internal._match_write_keys('SELECT 1::bigint, 0, NULL::text[], NULL::text[], NULL::timestamptz, NULL::date WHERE false', 1), NULL,
          'the writer declines a table with a trigger, having written nothing');
SELECT is(cdp_internal._match_write_keys_scan('{1}', '{}', '{0,-1,-1}', NULL, '{family_name}', false, 1), NULL,
          'so does the scan');
SELECT pg_temp.rekey('sql');
DROP TRIGGER keys31_no_op ON cdp_internal.match_block;
SELECT is((SELECT n FROM rekey WHERE how = 'c'), (SELECT count(*) FROM cdp.record), 'the writer keys every record');
SELECT is((SELECT (keys, key_order, block, idx) FROM rekey WHERE how = 'c')::text, (SELECT (keys, key_order, block, idx) FROM rekey WHERE how = 'sql')::text,
          'key rows, their physical order, block rows and indexes are those of the SQL statements');
SELECT is((SELECT dates FROM rekey WHERE how = 'c'), 0::bigint, 'each block row carries its record''s birth date');
SELECT cmp_ok((SELECT count(*) FROM cdp_internal.match_block), '>', (SELECT count(*) FROM cdp_internal.match_key), 'a block row per key');
SELECT throws_ok($$SELECT cdp_internal._match_write_keys('SELECT 1::bigint, 0, NULL::text[], NULL::text[], NULL::timestamptz', 1)$$,
                 '22023', '_match_write_keys: the query must return 6 columns', 'a query of other columns is refused');
SELECT throws_ok($$SELECT cdp_internal._match_write_keys('SELECT 1::int, 0, NULL::text[], NULL::text[], NULL::timestamptz, NULL::date', 1)$$,
                 '42804', NULL, 'a query of other types is refused');

-- every kind of value and every blocking transform the C builder knows
SELECT cdp.configure_matching(cdp_internal._match_default_settings()
  || jsonb_build_object('comparisons', cdp_internal._match_default_settings() -> 'comparisons' || '[
       {"attr": "card", "comparator": "exact"}, {"attr": "nick", "comparator": "name"},
       {"attr": "work_phone", "comparator": "phone"}, {"attr": "alt_email", "comparator": "email"},
       {"attr": "vk2", "comparator": "string"}]'::jsonb)
  || jsonb_build_object('blocking', '[["family_name.prefix3", "birth_date.month_day"], ["phones.last7"],
       ["any_order", "family_name.key", "given_name.key"], ["given_name.initial", "birth_date.year"], ["nick.key"],
       ["work_phone"], ["alt_email"], ["card"], ["vk"], ["city", "sex"]]'::jsonb));
SELECT ok((SELECT kinds IS NOT NULL FROM cdp_internal._match_feature_program((cdp_internal._match_active()).settings)), 'settings with extra attrs and every transform compile');
SELECT is(pg_temp.diff(), 0::bigint, 'extra attrs, any_order and every transform: C and SQL are equal on every record');
SELECT is(pg_temp.scan_vs_query(), 'equal', 'extra attrs, any_order and every transform: the scan writes the query writer''s rows');
SELECT throws_ok($$SELECT cdp_internal._match_write_keys_scan('{1,2}', '{}', '{0,-1,-1}', NULL, '{family_name}', false, 1)$$,
                 '22023', '_match_write_keys_scan needs one attr per kind', 'the scan refuses kinds and attrs of other lengths');
SELECT is((SELECT f.flags FROM cdp_internal._match_feature_program((cdp_internal._match_active()).settings) p,
                 cdp_internal._match_features(p.kinds, p.rules, p.ph_pos, p.ph_names, NULL, NULL, NULL, NULL, NULL) f), 1,
          'a record with no values at all is a placeholder');

-- settings only the SQL form computes
SELECT cdp.configure_matching(cdp_internal._match_default_settings()
  || jsonb_build_object('blocking', '[["family_name.phonetic"]]'::jsonb));
SELECT ok((SELECT kinds IS NULL FROM cdp_internal._match_feature_program((cdp_internal._match_active()).settings)), 'a phonetic blocking key keeps the SQL form');
SELECT throws_ok($$SELECT cdp_internal._match_features('{1}', '{"N;5:0"}', '{0,-1,-1}', NULL, '{x}', NULL, NULL, NULL, NULL)$$,
                 '22023', 'feature program rule 0 is out of range', 'a malformed feature program is refused');

SELECT * FROM finish();
ROLLBACK;
