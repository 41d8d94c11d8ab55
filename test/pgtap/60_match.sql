-- test/pgtap/60_match.sql: matching (issue 6) on hand-made families with the shipped default
-- settings, untrained: the same person with slips, twins, namesakes, father and son with the
-- same name, a woman before and after marriage, same and different SNILS, placeholders, sparse
-- records, a shared reception phone, review decisions, stable ids on a repeated full run.
BEGIN;
SELECT plan(56);

SELECT cdp.register_source(n) FROM unnest(ARRAY['reg', 'lab', 'crm']) n;
CREATE TEMP TABLE r(name text PRIMARY KEY, id bigint);
INSERT INTO r VALUES
 -- the same woman three times: a day/month swap, a phone written differently, one SNILS
 ('sok1', cdp.upsert_record('reg', 'sok1', '{"family_name":"Соколова","given_name":"Елена","patronymic":"Викторовна","birth_date":"1979-11-02","sex":"F","phone":"+7 916 111-00-01","snils":"087-654-303 00"}')),
 -- given and family name exchanged at the desk
 ('sok5', cdp.upsert_record('crm', 'sok5', '{"family_name":"Елена","given_name":"Соколова","patronymic":"Викторовна","birth_date":"1979-11-02","sex":"F","phone":"+79161110001"}')),
 ('sok2', cdp.upsert_record('lab', 'sok2', '{"family_name":"Соколова","given_name":"Елена","patronymic":"Викторовна","birth_date":"1979-02-11","sex":"F","phone":"8 (916) 111-00-01"}')),
 -- her namesake in every field but with another valid SNILS: never merged automatically
 ('sok3', cdp.upsert_record('crm', 'sok3', '{"family_name":"Соколова","given_name":"Елена","patronymic":"Викторовна","birth_date":"1979-11-02","sex":"F","phone":"+79161110001","snils":"123-456-789 64"}')),
 -- twins: one family, one birthday, one phone and address, different given names
 ('tw1', cdp.upsert_record('reg', 'tw1', '{"family_name":"Орлова","given_name":"Анна","patronymic":"Игоревна","birth_date":"2001-05-05","sex":"F","phone":"+79162220002","address":"Москва, ул. Ленина, 1"}')),
 ('tw2', cdp.upsert_record('reg', 'tw2', '{"family_name":"Орлова","given_name":"Мария","patronymic":"Игоревна","birth_date":"2001-05-05","sex":"F","phone":"+79162220002","address":"Москва, ул. Ленина, 1"}')),
 -- father and son with the same full name, phone and address
 ('pet1', cdp.upsert_record('reg', 'pet1', '{"family_name":"Петров","given_name":"Пётр","patronymic":"Петрович","birth_date":"1960-01-10","sex":"M","phone":"+79163330003","address":"Тверь, ул. Мира, 5"}')),
 ('pet2', cdp.upsert_record('lab', 'pet2', '{"family_name":"Петров","given_name":"Петр","patronymic":"Петрович","birth_date":"1990-03-15","sex":"M","phone":"+79163330003","address":"Тверь, ул. Мира, 5"}')),
 -- namesakes: same full name, different birth dates and phones
 ('iv1', cdp.upsert_record('reg', 'iv1', '{"family_name":"Иванов","given_name":"Иван","patronymic":"Иванович","birth_date":"1980-01-01","sex":"M","phone":"+79164440004"}')),
 ('iv2', cdp.upsert_record('lab', 'iv2', '{"family_name":"Иванов","given_name":"Иван","patronymic":"Иванович","birth_date":"1985-06-07","sex":"M","phone":"+79164440005"}')),
 -- a woman before and after marriage: new surname, same phone
 ('mar1', cdp.upsert_record('reg', 'mar1', '{"family_name":"Смирнова","given_name":"Анна","patronymic":"Сергеевна","birth_date":"1985-04-12","sex":"F","phone":"+79165550005"}')),
 ('mar2', cdp.upsert_record('crm', 'mar2', '{"family_name":"Кузнецова","given_name":"Анна","patronymic":"Сергеевна","birth_date":"1985-04-12","sex":"F","phone":"+79165550005","email":"anna.k@mail.ru"}')),
 -- same SNILS, names in two scripts and nothing else: the SNILS rule links them
 ('sn1', cdp.upsert_record('reg', 'sn1', '{"family_name":"Иванова","given_name":"Ольга","snils":"112-233-445 95"}')),
 ('sn2', cdp.upsert_record('lab', 'sn2', '{"family_name":"Ivanova","given_name":"Olga","snils":"11223344595"}')),
 -- placeholders that agree on everything
 ('ph1', cdp.upsert_record('reg', 'ph1', '{"family_name":"Тестов","given_name":"Тест","birth_date":"2000-01-01","sex":"M","phone":"+79166660006"}')),
 ('ph2', cdp.upsert_record('lab', 'ph2', '{"family_name":"Тестов","given_name":"Тест","birth_date":"2000-01-01","sex":"M","phone":"+79166660006"}')),
 -- records with almost nothing
 ('sp1', cdp.upsert_record('reg', 'sp1', '{"given_name":"Анна"}')),
 ('sp2', cdp.upsert_record('lab', 'sp2', '{"given_name":"Анна","sex":"F"}'));
