/*
 * sql/cdp--0.2.0--0.3.0.sql: update 0.2.0 to 0.3.0.  Written by hand: each section below carries
 * exactly the change of one piece of work, in the order the install script (sql/parts) creates it.
 * Once 0.3.0 is released this file is frozen; a later change ships cdp--0.3.0--<next>.sql.
 * test/t/060_update.pl proves that the catalog after this update equals a fresh 0.3.0 install and
 * that the data is intact.
 */
\echo Use "ALTER EXTENSION cdp UPDATE TO '0.3.0'" to load this file. \quit

/* ==== section: types and text (issue 16 items found already, issue 17) ==== */

/* -- issue 17 (branch first): what people read of a golden profile.  cdp.email now prints its
 * domain in Unicode (the stored form stays ASCII), and the contact flag "valid" is named
 * "confirmed" (validated, or reported by two sources).  The 0.3.0 library already folds profiles
 * that way; the rows folded by 0.2.0 are rewritten here to what the new fold gives (the order of
 * contacts is kept; SELECT cdp.rebuild_patients() refolds everything from the log if wanted). */
UPDATE @extschema@.patient p
   SET phones = n.phones, emails = n.emails, handles = n.handles
  FROM (SELECT q.golden_id, c.*
          FROM @extschema@.patient q,
               LATERAL (SELECT
                 (SELECT COALESCE(pg_catalog.jsonb_agg(
                           CASE WHEN x.e ? 'valid' THEN (x.e OPERATOR(pg_catalog.-) 'valid')
                                  OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('confirmed', x.e -> 'valid')
                                ELSE x.e END ORDER BY x.o), '[]')
                    FROM pg_catalog.jsonb_array_elements(q.phones) WITH ORDINALITY x(e, o)) AS phones,
                 (SELECT COALESCE(pg_catalog.jsonb_agg(
                           pg_catalog.jsonb_set(
                             CASE WHEN x.e ? 'valid' THEN (x.e OPERATOR(pg_catalog.-) 'valid')
                                    OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('confirmed', x.e -> 'valid')
                                  ELSE x.e END,
                             '{value}', pg_catalog.to_jsonb(((x.e ->> 'value')::@extschema@.email)::text))
                           ORDER BY x.o), '[]')
                    FROM pg_catalog.jsonb_array_elements(q.emails) WITH ORDINALITY x(e, o)) AS emails,
                 (SELECT COALESCE(pg_catalog.jsonb_agg(
                           CASE WHEN x.e ? 'valid' THEN (x.e OPERATOR(pg_catalog.-) 'valid')
                                  OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('confirmed', x.e -> 'valid')
                                ELSE x.e END ORDER BY x.o), '[]')
                    FROM pg_catalog.jsonb_array_elements(q.handles) WITH ORDINALITY x(e, o)) AS handles) c
         WHERE pg_catalog.strpos(q.phones::text, '"valid"') > 0 OR pg_catalog.strpos(q.emails::text, '"valid"') > 0
            OR pg_catalog.strpos(q.emails::text, 'xn--') > 0 OR pg_catalog.strpos(q.handles::text, '"valid"') > 0) n
 WHERE p.golden_id = n.golden_id;
-- matching compares e-mails as printed, so the stored keys of records with an internationalised
-- domain were computed from the punycode form: mark them stale; the next full run (or incremental
-- run with records to match) re-keys every record
UPDATE cdp_internal.match_key k SET version = -1
 WHERE EXISTS (SELECT 1 FROM @extschema@.record r, pg_catalog.unnest(r.emails) e
                WHERE r.record_id = k.record_id AND pg_catalog.strpos(@extschema@.email_domain(e), 'xn--') > 0);
/* -- end of issue 17 (branch first) */

/* ==== end of section: types and text ==== */


/* ==== section: name index and find_patient (issue 18) ==== */

/* ==== end of section: name index and find_patient ==== */


/* ==== section: matching (issue 12) ==== */

/* -- issue 17 (branch first): explain_match writes the prior probability rounded for people
 * (0.041 %, not 0.0004137797416039673); the weight and probability columns keep full precision. */
CREATE OR REPLACE FUNCTION @extschema@.explain_match(record_a bigint, record_b bigint)
	RETURNS TABLE (attr text, value_a text, value_b text, level text, weight float8, running_total float8, probability float8)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record := cdp_internal._match_active();
	kc jsonb := cdp_internal._match_constants();	/* value separator and pair flags of src/match.h */
	prm jsonb;
	fa text[];
	fb text[];
	pr record;
	l record;
	c jsonb;
	lev int;
	nl int;
	w float8;
	total float8;
	lam float8;
	adj float8;
