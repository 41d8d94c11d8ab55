-- test/pgtap/80_consent.sql: the consent registry (sql/parts/80_consent.sql, doc/consent.md):
-- every purpose x statement combination against its default, latest-wins and ties, framework
-- statements, merges (fold of both sides, newer withdrawal wins), unmerges (each side gets back
-- its own statements, a grant given while merged counts for neither side, a withdrawal for both),
-- the suppression list (a duplicate record cannot bring an address back), the replay, bad input.
BEGIN;
SELECT plan(45);

SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS src \gset
SELECT cdp.upsert_record('his', 'a', '{"family_name": "Иванова", "given_name": "Анна", "birth_date": "1980-03-01", "sex": "F", "phones": ["+7 916 123-45-67"], "emails": ["anna@mail.ru"]}') AS ra \gset
SELECT cdp.upsert_record('his', 'b', '{"family_name": "Иванова", "given_name": "Анна", "birth_date": "1980-03-01", "sex": "F", "phones": ["+7 916 123-45-67"]}') AS rb \gset
SELECT cdp.upsert_record('his', 'c', '{"family_name": "Петров", "given_name": "Иван", "birth_date": "1970-01-01", "sex": "M", "phones": ["+7 903 000-00-01"]}') AS rc \gset
SELECT cdp.golden_id('his', 'a') AS ga, cdp.golden_id('his', 'b') AS gb, cdp.golden_id('his', 'c') AS gc \gset

-- ---------------------------------------------------------------- defaults, every purpose x channel
SELECT is((SELECT count(*) FROM cdp.consent_now(:gc)), 30::bigint, 'consent_now lists 5 purposes x 6 channels');
SELECT is((SELECT string_agg(DISTINCT purpose || '=' || granted, ',' ORDER BY purpose || '=' || granted) FROM cdp.consent_now(:gc)),
          'analytics=false,marketing=false,partner_sharing=false,state_exchange=true,treatment=true',
          'defaults: marketing, analytics, partner sharing denied; treatment, state exchange allowed');
SELECT ok((SELECT bool_and(is_default) FROM cdp.consent_now(:gc)), 'no statement: every state is the default');

-- every purpose, each state combination: default, granted, withdrawn, granted then withdrawn, withdrawn then granted
CREATE TEMP TABLE combo AS
SELECT p.purpose, s.steps, s.expect_after
  FROM cdp.consent_purposes() p,
       (VALUES ('{}'::boolean[], NULL::boolean), ('{t}', true), ('{f}', false), ('{t,f}', false), ('{f,t}', true)) s(steps, expect_after);
CREATE TEMP TABLE combo_result (purpose text, steps boolean[], got boolean, expect boolean);
DO $$
DECLARE
	c	record;
	g	bigint;
	i	int := 0;
	st	boolean;
	k	int;
BEGIN
	FOR c IN SELECT * FROM combo LOOP
		i := i + 1;
		g := cdp.golden_id('his', 'a');
		PERFORM cdp.upsert_record('his', 'combo' || i, jsonb_build_object('family_name', 'Комбо' || i, 'sex', 'F'));
		g := cdp.golden_id('his', 'combo' || i);
		k := 0;
		FOREACH st IN ARRAY c.steps LOOP
			k := k + 1;
			PERFORM cdp.set_consent(g, c.purpose, 'email', st, timestamptz '2026-01-01' + k * interval '1 day');
		END LOOP;
		INSERT INTO combo_result VALUES (c.purpose, c.steps, cdp.may_contact(g, c.purpose, 'email'),
			coalesce(c.expect_after, (SELECT default_granted FROM cdp.consent_purposes() p WHERE p.purpose = c.purpose)));
	END LOOP;
END
$$;
SELECT is((SELECT count(*) FROM combo_result), 25::bigint, '25 purpose x statement combinations');
SELECT is((SELECT string_agg(purpose || ':' || steps::text, ', ') FROM combo_result WHERE got IS DISTINCT FROM expect), NULL,
          'every combination: latest statement wins, else the purpose default');

-- ---------------------------------------------------------------- one person
SELECT cdp.set_consent(:ga, 'marketing', 'sms', true, '2026-02-01') AS e1 \gset
SELECT ok(cdp.may_contact(:ga, 'marketing', 'sms'), 'granted sms marketing');
SELECT ok(NOT cdp.may_contact(:ga, 'marketing', 'email'), 'another channel stays denied');
SELECT is((SELECT event_id FROM cdp.consent_now(:ga) WHERE purpose = 'marketing' AND channel = 'sms'), :e1::bigint,
          'consent_now names the statement behind the state');
