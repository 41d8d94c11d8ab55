-- test/pgtap/89_import_kinds.sql: the import kinds that name patients rather than carry them
-- (issue 16 items 1, 5, 6): consents (statements through the consent registry), partner_contacts
-- (cards of a partner source) and segment_list (a segment's include or exclude list), in the three
-- modes, with their bad input; and the data-quality counts of refused and quarantined imports.
BEGIN;
SELECT plan(66);

SELECT cdp.register_source('reception', 'internal', 80);
SELECT cdp.register_source('lab', 'internal', 60);
SELECT cdp.register_source('fitness', 'partner', 30);

-- consent events so far
CREATE FUNCTION pg_temp.ncev() RETURNS bigint LANGUAGE sql AS
$$ SELECT count(*) FROM cdp.event WHERE kind IN ('consent.granted', 'consent.withdrawn') $$;
-- the errors of a batch as "row/column: reason", one per line
CREATE FUNCTION pg_temp.errs(b jsonb) RETURNS text LANGUAGE sql AS
$$ SELECT string_agg(row_no || '/' || coalesce(column_name, '-') || ': ' || reason, E'\n' ORDER BY row_no)
     FROM cdp.import_errors((b ->> 'batch')::bigint) $$;
CREATE FUNCTION pg_temp.g(src text, id text) RETURNS bigint LANGUAGE sql AS $$ SELECT cdp.golden_id(src, id) $$;
-- the state of one purpose x channel of a person
CREATE FUNCTION pg_temp.said(g bigint, p text, c text) RETURNS boolean LANGUAGE sql AS
$$ SELECT granted FROM cdp.consent_now(g) WHERE purpose = p AND channel = c $$;

-- ---------------------------------------------------------------- templates
SELECT is(split_part(cdp.import_template('consents'), E'\n', 1),
          'golden_id;source;source_id;snils;phone;purpose;channel;granted;at;evidence;address',
          'the consents template names the patient five ways and the statement');
SELECT is(split_part(cdp.import_template('segment_list'), E'\n', 1), 'golden_id;source;source_id;snils;phone',
          'the segment list template is the identifiers only');
SELECT is(split_part(cdp.import_template('partner_contacts'), E'\n', 1),
          'source_id;family_name;given_name;patronymic;birth_date;sex;phone;email;city',
          'the partner contacts template is a patient card without medical identifiers');
SELECT is((cdp.import_csv('reception', 'patients', cdp.import_template('patients')) ->> 'created')::int, 1,
          'the patients template''s example (P-1001) is on file');
SELECT is(cdp.import_csv('reception', 'consents', cdp.import_template('consents')) ->> 'created', '1',
          'the consents template''s example row is recorded as it is');
SELECT is(pg_temp.said(pg_temp.g('reception', 'P-1001'), 'marketing', 'sms'), true,
          '... a marketing grant by SMS («маркетинг», «смс», «да»)');
SELECT is((SELECT evidence || ' @ ' || to_char(at, 'YYYY-MM-DD') FROM cdp.consent_now(pg_temp.g('reception', 'P-1001'))
            WHERE purpose = 'marketing' AND channel = 'sms'),
          'анкета при регистрации, лист 2 @ 2024-03-01', '... with its evidence and date');
SELECT is(cdp.import_csv('fitness', 'partner_contacts', cdp.import_template('partner_contacts')) ->> 'created', '1',
          'the partner contacts template''s example row loads into a partner source');
SELECT is(cdp.import_csv('reception', 'segment_list', cdp.import_template('segment_list'), 'all_or_nothing',
                         jsonb_build_object('segment', cdp.create_segment('template', '{"attr": "source_kind", "op": "=", "value": "partner"}'))) ->> 'created',
          '1', 'the segment list template''s example (P-1001''s phone) goes on the list');

-- ---------------------------------------------------------------- patients to name
SELECT is(cdp.import_csv('reception', 'patients',
E'id;фамилия;имя;дата рождения;телефон;email;снилс\n'
 'R-1;Орлова;Анна;01.02.1980;8 916 000-00-01;orlova@example.ru;112-233-445 95\n'
 'R-2;Орлов;Иван;03.04.1978;8 916 000-00-01;;\n'
 'R-3;Белов;Пётр;05.06.1990;8 916 000-00-03;belov@example.ru;\n'
 'R-4;Зайцева;Ольга;07.08.1985;8 916 000-00-04;;\n') ->> 'created', '4', 'four reception patients');
SELECT is(cdp.import_csv('lab', 'patients', E'id;фамилия;имя;снилс\nL-1;Белов;Пётр;\n') ->> 'created', '1', 'a lab card of its own');

-- ---------------------------------------------------------------- consents: every way to name a patient
CREATE TEMP TABLE c1 AS SELECT cdp.import_csv('reception', 'consents', format(
E'Пациент;Источник;Код;СНИЛС;Телефон;Цель;Канал;Согласие;Дата;Основание;Адрес\n'
 '%s;;;;;Маркетинг, аналитика;Все;да;10.01.2024 09:30;анкета;\n'
 ';;R-3;;;marketing;e-mail;Yes;2024-01-11;;\n'
 ';lab;L-1;;;реклама;смс;1;11.01.2024;;\n'
 ';;;;8 916 000-00-04;передача партнёрам;все;да;12.01.2024;договор с партнёром;\n'
 ';;R-1;;;маркетинг;смс;нет;13.01.2024;звонок в регистратуру;8 916 000-00-01\n',
 pg_temp.g('reception', 'R-4'))) AS res;
SELECT is((SELECT res ->> 'status' || ' ' || (res ->> 'created') || ' ' || (res ->> 'rejected') FROM c1), 'committed 5 0',
          'a consents file naming patients by golden id, source id (own and other source) and phone is recorded');
SELECT is(pg_temp.said(pg_temp.g('reception', 'R-4'), 'analytics', 'post'), true,
          '«маркетинг, аналитика» x «все»: one statement for two purposes and every channel');
SELECT is(pg_temp.said(pg_temp.g('reception', 'R-3'), 'marketing', 'email'), true, '«e-mail» is the email channel');
SELECT is(pg_temp.said(pg_temp.g('lab', 'L-1'), 'marketing', 'sms'), true, 'a source column names another source''s record');
SELECT is(pg_temp.said(pg_temp.g('reception', 'R-4'), 'partner_sharing', 'sms'), true, '«передача партнёрам» is partner_sharing');
SELECT is(cdp.is_suppressed('+79160000001', 'marketing'), true,
          'a withdrawal naming an address puts it on the suppression list');
SELECT is(cdp.may_contact(pg_temp.g('reception', 'R-2'), 'marketing', 'sms'), false,
          '... so R-2, who shares that number, cannot get marketing SMS to it either');
SELECT is(cdp.import_csv('reception', 'consents', format(
E'Пациент;Источник;Код;СНИЛС;Телефон;Цель;Канал;Согласие;Дата;Основание;Адрес\n'
 '%s;;;;;Маркетинг, аналитика;Все;да;10.01.2024 09:30;анкета;\n'
 ';;R-3;;;marketing;e-mail;Yes;2024-01-11;;\n', pg_temp.g('reception', 'R-4'))) ->> 'unchanged', '2',
          'the same statements again are unchanged');
SELECT is(pg_temp.ncev(), 6::bigint, '... and write no consent event');

-- ---------------------------------------------------------------- consents: bad input
CREATE TEMP TABLE badc AS SELECT E'код;телефон;цель;канал;согласие;дата\n'
 'R-3;;marketing;sms;да;01.02.2024\n'
 'R-3;;рассылка;sms;да;01.02.2024\n'
 'R-3;;marketing;голубь;да;01.02.2024\n'
 ';8 916 000-00-01;marketing;sms;да;01.02.2024\n'
 'R-99;;marketing;sms;да;01.02.2024\n'
 'R-3;;marketing;sms;может быть;01.02.2024\n'
 'R-3;;marketing;sms;да;31.02.2024\n'
 'R-3;;marketing;sms;да;01.01.2999\n'
 'R-3;;marketing;sms;да;\n'
 'R-1;8 916 000-00-01;analytics;email;да;01.02.2024\n'::text AS f;
SELECT is((SELECT r ->> 'status' || ' ' || (r ->> 'rejected') || ' ' || (r ->> 'not_found') || ' ' || (r ->> 'ambiguous')
             FROM badc, cdp.import_csv('reception', 'consents', f) r),
          'failed 8 1 1', 'all or nothing: a file with eight bad rows is refused, one identifier matching nobody, one several');
SELECT is(pg_temp.ncev(), 6::bigint, '... and records no statement, not even the good rows');
SELECT is((SELECT pg_temp.errs(r) FROM badc, cdp.import_csv('reception', 'consents', f, 'quarantine') r),
 '3/цель: Unknown consent purpose "рассылка". Use treatment, marketing, analytics, partner_sharing or state_exchange.' || E'\n' ||
 '4/канал: Unknown consent channel "голубь". Use email, sms, messenger, social, call, post, or * for all of them.' || E'\n' ||
 '5/телефон: 2 patients have this phone number (golden ids ' || pg_temp.g('reception', 'R-1') || ', ' || pg_temp.g('reception', 'R-2')
   || '): name the patient by golden_id or source_id instead.' || E'\n' ||
 '6/код: Source "reception" has no record "R-99".' || E'\n' ||
 '7/согласие: The value says neither yes nor no: write "да" or "нет" (yes/no, 1/0).' || E'\n' ||
 '8/дата: The value is not a date: write DD.MM.YYYY, DD.MM.YYYY HH:MI or YYYY-MM-DD.' || E'\n' ||
 '9/дата: The date is in the future.' || E'\n' ||
 '10/дата: The date is empty: a statement needs the day it was given.',
          'quarantine names each bad row by row and column, in English, with the accepted values');
SELECT is(pg_temp.ncev(), 8::bigint, '... and records the two good rows');
SELECT is(pg_temp.said(pg_temp.g('reception', 'R-1'), 'analytics', 'email'), true,
          'a phone two patients share, given with a source id, names the one they have in common');
SELECT is((SELECT r ->> 'status' || ' ' || (r ->> 'created') || ' ' || (r ->> 'rejected')
             FROM cdp.import_csv('reception', 'consents', E'код;цель;канал;согласие;дата\nR-4;analytics;sms;да;01.03.2024\nR-4;nope;sms;да;01.03.2024\n', 'lenient') r),
          'committed 1 1', 'lenient on consents: the valid statements are recorded, the others listed (a statement cannot be half-kept)');
SELECT is((SELECT pg_temp.errs(r) FROM cdp.import_csv('reception', 'consents',
            format(E'пациент;код;цель;канал;согласие;дата\n%s;R-4;marketing;sms;да;01.02.2024\n', pg_temp.g('reception', 'R-3'))) r),
          '2/код: The identifiers of the row name different patients (golden ids by column: golden_id '
          || pg_temp.g('reception', 'R-3') || ', source_id ' || pg_temp.g('reception', 'R-4') || ').',
          'identifiers naming two different patients are refused');
SELECT is((SELECT pg_temp.errs(r) FROM cdp.import_csv('reception', 'consents', E'код;канал;согласие;дата\nR-3;sms;да;01.02.2024\n') r),
          '1/purpose: The header has no purpose column: every row of consents needs one.', 'a header without purpose is refused at row 1');
SELECT is((SELECT pg_temp.errs(r) FROM cdp.import_csv('reception', 'consents', E'фамилия;цель;канал;согласие;дата\nБелов;marketing;sms;да;01.02.2024\n') r),
          '1/фамилия: Column "фамилия" is not a column of consents.', 'a patient column in a consents file is refused');
SELECT is((SELECT pg_temp.errs(r) FROM cdp.import_csv('reception', 'consents', E'цель;канал;согласие;дата\nmarketing;sms;да;01.02.2024\n') r),
          '1/golden_id: The header names no patient identifier: give a golden_id, source_id, snils or phone column.',
          'a header naming no patient is refused');
SELECT is((SELECT pg_temp.errs(r) FROM cdp.import_csv('reception', 'consents', E'код;цель;канал;согласие;дата\n;marketing;sms;да;01.02.2024\n') r),
          '2/-: The row names no patient: fill golden_id, source_id, snils or phone.', 'a row naming no patient is refused');

-- ---------------------------------------------------------------- partner contacts
SELECT throws_ok($$SELECT cdp.import_begin('reception', 'partner_contacts')$$, '22023', 'source "reception" is not a partner source',
                 'partner contacts go to a partner source only');
CREATE TEMP TABLE pc AS SELECT cdp.import_csv('fitness', 'partner_contacts',
E'Код;Фамилия;Имя;Телефон;E-mail\n'
 'FIT-1;Сомова;Вера;8 926 100-00-01;somova@example.ru\n'
 'FIT-2;Кротов;Глеб;8 926 100-00-02;\n'
 'FIT-2;Кротов;Глеб;8 926 100-00-02;\n'
 'FIT-3;Лисина;Ада;12345;\n', 'quarantine') AS res;
SELECT is((SELECT pg_temp.errs(res) FROM pc),
          '4/Код: The source id "FIT-2" is also on row 3: a file names each record once.' || E'\n' ||
          '5/Телефон: The value is not a valid phone.',
          'partner contacts: ingest''s rules and repeated source ids, as for patients');
SELECT is((SELECT count(*) FROM cdp.record r JOIN cdp.source s USING (source_id) WHERE s.name = 'fitness' AND s.kind = 'partner'),
          3::bigint, 'the valid contacts are records of the partner source (the template''s and two)');
SELECT is(cdp.import_csv('fitness', 'partner_contacts', E'Код;Фамилия;Телефон\nFIT-3;Лисина;12345\n', 'lenient') ->> 'created', '1',
          'lenient: the contact loads without the invalid phone');
SELECT is((SELECT extra -> '_invalid' -> 'phone' ->> 'value' FROM cdp.record WHERE source_key = 'FIT-3'), '12345', '... kept as given');
SELECT is((SELECT count(*) FROM cdp.import_errors((SELECT (res ->> 'batch')::bigint FROM pc)) WHERE column_name = 'Телефон'), 1::bigint,
          'an invalid phone is named by its column');

-- A partner contact may get marketing only with partner_sharing consent (issue 16 item 5): the
-- rule is in cdp.may_contact and its set form cdp_internal.seg_consent_ok.
SELECT cdp.set_consent(pg_temp.g('fitness', 'FIT-1'), 'marketing', '*', true, '2024-02-01', 'анкета партнёра');
SELECT cdp.set_consent(pg_temp.g('fitness', 'FIT-2'), 'marketing', '*', true, '2024-02-01', 'анкета партнёра');
SELECT is(cdp.import_csv('reception', 'consents', E'источник;код;цель;канал;согласие;дата\nfitness;FIT-2;partner_sharing;*;да;02.02.2024\n') ->> 'created', '1',
          'a partner contact''s partner_sharing consent is imported by partner and partner''s id');
SELECT is(cdp.may_contact(pg_temp.g('fitness', 'FIT-2'), 'marketing', 'sms'), true,
          'a partner contact with marketing and partner_sharing consent may get marketing');
SELECT is(cdp.may_contact(pg_temp.g('fitness', 'FIT-1'), 'marketing', 'sms'), false,
          'a partner contact with marketing consent but no partner_sharing may not get marketing');
SELECT is((cdp.segment_preview('{"attr": "source_kind", "op": "=", "value": "partner"}', NULL, 'marketing', 'sms') ->> 'count')::int, 1,
          '... and is not in a marketing segment''s send-eligible set (only FIT-2 is)');
SELECT is((cdp.segment_preview('{"attr": "source_kind", "op": "=", "value": "partner"}', NULL, 'marketing', 'sms') -> 'sample') @> to_jsonb(pg_temp.g('fitness', 'FIT-2')),
          true, 'partner contacts are selectable in segments by source_kind');

-- ---------------------------------------------------------------- segment lists
SELECT cdp.create_segment('обзвон', '{"attr": "source_kind", "op": "=", "value": "partner"}', 'treatment') AS seg \gset
SELECT throws_ok($$SELECT cdp.import_begin('reception', 'segment_list')$$, '22023', 'a segment_list import needs the segment it fills',
                 'a segment list without its segment is refused');
SELECT throws_ok($$SELECT cdp.import_begin('reception', 'segment_list', '{"segment": 987654}')$$, 'P0002', 'segment "987654" does not exist',
                 'a missing segment is refused');
SELECT throws_ok(format($$SELECT cdp.import_begin('reception', 'segment_list', '{"segment": %s, "list": "maybe"}')$$, :seg), '22023',
                 'invalid segment list "maybe"', 'an unknown list is refused');
SELECT throws_ok($$SELECT cdp.import_begin('reception', 'patients', '{"segment": 1}')$$, '22023',
                 'the options segment, list and replace are for segment_list imports', 'segment options on another kind are refused');
CREATE TEMP TABLE sl AS SELECT E'Карточка;Источник;Код;СНИЛС;Телефон\n'
 ';;R-3;;\n'
 ';;;;8 916 000-00-01\n'
 ';;;;8 916 000-00-04\n'
 ';fitness;FIT-1;;\n'
 ';;R-77;;\n'
 ';;;112-233-445 95;\n'
 '987654321;;;;\n'
 ';;;;abc\n'
 ';;R-3;;\n'::text AS f;
SELECT is((SELECT r ->> 'status' || ' ' || (r ->> 'not_found') || ' ' || (r ->> 'ambiguous') FROM sl,
                  cdp.import_csv('reception', 'segment_list', f, 'all_or_nothing', jsonb_build_object('segment', :seg)) r),
          'failed 2 2', 'all or nothing: identifiers matching nobody or several refuse the file, and the result counts them');
SELECT is((SELECT count(*) FROM cdp.segment_list WHERE segment_id = :seg), 0::bigint, '... and the list stays empty');
CREATE TEMP TABLE slq AS SELECT r AS res FROM sl, cdp.import_csv('reception', 'segment_list', f, 'quarantine', jsonb_build_object('segment', :seg)) r;
SELECT is((SELECT pg_temp.errs(res) FROM slq),
 '3/Телефон: 2 patients have this phone number (golden ids ' || pg_temp.g('reception', 'R-1') || ', ' || pg_temp.g('reception', 'R-2')
   || '): name the patient by golden_id or source_id instead.' || E'\n' ||
 '6/Код: Source "reception" has no record "R-77".' || E'\n' ||
 '7/СНИЛС: 2 patients have this SNILS (golden ids ' || pg_temp.g('reception', 'P-1001') || ', ' || pg_temp.g('reception', 'R-1')
   || '): name the patient by golden_id or source_id instead.' || E'\n' ||
 '8/Карточка: No patient has golden id 987654321, nor was it merged into one.' || E'\n' ||
 '9/Телефон: The value is not a phone number.',
          'quarantine: the report names every identifier that matched nobody or several, by row and column');
SELECT is((SELECT (res ->> 'created') || ' ' || (res ->> 'unchanged') || ' ' || (res ->> 'rejected') FROM slq), '3 1 5',
          '... three patients go on the list (R-3 twice: once unchanged)');
SELECT set_eq(format('SELECT golden_id FROM cdp.segment_list WHERE segment_id = %s AND list = %L', :seg, 'include'),
              ARRAY[pg_temp.g('reception', 'R-3'), pg_temp.g('reception', 'R-4'), pg_temp.g('fitness', 'FIT-1')],
              '... the segment''s include list holds exactly them');
SELECT is((SELECT count(*) FROM cdp.event WHERE kind = 'segment.listed' AND subject = :seg), 3::bigint, '... each through cdp.segment_list_set''s event');
SELECT is((cdp.import_csv('reception', 'segment_list', E'код\nR-3\nR-4\n', 'all_or_nothing', jsonb_build_object('segment', :seg)) ->> 'unchanged')::int, 2,
          'the same patients again: unchanged');
SELECT is((cdp.import_csv('reception', 'segment_list', E'код\nR-3\n', 'lenient', jsonb_build_object('segment', :seg, 'list', 'exclude')) ->> 'created')::int, 1,
          'a file may fill the exclude list');
SELECT throws_ok($$SELECT cdp.import_begin('reception', 'patients', '{"replace": true}')$$, '22023',
                 'the options segment, list and replace are for segment_list imports', 'replace on another kind is refused');
SELECT cdp.create_segment('replace', '{"attr": "source_kind", "op": "=", "value": "partner"}', 'treatment') AS seg2 \gset
SELECT is(cdp.import_csv('reception', 'segment_list', E'код\nR-1\nR-2\nR-3\n', 'all_or_nothing', jsonb_build_object('segment', :seg2)) ->> 'created', '3',
          'a first list of three');
SELECT is((SELECT (r ->> 'created') || ' ' || (r ->> 'unchanged') || ' ' || (r ->> 'removed') || ' ' || (r ->> 'rejected')
             FROM cdp.import_csv('reception', 'segment_list', E'код\nR-3\nR-4\nR-99\n', 'quarantine',
                                 jsonb_build_object('segment', :seg2, 'replace', true)) r),
          '1 1 2 1', 'replace: the file becomes the whole list (R-4 added, R-3 kept, R-1 and R-2 removed; R-99 matched nobody)');
SELECT set_eq(format('SELECT golden_id FROM cdp.segment_list WHERE segment_id = %s', :seg2),
              ARRAY[pg_temp.g('reception', 'R-3'), pg_temp.g('reception', 'R-4')], '... the list holds exactly the file''s patients');
SELECT is(cdp.import_csv('reception', 'segment_list', E'код\nR-99\n', 'all_or_nothing', jsonb_build_object('segment', :seg2, 'replace', true)) ->> 'status',
          'failed', 'a refused file replaces nothing');
SELECT is((SELECT count(*) FROM cdp.segment_list WHERE segment_id = :seg2), 2::bigint, '... the list is as it was');
SELECT cdp.refresh_segment(:seg, 'full');
SELECT set_eq(format('SELECT golden_id FROM cdp.segment_member WHERE segment_id = %s', :seg),
              ARRAY[pg_temp.g('reception', 'R-4'), pg_temp.g('fitness', 'FIT-1'), pg_temp.g('fitness', 'FIT-2'), pg_temp.g('fitness', 'FIT-3'),
                    pg_temp.g('fitness', 'FIT-0042')],
              'after a refresh the included patients are members beside the rule''s, the excluded one is not');

-- ---------------------------------------------------------------- quality counts and messages
SELECT cdp.register_source('old_his', 'internal', 40);
CREATE TEMP TABLE twice AS SELECT E'код;фамилия;снилс\nH-1;Ёлкина;112-233-445 96\nH-2;Щукин;\nH-2;Щукин;\n'::text AS f;
SELECT is((SELECT string_agg(r ->> 'status', ',') FROM twice, LATERAL (VALUES (cdp.import_csv('old_his', 'patients', f)),
                                                                               (cdp.import_csv('old_his', 'patients', f, 'quarantine'))) v(r)),
          'failed,committed', 'one file with two bad rows: refused all or nothing, then loaded in quarantine');
SELECT is((SELECT rows_quarantined || ' ' || imports_refused FROM cdp.source_quality WHERE source = 'old_his'), '2 1',
          'source_quality: its two rows quarantined once (the refused import quarantined nothing), one import refused');
SELECT is((SELECT rows_quarantined || ' ' || imports_refused FROM cdp.source_quality WHERE source = 'reception'),
          (SELECT count(*) FROM cdp_internal.import_reject j JOIN cdp_internal.import_batch b USING (batch_id)
            WHERE b.source = 'reception' AND b.status = 'committed') || ' ' ||
          (SELECT count(*) FROM cdp_internal.import_batch WHERE source = 'reception' AND status = 'failed'),
          'source_quality counts the rejects of committed imports and the refused imports apart');
SELECT is((SELECT rows_quarantined FROM cdp.source_quality WHERE source = 'fitness'), 2::bigint,
          'the partner source: the two rows its quarantine import set aside');
SELECT is((SELECT count(*) FROM cdp_internal.import_reject
            WHERE reason !~ '^[A-Z0-9]' OR regexp_replace(reason, '"[^"]*"', '', 'g') ~ '[А-Яа-яЁё]'), 0::bigint,
          'every reason of every import in this file is an English sentence (values in quotes aside)');

SELECT * FROM finish();
ROLLBACK;
