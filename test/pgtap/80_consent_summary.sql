-- test/pgtap/80_consent_summary.sql: the per-person consent summary (cdp_internal.consent_summary,
-- sql/parts/80_consent.sql, doc/consent.md "Performance") and the segments' consent filter that
-- reads it (cdp_internal.seg_consent_ok).  Property-style, fixed seed: random statements (several
-- purposes x channels, grants and withdrawals, ties, addresses), merges, unmerges, new records
-- from internal and partner sources, a source changing kind; after every round the maintained rows
-- equal their recomputation from the statements, and every few rounds the set filter equals
-- cdp.may_contact person by person for every purpose and channel (and "any channel") and the
-- segments' source_kind clause equals the records' sources; at the end
-- cdp.rebuild_consent() reproduces the rows.  The statements column (the latest statement per
-- purpose x channel, counting or not: the one a send-list message cites) is compared with the
-- send list's per-member look-up (cdp_internal.campaign_decide's) for every person, purpose and channel.
BEGIN;
SELECT plan(12);
\ir ../fixtures/consent_history.sql

SELECT setseed(0.23);
SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS a, cdp.register_source('fit', 'partner', 40) IS NOT NULL AS b,
       cdp.register_source('gym', 'partner', 40) IS NOT NULL AS c \gset
DO $$
BEGIN
	FOR i IN 1..30 LOOP
		PERFORM cdp.upsert_record(CASE WHEN i % 5 = 0 THEN 'gym' WHEN i % 3 = 0 THEN 'fit' ELSE 'his' END, 'r' || i,
			jsonb_build_object('family_name', 'Тест' || i, 'sex', (ARRAY['M', 'F'])[1 + i % 2],
			                   'phones', jsonb_build_array('+7916' || lpad((i % 20)::text, 7, '0')),
			                   'emails', CASE WHEN i % 4 = 0 THEN jsonb_build_array('t' || i || '@mail.ru') ELSE '[]'::jsonb END));
	END LOOP;
END
$$;
SELECT is((SELECT count(*) FROM cdp_internal.consent_summary), 0::bigint,
          'new persons have no summary row (no insert trigger: the readers take their defaults and source kinds)');

