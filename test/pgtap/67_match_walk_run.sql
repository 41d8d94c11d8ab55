-- test/pgtap/67_match_walk_run.sql: the kernel's run mode (issue 12, session 34).  A full
-- run_matching walks in mode 'run': the record query does not join cdp.record, and the kernel
-- reads every record's golden id itself (cdp.record in record id order) and drops a key row whose
-- record is gone, as the join did.  Its rows must be score mode's over the joining query, row for
-- row (pairs, golden ids, rule, weight, probability, flags, levels), whole and cut into parts,
-- and run_matching('full') must decide the same links as with score mode.
BEGIN;
SELECT plan(8);

SELECT setseed(0.36);
SELECT cdp.register_source('wr');
CREATE TEMP TABLE gen AS
SELECT row_number() OVER () AS k,
       jsonb_strip_nulls(jsonb_build_object(
         'family_name', (ARRAY['Zorgul', 'Zorgol', 'Tramfo', 'Blipko'])[1 + floor(random() * 4)::int],
         'given_name', (ARRAY['Wexlin', 'Wexlyn', 'Qwix'])[1 + floor(random() * 3)::int],
         'patronymic', CASE WHEN random() < 0.5 THEN NULL ELSE (ARRAY['Plon', 'Vorbis'])[1 + floor(random() * 2)::int] END,
         'birth_date', CASE WHEN random() < 0.1 THEN NULL
                            ELSE to_char(date '1980-01-01' + floor(random() * 6)::int, 'YYYY-MM-DD') END,
         'phone', CASE WHEN random() < 0.6 THEN NULL ELSE '+7916' || lpad(floor(random() * 8)::text, 7, '0') END)) AS attrs
  FROM generate_series(1, 120) i;
INSERT INTO cdp.record (source_id, source_key, raw, family_name, given_name, patronymic, birth_date, sex, phones, emails,
                        snils, oms, address, city, handles, extra, attrs_hash)
SELECT s.source_id, g.k::text, g.attrs, n.family_name, n.given_name, n.patronymic, n.birth_date, n.sex, n.phones, n.emails,
       n.snils, n.oms, n.address, n.city, n.handles, COALESCE(n.extra, '{}'), md5(g.attrs::text)
  FROM gen g
  JOIN cdp.source s ON s.name = 'wr'
 CROSS JOIN LATERAL jsonb_populate_record(NULL::cdp.record, cdp.normalize_attrs(g.attrs, true)) n;
SELECT cmp_ok(cdp_internal._match_refresh_keys(NULL), '=', 120::bigint, 'every record is keyed');

-- persons of several records (golden ids that are not the record's own), and a key row whose
-- record is gone (the joining query drops it)
SELECT cdp.link_records(a.record_id, b.record_id, '{"by": "test"}')
  FROM cdp.record a JOIN cdp.record b ON b.source_key = (a.source_key::int + 1)::text
 WHERE a.source_key::int % 10 = 3;
INSERT INTO cdp_internal.match_key (record_id, version, flags, feat, bk)
SELECT -7, k.version, k.flags, k.feat, k.bk FROM cdp_internal.match_key k ORDER BY k.record_id LIMIT 1;
SELECT cmp_ok((SELECT count(*) FROM cdp.record WHERE golden_id <> record_id), '>=', 12::bigint,
              'the fixture has records whose golden id is another record''s');

CREATE TEMP TABLE act AS SELECT * FROM cdp_internal._match_active();
CREATE TEMP TABLE ref AS
SELECT w.record_a, w.record_b, w.golden_a, w.golden_b, w.rule, w.weight, w.probability, w.flags, w.levels
  FROM act a, cdp_internal._match_walk('score', cdp_internal._match_query(NULL), a.program, a.version, -1,
                                       (a.settings ->> 'max_block_size')::int, 0, NULL) w;
CREATE TEMP TABLE ran AS
SELECT w.record_a, w.record_b, w.golden_a, w.golden_b, w.rule, w.weight, w.probability, w.flags, w.levels
  FROM act a, cdp_internal._match_walk('run', cdp_internal._match_query(NULL, false), a.program, a.version, -1,
                                       (a.settings ->> 'max_block_size')::int, 0, NULL) w;
SELECT cmp_ok((SELECT count(*) FROM ref WHERE golden_a <> golden_b), '>', 0::bigint, 'the reference has pairs of two persons');
SELECT cmp_ok((SELECT count(*) FROM ref WHERE golden_a = golden_b AND record_a <> record_b), '>', 0::bigint,
              'the reference has pairs inside one person');
SELECT bag_eq('SELECT * FROM ran', 'SELECT * FROM ref',
              'run mode gives score mode''s rows over the joining query: pairs, golden ids, rules, scores, flags, levels');
SELECT bag_eq('SELECT w.record_a, w.record_b, w.golden_a, w.golden_b, w.rule, w.weight, w.probability, w.flags, w.levels
                 FROM act a, generate_series(0, 2) p,
                      cdp_internal._match_walk_part(p, 3, ''run'', cdp_internal._match_query(NULL, false), a.program, a.version, -1,
                                                    (a.settings ->> ''max_block_size'')::int, 0, NULL) w',
              'SELECT * FROM ref', 'run mode cut into three parts gives the same rows');
SELECT is((SELECT count(*) FROM ran WHERE -7 IN (record_a, record_b)), 0::bigint,
          'a key row whose record is gone is dropped, as the join drops it');
DELETE FROM cdp_internal.match_key WHERE record_id = -7;

-- the full run (mode 'run') against the same run with the kernel's score mode: the same links,
-- held pairs and review entries
-- (the first run's digest kept in a psql variable: the savepoint's rollback undoes its rows)
SAVEPOINT s;
SELECT (cdp.run_matching('full') ->> 'linked')::int > 0 AS linked;
SELECT (SELECT string_agg(record_id || ':' || golden_id, ',' ORDER BY record_id) FROM cdp.record)
       || '|' || (SELECT count(*) FROM cdp_internal.match_review) AS run_digest \gset
ROLLBACK TO SAVEPOINT s;
-- the reference: _match_run with its walk in score mode over the joining query
DO $$
DECLARE
	src text := pg_catalog.pg_get_functiondef('cdp_internal._match_run(text)'::regprocedure);
BEGIN
	src := replace(src, $q$'run', cdp_internal._match_query(NULL, false)$q$, $q$'score', cdp_internal._match_query(NULL)$q$);
	src := replace(src, $q$CASE WHEN focus IS NULL THEN 'run' ELSE 'score' END$q$, $q$'score'$q$);
	src := replace(src, $q$cdp_internal._match_query(focus, focus IS NOT NULL)$q$, $q$cdp_internal._match_query(focus)$q$);
	IF src LIKE '%''run'', cdp_internal%' OR src LIKE '%THEN ''run''%' OR src NOT LIKE '%''score'', cdp_internal._match_query(NULL), a.program%' THEN
		RAISE EXCEPTION 'the reference run still walks in run mode';
	END IF;
	EXECUTE src;
END $$;
SELECT (cdp.run_matching('full') ->> 'linked')::int > 0 AS linked;
SELECT is(:'run_digest',
          (SELECT string_agg(record_id || ':' || golden_id, ',' ORDER BY record_id) FROM cdp.record)
          || '|' || (SELECT count(*) FROM cdp_internal.match_review),
          'run_matching(''full'') links the same records and queues as many reviews as with score mode');

SELECT * FROM finish();
ROLLBACK;
