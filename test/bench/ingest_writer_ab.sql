-- test/bench/ingest_writer_ab.sql: the writes of ingest's fast path alone, two ways in one session
-- (issue 16, session 23): cdp_internal.ingest_insert_new on the same 10,000 normalised new
-- records, written by the bulk writer (cdp_internal.ingest_write_new, C) and by the fast path's SQL
-- statement (the writer declines while test/bench/ingest_statement_writer.sql's never-firing
-- trigger exists), alternated REPEATS times, each into a new source; prints each way's times and
-- medians, and checks first that both ways wrote the same rows.
--
--   createdb scratch && psql -X -d scratch -c 'CREATE EXTENSION cdp' -f test/bench/ingest_writer_ab.sql
--
-- Light (about 20 s of CPU): runs outside the benchmark lock.
\set QUIET on
\set ON_ERROR_STOP on
SET client_min_messages = notice;
\if :{?repeats}
\else
\set repeats 5
\endif

-- 10,000 records shaped like gen_clinic.py's patients (names, full names, dates, phones, e-mails,
-- identifiers, addresses, handles), normalised once
CREATE TEMP TABLE wab_rows AS
SELECT cdp_internal.normalize_records(array_agg(k ORDER BY i), array_agg(a ORDER BY i),
                                      array_fill(NULL::text, ARRAY[count(*)::int]), true) AS a
  FROM (SELECT i, 'W-' || lpad((i * 7919 % 100003)::text, 6, '0') AS k, jsonb_strip_nulls(jsonb_build_object(
          'family_name', CASE WHEN i % 3 <> 0 THEN (ARRAY['Иванова', 'ПЕТРОВ', 'Sidorova', 'Кузнецов', 'Smirnova', 'Попов'])[1 + i % 6] END,
          'given_name', CASE WHEN i % 3 <> 0 THEN (ARRAY['Мария', 'Иван', 'Anna', 'Сергей', 'Olga', 'Дмитрий'])[1 + (i / 6) % 6] END,
          'patronymic', CASE WHEN i % 3 = 1 THEN (ARRAY['Петровна', 'Иванович', 'Sergeevna'])[1 + i % 3] END,
          'full_name', CASE WHEN i % 3 = 0 THEN 'Николаева Раиса Марковна' END,
          'birth_date', to_char(date '1940-01-01' + (i * 37) % 25000, 'YYYY-MM-DD'),
          'sex', CASE WHEN i % 4 = 0 THEN NULL WHEN i % 2 = 0 THEN 'F' ELSE 'M' END,
          'phone', format('8 (9%s) %s-%s-%s', lpad((i % 100)::text, 2, '0'), lpad((i % 1000)::text, 3, '0'),
                          lpad((i % 97)::text, 2, '0'), lpad((i % 89)::text, 2, '0')),
          'email', CASE WHEN i % 5 = 0 THEN format('user.%s@mail.ru', i) END,
          'snils', CASE WHEN i % 4 = 0 THEN '112-233-445 95' END,
          'oms', CASE WHEN i % 6 = 0 THEN '1234567890123452' END,
          'address', CASE WHEN i % 2 = 0 THEN 'ул. Ленина, д. ' || i || ', кв. ' || (i % 90) END,
          'city', (ARRAY['Москва', 'Санкт-Петербург', 'Казань', 'NOVOSIBIRSK'])[1 + i % 4],
          'vk', CASE WHEN i % 7 = 0 THEN 'https://vk.com/id' || i END,
          'telegram', CASE WHEN i % 11 = 0 THEN '@user' || i END)) AS a
          FROM generate_series(1, 10000) i) x;

CREATE TEMP TABLE wab_ms (way text, ms float8);
CREATE FUNCTION pg_temp.wab_run(way text, n int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	t0		timestamptz;
	src		int;
	r		cdp_internal.ingest_row[];
BEGIN
	SELECT w.a INTO r FROM wab_rows w;
	IF way = 'statement' THEN
		CREATE TRIGGER bench_statement_writer AFTER INSERT ON cdp_internal.match_queue
			FOR EACH ROW WHEN (false) EXECUTE FUNCTION cdp_internal.event_refuse_change();
	END IF;
	src := cdp.register_source('wab_' || way || '_' || n, 'internal', 50);
	t0 := clock_timestamp();
	PERFORM cdp_internal.ingest_insert_new(src, 'wab_' || way || '_' || n, r, true);
	IF way = 'statement' THEN
		DROP TRIGGER bench_statement_writer ON cdp_internal.match_queue;
	END IF;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;

-- the same rows both ways (ids and times left out)
SELECT pg_temp.wab_run('bulk', 0) > 0 AS bulk_ok \gset
SELECT pg_temp.wab_run('statement', 0) > 0 AS statement_ok \gset
CREATE FUNCTION pg_temp.wab_side(src text) RETURNS TABLE (k text, rec jsonb, ev jsonb, pat jsonb, mem boolean) LANGUAGE sql AS $$
SELECT r.source_key, to_jsonb(r) - 'record_id' - 'golden_id' - 'source_id' - 'created_at' - 'updated_at',
       e.payload - 'source' || jsonb_build_object('record', (e.payload -> 'record') - 'created_at' - 'updated_at'),
       to_jsonb(p) - 'golden_id' - 'updated_at' - 'registered_on' - 'phones' - 'emails' - 'handles',
       m.from_event = e.event_id AND m.from_at = e.at AND m.golden_id = r.golden_id
  FROM cdp.record r JOIN cdp.source s USING (source_id)
  JOIN cdp.event e ON e.subject = r.record_id AND e.kind = 'record.created' JOIN cdp.patient p ON p.golden_id = r.golden_id
  JOIN cdp.patient_member m ON m.record_id = r.record_id
 WHERE s.name = src $$;
SELECT count(*) AS rows_differing
  FROM ((SELECT * FROM pg_temp.wab_side('wab_bulk_0') EXCEPT ALL SELECT * FROM pg_temp.wab_side('wab_statement_0'))
        UNION ALL (SELECT * FROM pg_temp.wab_side('wab_statement_0') EXCEPT ALL SELECT * FROM pg_temp.wab_side('wab_bulk_0'))) d;

-- alternated, each into a new source
INSERT INTO wab_ms SELECT w.way, pg_temp.wab_run(w.way, g)
  FROM generate_series(1, :repeats) g CROSS JOIN LATERAL (VALUES (1, 'bulk'), (2, 'statement')) w(o, way)
 ORDER BY g, w.o;
SELECT way, array_agg(round(ms::numeric) ORDER BY ms) AS ms_sorted,
       round((percentile_disc(0.5) WITHIN GROUP (ORDER BY ms))::numeric, 1) AS median_ms
  FROM wab_ms GROUP BY way ORDER BY way;
SELECT round(((SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) FROM wab_ms WHERE way = 'statement')
            / (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) FROM wab_ms WHERE way = 'bulk'))::numeric, 2)
       AS statement_over_bulk;
