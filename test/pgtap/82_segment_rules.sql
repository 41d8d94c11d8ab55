-- test/pgtap/82_segment_rules.sql: the segment rule language (sql/parts/82_segment_rules.sql,
-- 83_segment_eval.sql, doc/segments.md): the issue's three rules and others against hand-written
-- SQL on a generated clinic, the id-set functions, the set form of may_contact against may_contact
-- itself, the guards and their counts, sensitive categories, and bad rules: each error with its
-- SQLSTATE, JSON path and nothing executed or saved.
BEGIN;
SELECT plan(60);

SELECT setseed(0.13) IS NULL AS seeded \gset
SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS s1, cdp.register_source('partner1', 'partner', 40) IS NOT NULL AS s2 \gset
SELECT count(cdp.upsert_record(CASE WHEN i % 5 = 0 THEN 'partner1' ELSE 'his' END, i::text, jsonb_build_object(
         'family_name', 'Ф' || i, 'given_name', 'И', 'sex', CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END,
         'birth_date', (current_date - (18 * 365 + (i * 137) % 20000))::text, 'city', (ARRAY['Москва', 'Химки', 'Тверь'])[1 + i % 3],
         'phones', jsonb_build_array('+7916' || lpad(i::text, 7, '0')))))
  FROM generate_series(1, 400) i \gset
CREATE TEMP TABLE ev AS
SELECT n, (ARRAY['lab_test', 'visit', 'diagnosis', 'recommendation'])[1 + floor(random() * 4)::int] AS kind,
       1 + (random() * 399)::int AS pat, random() AS r1, random() AS r2
  FROM generate_series(1, 2500) n;
UPDATE ev SET pat = pat - 1 WHERE pat % 5 = 0;
SELECT count(cdp.upsert_clinical_event('his', 'e' || n, kind, CASE kind
  WHEN 'lab_test' THEN jsonb_build_object('code', (ARRAY['MAMMO', 'HBA1C', 'PSA'])[1 + floor(r1 * 3)::int], 'result', round((r2 * 10)::numeric, 1)::text,
                                          'ref_low', 4, 'ref_high', 6, 'taken_at', (now() - r2 * interval '30 months')::text, 'patient_source_id', pat::text)
  WHEN 'visit' THEN jsonb_build_object('at', (now() - r1 * interval '30 months')::text, 'status', (ARRAY['done', 'booked', 'came'])[1 + floor(r2 * 3)::int],
                                       'specialty', (ARRAY['therapy', 'urology', 'gynecology'])[1 + floor(r2 * 3)::int], 'patient_source_id', pat::text)
  WHEN 'diagnosis' THEN jsonb_build_object('code', (ARRAY['E11', 'E11.9', 'N40', 'N41.1', 'I10', 'E10', 'J06'])[1 + floor(r1 * 7)::int],
                                           'at', (now() - r2 * interval '30 months')::text, 'patient_source_id', pat::text)
  ELSE jsonb_build_object('text', 'повторить анализ', 'due_date', (current_date + (r1 * 60)::int - 10)::text, 'patient_source_id', pat::text) END))
  FROM ev \gset
SELECT count(*) AS arch FROM cdp.archive_patients(ARRAY[cdp.golden_id('his', '2'), cdp.golden_id('his', '4')], 'test', false) \gset

-- the oracle: every active patient; the preview under treatment (allowed by default) = the rule alone
CREATE FUNCTION pg_temp.count_of(rules jsonb) RETURNS bigint LANGUAGE sql AS $$
	SELECT (cdp.segment_preview(rules, NULL, 'treatment') ->> 'count')::bigint $$;
CREATE TEMP VIEW act AS SELECT * FROM cdp.patient WHERE status = 'active';

SELECT is(pg_temp.count_of('{"all": [{"attr": "sex", "op": "=", "value": "F"}, {"attr": "age", "op": "between", "value": [35, 55]},
            {"event": "lab_test", "where": {"code": "MAMMO"}, "ago": ["13 months", "11 months"]},
            {"not": {"event": "visit", "within": "11 months"}}]}'),
          (SELECT count(*) FROM act p WHERE p.sex = 'F' AND extract(year FROM age(current_date, p.birth_date)) BETWEEN 35 AND 55
             AND EXISTS (SELECT 1 FROM cdp.clinical_event e WHERE e.golden_id = p.golden_id AND e.kind = 'lab_test' AND e.lab_code = 'MAMMO'
                           AND e.at >= (current_date - interval '13 months') AND e.at < (current_date - interval '11 months' + interval '1 day'))
             AND NOT EXISTS (SELECT 1 FROM cdp.clinical_event e WHERE e.golden_id = p.golden_id AND e.kind = 'visit'
                           AND e.visit_status IN ('came', 'in_appointment', 'done') AND e.at >= (current_date - interval '11 months'))),
          'the issue''s first rule equals the hand-written query');
