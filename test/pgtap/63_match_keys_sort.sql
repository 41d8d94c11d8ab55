-- test/pgtap/63_match_keys_sort.sql: the full re-key writes the match_block rows in key order
-- (src/match_keys_sort.c, issue 12, session 33) so that the build of match_block_bk reads sorted
-- rows.  On records made to tie (a few names and dates shared by many, keys sharing their first
-- 8 bytes and differing after them or in length, dates missing) the rows are those of the SQL
-- statements; the rows of one key keep the records' order (the order the index and any scan of
-- the key return them in); the key rows and their order are untouched; past
-- maintenance_work_mem the rows go on pages as they come, the same rows in the same order within
-- each key.
BEGIN;
SELECT plan(11);

SELECT setseed(0.33);
SELECT cdp.register_source('s33');
CREATE TEMP TABLE gen AS
SELECT i, jsonb_strip_nulls(jsonb_build_object(
         -- "Kuznetsov" and "Kuznetsova", "Kuznetsovskaya": one 8-byte prefix of the family key, other lengths
         'family_name', (ARRAY['Kuznetsov','Kuznetsova','Kuznetsovskaya','Kuzn','Ivanov','Ivanova'])[1 + floor(random() * 6)::int],
         'given_name', (ARRAY['Anna','Anna','Olga','Petr','Aleksandr','Aleksandra'])[1 + floor(random() * 6)::int],
         'birth_date', CASE WHEN random() < 0.7 THEN to_char(date '1980-01-01' + floor(random() * 4)::int, 'YYYY-MM-DD') END,
         'sex', (ARRAY['M','F'])[1 + floor(random() * 2)::int],
         'phone', CASE WHEN random() < 0.5 THEN '+7916000000' || floor(random() * 10)::int END,
         'email', CASE WHEN random() < 0.3 THEN 'same' || floor(random() * 3)::int || '@mail.ru' END)) AS attrs
  FROM generate_series(1, 700) i;
INSERT INTO cdp.record (source_id, source_key, raw, family_name, given_name, patronymic, birth_date, sex, phones, emails,
                        snils, oms, address, city, handles, extra, attrs_hash)
SELECT s.source_id, g.i::text, g.attrs, n.family_name, n.given_name, n.patronymic, n.birth_date, n.sex, n.phones, n.emails,
       n.snils, n.oms, n.address, n.city, n.handles, COALESCE(n.extra, '{}'), md5(g.attrs::text)
  FROM gen g JOIN cdp.source s ON s.name = 's33'
 CROSS JOIN LATERAL jsonb_populate_record(NULL::cdp.record, cdp.normalize_attrs(g.attrs, true)) n;