SELECT cdp.set_consent(:ga, 'marketing', 'sms', false, '2026-01-15') AS e_old \gset
SELECT ok(cdp.may_contact(:ga, 'marketing', 'sms'), 'an older withdrawal recorded later does not win over a newer grant');
SELECT cdp.set_consent(:ga, 'marketing', 'sms', false, '2026-02-01') AS e_tie \gset
SELECT ok(NOT cdp.may_contact(:ga, 'marketing', 'sms'), 'a withdrawal wins a tie with a grant of the same time');
SELECT cdp.set_consent(:ga, 'marketing', '*', true, '2026-03-01', 'doc-17') AS e_all \gset
SELECT is((SELECT count(*) FROM cdp.consent_now(:ga) WHERE purpose = 'marketing' AND granted AND event_id = :e_all), 6::bigint,
          '* covers every channel of the purpose');
SELECT is((SELECT evidence FROM cdp.consent_now(:ga) WHERE purpose = 'marketing' AND channel = 'post'), 'doc-17', 'evidence is kept');
SELECT cdp.set_consents(:gc, ARRAY['marketing', 'analytics'], ARRAY['email', 'sms'], true, '2026-03-01', 'framework-1') AS e_fw \gset
SELECT is((SELECT count(*) FROM cdp.consent_now(:gc) WHERE event_id = :e_fw), 4::bigint, 'a framework statement covers purposes x channels');
SELECT is((SELECT count(*) FROM cdp.event WHERE event_id = :e_fw AND kind = 'consent.granted'), 1::bigint, 'one event per statement');
SELECT cdp.set_consent(:gc, 'treatment', 'call', false, '2026-03-02') AS e_tr \gset
SELECT ok(NOT cdp.may_contact(:gc, 'treatment', 'call') AND cdp.may_contact(:gc, 'treatment', 'sms'),
          'treatment withdrawn for calls only');

-- ---------------------------------------------------------------- merge: fold of both sides
SELECT cdp.set_consent(:gb, 'marketing', 'email', false, '2026-04-01') AS e_bw \gset
SELECT cdp.set_consent(:gb, 'analytics', 'email', true, '2026-04-01') AS e_bg \gset
SELECT ok(cdp.may_contact(:ga, 'marketing', 'email'), 'before the merge a may be e-mailed');
SELECT cdp.link_records(:ra, :rb, '{"test": true}') AS gm \gset
SELECT is(:gm::bigint, least(:ga, :gb)::bigint, 'merged into the older id');
SELECT ok(NOT cdp.may_contact(:gm, 'marketing', 'email'), 'after the merge b''s newer withdrawal wins over a''s grant');
SELECT ok(cdp.may_contact(:gm, 'marketing', 'sms'), 'a''s grant on sms (no withdrawal on b) holds');
SELECT ok(cdp.may_contact(:gm, 'analytics', 'email'), 'b''s grant holds for the merged person');
SELECT ok(cdp.may_contact(greatest(:ga, :gb), 'marketing', 'sms'), 'a merged-away id is followed to the survivor');
SELECT cdp.set_consent(:gm, 'partner_sharing', 'email', true, '2026-05-01') AS e_merged_grant \gset
SELECT cdp.set_consent(:gm, 'marketing', 'call', false, '2026-05-01') AS e_merged_withdraw \gset
SELECT ok(cdp.may_contact(:gm, 'partner_sharing', 'email'), 'a grant given while merged holds while merged');

-- ---------------------------------------------------------------- unmerge: each side its own
SELECT cdp.unmerge(:rb, 'two sisters') AS gn \gset
SELECT ok(cdp.may_contact(:gm, 'marketing', 'email'), 'after the unmerge a gets its own grant back');
SELECT ok(NOT cdp.may_contact(:gn, 'marketing', 'email'), 'b keeps its own withdrawal');
SELECT ok(NOT cdp.may_contact(:gn, 'marketing', 'sms'), 'b does not keep a''s grant');
SELECT ok(cdp.may_contact(:gn, 'analytics', 'email') AND NOT cdp.may_contact(:gm, 'analytics', 'email'),
          'b''s grant goes back to b only');
SELECT ok(NOT cdp.may_contact(:gm, 'partner_sharing', 'email') AND NOT cdp.may_contact(:gn, 'partner_sharing', 'email'),
          'a grant given while merged counts for neither side after the unmerge');