-- ten different people leave the reception phone (a family of five sharing one is not suspicious:
-- suspicious_min_persons is 10 in the default)
INSERT INTO r SELECT 'rec' || i, cdp.upsert_record('reg', 'rec' || i, jsonb_build_object('family_name', f, 'given_name', g, 'phone', '+7 495 000-00-00'))
  FROM (VALUES (1, 'Белов', 'Олег'), (2, 'Волкова', 'Ирина'), (3, 'Зайцев', 'Артём'), (4, 'Котова', 'Вера'), (5, 'Лосев', 'Юрий'),
               (6, 'Миронов', 'Глеб'), (7, 'Носова', 'Дарья'), (8, 'Осипов', 'Лев'), (9, 'Панова', 'Нина'), (10, 'Рябов', 'Тимур')) v(i, f, g);
-- a family of five sharing the home phone
INSERT INTO r SELECT 'fam' || i, cdp.upsert_record('reg', 'fam' || i, jsonb_build_object('family_name', f, 'given_name', g, 'phone', '+7 495 111-22-33'))
  FROM (VALUES (1, 'Яковлев', 'Олег'), (2, 'Яковлева', 'Ирина'), (3, 'YAKOVLEVA', 'IRINA'), (4, 'Яковлев', 'Артём'), (5, 'Яковлева', 'Вера')) v(i, f, g);
CREATE FUNCTION pg_temp.g(n text) RETURNS bigint LANGUAGE sql AS $$ SELECT golden_id FROM cdp.record WHERE record_id = (SELECT id FROM r WHERE name = n) $$;
CREATE FUNCTION pg_temp.id(n text) RETURNS bigint LANGUAGE sql AS $$ SELECT id FROM r WHERE name = n $$;

-- incremental run over the queue
SELECT is((cdp.run_matching() ->> 'processed')::int, (SELECT count(*)::int FROM r), 'the first incremental run processes every queued record');
SELECT is((SELECT count(*)::int FROM cdp_internal.match_queue), 0, 'the queue is empty afterwards');

SELECT is(pg_temp.g('sok1'), pg_temp.g('sok2'), 'the same person with swapped day and month and another phone spelling is linked');
SELECT is(pg_temp.g('sok2'), LEAST(pg_temp.g('sok1'), pg_temp.g('sok2')), 'the older (smaller) golden id survives');
SELECT is(pg_temp.g('sok5'), pg_temp.g('sok1'), 'a record with given and family name exchanged is linked');
SELECT is((SELECT level FROM cdp.explain_match(pg_temp.id('sok1'), pg_temp.id('sok5')) WHERE attr = 'given_name'), 'совпадает',
          'the default reads the names by what they are (name_roles), so the given names agree');
