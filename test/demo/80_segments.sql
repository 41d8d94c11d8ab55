-- test/demo/80_segments.sql: consent, offers and segments (issue 13), after test/demo/demo.sql over
-- the same generated clinic.  The clinic's departments send clinical events, patients sign
-- consents (and some withdraw), marketing defines an offer and a segment; the summary says how many
-- patients the campaign may reach and what each guard removed.  Run by test/demo/run.sh.
\pset footer off
\pset null '—'
\pset linestyle unicode
SET client_min_messages = warning;
\o /dev/null
SELECT setseed(0.13);
\o

\echo
\echo '--- 7. Медицинские события: приёмы, анализы, диагнозы, рекомендации врачей (сгенерированы для демонстрации)'
-- per record of the departments that see patients: a few events over the last three years
CREATE TEMP TABLE demo_ev AS
SELECT s.name AS source, r.source_key, k, random() AS r0, random() AS r1, random() AS r2
  FROM cdp.record r JOIN cdp.source s USING (source_id)
 CROSS JOIN generate_series(1, 4) k
 WHERE s.name IN ('reception', 'doctors_desk', 'lab');
SELECT count(cdp.upsert_clinical_event(source, 'demo-' || source_key || '-' || k,
	CASE WHEN r0 < 0.4 THEN 'visit' WHEN r0 < 0.7 THEN 'lab_test' WHEN r0 < 0.9 THEN 'diagnosis' ELSE 'recommendation' END,
	CASE WHEN r0 < 0.4 THEN jsonb_build_object('record_source_id', source_key, 'at', (now() - r1 * interval '3 years')::text,
	                                           'status', 'done', 'specialty', (ARRAY['therapy', 'gynecology', 'urology', 'cardiology'])[1 + floor(r2 * 4)::int])
	     WHEN r0 < 0.7 THEN jsonb_build_object('record_source_id', source_key, 'code', (ARRAY['MAMMO', 'CBC', 'GLU', 'PSA', 'CHOL'])[1 + floor(r2 * 5)::int],
	                                           'result', round((3 + r1 * 4)::numeric, 1)::text, 'reference_range', '3.9-6.1',
	                                           'taken_at', (now() - r1 * interval '3 years')::text)
	     WHEN r0 < 0.9 THEN jsonb_build_object('record_source_id', source_key, 'at', (now() - r1 * interval '3 years')::text,
	                                           'code', (ARRAY['I10', 'J06.9', 'E11.9', 'N40', 'C61', 'M54.5', 'Z33', 'K29.7'])[1 + floor(r2 * 8)::int])
	     ELSE jsonb_build_object('record_source_id', source_key, 'text', 'повторить анализ', 'due_date', (current_date + (r1 * 60)::int - 20)::text) END))
	AS "событий загружено"
  FROM demo_ev;
SELECT CASE kind WHEN 'visit' THEN 'приём' WHEN 'diagnosis' THEN 'диагноз' WHEN 'lab_test' THEN 'анализ'
                 WHEN 'recommendation' THEN 'рекомендация врача' ELSE kind END AS "событие",
       count(*) AS "событий", count(DISTINCT golden_id) AS "пациентов"
  FROM cdp.clinical_event GROUP BY kind ORDER BY count(*) DESC;

\echo
\echo '--- 8. Согласия: общее согласие подписано в регистратуре, потом часть пациентов передумала'
-- two in three patients sign marketing on every channel; one in ten of them later withdraws SMS,
-- one withdraws through a phone number, which suppresses that number for everyone who carries it
SELECT count(cdp.set_consents(golden_id, ARRAY['marketing', 'analytics'], ARRAY['*'], true, now() - interval '1 year', 'framework-2025'))
	AS "подписали согласие"
  FROM cdp.patient WHERE hashint8(golden_id) % 3 <> 0;
SELECT count(cdp.set_consent(golden_id, 'marketing', 'sms', false, now() - interval '1 month', 'call-centre note'))
	AS "отказались от рекламы по SMS"
  FROM cdp.patient WHERE hashint8(golden_id) % 3 <> 0 AND hashint8extended(golden_id, 1) % 10 = 0;
SELECT p.golden_id AS suppressed_by, p.phones -> 0 ->> 'value' AS number
  FROM cdp.patient p WHERE jsonb_array_length(p.phones) > 0 AND cdp.may_contact(p.golden_id, 'marketing', 'sms')
 ORDER BY p.golden_id LIMIT 1 \gset
SELECT cdp.set_consent(:suppressed_by, 'marketing', 'sms', false, now(), 'STOP reply', :'number') IS NOT NULL AS stop \gset
\echo 'Один пациент ответил СТОП на рекламную SMS: номер блокируется для всех, у кого он записан.'
SELECT CASE WHEN NOT cdp.may_contact(:suppressed_by, 'marketing', 'sms') THEN 'больше не получает рекламных SMS'
            ELSE 'всё ещё получает (так быть не должно)' END AS "номер, ответивший СТОП";
