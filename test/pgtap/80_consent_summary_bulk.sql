-- test/pgtap/80_consent_summary_bulk.sql: the consent summary after a bulk record move (session
-- 26, doc/consent.md "A bulk merge"): one UPDATE of cdp.record moving many records at once, as
-- the golden merge of a first-day migration does (more than 1,000 persons touched: the summary's
-- recomputation takes its custom plan), some of the persons with statements, some losing every
-- record, some gaining records from several persons; afterwards the kept rows equal
-- consent_summary_of(NULL) exactly (every person holding a record with a statement has its row, no
-- row for a person without records, and none written for a person with neither row nor statement:
-- session 30), and a smaller move (the generic plan) and moving them back keep it so.
BEGIN;
SELECT plan(9);

SELECT setseed(0.26);
SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS a, cdp.register_source('fit', 'partner', 40) IS NOT NULL AS b \gset
DO $$
BEGIN
	FOR i IN 1..1500 LOOP
		PERFORM cdp.upsert_record(CASE WHEN i % 3 = 0 THEN 'fit' ELSE 'his' END, 'b' || i,
			jsonb_build_object('family_name', 'Балк' || i, 'sex', (ARRAY['M', 'F'])[1 + i % 2],
			                   'phones', jsonb_build_array('+7916' || lpad(i::text, 7, '0'))));
	END LOOP;
END
$$;
-- statements for every seventh person (grants and withdrawals, one or all channels)
DO $$
DECLARE
	g	bigint;
BEGIN
	FOR g IN SELECT r.golden_id FROM cdp.record r WHERE r.source_key ~ '^b[0-9]+$'
	                                                AND substr(r.source_key, 2)::int % 7 = 0 LOOP
		PERFORM cdp.set_consents(g, ARRAY[(SELECT p.purpose FROM cdp.consent_purposes() p ORDER BY random() LIMIT 1)],
		                         ARRAY[CASE WHEN random() < 0.5 THEN '*' ELSE (SELECT c.channel FROM cdp.consent_channels() c ORDER BY random() LIMIT 1) END],
		                         random() < 0.5, now() - (random() * 100)::int * interval '1 day');
	END LOOP;
END
$$;

\ir ../fixtures/consent_summary_diff.sql
SELECT is(pg_temp.summary_mismatches(), 0::bigint, 'before the move the rows equal their recomputation');
SELECT cmp_ok((SELECT count(*) FROM cdp_internal.consent_summary WHERE allowed <> cdp_internal.consent_default_mask()),
              '>', 50::bigint, 'persons with a statement that changes their consent hold rows of their own');

-- the move: persons in groups of four by their record's number; the first three send their record
-- to the fourth (they lose every record, the fourth gains three, with statements or without)
CREATE TEMP TABLE first_holder AS SELECT r.record_id, r.golden_id FROM cdp.record r WHERE r.source_key ~ '^b[0-9]+$';
CREATE TEMP TABLE target AS
SELECT r.record_id, t.golden_id
  FROM cdp.record r
  JOIN cdp.record t ON t.source_key = 'b' || ((substr(r.source_key, 2)::int + 3) / 4 * 4)
 WHERE r.source_key ~ '^b[0-9]+$' AND substr(r.source_key, 2)::int % 4 <> 0;
SELECT cmp_ok((SELECT count(DISTINCT x) FROM target t JOIN first_holder f USING (record_id), LATERAL (VALUES (t.golden_id), (f.golden_id)) v(x)),
              '>', 1000::bigint, 'the move touches more than 1,000 persons (the custom plan)');
UPDATE cdp.record r SET golden_id = t.golden_id FROM target t WHERE t.record_id = r.record_id;
SELECT is(pg_temp.summary_mismatches(), 0::bigint, 'after one UPDATE moving 1,125 records the rows equal their recomputation');
SELECT is((SELECT count(*) FROM cdp_internal.consent_summary s
            WHERE NOT EXISTS (SELECT 1 FROM cdp.record r WHERE r.golden_id = s.golden_id)), 0::bigint,
          'the persons who lost every record have no row');
SELECT is((SELECT count(*) FROM cdp.record r WHERE r.source_key ~ '^b[0-9]+$'
              AND EXISTS (SELECT 1 FROM cdp.consent_statement st WHERE st.record_id = r.record_id)
              AND NOT EXISTS (SELECT 1 FROM cdp_internal.consent_summary s WHERE s.golden_id = r.golden_id)), 0::bigint,
          'every person who holds a record with a statement has its row (those who gained one too)');
-- the persons who gained records and hold no statement: before session 30 the move wrote each a
-- row of the defaults; now it writes none (the readers take the defaults and the records' kinds)
SELECT is((SELECT count(DISTINCT t.golden_id) FROM target t
            WHERE NOT EXISTS (SELECT 1 FROM cdp.record r JOIN cdp.consent_statement st ON st.record_id = r.record_id
                               WHERE r.golden_id = t.golden_id)
              AND EXISTS (SELECT 1 FROM cdp_internal.consent_summary s WHERE s.golden_id = t.golden_id)), 0::bigint,
          'a move writes no row for a person with neither a row nor a statement');

-- a small move (the generic plan): the moved ones of the first forty records back to their first holders
UPDATE cdp.record r SET golden_id = f.golden_id
  FROM (SELECT * FROM first_holder f ORDER BY f.record_id LIMIT 40) f
 WHERE f.record_id = r.record_id AND r.golden_id <> f.golden_id;
SELECT is(pg_temp.summary_mismatches(), 0::bigint, 'after a small move the rows equal their recomputation');

-- every record back where it was, in one UPDATE
UPDATE cdp.record r SET golden_id = f.golden_id FROM first_holder f WHERE f.record_id = r.record_id AND r.golden_id <> f.golden_id;
SELECT is(pg_temp.summary_mismatches(), 0::bigint, 'after moving every record back the rows equal their recomputation');

SELECT * FROM finish();
ROLLBACK;