BEGIN
	IF record_a IS NULL OR record_b IS NULL THEN
		RAISE EXCEPTION 'record ids must not be null' USING ERRCODE = '22004';
	END IF;
	IF (SELECT pg_catalog.count(*) FROM @extschema@.record r WHERE r.record_id IN (record_a, record_b)) <> 2 AND record_a <> record_b THEN
		RAISE EXCEPTION 'record "%" or "%" does not exist', record_a, record_b USING ERRCODE = '22023';
	END IF;
	prm := cdp_internal._match_params(a.settings, a.params);
	-- features computed now from the records, so the explanation is never stale
	EXECUTE cdp_internal._match_feature_query(a.settings, '@extschema@.record r WHERE r.record_id = $1') INTO pr USING record_a;
	fa := pr.feat;
	EXECUTE cdp_internal._match_feature_query(a.settings, '@extschema@.record r WHERE r.record_id = $1') INTO pr USING record_b;
	fb := pr.feat;
	SELECT w2.levels, w2.weight, w2.flags INTO pr
	  FROM cdp_internal._match_walk('cross',
	         cdp_internal._match_feature_query(a.settings, pg_catalog.format('@extschema@.record r WHERE r.record_id IN (%s, %s)', record_a, record_b)),
	         a.program, a.version, 0, 0, 0, NULL) w2;
	lam := (prm ->> 'lambda')::float8;
	total := pg_catalog.log(2.0, (lam / (1 - lam))::numeric)::float8;
	attr := '(prior)'; value_a := NULL; value_b := NULL; level := 'априорная вероятность '	/* in percent, two significant digits, for people (issue 17) */
		|| pg_catalog.trim_scale(pg_catalog.round((lam * 100)::numeric, (1 - pg_catalog.floor(pg_catalog.log(lam * 100)))::int)) || ' %';
	weight := total; running_total := total; probability := 1 / (1 + pg_catalog.power(2::float8, -total));
	RETURN NEXT;
	FOR l IN SELECT * FROM cdp_internal._match_layout(a.settings) LOOP
		c := a.settings -> 'comparisons' -> l.comp;
		nl := pg_catalog.jsonb_array_length(c -> 'levels');
		lev := pr.levels[l.comp + 1];
		attr := l.attr;
		value_a := pg_catalog.replace(fa[l.fpos], kc ->> 'value_sep', ', ');
		value_b := pg_catalog.replace(fb[l.fpos], kc ->> 'value_sep', ', ');
		level := cdp_internal._match_level_label(c -> 'levels', nl, lev);
		IF lev < 0 THEN
			w := 0;
		ELSE
			w := pg_catalog.log(2.0, (GREATEST((prm -> 'm' -> l.comp ->> lev)::float8, 1e-6)
			                          / GREATEST((prm -> 'u' -> l.comp ->> lev)::float8, 1e-6))::numeric)::float8;
			IF lev = 0 AND (c ->> 'tf')::boolean THEN
				SELECT LEAST(pg_catalog.log(2.0, (GREATEST((prm -> 'u' -> l.comp ->> 0)::float8, 1e-6) / t.freq)::numeric)::float8, 3)
				  INTO adj FROM cdp_internal.match_tf t
				 WHERE t.version = a.version AND t.comp = l.comp AND t.value IN (pg_catalog.left(fa[l.fpos], (kc ->> 'tf_value_len')::int), '')
				 ORDER BY t.value DESC LIMIT 1;
				IF adj IS NOT NULL THEN
					w := w + adj;
					level := level || pg_catalog.format(' (частота значения: %s бит)', pg_catalog.round(adj::numeric, 2));
				END IF;
			END IF;
		END IF;
		weight := w;
		total := total + w;
		running_total := total;
		probability := 1 / (1 + pg_catalog.power(2::float8, -GREATEST(LEAST(total, 60), -60)));
		RETURN NEXT;
	END LOOP;
	attr := '(итог)'; value_a := NULL; value_b := NULL; weight := NULL;
	level := cdp_internal._match_summary(a.settings, pr.levels)
		|| CASE WHEN pr.flags & (kc ->> 'pair_forced')::int <> 0 THEN '; совпал идентификатор (правило)' ELSE '' END
		|| CASE WHEN pr.flags & (kc ->> 'pair_veto')::int <> 0 THEN '; разные идентификаторы, имя или дата рождения: автоматическое объединение запрещено' ELSE '' END
		|| CASE WHEN pr.flags & (kc ->> 'pair_placeholder')::int <> 0 THEN '; запись-заглушка: автоматическое объединение запрещено' ELSE '' END;
	RETURN NEXT;
END $$;
/* -- end of issue 17 (branch first) */

/* ==== end of section: matching ==== */


/* ==== section: consent, offers and segments (issue 13) ==== */

/* ==== end of section: consent, offers and segments ==== */


/* ==== section: campaigns (issue 14) ==== */

/* ==== end of section: campaigns ==== */


/* ==== section: access (issue 15) ==== */

/* ==== end of section: access ==== */


/* ==== section: import (issue 16) ==== */

/* ==== end of section: import ==== */
