-- test/pgtap/63_match_name_cache.sql: the C feature builder's name cache (an open-addressing
-- table since issue 12, session 34) changes no feature, key, model or suspicious value: on records
-- whose names repeat in many spellings (case, spaces, ё), names too long to be cached (64 bytes
-- and more), a comparison of mostly distinct values (given names: its cache lookups stop after the
-- probe) and near-duplicate strings, the full re-key in C writes the features, keys and block rows
-- the SQL expressions compute, and training over those keys gives the model that training over the
-- keys written by the SQL statements gives.
BEGIN;
SELECT plan(9);

SELECT setseed(0.34);
SELECT cdp.register_source('nc');
CREATE TEMP TABLE fam (n text);
INSERT INTO fam VALUES ('Иванов'), ('ИВАНОВ'), ('иванов'), ('  Иванов '), ('Ёлкин'), ('Елкин'), ('ЁЛКИН'),
	('Petrov'), ('PETROV'), ('Petrova'), ('Кузнецова-Петрова'), ('Кузнецова Петрова'), ('Сидоров'), ('Сидорова'),
	-- 64 bytes and more: computed each time, never cached
	(repeat('Кузнецова', 4)), (repeat('Кузнецова', 4) || 'а'), (repeat('Smirnov', 10)), (repeat('Smirnov', 9) || 'x'),
	-- 63 bytes: the longest cached value
	(repeat('a', 63)), (repeat('a', 62) || 'b'), ('');
CREATE TEMP TABLE gen AS
SELECT i, jsonb_strip_nulls(jsonb_build_object(
         'family_name', CASE WHEN random() < 0.15 THEN 'Фамилия' || i ELSE (SELECT array_agg(n) FROM fam)[1 + floor(random() * 21)::int] END,
         -- mostly distinct: the given names' hit rate falls under a quarter
         'given_name', CASE WHEN random() < 0.1 THEN (ARRAY['Пётр','ПЁТР','Петр','Анна','анна '])[1 + floor(random() * 5)::int] ELSE 'Имя' || i END,
         'patronymic', (ARRAY['Петрович','ПЕТРОВИЧ','Ивановна', NULL, repeat('Петровна', 5)])[1 + floor(random() * 5)::int],
         'birth_date', to_char(date '1960-01-01' + floor(random() * 300)::int, 'YYYY-MM-DD'),
         'sex', (ARRAY['M','F'])[1 + floor(random() * 2)::int],
         'phone', CASE WHEN random() < 0.2 THEN '+7 495 111-22-33' WHEN random() < 0.6 THEN '+7916' || lpad(floor(random() * 1e7)::text, 7, '0') END,
         'address', CASE WHEN random() < 0.5 THEN 'Тверь, ул. Мира, д. ' || floor(random() * 30) END)) AS attrs
  FROM generate_series(1, 3000) i;
INSERT INTO cdp.record (source_id, source_key, raw, family_name, given_name, patronymic, birth_date, sex, phones, emails,
                        snils, oms, address, city, handles, extra, attrs_hash)
SELECT s.source_id, g.i::text, g.attrs, n.family_name, n.given_name, n.patronymic, n.birth_date, n.sex, n.phones, n.emails,
       n.snils, n.oms, n.address, n.city, n.handles, COALESCE(n.extra, '{}'), md5(g.attrs::text)
  FROM gen g JOIN cdp.source s ON s.name = 'nc'
 CROSS JOIN LATERAL jsonb_populate_record(NULL::cdp.record, cdp.normalize_attrs(g.attrs, true)) n;
SELECT cmp_ok((SELECT count(*) FROM cdp.record WHERE octet_length(family_name) >= 64), '>', 50::bigint,
              'the fixture holds names too long for the cache');
-- the reception phone: a suspicious value, which the keys leave out
SELECT ok(cdp_internal._match_refresh_suspicious(), 'the shared phone is taken as suspicious');
SELECT is((SELECT array_agg(value ORDER BY value) FROM cdp_internal.match_suspicious WHERE attr = 'phones'), '{74951112233}'::text[],
          'the suspicious values are the shared phone');