-- the set filter against may_contact for everyone, every purpose, every channel and "any": the
-- whole set (read by one join) and each person alone (a probe by primary key: one id is less
-- than a twentieth of the summary's rows once analyzed)
CREATE FUNCTION pg_temp.filter_mismatches() RETURNS bigint LANGUAGE sql SET jit = off AS $$
	/* cdp.may_contact once per person, purpose and channel; both checks read these answers.  jit is
	   off: the planner prices this check query (not the functions under test) far above the JIT
	   thresholds, and compiling it cost minutes on a loaded machine. */
	WITH answer AS MATERIALIZED (
		SELECT p.golden_id, pu.purpose, ch.channel, cdp.may_contact(p.golden_id, pu.purpose, ch.channel) AS ok
		  FROM cdp.patient p, cdp.consent_purposes() pu, cdp.consent_channels() ch)
	SELECT (SELECT count(*) FROM answer a
	         WHERE (cdp_internal.seg_consent_ok(ARRAY[a.golden_id], a.purpose, a.channel) = ARRAY[a.golden_id])
	               IS DISTINCT FROM a.ok)
	     + count(*) FROM cdp.consent_purposes() pu,
	       (SELECT x.channel FROM cdp.consent_channels() x UNION ALL SELECT NULL) ch(c)
	 WHERE cdp_internal.seg_consent_ok(ARRAY(SELECT golden_id FROM cdp.patient ORDER BY 1), pu.purpose, ch.c)
	       IS DISTINCT FROM ARRAY(SELECT a.golden_id FROM answer a
	                               WHERE a.purpose = pu.purpose AND (ch.c IS NULL OR a.channel = ch.c)
	                               GROUP BY a.golden_id HAVING bool_or(a.ok) ORDER BY 1) $$;
-- the segments' source_kind clause (read from the summary) against the records' sources
CREATE FUNCTION pg_temp.kind_mismatches() RETURNS bigint LANGUAGE sql SET jit = off AS $$
	SELECT count(*) FROM (VALUES ('{"attr": "source_kind", "op": "=", "value": "internal"}'::jsonb, ARRAY['internal']),
	                             ('{"attr": "source_kind", "op": "=", "value": "partner"}', ARRAY['partner']),
	                             ('{"attr": "source_kind", "op": "in", "value": ["partner", "internal"]}', ARRAY['internal', 'partner'])) v(rule, kinds)
	 WHERE cdp_internal.seg_eval(cdp_internal.seg_prepare(v.rule, 'treatment', current_date), NULL, 1000)
	       IS DISTINCT FROM ARRAY(SELECT p.golden_id FROM cdp.patient p
	                               WHERE EXISTS (SELECT 1 FROM cdp.record r JOIN cdp.source s USING (source_id)
	                                              WHERE r.golden_id = p.golden_id AND s.kind = ANY (v.kinds)) ORDER BY 1) $$;
-- the maintained rows against their recomputation
\ir ../fixtures/consent_summary_diff.sql

CREATE TEMP TABLE rounds (n int, action text, summary_diff bigint, filter_diff bigint, partner bigint, nondefault bigint, suppressed bigint);
DO $$
DECLARE
	act		text;
BEGIN
	FOR n IN 1..240 LOOP
		act := pg_temp.consent_history_step(n, 0.50, 0.65, 0.15, 20, 'summary');
		IF n % 20 = 0 THEN
			/* one person is probed, the whole set joined (a twentieth of the analyzed rows) */
			ANALYZE cdp_internal.consent_summary;
		END IF;
		INSERT INTO rounds VALUES (n, act, pg_temp.summary_mismatches(), CASE WHEN n % 20 = 0 THEN pg_temp.filter_mismatches() + pg_temp.kind_mismatches() END,
			(SELECT count(*) FROM cdp_internal.consent_summary WHERE NOT internal),
			(SELECT count(*) FROM cdp_internal.consent_summary WHERE allowed <> cdp_internal.consent_default_mask()),
			(SELECT count(*) FROM cdp.consent_suppression WHERE suppressed));
	END LOOP;
END
$$;

SELECT ok((SELECT reltuples FROM pg_class WHERE oid = 'cdp_internal.consent_summary'::regclass) >= 20,
          'precondition: by the end one person is probed and the whole set joined');
SELECT is((SELECT string_agg(DISTINCT action, ', ' ORDER BY action) FROM rounds),
          'consent, merge, new record, source kind, unmerge', 'the rounds reached every kind of change');
SELECT ok((SELECT count(*) FROM rounds WHERE filter_diff IS NOT NULL AND partner > 0 AND nondefault > 0 AND suppressed > 0) >= 6,
          'at least half the checks of the filter saw partner-only persons, non-default states and suppressed addresses together');
SELECT is((SELECT string_agg(n || ':' || action, ', ') FROM rounds WHERE summary_diff <> 0), NULL,
          'after every round the maintained summary equals its recomputation from statements, records and sources');
SELECT is((SELECT string_agg(n || ':' || action, ', ') FROM rounds WHERE filter_diff <> 0), NULL,
          'every 20th round the set filter equals may_contact for every person, purpose and channel, and the source_kind clause the records'' sources');

-- the statements column against the per-member look-up of the statement a message cites (the
-- latest of the person's records for the purpose and channel: latest at, then highest event id)
SELECT ok((SELECT count(*) FROM cdp_internal.consent_summary s, unnest(s.statements) e WHERE e IS NOT NULL) >= 20,
          'precondition: the summary names at least 20 statements');
SELECT is((SELECT count(*) FROM cdp_internal.consent_summary s, cdp_internal.consent_bits() b
            WHERE s.statements[b.b + 1] IS DISTINCT FROM
                  (SELECT cs.event_id FROM cdp.record r JOIN cdp.consent_statement cs ON cs.record_id = r.record_id
                    WHERE r.golden_id = s.golden_id AND cs.purpose = b.purpose AND cs.channel = b.channel
                    ORDER BY cs.at DESC, cs.event_id DESC LIMIT 1)), 0::bigint,
          'the statements column names, for every person, purpose and channel, the latest statement of the person''s records');

-- the rebuild reproduces the projection
CREATE TEMP TABLE before AS SELECT * FROM cdp_internal.consent_summary;
UPDATE cdp_internal.consent_summary SET allowed = 0, internal = NOT internal, partner = NOT partner, statements = NULL;
SELECT ok(cdp.rebuild_consent() > 0, 'rebuild_consent replays the statements');
-- a call beside a subquery that reads the statements is refused with a clear error, nothing replayed
SELECT throws_ok('SELECT cdp.rebuild_consent(), (SELECT count(*) FROM cdp.consent_statement)', '55006',
                 'cdp.rebuild_consent() cannot run inside a statement that reads cdp.consent_statement',
                 'rebuild_consent inside a statement that reads the statements: a clear error');
SELECT is((SELECT count(*) FROM before b WHERE NOT EXISTS (SELECT 1 FROM cdp_internal.consent_summary a WHERE (a.*) IS NOT DISTINCT FROM (b.*)))
        + (SELECT count(*) FROM cdp_internal.consent_summary a
            WHERE NOT EXISTS (SELECT 1 FROM before b WHERE b.golden_id = a.golden_id) AND a.allowed <> cdp_internal.consent_default_mask()),
          0::bigint, 'the rebuild reproduces every row kept, and gives the persons new since the defaults');

-- a loader that writes statement rows directly (the benchmark generators) keeps the summary too
INSERT INTO cdp.consent_statement (record_id, purpose, channel, event_id, granted, at, given_for, records)
SELECT r.record_id, 'analytics', 'email', 999999999, true, now(), r.golden_id, ARRAY[r.record_id] FROM cdp.record r WHERE r.record_id % 3 = 0;
SELECT is(pg_temp.summary_mismatches(), 0::bigint, 'statement rows written directly update the summary (the statement trigger)');

SELECT * FROM finish();
ROLLBACK;
