-- test/bench/match_run_digest.sql: what one run_matching('full') on a copy of a snapshot database
-- (test/bench/first_day.sh with SNAPSHOT=) ended with, byte for byte where copies of one snapshot
-- must agree: every event's kind, subject, person and payload (the links' evidence included) in
-- event order, every record's person, the open memberships and redirects, the review work list
-- (pairs, scores, levels, flags, reason, priority, pairs, status) and the run's counts (its
-- result without the times).  Two builds that decide the same links print the same line.
--   psql -XAt -d COPY -f test/bench/match_run_digest.sql
SELECT concat_ws(' ',
	'events', (SELECT count(*) FROM cdp.event),
	md5((SELECT string_agg(concat_ws('|', e.event_id, e.kind, e.subject, e.golden_id, e.payload::text), E'\n' ORDER BY e.event_id) FROM cdp.event e)),
	'records', md5((SELECT string_agg(r.record_id || '=' || r.golden_id, ',' ORDER BY r.record_id) FROM cdp.record r)),
	'members', md5((SELECT string_agg(concat_ws('|', m.golden_id, m.record_id, m.from_event), ',' ORDER BY m.golden_id, m.record_id)
	                  FROM cdp.patient_member m WHERE m.to_event IS NULL)),
	'redirects', md5((SELECT string_agg(concat_ws('|', x.old_id, x.new_id, x.event_id), ',' ORDER BY x.old_id) FROM cdp.patient_redirect x)),
	'review', (SELECT count(*) FROM cdp_internal.match_review),
	md5((SELECT string_agg(concat_ws('|', q.pair_id, q.record_a, q.record_b, q.score, q.weight, q.levels, q.flags, q.version, q.reason,
	                                 q.status, q.priority, q.pairs), E'\n' ORDER BY q.pair_id) FROM cdp_internal.match_review q)),
	'run', (SELECT r.result - 'times' FROM cdp_internal.match_run r ORDER BY r.run_id DESC LIMIT 1)::text);