SELECT is((SELECT value_b FROM cdp.explain_match(pg_temp.id('sok1'), pg_temp.id('sok5')) WHERE attr = 'family_name'), 'соколова',
          'and the explanation shows the family name read back in its field');
SELECT isnt(pg_temp.g('sok3'), pg_temp.g('sok1'), 'a different valid SNILS keeps an otherwise identical record apart');
SELECT ok(EXISTS (SELECT 1 FROM cdp.review_queue q WHERE pg_temp.id('sok3') IN (q.record_a, q.record_b)), 'and puts it in the review queue');
SELECT isnt(pg_temp.g('tw1'), pg_temp.g('tw2'), 'twins are not linked');
SELECT ok(EXISTS (SELECT 1 FROM cdp.review_queue q WHERE q.record_a = LEAST(pg_temp.id('tw1'), pg_temp.id('tw2')) AND q.record_b = GREATEST(pg_temp.id('tw1'), pg_temp.id('tw2'))),
          'twins sharing a phone and address go to review');
SELECT isnt(pg_temp.g('pet1'), pg_temp.g('pet2'), 'father and son with the same name are not linked');
SELECT isnt(pg_temp.g('iv1'), pg_temp.g('iv2'), 'namesakes born on other days are not linked');
SELECT is(pg_temp.g('mar1'), pg_temp.g('mar2'), 'a woman before and after marriage is linked by name, birth date and phone');
SELECT is(pg_temp.g('sn1'), pg_temp.g('sn2'), 'the same valid SNILS links records that share nothing else');
SELECT isnt(pg_temp.g('ph1'), pg_temp.g('ph2'), 'placeholder records are never linked automatically');
SELECT ok((SELECT q.summary LIKE '%заглушка%' FROM cdp.review_queue q WHERE q.record_a = LEAST(pg_temp.id('ph1'), pg_temp.id('ph2')) AND q.record_b = GREATEST(pg_temp.id('ph1'), pg_temp.id('ph2'))),
          'placeholders go to review with the reason');
SELECT isnt(pg_temp.g('sp1'), pg_temp.g('sp2'), 'records with most attrs missing do not match on nothing');
SELECT is((SELECT count(*)::int FROM cdp.match_record(pg_temp.id('sp1'))), 0, 'and have no candidates');

-- evidence that is no evidence
SELECT is((SELECT persons FROM cdp.suspicious_values WHERE attr = 'phones' AND value = '74950000000'), 10, 'a phone left by ten differently named people is suspicious');
SELECT is((SELECT count(DISTINCT golden_id)::int FROM cdp.record WHERE record_id IN (SELECT id FROM r WHERE name LIKE 'rec%')), 10, 'the people sharing the reception phone stay apart');
SELECT ok(NOT EXISTS (SELECT 1 FROM cdp.suspicious_values WHERE attr = 'phones' AND value = '74951112233'), 'a family phone written under five spellings of names is not suspicious');
SELECT is((SELECT count(DISTINCT golden_id)::int FROM cdp.record WHERE record_id IN (SELECT id FROM r WHERE name LIKE 'fam%')), 4,
          'the family members sharing a phone stay apart; one woman written in two scripts is linked (same phone and name)');

-- explanations
SELECT is((SELECT count(*)::int FROM cdp.explain_match(pg_temp.id('sok1'), pg_temp.id('sok2'))), 15, 'explain_match: the prior, one row per comparison, the summary');
SELECT is((SELECT level FROM cdp.explain_match(pg_temp.id('sok1'), pg_temp.id('sok2')) WHERE attr = 'birth_date'), 'день и месяц переставлены', 'the birth date level is named in Russian');
SELECT ok((SELECT level FROM cdp.explain_match(pg_temp.id('sok1'), pg_temp.id('sok2')) WHERE attr = '(итог)') LIKE 'совпали: фамилия, имя, отчество, пол, телефон; дата рождения: день и месяц переставлены%',
          'the summary lists what agreed and how the birth date differs');
