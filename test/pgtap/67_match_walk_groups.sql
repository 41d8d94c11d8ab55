-- test/pgtap/67_match_walk_groups.sql: the kernel's grouped walk (issue 12, speed).  In score mode
-- a large block of a rule is grouped by the key of an earlier rule and the pairs inside a group are
-- never visited (the earlier rule yielded them); the pairs scored must stay exactly the candidate
-- pairs, each found by the first rule that yields it, as the plain SQL join over match_block says,
-- and as the count mode (which visits every pair) counts them.  match_record reads at most 64
-- block mates of a record, the rarest keys first (a mate weighs the sum of ln(256 / mates) of the
-- keys it shares), from the key index alone once vacuumed (it carries the record ids).  A full run
-- with most records queued (after a bulk load) re-keys them all at once and leaves the same keys
-- and block rows.
BEGIN;
SELECT plan(13);

-- blocks of 30 and more: the same two words as family and given name in both orders (an
-- "any_order" rule repeats the pairs of the plain family + given rule), over a few birth years
SELECT setseed(0.67);
SELECT cdp.register_source('g1');
-- the shipped document with the blocking rules it had before issue 12's session 40, which blocked
-- on the family and the given name alone, in order and in any order (the shipped rules keep those
-- two as lookup rules, which no walk reads): the grouped walk needs a rule whose pairs an earlier
-- rule repeats
\ir ../fixtures/match_former_rules.sql
SELECT cdp.configure_matching(pg_temp.former_rules()) > 1;
CREATE TEMP TABLE gen AS
SELECT row_number() OVER () AS k,
       jsonb_strip_nulls(jsonb_build_object(
         'family_name', CASE WHEN s THEN w.b ELSE w.a END,
         'given_name', CASE WHEN s THEN w.a ELSE w.b END,
         'patronymic', CASE WHEN random() < 0.5 THEN NULL ELSE (ARRAY['Qwix', 'Plon'])[1 + floor(random() * 2)::int] END,
         'birth_date', CASE WHEN random() < 0.1 THEN NULL
                            ELSE to_char(date '1980-01-01' + (365 * floor(random() * 3))::int + floor(random() * 4)::int, 'YYYY-MM-DD') END,
         'phone', CASE WHEN random() < 0.7 THEN NULL ELSE '+7916' || lpad(floor(random() * 20)::text, 7, '0') END)) AS attrs
  FROM (VALUES ('Zorgul', 'Blipko', 70), ('Tramfo', 'Wexlin', 40)) w(a, b, n)
 CROSS JOIN LATERAL generate_series(1, w.n) i
 CROSS JOIN LATERAL (SELECT i % 3 = 0 AS s) o;
INSERT INTO cdp.record (source_id, source_key, raw, family_name, given_name, patronymic, birth_date, sex, phones, emails,
                        snils, oms, address, city, handles, extra, attrs_hash)
SELECT s.source_id, g.k::text, g.attrs, n.family_name, n.given_name, n.patronymic, n.birth_date, n.sex, n.phones, n.emails,
       n.snils, n.oms, n.address, n.city, n.handles, COALESCE(n.extra, '{}'), md5(g.attrs::text)
  FROM gen g
  JOIN cdp.source s ON s.name = 'g1'
 CROSS JOIN LATERAL jsonb_populate_record(NULL::cdp.record, cdp.normalize_attrs(g.attrs, true)) n;
SELECT cmp_ok(cdp_internal._match_refresh_keys(NULL), '=', 110::bigint, 'every record is keyed');

-- the reference: every pair sharing a blocking key, with the first rule whose key it shares
CREATE TEMP TABLE ref AS
SELECT a.record_id AS record_a, b.record_id AS record_b,
       min(substring(a.bk FROM '^r(\d+):')::int) AS rule
  FROM cdp_internal.match_block a
  JOIN cdp_internal.match_block b ON b.bk = a.bk AND b.record_id > a.record_id
 GROUP BY 1, 2;
SELECT cmp_ok((SELECT max(n) FROM (SELECT count(*) AS n FROM cdp_internal.match_block GROUP BY bk) x), '>=', 70::bigint,
              'the fixture has blocks large enough to be grouped');

CREATE TEMP TABLE act AS SELECT * FROM cdp_internal._match_active();
CREATE TEMP TABLE walked AS
SELECT w.record_a, w.record_b, w.rule
  FROM act a, cdp_internal._match_walk('score', cdp_internal._match_query(NULL), a.program, a.version, -1,
                                       (a.settings ->> 'max_block_size')::int, 0, NULL) w;
SELECT is((SELECT count(*) FROM walked), (SELECT count(DISTINCT (record_a, record_b)) FROM walked),
          'the grouped walk scores each pair once');
SELECT set_eq('SELECT record_a, record_b, rule FROM walked', 'SELECT record_a, record_b, rule FROM ref',
              'the grouped walk scores exactly the candidate pairs, each by the first rule that yields it');