SELECT ok(pg_temp.count_of('{"event": "lab_test", "where": {"code": "MAMMO"}, "ago": ["13 months", "11 months"]}') > 0, 'the fixture has mammographies in the window');
SELECT is(pg_temp.count_of('{"any": [{"event": "recommendation", "due_within": "14 days"}, {"event": "diagnosis", "where": {"code": "E11"}, "count": {">=": 2}}]}'),
          (SELECT count(*) FROM act p WHERE EXISTS (SELECT 1 FROM cdp.clinical_event e WHERE e.golden_id = p.golden_id AND e.kind = 'recommendation'
                                                        AND e.due_date BETWEEN current_date AND current_date + 14)
             OR (SELECT count(*) FROM cdp.clinical_event e WHERE e.golden_id = p.golden_id AND e.kind = 'diagnosis' AND e.icd10 ~ '^E11') >= 2),
          'the issue''s second rule equals the hand-written query');
SELECT cdp.create_segment('women', '{"attr": "sex", "op": "=", "value": "F"}', 'treatment') AS sw \gset
SELECT ok((cdp.refresh_segment(:sw, 'full') ->> 'size')::int > 0, 'a referenced segment, refreshed');
SELECT is(pg_temp.count_of(format('{"all": [{"segment": %s}, {"attr": "source_kind", "op": "=", "value": "partner"}, {"attr": "city", "op": "in", "value": ["Москва", "Химки"]}]}', :sw)::jsonb),
          (SELECT count(*) FROM act p WHERE p.sex = 'F' AND p.city IN ('Москва', 'Химки')
             AND EXISTS (SELECT 1 FROM cdp.record r JOIN cdp.source s USING (source_id) WHERE r.golden_id = p.golden_id AND s.kind = 'partner')),
          'the issue''s third rule equals the hand-written query');
SELECT is(pg_temp.count_of('{"event": "diagnosis", "where": {"code": "E10-E11"}}'),
          (SELECT count(*) FROM act p WHERE EXISTS (SELECT 1 FROM cdp.clinical_event e WHERE e.golden_id = p.golden_id AND e.kind = 'diagnosis' AND left(e.icd10, 3) IN ('E10', 'E11'))),
          'a diagnosis range covers the codes under it');
SELECT is(pg_temp.count_of('{"event": "lab_test", "where": {"code": "HBA1C", "out_of_range": true}}'),
          (SELECT count(*) FROM act p WHERE EXISTS (SELECT 1 FROM cdp.clinical_event e WHERE e.golden_id = p.golden_id AND e.lab_code = 'HBA1C'
                                                        AND (e.lab_result::numeric < 4 OR e.lab_result::numeric > 6))),
          'a lab test out of its reference range');
SELECT is(pg_temp.count_of('{"event": "lab_test", "where": {"code": "PSA", "value": {">=": 4, "<": 8}}}'),
          (SELECT count(*) FROM act p WHERE EXISTS (SELECT 1 FROM cdp.clinical_event e WHERE e.golden_id = p.golden_id AND e.lab_code = 'PSA'
                                                        AND e.lab_result::numeric >= 4 AND e.lab_result::numeric < 8)),
          'a lab value range');
SELECT is(pg_temp.count_of('{"event": "visit", "where": {"specialty": "urology", "status": ["booked"]}}'),
          (SELECT count(*) FROM act p WHERE EXISTS (SELECT 1 FROM cdp.clinical_event e WHERE e.golden_id = p.golden_id AND e.kind = 'visit'
                                                        AND e.specialty = 'urology' AND e.visit_status = 'booked')),
          'a visit of a specialty and a status');
SELECT is(pg_temp.count_of('{"not": {"attr": "city", "op": "=", "value": "Тверь"}}'),
          (SELECT count(*) FROM act p WHERE p.city IS DISTINCT FROM 'Тверь'), 'not: everyone active but the clause');
SELECT is(pg_temp.count_of('{"attr": "last_visit", "op": "is_null", "value": true}'),
          (SELECT count(*) FROM act p WHERE p.last_visit IS NULL), 'last_visit is_null');
