-- test/pgtap/86_campaign_render.sql: the C definitions shared by the per-member path and the
-- set-based listing (src/campaign_hash.c, src/campaign_render.c): campaign_hash gives the value of
-- its former SQL formula; campaign_render renders as its former PL/pgSQL loop (regexp_match of
-- '^(.*?)\{([a-z_]+)\}(.*)$', one placeholder at a time, the value never read again), kept here as
-- the reference; campaign_fill renders as campaign_render with the same values as pairs;
-- campaign_provenance (src/campaign_provenance.c) gives the jsonb the listing built with
-- jsonb_build_object before, byte for byte (its text and its value).
BEGIN;
SELECT plan(14);

CREATE FUNCTION pg_temp.ref_hash(campaign_id bigint, golden_id bigint) RETURNS float8 LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT (pg_catalog.hashtextextended($1::text || ':' || $2::text, 0)::float8 + 9223372036854775808.0) / 18446744073709551616.0
$$;
CREATE FUNCTION pg_temp.ref_render(tpl text, vals jsonb) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	out		text := '';
	rest	text := tpl;
	m		text[];
BEGIN
	LOOP
		m := pg_catalog.regexp_match(rest, '^(.*?)\{([a-z_]+)\}(.*)$', 's');
		EXIT WHEN m IS NULL;
		out := out || m[1] || coalesce(vals ->> m[2], '');
		rest := m[3];
	END LOOP;
	RETURN out || rest;
END
$$;

SELECT is((SELECT count(*) FROM generate_series(1, 40) c, generate_series(-50000, 50000, 13) g
            WHERE cdp_internal.campaign_hash(c, g) IS DISTINCT FROM pg_temp.ref_hash(c, g)), 0::bigint,
          'campaign_hash = the SQL formula, 40 campaigns x 7,693 ids');
SELECT ok(cdp_internal.campaign_hash(9223372036854775807, -9223372036854775808) = pg_temp.ref_hash(9223372036854775807, -9223372036854775808)
          AND cdp_internal.campaign_hash(1, 1) >= 0 AND cdp_internal.campaign_hash(1, 1) < 1,
          'campaign_hash at the bigint limits, in [0, 1)');
SELECT ok(cdp_internal.campaign_hash(NULL, 1) IS NULL, 'campaign_hash is strict');

CREATE TEMP TABLE tpls (tpl text);
INSERT INTO tpls VALUES ('{given_name}, до {offer_until} чек-ап'), ('{{given_name}}'), ('{given_name}{patronymic}'), ('{}{x}{ab'),
	('a{given_name'), ('{Given}{given_name}'), ('ё{given_name}ж{offer_until}'), (''), ('{unknown} x {family_name}'),
	('{{{given_name}'), (E'line\n{given_name}\n{patronymic}'), ('{given_name}patronymic}'), ('{{given_name}patronymic}'),
	(U&'\FFF0{given_name}\FFF0'), ('{given_name1}{given_name}'), ('{_}{a_b}'), ('}{'), (NULL);
CREATE TEMP TABLE vals (vals jsonb);
INSERT INTO vals VALUES ('{"given_name": "Анна", "patronymic": "{family_name}", "family_name": "Ив{"}'),
	('{"given_name": "", "patronymic": "P"}'), ('{"given_name": null, "offer_until": 5, "_": true, "a_b": {"k": [1]}}'),
	('{"given_name": "{given_name}{"}'), (NULL), ('[1]'), ('"s"');
SELECT is((SELECT count(*) FROM tpls, vals
            WHERE cdp_internal.campaign_render(tpl, vals) IS DISTINCT FROM pg_temp.ref_render(tpl, vals)), 0::bigint,
          'campaign_render = the regexp loop on 126 template x value cases (braces, empty and null values, non-strings, U+FFF0)');
SELECT is(cdp_internal.campaign_render('{given_name}: {patronymic}', '{"given_name": "{patronymic}", "patronymic": "x"}'),
          pg_temp.ref_render('{given_name}: {patronymic}', '{"given_name": "{patronymic}", "patronymic": "x"}'),
          'a value holding a placeholder is not expanded again');
SELECT is((SELECT count(*) FROM tpls, vals
            WHERE jsonb_typeof(vals) = 'object'
              AND cdp_internal.campaign_fill(tpl, 'given_name', vals ->> 'given_name', 'patronymic', vals ->> 'patronymic',
                                             'family_name', vals ->> 'family_name', 'offer_until', vals ->> 'offer_until',
                                             '_', vals ->> '_', 'a_b', vals ->> 'a_b')
                  IS DISTINCT FROM cdp_internal.campaign_render(tpl, vals)), 0::bigint,
          'campaign_fill with the values as pairs = campaign_render');