SELECT set_eq('SELECT rule::int, n_new FROM (SELECT w.rule, sum(w.n_new) AS n_new FROM act a, cdp_internal._match_walk(''count'', cdp_internal._match_query(NULL), a.program, a.version, 0, (a.settings ->> ''max_block_size'')::int, 0, NULL) w GROUP BY w.rule) x WHERE n_new > 0',
              'SELECT rule, count(*) FROM walked GROUP BY rule',
              'the count mode (every pair visited) counts the pairs the grouped walk scores, rule by rule');

-- a lookup among 450 namesakes: 150 of them (born in 1977, same patronymic) share four name keys
-- with the record; its twin (family name misspelt, same birth date, patronymic and phone) shares
-- four rare keys (birth date + given name, birth date + patronymic, birth date + initial, phone)
-- and ranks first although a count of shared keys would rank 150 namesakes before it
INSERT INTO cdp.record (source_id, source_key, raw, family_name, given_name, patronymic, birth_date, phones, attrs_hash)
SELECT s.source_id, 'n' || i, '{}', 'Quorpa', 'Lintex', NULL, date '1950-01-01' + i * 37, NULL, md5(i::text)
  FROM generate_series(1, 300) i, cdp.source s WHERE s.name = 'g1';
INSERT INTO cdp.record (source_id, source_key, raw, family_name, given_name, patronymic, birth_date, phones, attrs_hash)
SELECT s.source_id, 'd' || i, '{}', 'Quorpa', 'Lintex', 'Vorbis', date '1977-01-01' + i * 2, NULL, md5('d' || i)
  FROM generate_series(1, 150) i, cdp.source s WHERE s.name = 'g1' AND date '1977-01-01' + i * 2 <> date '1977-07-17';
INSERT INTO cdp.record (source_id, source_key, raw, family_name, given_name, patronymic, birth_date, phones, attrs_hash)
SELECT s.source_id, t, '{}', f, 'Lintex', 'Vorbis', date '1977-07-17', ARRAY['+79161234567']::cdp.phone[], md5(t)
  FROM unnest(ARRAY['twin1', 'twin2'], ARRAY['Quorpa', 'Quorma']) x(t, f), cdp.source s WHERE s.name = 'g1';
SELECT cdp_internal._match_refresh_keys(NULL);
CREATE TEMP TABLE twin AS
SELECT (SELECT record_id FROM cdp.record WHERE source_key = 'twin1') AS a, (SELECT record_id FROM cdp.record WHERE source_key = 'twin2') AS b;
CREATE TEMP TABLE looked (record_id bigint);
DO $$ BEGIN
	EXECUTE 'INSERT INTO looked SELECT q.record_id FROM (' || cdp_internal._match_lookup_query((SELECT a FROM twin)) || ') q';
END $$;
CREATE TEMP TABLE shared AS
SELECT m.record_id, count(*) AS keys FROM cdp_internal.match_block f JOIN cdp_internal.match_block m ON m.bk = f.bk
 WHERE f.record_id = (SELECT a FROM twin) AND m.record_id <> f.record_id GROUP BY m.record_id;
SELECT ok((SELECT count(*) FROM shared WHERE keys >= (SELECT keys FROM shared WHERE record_id = (SELECT b FROM twin))) > 64,
          'more than 64 namesakes share as many keys with the record as its twin does');
-- lookups read a block's mates from the key index alone (once vacuumed): a full re-key rebuilds
-- it as the install creates it, with the record ids (and the birth dates find_patient splits its
-- candidates by, session 28)
SELECT is((SELECT pg_get_indexdef('cdp_internal.match_block_bk'::regclass)),
          'CREATE INDEX match_block_bk ON cdp_internal.match_block USING btree (bk) INCLUDE (record_id, birth_date)',
          'a full re-key rebuilds the block key index with the record ids and dates (index-only lookups)');
SELECT is((SELECT count(*) FROM looked), 65::bigint, 'a lookup among 450 namesakes reads the record and 64 mates');
SELECT ok((SELECT b FROM twin) IN (SELECT record_id FROM looked), 'the mate sharing the rarest keys is among them');
SELECT ok((SELECT b FROM twin) IN (SELECT candidate FROM cdp.match_record((SELECT a FROM twin))), 'match_record finds the twin');

-- a full run with every record queued and a stale block row: one set-based re-key
CREATE TEMP TABLE keys_before AS SELECT record_id, flags, feat, bk FROM cdp_internal.match_key;
INSERT INTO cdp_internal.match_queue (record_id) SELECT record_id FROM cdp.record;
INSERT INTO cdp_internal.match_block (bk, record_id) VALUES ('r0:stale', -5);
SELECT ok((cdp.run_matching('full') ->> 'processed')::bigint = (SELECT count(*) FROM cdp.record), 'a full run with every record queued keys every record');
SELECT set_eq('SELECT record_id, flags, feat, bk FROM cdp_internal.match_key', 'SELECT * FROM keys_before',
              'and gives the keys re-keying one by one gives');
SELECT set_eq('SELECT bk, record_id FROM cdp_internal.match_block',
              'SELECT b, k.record_id FROM cdp_internal.match_key k, unnest(k.bk) b WHERE b IS NOT NULL',
              'and the block rows of those keys only');

SELECT * FROM finish();
ROLLBACK;