SELECT is(pg_temp.count_of('{"attr": "reachable", "op": "=", "value": "sms"}'),
          (SELECT count(*) FROM act p WHERE jsonb_array_length(p.phones) > 0), 'reachable by sms = has a phone');
SELECT is((SELECT string_agg(c.channel || ':' || pg_temp.count_of(format('{"attr": "reachable", "op": "=", "value": "%s"}', c.channel)::jsonb), ',' ORDER BY c.channel)
             FROM cdp.consent_channels() c),
          (SELECT string_agg(c.channel || ':' || (SELECT count(*) FROM cdp.patient p WHERE p.status = 'active' AND cardinality(cdp_internal.consent_addresses(p, c.channel)) > 0), ',' ORDER BY c.channel)
             FROM cdp.consent_channels() c),
          'reachable through each channel = has an address consent_addresses gives for it');
SELECT is(pg_temp.count_of('{"all": [{"attr": "age", "op": ">=", "value": 18}, {"any": [{"attr": "sex", "op": "=", "value": "M"}, {"event": "visit", "within": "6 months"}]}]}'),
          (SELECT count(*) FROM act p WHERE extract(year FROM age(current_date, p.birth_date)) >= 18
             AND (p.sex = 'M' OR EXISTS (SELECT 1 FROM cdp.clinical_event e WHERE e.golden_id = p.golden_id AND e.kind = 'visit'
                                            AND e.visit_status IN ('came', 'in_appointment', 'done') AND e.at >= current_date - interval '6 months'))),
          'nested all / any');
SELECT is((cdp.segment_preview('{"attr": "city", "op": "=", "value": "Химки"}', NULL, 'treatment') -> 'dropped' ->> 'archived')::int,
          (SELECT count(*)::int FROM cdp.patient WHERE status = 'archived' AND city = 'Химки'), 'archived patients never appear: counted');
SELECT ok(NOT (cdp.segment_preview('{"attr": "city", "op": "in", "value": ["Москва", "Химки", "Тверь"]}', NULL, 'treatment') -> 'sample')
            @> to_jsonb(cdp.golden_id('his', '2')), 'an archived patient is not in the sample');

-- ---------------------------------------------------------------- id sets
SELECT is(cdp_internal.seg_set(ARRAY[5, 1, NULL, 3, 1, 5]::bigint[]), ARRAY[1, 3, 5]::bigint[], 'seg_set sorts, drops duplicates and nulls');
SELECT is(cdp_internal.seg_and('{1,3,5,7}', '{3,4,5}'), '{3,5}'::bigint[], 'seg_and');
SELECT is(cdp_internal.seg_or('{1,3,5}', '{2,3,9}'), '{1,2,3,5,9}'::bigint[], 'seg_or');
SELECT is(cdp_internal.seg_minus('{1,3,5}', '{3,4}'), '{1,5}'::bigint[], 'seg_minus');
SELECT is(cdp_internal.seg_minus(NULL, '{3}'), '{}'::bigint[], 'NULL is the empty set');
SELECT throws_ok($$SELECT cdp_internal.seg_and('{3,1}', '{1}')$$, '22023', 'a segment id set must be sorted ascending without duplicates', 'unsorted input is refused');
SELECT is((SELECT count(*) FROM generate_series(1, 200) k
            WHERE cdp_internal.seg_and(cdp_internal.seg_set(ARRAY(SELECT (random() * 50)::bigint FROM generate_series(1, k % 40))),
                                       cdp_internal.seg_set(ARRAY(SELECT (random() * 50)::bigint FROM generate_series(1, k % 17))))
                  IS NULL), 0::bigint, 'random merges never fail');

-- ---------------------------------------------------------------- consent as a set equals may_contact
SELECT count(cdp.set_consent(golden_id, (ARRAY['marketing', 'treatment', 'analytics'])[1 + golden_id % 3],
                             (ARRAY['sms', 'email', '*', 'call'])[1 + golden_id % 4], golden_id % 7 <> 0))
  FROM cdp.patient WHERE golden_id % 2 = 0 \gset