SELECT ok((SELECT running_total FROM cdp.explain_match(pg_temp.id('sok1'), pg_temp.id('sok2')) WHERE attr = '(итог)')
          = (SELECT sum(weight) FROM cdp.explain_match(pg_temp.id('sok1'), pg_temp.id('sok2')) WHERE attr <> '(итог)'), 'the running total is the sum of the weights');
SELECT is((SELECT decision FROM cdp.match_record(pg_temp.id('sok1')) WHERE candidate = pg_temp.id('sok2')), 'same_person', 'match_record reports a linked candidate as the same person');
SELECT is((SELECT golden_id FROM cdp.find_patient('{"surname":"Соколова","first_name":"Елена","dob":"02.11.1979"}') LIMIT 1), pg_temp.g('sok1'),
          'find_patient finds the person from a few attrs');

-- review decisions are remembered
SELECT lives_ok(format('SELECT cdp.review_decide(%s, %L, %L)', (SELECT pair_id FROM cdp.review_queue WHERE record_a = LEAST(pg_temp.id('tw1'), pg_temp.id('tw2')) AND record_b = GREATEST(pg_temp.id('tw1'), pg_temp.id('tw2'))), 'no_match', 'twins'),
          'a reviewer rejects the twins');
SELECT ok(EXISTS (SELECT 1 FROM cdp.pair_decision WHERE record_a = LEAST(pg_temp.id('tw1'), pg_temp.id('tw2')) AND decision = 'no_match'), 'the rejection is a pair decision');
SELECT lives_ok(format('SELECT cdp.review_decide(%s, %L, NULL)', (SELECT pair_id FROM cdp.review_queue WHERE record_a = LEAST(pg_temp.id('ph1'), pg_temp.id('ph2')) AND record_b = GREATEST(pg_temp.id('ph1'), pg_temp.id('ph2'))), 'match'),
          'a reviewer confirms the placeholder pair');
SELECT is(pg_temp.g('ph1'), pg_temp.g('ph2'), 'a confirmed pair is linked');
SELECT throws_ok(format('SELECT cdp.review_decide(%s, %L, NULL)', (SELECT pair_id FROM cdp_internal.match_review WHERE record_a = LEAST(pg_temp.id('ph1'), pg_temp.id('ph2')) AND record_b = GREATEST(pg_temp.id('ph1'), pg_temp.id('ph2'))), 'maybe'),
          '22023', 'invalid review decision "maybe"', 'an unknown decision is refused');
-- an entry whose persons a no_match decision keeps apart (an entry kept from before 0.3.0, or one a
-- desk decision overtook): a match on it is refused with nothing written, not recorded and ignored
INSERT INTO r VALUES ('ap1', cdp.upsert_record('reg', 'ap1', '{"family_name":"Апартова","given_name":"Ия","birth_date":"1971-01-01"}')),
                     ('ap2', cdp.upsert_record('lab', 'ap2', '{"family_name":"Апартова","given_name":"Ия","birth_date":"1971-01-01"}')),
                     ('ap3', cdp.upsert_record('crm', 'ap3', '{"family_name":"Апартова","given_name":"Ия"}'));
SELECT isnt(cdp.link_records(pg_temp.id('ap1'), pg_temp.id('ap2'), '{"test": "apart"}'), NULL, 'precondition: ap1 and ap2 are one person');
SELECT lives_ok(format('SELECT cdp.record_pair_decision(%s, %s, %L)', pg_temp.id('ap2'), pg_temp.id('ap3'), 'no_match'),
          'a desk decides ap2 and ap3 are two people');