SELECT throws_ok($$SELECT cdp_internal.campaign_fill('{a}', 'a')$$, '22023', NULL, 'an odd number of pair elements is refused');
SELECT throws_ok($$SELECT cdp_internal.campaign_fill('{a}', VARIADIC ARRAY[['a', 'b'], ['c', 'd']])$$, '2202E', NULL,
                 'a two-dimensional array is refused');
SELECT is(cdp_internal.campaign_fill('{a}', VARIADIC NULL::text[]), '', 'no pairs: a placeholder renders as nothing');

-- campaign_provenance against jsonb_build_object: the listing's two forms (without and with an
-- offer) over campaign/segment versions and ids, both channel rules, zones, NULLs, negative and
-- extreme event ids, and a check time as the listing converts it
CREATE TEMP TABLE prov AS
SELECT cv, seg, sv, off, ov, rule, tz, ca, e, chans
  FROM (VALUES (1, 1::bigint, 1), (7, 9007199254740993, 2147483647), (0, -3, -1)) a(cv, seg, sv),
       (VALUES (NULL::bigint, NULL::int), (12, 3)) b(off, ov),
       (VALUES ('preferred'), ('priority'), (NULL)) c(rule),
       (VALUES ('Europe/Moscow'), ('Asia/Yekaterinburg'), (NULL), ('')) d(tz),
       (VALUES (to_jsonb('2026-03-02 12:00+03'::timestamptz)), (NULL::jsonb), ('{"x": [1, {"y": null}]}'::jsonb)) f(ca),
       (VALUES (1::bigint), (NULL), (-9223372036854775808), (9223372036854775807), (0)) g(e),
       (VALUES ('["messenger", "sms", "email", "social"]'::jsonb), ('[]'::jsonb)) h(chans);
CREATE TEMP TABLE prov_pair AS
SELECT cdp_internal.campaign_provenance(
           jsonb_build_object('campaign_version', cv, 'segment', seg, 'segment_version', sv, 'channels', chans)
           || CASE WHEN off IS NOT NULL THEN jsonb_build_object('offer', off, 'offer_version', ov) ELSE '{}' END,
           rule, tz, ca, e) AS got,
       CASE WHEN off IS NULL THEN
            jsonb_build_object('campaign_version', cv, 'segment', seg, 'segment_version', sv,
                'channel_rule', rule, 'channels', chans, 'benefit', false, 'timezone', tz,
                'consent', jsonb_build_object('checked_at', ca, 'event_id', e))
       ELSE jsonb_build_object('campaign_version', cv, 'segment', seg, 'segment_version', sv, 'offer', off, 'offer_version', ov,
                'channel_rule', rule, 'channels', chans, 'benefit', false, 'timezone', tz,
                'consent', jsonb_build_object('checked_at', ca, 'event_id', e)) END AS want
  FROM prov;
SELECT is((SELECT count(*) FROM prov_pair WHERE got::text IS DISTINCT FROM want::text OR got IS DISTINCT FROM want
                                              OR pg_column_size(got) IS DISTINCT FROM pg_column_size(want)), 0::bigint,
          'campaign_provenance = the listing''s jsonb_build_object on 2,160 cases (text, value and size)');
SELECT is(cdp_internal.campaign_provenance('{"timezone": "base", "z": 1}', 'priority', 'mine', '"t"', 5),
          '{"timezone": "base", "z": 1}'::jsonb || jsonb_build_object('channel_rule', 'priority', 'benefit', false, 'timezone', 'mine',
                                                                     'consent', jsonb_build_object('checked_at', 't', 'event_id', 5)),
          'a pair of base with a message key''s name gives way to the message''s, as in jsonb_build_object');
SELECT is(cdp_internal.campaign_provenance('{}', NULL, NULL, NULL, NULL),
          '{"benefit": false, "consent": {"event_id": null, "checked_at": null}, "timezone": null, "channel_rule": null}'::jsonb,
          'an empty base and NULL values: JSON nulls');
SELECT throws_ok($$SELECT cdp_internal.campaign_provenance(NULL, 'priority', 'UTC', '"t"', 1)$$, '22004', NULL,
                 'a NULL base is refused');
SELECT throws_ok($$SELECT cdp_internal.campaign_provenance('[1]', 'priority', 'UTC', '"t"', 1)$$, '22023', NULL,
                 'a base that is not an object is refused');

SELECT * FROM finish();
ROLLBACK;