SELECT cdp.set_consent(cdp.golden_id('his', '12'), 'marketing', 'sms', false, now(), NULL, '+79160000012') IS NOT NULL AS sup \gset
SELECT is((SELECT count(*) FROM cdp.consent_purposes() pu, (VALUES ('sms'), ('email'), ('call'), ('post'), (NULL)) ch(c)
            WHERE cdp_internal.seg_consent_ok(ARRAY(SELECT golden_id FROM cdp.patient ORDER BY 1), pu.purpose, ch.c)
                  IS DISTINCT FROM ARRAY(SELECT p.golden_id FROM cdp.patient p
                                          WHERE CASE WHEN ch.c IS NULL
                                                     THEN EXISTS (SELECT 1 FROM cdp.consent_channels() x WHERE cdp.may_contact(p.golden_id, pu.purpose, x.channel))
                                                     ELSE cdp.may_contact(p.golden_id, pu.purpose, ch.c) END ORDER BY 1)),
          0::bigint, 'the set form of may_contact agrees with may_contact for every purpose and channel');

-- ---------------------------------------------------------------- guards in the preview
SELECT cdp.create_offer('{"name": "Урология", "sex": "M", "age": [40, 75], "exclude_icd10": ["N40-N42"]}') AS o \gset
SELECT is((SELECT sum(v::int)::int FROM jsonb_each_text(x -> 'dropped') d(k, v)) + (x ->> 'count')::int,
          (SELECT count(*)::int FROM cdp.patient WHERE city = 'Москва'), 'count + dropped = everyone the rule found')
  FROM (SELECT cdp.segment_preview('{"attr": "city", "op": "=", "value": "Москва"}', :o, 'treatment', 'sms') x) y;
SELECT ok((cdp.segment_preview('{"attr": "city", "op": "=", "value": "Москва"}', :o, 'treatment', 'sms') -> 'dropped') ?& ARRAY['sex', 'age'],
          'the offer''s reasons are counted by name');
SELECT ok(EXISTS (SELECT 1 FROM jsonb_object_keys(cdp.segment_preview('{"attr": "sex", "op": "=", "value": "M"}', :o, 'treatment') -> 'dropped') k
                   WHERE k LIKE 'contraindication:N4%'), 'contraindications are counted by code');
SELECT is((cdp.segment_preview('{"attr": "city", "op": "in", "value": ["Москва", "Химки", "Тверь"]}', NULL, 'marketing', 'sms') ->> 'count')::int,
          (SELECT count(*)::int FROM cdp.patient p WHERE status = 'active' AND cdp.may_contact(p.golden_id, 'marketing', 'sms')),
          'marketing by sms: exactly those who may be contacted');

-- ---------------------------------------------------------------- sensitive categories
SELECT throws_ok($$SELECT cdp.segment_preview('{"all": [{"attr": "sex", "op": "=", "value": "M"}, {"event": "diagnosis", "where": {"code": "B20"}}]}')$$,
                 '22023', 'a marketing segment may not target a sensitive category', 'HIV in a marketing preview is refused');
SELECT throws_ok($$SELECT cdp.create_segment('x', '{"event": "diagnosis", "where": {"code": ["I10", "F30-F39"]}}')$$,
                 '22023', 'a marketing segment may not target a sensitive category', 'mental health in a marketing segment is refused at save');
SELECT throws_ok($$SELECT cdp.segment_preview('{"event": "diagnosis", "where": {"code": "A00-Z99"}}', NULL, 'analytics')$$,
                 '22023', 'a analytics segment may not target a sensitive category', 'a range covering sensitive codes is refused');
SELECT lives_ok($$SELECT cdp.segment_preview('{"event": "diagnosis", "where": {"code": "C50"}}', NULL, 'treatment')$$,
                'a treatment segment by the owner may (no cdp_doctor role yet)');
CREATE ROLE cdp_test_marketer;
GRANT USAGE ON SCHEMA cdp, cdp_internal TO cdp_test_marketer;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cdp_internal TO cdp_test_marketer;
SET LOCAL ROLE cdp_test_marketer;
SELECT throws_ok($$SELECT cdp_internal.seg_prepare('{"event": "diagnosis", "where": {"code": "C50"}}', 'treatment', current_date)$$,
                 '42501', format('role "cdp_test_marketer" may not target a sensitive category: a treatment segment that does needs role %s',
                                 CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cdp_doctor') THEN 'cdp_doctor'
                                      ELSE (SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'cdp') END),
                 'another role may not, even for treatment; the error names the role required (cdp_doctor; before setup_roles: the owner)');
RESET ROLE;
SELECT is((SELECT count(*) FROM cdp.segment WHERE name = 'x'), 0::bigint, 'a refused segment is not saved');
SELECT is(cdp.configure_sensitive_categories('{"J45": "asthma"}'), 1, 'configure the sensitive list');
SELECT ok((SELECT count(*) = 1 FROM cdp.sensitive_categories()) AND cdp_internal.seg_sensitive('J45', 'J45') IS NOT NULL
          AND cdp_internal.seg_sensitive('B20', 'B20') IS NULL, 'the configured list replaces the built-in one');