\echo 'Согласия этого пациента по целям и каналам (+ можно, − нельзя; «по умолчанию» — пациент ничего не заявлял):'
SELECT CASE purpose WHEN 'analytics' THEN 'аналитика' WHEN 'marketing' THEN 'реклама' WHEN 'partner_sharing' THEN 'передача партнёрам'
                    WHEN 'state_exchange' THEN 'обмен с госсистемами' WHEN 'treatment' THEN 'лечение и напоминания' ELSE purpose END AS "цель",
	string_agg(CASE channel WHEN 'call' THEN 'звонок' WHEN 'email' THEN 'e-mail' WHEN 'messenger' THEN 'мессенджер'
	                        WHEN 'post' THEN 'почта' WHEN 'sms' THEN 'SMS' WHEN 'social' THEN 'соцсети' ELSE channel END
	           || CASE WHEN granted THEN ' +' ELSE ' −' END, ', ' ORDER BY channel) AS "каналы",
	CASE WHEN bool_and(is_default) THEN 'по умолчанию' ELSE 'заявлено пациентом' END AS "откуда"
  FROM cdp.consent_now(:suppressed_by) GROUP BY purpose ORDER BY purpose;

\echo
\echo '--- 9. Предложение с противопоказаниями: кому его нельзя показывать'
SELECT cdp.create_offer('{"name": "Скидка 20% на лечение простаты", "service": "urology", "sex": "M", "age": [40, 75],
  "exclude_icd10": ["C61", "N40-N42"], "exclude_pregnant": false, "valid_from": "2026-01-01", "valid_to": "2027-12-31"}') AS offer \gset
SELECT CASE WHEN reason IS NULL THEN 'предложение подходит'
            WHEN reason = 'sex' THEN 'не подходит: предложение только для мужчин'
            WHEN reason = 'age' THEN 'не подходит: возраст вне 40–75 лет'
            WHEN reason LIKE 'contraindication:%' THEN 'не подходит: диагноз-противопоказание ' || substr(reason, 18)
            WHEN reason = 'archived' THEN 'не подходит: карточка в архиве'
            ELSE 'не подходит: ' || reason END AS "скидка 20 % на лечение простаты",
       count(*) AS "пациентов"
  FROM (SELECT cdp.offer_block_reason(golden_id, :offer) AS reason FROM cdp.patient) x
 GROUP BY 1 ORDER BY 2 DESC;

\echo
\echo '--- 10. Сегменты: правило отбора, предварительный подсчёт, сохранённый и обновляемый сегмент'
\set rules '{"all": [{"attr": "sex", "op": "=", "value": "M"}, {"attr": "age", "op": "between", "value": [40, 75]}, {"any": [{"event": "visit", "where": {"specialty": "urology"}}, {"event": "lab_test", "where": {"code": "PSA"}}]}]}'
SELECT cdp.segment_preview(:'rules', :offer, 'marketing', 'sms') AS preview \gset
\echo 'Мужчины 40–75 лет, которые были у уролога или сдавали ПСА, для предложения по SMS:'
SELECT (:'preview'::jsonb ->> 'count')::int AS "можно написать",
	(SELECT sum(v::int) FROM jsonb_each_text(:'preview'::jsonb -> 'dropped') d(k, v)) AS "исключено проверками";
SELECT CASE WHEN k = 'archived' THEN 'карточка в архиве (пациент не приходил много лет)'
            WHEN k = 'no_consent' THEN 'нет согласия на рекламу по SMS (не давал, отозвал или номер ответил СТОП)'
            WHEN k LIKE 'contraindication:%' THEN 'диагноз-противопоказание ' || substr(k, 18)
            WHEN k = 'sex' THEN 'предложение только для мужчин' WHEN k = 'age' THEN 'возраст вне 40–75 лет'
            ELSE k END AS "почему исключён", v::int AS "пациентов"
  FROM jsonb_each_text(:'preview'::jsonb -> 'dropped') d(k, v) ORDER BY v::int DESC, k;
\echo 'Реклама по чувствительному диагнозу (депрессия, F32) запрещена:'
CREATE TEMP TABLE demo_refused (answer text);
DO $$
BEGIN
	PERFORM cdp.segment_preview('{"event": "diagnosis", "where": {"code": "F32"}}');
	INSERT INTO demo_refused VALUES ('сегмент создан (так быть не должно)');
EXCEPTION WHEN invalid_parameter_value THEN
	INSERT INTO demo_refused VALUES ('отказано, как и должно быть');