SELECT ok(NOT cdp.may_contact(:gm, 'marketing', 'call') AND NOT cdp.may_contact(:gn, 'marketing', 'call'),
          'a withdrawal given while merged counts for both sides');

-- ---------------------------------------------------------------- suppression list
SELECT cdp.upsert_record('his', 'd', '{"family_name": "Иванова", "given_name": "Анюта", "sex": "F", "phones": ["8 (916) 123-45-67"]}') AS rd \gset
SELECT cdp.golden_id('his', 'd') AS gd \gset
SELECT cdp.set_consent(:gd, 'marketing', 'sms', true, '2026-06-01') AS e_dg \gset
SELECT ok(cdp.may_contact(:gd, 'marketing', 'sms'), 'd granted sms marketing');
SELECT cdp.set_consent(:gm, 'marketing', 'sms', false, '2026-06-02', NULL, '+79161234567') AS e_sup \gset
SELECT ok(cdp.is_suppressed('8 916 123 45 67', 'marketing'), 'the withdrawn number is on the suppression list (any spelling)');
SELECT ok(NOT cdp.may_contact(:gd, 'marketing', 'sms'), 'a duplicate record carrying the number cannot bring it back');
SELECT ok(cdp.may_contact(:gd, 'treatment', 'sms'), 'the suppression is for marketing only');
SELECT cdp.set_consent(:gd, 'marketing', 'sms', true, '2026-06-03', NULL, '+79161234567') AS e_dg2 \gset
SELECT ok(cdp.is_suppressed('+79161234567', 'marketing'), 'another person''s grant naming the number does not lift it');
SELECT cdp.set_consent(:gm, 'marketing', 'sms', true, '2026-06-04', NULL, '+79161234567') AS e_lift \gset
SELECT ok(NOT cdp.is_suppressed('+79161234567', 'marketing') AND cdp.may_contact(:gd, 'marketing', 'sms'),
          'the person who withdrew it may lift it');

-- ---------------------------------------------------------------- replay
CREATE TEMP TABLE before_rebuild AS SELECT * FROM cdp.consent_statement;
CREATE TEMP TABLE before_sup AS SELECT * FROM cdp.consent_suppression;
SELECT ok(cdp.rebuild_consent() > 0, 'rebuild_consent replays the consent events');
SELECT is((SELECT count(*) FROM (SELECT * FROM cdp.consent_statement EXCEPT ALL SELECT * FROM before_rebuild
                                 UNION ALL (SELECT * FROM before_rebuild EXCEPT ALL SELECT * FROM cdp.consent_statement)) d),
          0::bigint, 'the replay gives the same statement rows');
SELECT is((SELECT count(*) FROM (SELECT * FROM cdp.consent_suppression EXCEPT ALL SELECT * FROM before_sup
                                 UNION ALL (SELECT * FROM before_sup EXCEPT ALL SELECT * FROM cdp.consent_suppression)) d),
          0::bigint, 'the replay gives the same suppression list');

-- ---------------------------------------------------------------- bad input
SELECT throws_ok(format('SELECT cdp.set_consent(%s, %L, %L, true)', :ga, 'spam', 'sms'), '22023', 'unknown consent purpose "spam"', 'unknown purpose');
SELECT throws_ok(format('SELECT cdp.set_consent(%s, %L, %L, true)', :ga, 'marketing', 'pigeon'), '22023', 'unknown consent channel "pigeon"', 'unknown channel');
SELECT throws_ok('SELECT cdp.set_consent(999999, ''marketing'', ''sms'', true)', 'P0002', 'patient "999999" does not exist', 'unknown patient');
SELECT throws_ok(format('SELECT cdp.may_contact(%s, %L, %L)', :ga, 'spam', 'sms'), '22023', 'unknown consent purpose "spam"', 'may_contact: unknown purpose');
SELECT throws_ok(format('SELECT cdp.may_contact(%s, %L, %L)', :ga, 'marketing', 'pigeon'), '22023', 'unknown consent channel "pigeon"', 'may_contact: unknown channel');
SELECT throws_ok(format('SELECT cdp.may_contact(%s, %L, %L)', :ga, 'marketing', '*'), '22023', 'may_contact asks about one channel', 'may_contact: one channel');
SELECT ok(NOT cdp.may_contact(999999, 'treatment', 'sms'), 'may_contact: an unknown person may not be contacted, even by default');
SELECT ok(NOT cdp.may_contact(999999, 'treatment', 'sms'), 'may_contact of an unknown person is false');

SELECT * FROM finish();
ROLLBACK;