SELECT throws_ok($$SELECT cdp.segment_preview('{"event": "diagnosis", "where": {"code": "J45.9"}}')$$, '22023',
                 'a marketing segment may not target a sensitive category', 'a configured category is refused');
DELETE FROM cdp.sensitive_category;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s text; m text; d text; h text;
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
	RETURN s || ' | ' || coalesce(d, '') || ' | ' || (h IS NOT NULL)::text;
END $$;
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('{"all": [{"attr": "sex", "op": "=", "value": "M"}, {"event": "diagnosis", "where": {"code": "B20"}}]}')$$),
          '22023 | At $.all[1].where.code (B20: B20-B24 HIV disease). | true', 'the refusal names the clause and the category');

-- ---------------------------------------------------------------- bad rules: SQLSTATE, path, hint; nothing run
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('{"attr": "sex; DROP TABLE cdp.patient", "op": "=", "value": "F"}')$$),
          '22023 | At $.attr. | true', 'SQL in an attribute name: unknown attribute');
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('{"attr": "city", "op": "=", "value": "x''; DROP TABLE cdp.patient; --"}')$$),
          'no error', 'SQL in a value is only a value');
SELECT ok(to_regclass('cdp.patient') IS NOT NULL, 'cdp.patient is still there');
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('{"attr": "city", "op": "; DELETE FROM cdp.patient", "value": "x"}')$$),
          '22023 | At $.op. | true', 'SQL in an operator');
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('{"event": "visit", "within": "13 mnths"}')$$), '22023 | At $.within. | true', 'a misspelt interval');
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('{"all": []}')$$), '22023 | At $.all. | true', 'empty all');
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('{"attr": "age", "op": ">", "value": "forty"}')$$), '22023 | At $.value. | true', 'a type mismatch');
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('{"attr": "age", "op": "between", "value": [35]}')$$), '22023 | At $.value. | true', 'between needs two values');
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('{"any": [{"attr": "sex", "op": "=", "value": "F"}, {"event": "lab_test", "where": {"colour": "red"}}]}')$$),
          '22023 | At $.any[1].where.colour. | true', 'an unknown event filter, with its path');
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('{"event": "mri"}')$$), '22023 | At $.event. | true', 'an unknown event');
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('[1, 2]')$$), '22023 | At $. | true', 'not an object');
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('{"event": "diagnosis", "where": {"code": "E11); DROP TABLE x; --"}}')$$),
          '22023 | At $.where.code. | true', 'SQL in an ICD-10 code');
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('{"event": "lab_test", "ago": ["11 months", "13 months"]}')$$), '22023 | At $.ago. | true', 'ago with the nearer end first');
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('{"segment": 999999}')$$), '22023 | At $.segment. | true', 'an unknown segment');
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('{"attr": "sex", "op": "=", "value": "F"}', NULL, 'spam')$$), '22023 |  | true', 'an unknown purpose');
-- campaign history clauses (the property test of 84_segment.sql runs them against real campaigns)
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('{"campaign": "any", "status": "clicked", "within": "30 days"}')$$), 'no error',
          'a campaign clause over any campaign is accepted');
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('{"all": [{"attr": "sex", "op": "=", "value": "F"}, {"campaign": 999999, "status": "sent"}]}')$$),
          '22023 | At $.all[1].campaign. | true', 'an unknown campaign, with its path');
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('{"campaign": 1.5}')$$), '22023 | At $.campaign. | true', 'a campaign id must be whole');
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('{"campaign": "any", "status": "sent''; DROP TABLE cdp.patient; --"}')$$),
          '22023 | At $.status. | true', 'SQL in a campaign status: unknown status');
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('{"campaign": "any", "status": "opened", "within": "30 dayz"}')$$),
          '22023 | At $.within. | true', 'a misspelt interval in a campaign clause');
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('{"not": {"campaign": "any", "colour": "red"}}')$$), '22023 | At $.not.colour. | true',
          'an unknown key in a campaign clause');
SELECT is(pg_temp.err($$SELECT cdp.segment_preview('{"campaign": "any", "channel": "pigeon"}')$$), '22023 | At $.channel. | true', 'an unknown channel');

SELECT * FROM finish();
ROLLBACK;