END $$;
SELECT answer AS "сегмент «диагноз F32» для рекламы" FROM demo_refused;
SELECT cdp.create_segment('Урология: мужчины 40-75', :'rules', 'marketing', :offer, 'sms') AS seg \gset
SELECT cdp.refresh_segment(:seg, 'full') AS r \gset
SELECT (:'r'::jsonb ->> 'size')::int AS "в сегменте после первого расчёта", (:'r'::jsonb ->> 'entered')::int AS "вошли";
SELECT cdp.set_segment_refresh(:seg, '1 hour') AS void \gset
SELECT extract(epoch FROM auto_refresh)::int / 60 || ' мин' AS "сегмент обновляется сам каждые" FROM cdp.segment WHERE segment_id = :seg;
\echo 'Один пациент сегмента отписался; быстрое обновление пересчитывает только тех, о ком есть новые события:'
SELECT golden_id AS leaving FROM cdp.segment_member WHERE segment_id = :seg ORDER BY golden_id LIMIT 1 \gset
SELECT cdp.set_consent(:leaving, 'marketing', '*', false, now(), 'unsubscribed') IS NOT NULL AS w \gset
SELECT cdp.refresh_segment(:seg) AS r \gset
SELECT (:'r'::jsonb ->> 'evaluated')::int AS "пересчитано пациентов", (:'r'::jsonb ->> 'left')::int AS "вышли из сегмента",
       (:'r'::jsonb ->> 'size')::int AS "в сегменте теперь",
       CASE WHEN NOT EXISTS (SELECT 1 FROM cdp.segment_member WHERE segment_id = :seg AND golden_id = :leaving)
            THEN 'да' ELSE 'нет (так быть не должно)' END AS "отписавшийся исключён";
\echo
\echo 'Копия сегмента с другим правилом (мужчины 50–75 лет, без условия об урологе) и сравнение с исходным:'
SELECT cdp.copy_segment(:seg, 'Урология: копия для сравнения') AS seg2 \gset
SELECT cdp.edit_segment(:seg2, '{"all": [{"attr": "sex", "op": "=", "value": "M"}, {"attr": "age", "op": "between", "value": [50, 75]}]}') AS v \gset
\o /dev/null
SELECT cdp.refresh_segment(:seg2, 'full');
\o
SELECT reach_a AS "исходный сегмент", reach_b AS "копия", overlap AS "в обоих", only_a AS "только в исходном", only_b AS "только в копии"
  FROM cdp.segment_compare(:seg, :seg2);
\echo 'Исходный сегмент поделён пополам для сравнения двух вариантов рассылки (группы A и B):'
SELECT arm AS "группа", count(*) AS "пациентов" FROM cdp.segment_split(:seg, '{"A": 50, "B": 50}') GROUP BY arm ORDER BY arm;

\echo
\echo '--- 11. Для отчётов: сводка по сегментам и состав сегмента для аналитиков без имён (группы меньше 5 человек не показаны)'
SELECT name AS "сегмент", version AS "версия правила", CASE status WHEN 'active' THEN 'действует' ELSE status END AS "статус",
       size AS "пациентов", reach_sms AS "можно SMS", reach_email AS "можно e-mail", reach_call AS "можно звонить",
       CASE last_refresh_mode WHEN 'full' THEN 'полный' WHEN 'incremental' THEN 'быстрый' ELSE last_refresh_mode END AS "последний пересчёт"
  FROM cdp.segment_summary ORDER BY segment_id;
SELECT cdp.create_segment('Все, кому можно напомнить о приёме', '{"attr": "status", "op": "=", "value": "active"}', 'treatment') AS everyone \gset
SELECT cdp.refresh_segment(:everyone, 'full') ->> 'size' AS "можно напоминать о лечении";
SELECT pseudonym AS "псевдоним", age_band AS "возраст", CASE sex WHEN 'M' THEN 'муж.' WHEN 'F' THEN 'жен.' ELSE sex END AS "пол",
       city AS "город" FROM cdp.segment_member_pseudonymous WHERE segment_id = :everyone ORDER BY pseudonym LIMIT 3;
SELECT (SELECT count(*) FROM cdp.segment_member WHERE segment_id = :everyone) AS "в сегменте",
	(SELECT count(*) FROM cdp.segment_member_pseudonymous WHERE segment_id = :everyone) AS "строк видят аналитики",
	(SELECT count(*) FROM cdp.segment_member WHERE segment_id = :everyone)
	  - (SELECT count(*) FROM cdp.segment_member_pseudonymous WHERE segment_id = :everyone) AS "скрыто (группы меньше 5 человек)";
\echo
\echo '--- 12. Журнал согласий — тоже источник правды: пересборка из журнала даёт те же согласия'
CREATE TEMP TABLE cs AS SELECT * FROM cdp.consent_statement;
SELECT cdp.rebuild_consent() AS replayed \gset
SELECT :replayed AS "событий согласия перечитано",
	(SELECT count(*) FROM (SELECT * FROM cs EXCEPT SELECT * FROM cdp.consent_statement) x) AS "расхождений";
