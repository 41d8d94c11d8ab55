-- test/sql/51_ingest_write_memory.sql: the fast path's writer across transactions (session 33).
-- cdp_internal.ingest_write_docs keeps a batch's normalised rows in one memory context a
-- transaction, emptied at the start of each call and gone with the transaction; its guard probes
-- the ids in bytewise order, on a sorted copy.  Calls in several transactions, one rolled back in
-- the middle of a call and one subtransaction rolled back, must each write exactly their rows, in
-- the order given (record ids follow the array, not the sorted probes).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
SELECT cdp.register_source('wm', 'internal', 50) > 0 AS ok;
CREATE TABLE wm_rules AS SELECT rl.version, rl.rules FROM cdp.survivorship_rules_as_of('infinity') rl;
CREATE FUNCTION wm_write(keys text[], docs jsonb[]) RETURNS integer LANGUAGE sql AS $$
	SELECT cardinality(w.ids)
	  FROM wm_rules r,
	       cdp_internal.ingest_write_docs((SELECT source_id FROM cdp.source WHERE name = 'wm'), 'wm', keys, docs,
	                                      false, false, true, r.rules, r.version) w
$$;

-- two calls in one transaction: the second empties the first's rows and writes its own
BEGIN;
SELECT wm_write(ARRAY['W-3', 'W-1', 'W-2'],
                ARRAY['{"family_name": "Орлов"}', '{"family_name": "Ким"}', '{"full_name": "Орлова Анна Ильинична"}']::jsonb[]);
SELECT wm_write(ARRAY['W-5', 'W-4'], ARRAY['{"given_name": "Пётр"}', '{"phone": "+7 916 000-11-22"}']::jsonb[]);
COMMIT;

-- a call that fails on its second row (strict: an invalid SNILS), the transaction rolled back
BEGIN;
SELECT wm_write(ARRAY['W-6', 'W-7'], ARRAY['{"family_name": "Лис"}', '{"snils": "1"}']::jsonb[]);
ROLLBACK;

-- the next transaction makes the context again
SELECT wm_write(ARRAY['W-8'], ARRAY['{"family_name": "Зуев"}']::jsonb[]);

-- a subtransaction that fails in the middle of a call, then a call in the same transaction
BEGIN;
SELECT wm_write(ARRAY['W-10'], ARRAY['{"family_name": "Юн"}']::jsonb[]);
SAVEPOINT s;
SELECT wm_write(ARRAY['W-11', 'W-12'], ARRAY['{"family_name": "Лис"}', '{"oms": "x"}']::jsonb[]);
ROLLBACK TO SAVEPOINT s;
SELECT wm_write(ARRAY['W-9', 'W-13'], ARRAY['{"family_name": "Мухина"}', '{"given_name": "Олег"}']::jsonb[]);
COMMIT;

-- exactly the rows of the committed calls, record ids in the order of each call's array
SELECT r.source_key, r.family_name, r.given_name, r.patronymic, p.golden_id IS NOT NULL AS profile
  FROM cdp.record r JOIN cdp.source s USING (source_id) LEFT JOIN cdp.patient p ON p.golden_id = r.golden_id
 WHERE s.name = 'wm' ORDER BY r.record_id;
SELECT count(*) AS events FROM cdp.event e JOIN cdp.record r ON r.record_id = e.subject
  JOIN cdp.source s USING (source_id) WHERE s.name = 'wm' AND e.kind = 'record.created';

-- the guard: one known id anywhere among unknown ones, in any order, sends the batch away
SELECT cdp_internal.ingest_keys_new((SELECT source_id FROM cdp.source WHERE name = 'wm'), k) AS new, k
  FROM (VALUES (ARRAY['Z-1', 'A-1', 'M-1']),
               (ARRAY['W-9', 'Z-1', 'A-1']),
               (ARRAY['Z-1', 'W-5', 'A-1']),
               (ARRAY['Z-1', 'A-1', 'W-13']),
               (ARRAY['W-1', 'W-1'])) AS v(k);
SELECT cdp_internal.ingest_keys_new((SELECT source_id FROM cdp.source WHERE name = 'wm'),
                                    ARRAY(SELECT 'N-' || g FROM generate_series(5000, 1, -1) g)) AS many_new,
       cdp_internal.ingest_keys_new((SELECT source_id FROM cdp.source WHERE name = 'wm'),
                                    ARRAY(SELECT 'N-' || g FROM generate_series(5000, 1, -1) g) || 'W-4'::text) AS one_known_last;

DROP FUNCTION wm_write(text[], jsonb[]);
DROP TABLE wm_rules;