INSERT INTO cdp_internal.match_review (record_a, record_b, score) VALUES (LEAST(pg_temp.id('ap1'), pg_temp.id('ap3')), GREATEST(pg_temp.id('ap1'), pg_temp.id('ap3')), 0.85);
SELECT throws_ok(format('SELECT cdp.review_decide(%s, %L, NULL)', (SELECT pair_id FROM cdp_internal.match_review WHERE record_a = LEAST(pg_temp.id('ap1'), pg_temp.id('ap3')) AND record_b = GREATEST(pg_temp.id('ap1'), pg_temp.id('ap3'))), 'match'),
          '55000', NULL, 'a match between persons decided apart is refused');
SELECT is((SELECT status FROM cdp_internal.match_review WHERE record_a = LEAST(pg_temp.id('ap1'), pg_temp.id('ap3')) AND record_b = GREATEST(pg_temp.id('ap1'), pg_temp.id('ap3'))), 'open',
          'the entry stays open');
SELECT is((SELECT count(*)::int FROM cdp.pair_decision WHERE LEAST(record_a, record_b) = LEAST(pg_temp.id('ap1'), pg_temp.id('ap3')) AND GREATEST(record_a, record_b) = GREATEST(pg_temp.id('ap1'), pg_temp.id('ap3'))), 0,
          'and no match decision was recorded');
SELECT isnt(pg_temp.g('ap1'), pg_temp.g('ap3'), 'the persons stay apart');

-- a full run on unchanged data changes no links and never undoes a decision
CREATE TEMP TABLE before AS SELECT record_id, golden_id FROM cdp.record;
SELECT is((cdp.run_matching('full') ->> 'linked')::int, 0, 'a full run on unchanged data links nothing');
SELECT is((SELECT count(*)::int FROM cdp.record c JOIN before b USING (record_id) WHERE c.golden_id <> b.golden_id), 0, 'and moves no record');
SELECT isnt(pg_temp.g('tw1'), pg_temp.g('tw2'), 'rejected twins stay apart');

-- a new record joins its person incrementally
INSERT INTO r VALUES ('sok4', cdp.upsert_record('crm', 'sok4', '{"family_name":"Соколова","given_name":"Лена","patronymic":"Викторовна","birth_date":"1979-11-02","sex":"F","phone":"+79161110001"}'));
SELECT is((cdp.run_matching('incremental') ->> 'processed')::int, 1, 'an incremental run processes only the new record');
SELECT is(pg_temp.g('sok4'), pg_temp.g('sok1'), 'the new record (diminutive given name) joins the existing person');

-- names in two scripts, fields typed in another order, names exchanged with nothing else shared
-- (settings of test/bench/settings/clinic.json: cross levels and an any_order blocking rule)
INSERT INTO r VALUES
 ('rot1', cdp.upsert_record('reg', 'rot1', '{"family_name":"Скворцов","given_name":"Игорь","patronymic":"Викторович","birth_date":"1975-05-08","sex":"M"}')),
 ('rot2', cdp.upsert_record('crm', 'rot2', '{"family_name":"Игорь","given_name":"Викторович","patronymic":"Скворцов","birth_date":"1975-05-08","sex":"M"}')),
 ('sw1', cdp.upsert_record('reg', 'sw1', '{"family_name":"Калугин","given_name":"Кирилл"}')),
 ('sw2', cdp.upsert_record('lab', 'sw2', '{"family_name":"Кирилл","given_name":"Калугин"}')),
 ('cs1', cdp.upsert_record('reg', 'cs1', '{"family_name":"Маркова","given_name":"Ирина","birth_date":"1962-09-06"}')),
 ('cs2', cdp.upsert_record('lab', 'cs2', '{"family_name":"MARKOVA","given_name":"IRNIA","birth_date":"1962-09-06"}')),
 ('in1', cdp.upsert_record('crm', 'in1', '{"family_name":"Маркова","given_name":"И.","birth_date":"1962-09-06"}')),
 ('lay1', cdp.upsert_record('reg', 'lay1', '{"family_name":"Борисова","given_name":"Софья","birth_date":"1958-01-13"}')),
 ('lay2', cdp.upsert_record('lab', 'lay2', '{"family_name":"Борисова","given_name":"Cjamz","birth_date":"1958-01-13"}'));