-- C (through the cache) against the SQL expressions (no cache), on every record
CREATE FUNCTION pg_temp.diff() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint; s jsonb := (cdp_internal._match_active()).settings;
BEGIN
	EXECUTE format('SELECT count(*) FROM (%s) c FULL JOIN (%s) q USING (record_id)
	                 WHERE c.flags IS DISTINCT FROM q.flags OR c.feat IS DISTINCT FROM q.feat OR c.bk IS DISTINCT FROM q.bk',
	               cdp_internal._match_feature_query(s, 'cdp.record r'), cdp_internal._match_feature_query(s, 'cdp.record r', true)) INTO n;
	RETURN n;
END $$;
SELECT is(pg_temp.diff(), 0::bigint, 'name_roles: C and SQL features, keys and flags are equal on every record');

-- the full re-key, then training; digests of the keys, the blocks, the model and the term frequencies
CREATE TEMP TABLE res (how text, keys text, block text, model text, tf text);
CREATE FUNCTION pg_temp.rekey_train(how text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE a record := cdp_internal._match_active();
BEGIN
	IF how = 'c' THEN
		-- the full re-key: one scan of the records in C, the names through the cache
		PERFORM cdp_internal._match_refresh_keys(NULL);
	ELSE
		-- the same rows from the SQL expressions (no cache), written in the records' order
		TRUNCATE cdp_internal.match_key, cdp_internal.match_block;
		PERFORM cdp_internal._match_write_keys(format('SELECT f.record_id, f.flags, f.feat, f.bk, q.queued_at, f.birth_date FROM (%s) f'
			' LEFT JOIN cdp_internal.match_queue q ON q.record_id = f.record_id',
			cdp_internal._match_feature_query(a.settings, 'cdp.record r', true, true)), a.version);
	END IF;
	-- (the keys are current: training trains on them as they are)
	PERFORM cdp.train_matching(20000, 10);
	INSERT INTO res
	SELECT how,
	       (SELECT md5(string_agg(k::text, E'\n' ORDER BY k.record_id)) FROM (SELECT record_id, version, flags, feat, bk, queued_at FROM cdp_internal.match_key) k),
	       (SELECT md5(string_agg(b::text, E'\n' ORDER BY b.bk, b.record_id)) FROM cdp_internal.match_block b),
	       (SELECT md5((params - 'times' - 'trained_at')::text) FROM cdp_internal.match_settings WHERE active),
	       (SELECT md5(string_agg(t::text, ';' ORDER BY version, comp, value)) FROM cdp_internal.match_tf t);
END $$;
SELECT pg_temp.rekey_train('c');
SELECT pg_temp.rekey_train('sql');
SELECT is((SELECT (keys, block) FROM res WHERE how = 'c')::text, (SELECT (keys, block) FROM res WHERE how = 'sql')::text,
          'the C re-key writes the keys and block rows of the SQL expressions');
SELECT is((SELECT model FROM res WHERE how = 'c'), (SELECT model FROM res WHERE how = 'sql'), 'training over either gives the same model');
SELECT is((SELECT tf FROM res WHERE how = 'c'), (SELECT tf FROM res WHERE how = 'sql'), 'and the same term frequencies');
SELECT cmp_ok((SELECT count(*) FROM cdp_internal.match_tf t JOIN cdp_internal.match_settings s ON s.version = t.version AND s.active
                WHERE t.comp = 0 AND t.value <> ''), '>', 5::bigint, 'the family names'' frequencies are counted');

-- without name_roles (each name in its own column)
UPDATE cdp_internal.match_settings SET settings = settings || '{"name_roles": false}' WHERE active;
SELECT is(pg_temp.diff(), 0::bigint, 'without name_roles: C and SQL are equal on every record');

SELECT * FROM finish();
ROLLBACK;
