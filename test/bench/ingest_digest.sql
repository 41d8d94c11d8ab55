-- test/bench/ingest_digest.sql: what an ingest or import wrote, independent of ids, times and the
-- order sessions interleaved in (issue 16, session 29): records (as first_day_digest.sql), each
-- record's record.created event payload, its profile and its open membership, keyed by source and
-- source id, timestamps and the record ids a profile's values cite (its "sources") masked; the queue's records; the import's rejects.  Two loads of the same
-- file with the same definitions print the same line.
--   psql -XAt -d DB -f test/bench/ingest_digest.sql
WITH rk AS (
	SELECT r.record_id, r.golden_id, s.name || ':' || r.source_key AS k
	  FROM cdp.record r JOIN cdp.source s USING (source_id))
SELECT concat_ws(' ',
	'records', (SELECT count(*) FROM cdp.record),
	md5((SELECT string_agg(k || '=' || (to_jsonb(r) - 'record_id' - 'golden_id' - 'source_id' - 'created_at' - 'updated_at')::text, ';' ORDER BY k)
	       FROM cdp.record r JOIN rk USING (record_id))),
	'events', (SELECT count(*) FROM cdp.event),
	md5((SELECT string_agg(rk.k || '=' || e.kind || '=' || regexp_replace(e.payload::text, '"[0-9]{4}-[0-9]{2}-[0-9]{2}T[^"]*"', '"T"', 'g'),
	                       ';' ORDER BY rk.k, e.kind)
	       FROM cdp.event e JOIN rk ON rk.record_id = e.subject AND e.golden_id = rk.golden_id)),
	'profiles', (SELECT count(*) FROM cdp.patient),
	md5((SELECT string_agg(rk.k || '=' || regexp_replace(regexp_replace((to_jsonb(p) - 'golden_id' - 'status_at' - 'updated_at' - 'registered_on' - 'last_visit')::text,
	                                                     '"[0-9]{4}-[0-9]{2}-[0-9]{2}T[^"]*"', '"T"', 'g'), '"sources": \[[0-9, ]*\]', '"sources": []', 'g'), ';' ORDER BY rk.k)
	       FROM cdp.patient p JOIN rk USING (golden_id))),
	'open_members', (SELECT count(*) FROM cdp.patient_member m JOIN rk USING (record_id) WHERE m.to_event IS NULL AND m.golden_id = rk.golden_id),
	'queue', (SELECT count(*) FROM cdp_internal.match_queue q JOIN rk USING (record_id)),
	'rejects', (SELECT count(*) || ' ' || coalesce(md5(string_agg(concat_ws('|', row_no, line_no, source_key, column_name, value, reason, attrs::text),
	                                                      ';' ORDER BY row_no, column_name)), '-')
	              FROM cdp_internal.import_reject));