SELECT is((SELECT level FROM cdp.explain_match(pg_temp.id('cs1'), pg_temp.id('cs2')) WHERE attr = 'given_name'), 'похоже (Джаро-Винклер ≥ 0.92)',
          'Ирина and IRNIA (two scripts and a slip) are similar through their Latin keys');
SELECT ok(cdp.configure_matching($j$
{"comparisons": [
  {"attr": "family_name", "comparator": "name", "levels": ["exact", "key", {"if": "swapped", "with": "given_name"}, {"if": "cross", "with": "given_name"}, {"if": "jw", "ge": 0.92}]},
  {"attr": "given_name", "comparator": "name", "levels": ["exact", "key", {"if": "swapped", "with": "family_name"}, {"if": "cross", "with": "patronymic"}, {"if": "jw", "ge": 0.92}, "initial"]},
  {"attr": "patronymic", "comparator": "name", "levels": ["exact", "key", {"if": "cross", "with": "family_name"}, {"if": "jw", "ge": 0.9}]},
  {"attr": "birth_date", "comparator": "date"}],
 "blocking": [["family_name.key", "given_name.key"], ["any_order", "family_name.key", "given_name.key"], ["birth_date"]],
 "name_roles": false}$j$) > 0,
          'settings with cross levels and an any_order rule, names read as they are filed, are accepted');
SELECT is((SELECT level FROM cdp.explain_match(pg_temp.id('in1'), pg_temp.id('cs2')) WHERE attr = 'given_name'), 'совпадает инициал',
          'an initial in the other script (И., IRNIA) reaches the initial level');
SELECT is((SELECT level FROM cdp.explain_match(pg_temp.id('lay1'), pg_temp.id('lay2')) WHERE attr = 'given_name'), 'похоже (Джаро-Винклер ≥ 0.92)',
          'a given name typed with the wrong keyboard layout (Cjamz for Софья) is similar');
SELECT is((SELECT level FROM cdp.explain_match(pg_temp.id('rot1'), pg_temp.id('rot2')) WHERE attr = 'patronymic'), 'записано в другом поле ФИО',
          'a patronymic found in the other record''s family name field reaches the cross level');
SELECT is((SELECT level FROM cdp.explain_match(pg_temp.id('rot1'), pg_temp.id('rot2')) WHERE attr = 'given_name'), 'записано в другом поле ФИО',
          'and so does the given name found in the patronymic field');
SELECT is((SELECT count(*)::int FROM cdp.candidate_pairs() WHERE record_a = LEAST(pg_temp.id('sw1'), pg_temp.id('sw2')) AND record_b = GREATEST(pg_temp.id('sw1'), pg_temp.id('sw2'))), 1,
          'an any_order rule blocks exchanged family and given names together');
SELECT is((SELECT level FROM cdp.explain_match(pg_temp.id('sw1'), pg_temp.id('sw2')) WHERE attr = 'given_name'), 'имя и фамилия переставлены',
          'without name_roles exchanged names reach the swapped level');
SELECT is(cdp_internal._match_name_roles('Игорь', 'Викторович', 'Скворцов'), ARRAY['Скворцов', 'Игорь', 'Викторович'],
          'name_roles: «Имя Отчество Фамилия» read into family, given, patronymic');
SELECT is(cdp_internal._match_name_roles('Петров', 'Сергей', NULL), ARRAY['Петров', 'Сергей', NULL],
          'name_roles: a surname made from a given name (Петров) stays a surname');
SELECT throws_ok($$SELECT cdp.configure_matching('{"fields": ["family_name", "given_name"], "blocking": [["any_order", "family_name.key"]]}')$$,
          '22023', 'invalid matching settings at "$.blocking[0]"', 'an any_order rule needs at least two keys');

SELECT * FROM finish();
ROLLBACK;