-- one full re-key: the digests of its rows, and how the rows of match_block lie
CREATE TEMP TABLE rekey (how text, keys text, key_order text, block text, mates text, descents bigint, pages bigint, idx bigint);
CREATE FUNCTION pg_temp.rekey(how text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM cdp_internal._match_refresh_keys(NULL);
	INSERT INTO rekey
	SELECT how,
	       (SELECT md5(string_agg(k::text, E'\n' ORDER BY k.record_id)) FROM (SELECT record_id, version, flags, feat, bk, queued_at FROM cdp_internal.match_key) k),
	       (SELECT md5(string_agg(record_id::text, ',' ORDER BY ctid)) FROM cdp_internal.match_key),
	       (SELECT md5(string_agg(b::text, E'\n' ORDER BY b.bk, b.record_id)) FROM cdp_internal.match_block b),
	       -- per key, its records in the order of the key rows (the order the scan added them in)
	       (SELECT md5(string_agg(x.m, E'\n' ORDER BY x.bk)) FROM
	          (SELECT b.bk, b.bk || ':' || string_agg(b.record_id::text, ',' ORDER BY b.ctid) AS m
	             FROM cdp_internal.match_block b GROUP BY b.bk) x),
	       (SELECT count(*) FILTER (WHERE x.bk < x.prev) FROM (SELECT b.bk, lag(b.bk) OVER (ORDER BY b.ctid) AS prev FROM cdp_internal.match_block b) x),
	       pg_relation_size('cdp_internal.match_block') / current_setting('block_size')::int,
	       (SELECT count(*) FROM pg_indexes WHERE schemaname = 'cdp_internal' AND tablename IN ('match_key', 'match_block'));
END $$;

-- the mates of each key in the order the records were keyed: the order the full re-key's scan
-- reads cdp.record in, its physical order (match_key's own physical order is not quite that: a
-- later key row may fill the room left on an earlier page)
CREATE FUNCTION pg_temp.mates_in_key_order() RETURNS text LANGUAGE sql AS $$
	SELECT md5(string_agg(x.m, E'\n' ORDER BY x.bk)) FROM
	  (SELECT b.bk, b.bk || ':' || string_agg(k.record_id::text, ',' ORDER BY r.ctid) AS m
	     FROM cdp_internal.match_key k JOIN cdp.record r USING (record_id) CROSS JOIN LATERAL unnest(k.bk) b(bk)
	    WHERE b.bk IS NOT NULL GROUP BY b.bk) x
$$;

SELECT pg_temp.rekey('c');
SELECT is((SELECT mates FROM rekey WHERE how = 'c'), pg_temp.mates_in_key_order(),
          'the rows of each key lie in the order the records were keyed');
SELECT cmp_ok((SELECT count(DISTINCT bk) FROM cdp_internal.match_block), '<', (SELECT count(*) FROM cdp_internal.match_block) / 4,
              'the fixture ties: four rows or more a key on average');
SELECT ok((SELECT count(*) FROM cdp_internal.match_block WHERE birth_date IS NULL) > 0
          AND (SELECT count(*) FROM cdp_internal.match_block WHERE length(bk) > 8) > 0
          AND EXISTS (SELECT 1 FROM cdp_internal.match_block a JOIN cdp_internal.match_block b ON left(a.bk, 8) = left(b.bk, 8) AND a.bk < b.bk),
          'the fixture has missing dates and keys sharing their first 8 bytes');
-- a key ordered after the next only where a later row went back to the free space of an earlier
-- page (the free space map), at most a few times a page: written in record order, most rows are
-- followed by a smaller key
SELECT cmp_ok((SELECT descents FROM rekey WHERE how = 'c'), '<', (SELECT pages FROM rekey WHERE how = 'c'),
              'the block rows lie in key order');

-- the SQL statements (a trigger on match_block makes the C writers decline)
CREATE FUNCTION pg_temp.no_op() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END $$;
CREATE TRIGGER keys33_no_op BEFORE INSERT ON cdp_internal.match_block FOR EACH ROW EXECUTE FUNCTION pg_temp.no_op();
SELECT pg_temp.rekey('sql');
DROP TRIGGER keys33_no_op ON cdp_internal.match_block;
SELECT is((SELECT (keys, key_order, block, idx) FROM rekey WHERE how = 'c')::text, (SELECT (keys, key_order, block, idx) FROM rekey WHERE how = 'sql')::text,
          'key rows, their order, block rows and indexes are those of the SQL statements');
SELECT cmp_ok((SELECT descents FROM rekey WHERE how = 'sql'), '>', (SELECT pages FROM rekey WHERE how = 'sql'),
              'the SQL statements write the block rows in record order (the comparison above means something)');

-- over maintenance_work_mem (1 MB: less than the first rows' array) the rows go on pages as they come
SET LOCAL maintenance_work_mem = '1MB';
SELECT pg_temp.rekey('streamed');
RESET maintenance_work_mem;
SELECT is((SELECT (keys, key_order, block, mates, idx) FROM rekey WHERE how = 'streamed')::text,
          (SELECT (keys, key_order, block, mates, idx) FROM rekey WHERE how = 'c')::text,
          'past maintenance_work_mem: the same rows, the same order within each key');
SELECT cmp_ok((SELECT descents FROM rekey WHERE how = 'streamed'), '>', (SELECT pages FROM rekey WHERE how = 'streamed'),
              'past maintenance_work_mem the rows lie in record order');

-- the query writer (_match_write_keys, settings the C builder cannot read) sorts the same way
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
			(SELECT md5(string_agg(b::text, E'\n' ORDER BY ctid)) FROM (SELECT ctid, bk, record_id, birth_date FROM cdp_internal.match_block) b));
	END LOOP;
	RETURN CASE WHEN d[1] = d[2] THEN 'equal' ELSE d[1] || ' <> ' || d[2] END;
END $$;
SELECT is(pg_temp.scan_vs_query(), 'equal', 'the scan and the query writer put the same block rows in the same order');

-- the index reads a key's rows in the records' order: the first of a common key are the first keyed
SELECT pg_temp.rekey('c2');
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT is((SELECT string_agg(m.record_id::text, ',') FROM (SELECT m.record_id FROM cdp_internal.match_block m WHERE m.bk = x.bk LIMIT 5) m),
          (SELECT string_agg(k.record_id::text, ',') FROM (SELECT k.record_id FROM cdp_internal.match_key k JOIN cdp.record r USING (record_id) WHERE x.bk = ANY (k.bk) ORDER BY r.ctid LIMIT 5) k),
          'an index scan of the commonest key returns its first records in the order they were keyed')
  FROM (SELECT bk FROM cdp_internal.match_block GROUP BY bk ORDER BY count(*) DESC, bk LIMIT 1) x;
SELECT is((SELECT count(*) FROM cdp_internal.match_block b JOIN cdp.record r USING (record_id) WHERE b.birth_date IS DISTINCT FROM r.birth_date),
          0::bigint, 'each block row carries its record''s birth date');

SELECT * FROM finish();
ROLLBACK;
