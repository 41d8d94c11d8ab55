/*
 * sql/parts/65_match_review.sql: matching: explanations and the review queue.
 */

/* ---------------------------------------------------------------- explanations */

CREATE FUNCTION cdp_internal._match_attr_label(attr text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE attr WHEN 'family_name' THEN 'фамилия' WHEN 'given_name' THEN 'имя' WHEN 'patronymic' THEN 'отчество'
		WHEN 'birth_date' THEN 'дата рождения' WHEN 'sex' THEN 'пол' WHEN 'phones' THEN 'телефон' WHEN 'emails' THEN 'e-mail'
		WHEN 'snils' THEN 'СНИЛС' WHEN 'oms' THEN 'полис ОМС' WHEN 'address' THEN 'адрес' WHEN 'city' THEN 'город'
		WHEN 'vk' THEN 'ВКонтакте' WHEN 'telegram' THEN 'Telegram' ELSE attr END;
COMMENT ON FUNCTION cdp_internal._match_attr_label(text) IS 'internal: Russian label of a compared attr';

CREATE FUNCTION cdp_internal._match_level_label(lv jsonb, nlev int, level int) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN CASE
		WHEN level IS NULL OR level < 0 THEN 'нет данных'
		WHEN level >= nlev THEN 'не совпадает'
		ELSE CASE lv -> level ->> 'if'
			WHEN 'exact' THEN 'совпадает'
			WHEN 'key' THEN 'совпадает с точностью до написания'
			WHEN 'jw' THEN 'похоже (Джаро-Винклер ≥ ' || (lv -> level ->> 'ge') || ')'
			WHEN 'osa' THEN 'отличается не более чем на ' || (lv -> level ->> 'le') || ' знак'
			WHEN 'day_month_swapped' THEN 'день и месяц переставлены'
			WHEN 'same_year' THEN 'тот же год'
			WHEN 'last7' THEN 'совпадают последние 7 цифр'
			WHEN 'initial' THEN 'совпадает инициал'
			WHEN 'prefix' THEN 'совпадает начало'
			WHEN 'swapped' THEN 'имя и фамилия переставлены'
			WHEN 'cross' THEN 'записано в другом поле ФИО'
			ELSE lv -> level ->> 'if' END END;
COMMENT ON FUNCTION cdp_internal._match_level_label(jsonb, int, int) IS 'internal: Russian label of a comparison level';

-- _match_summary: «совпали: телефон, e-mail; дата рождения: день и месяц переставлены; не совпали: имя»
CREATE FUNCTION cdp_internal._match_summary(s jsonb, levels smallint[]) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.array_to_string(ARRAY[
		'совпали: ' || pg_catalog.string_agg(cdp_internal._match_attr_label(c ->> 'attr'), ', ' ORDER BY o) FILTER (WHERE levels[o] = 0),
		pg_catalog.string_agg(cdp_internal._match_attr_label(c ->> 'attr') || ': ' || cdp_internal._match_level_label(c -> 'levels', pg_catalog.jsonb_array_length(c -> 'levels'), levels[o]), '; ' ORDER BY o)
			FILTER (WHERE levels[o] > 0 AND levels[o] < pg_catalog.jsonb_array_length(c -> 'levels')),
		'не совпали: ' || pg_catalog.string_agg(cdp_internal._match_attr_label(c ->> 'attr'), ', ' ORDER BY o) FILTER (WHERE levels[o] >= pg_catalog.jsonb_array_length(c -> 'levels'))
	], '; ')
	  FROM pg_catalog.jsonb_array_elements(s -> 'comparisons') WITH ORDINALITY e(c, o)
$$;
COMMENT ON FUNCTION cdp_internal._match_summary(jsonb, smallint[]) IS 'internal: Russian one-line summary of a pair''s comparison levels';

CREATE FUNCTION @extschema@.explain_match(record_a bigint, record_b bigint)
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
		|| CASE WHEN pr.flags & (kc ->> 'pair_placeholder')::int <> 0 THEN '; запись-заглушка: автоматическое объединение запрещено' ELSE '' END
		|| CASE WHEN pr.flags & (kc ->> 'pair_name_only')::int <> 0
		        THEN '; совпали только имена (нет даты рождения, идентификатора, контакта или адреса): автоматическое объединение запрещено' ELSE '' END
		|| CASE WHEN pr.flags & (kc ->> 'pair_name_rare')::int <> 0
		        THEN '; совпало только редкое полное имя: объединяется, если оно указывает на одного человека' ELSE '' END;
	RETURN NEXT;
END $$;
COMMENT ON FUNCTION @extschema@.explain_match(bigint, bigint) IS
	'why two records do or do not match: one row per compared attr (values, level, weight, running total, probability), then a summary in Russian; e.g. SELECT * FROM explain_match(1, 2)';

/* ---------------------------------------------------------------- review queue */

/*
 * _match_reason_codes: why a review entry waits, as a code a program can read, for each Russian
 * reason of _match_link_plan under settings s (the codes in the order of _match_plan_reasons, whose
 * wording lives in 67_match_run.sql; plpgsql, so that it may name that later function), and the code
 * of an entry without a reason (a score between the review and the link threshold).
 */
CREATE FUNCTION cdp_internal._match_reason_codes(s jsonb)
	RETURNS TABLE (reason text, code text)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	never text[] := ARRAY(SELECT y.attr FROM cdp_internal._match_never_attrs(s) y ORDER BY y.n);
BEGIN
	RETURN QUERY
	SELECT x.r, x.c
	  FROM ROWS FROM (pg_catalog.unnest(cdp_internal._match_plan_reasons(never)),
	                  pg_catalog.unnest(ARRAY['placeholder', 'rule_veto', 'decided_no_match', 'relation',
	                                          'contradiction:birth_date', 'oversize', 'support', 'evidence_floor']
	                                    || ARRAY(SELECT 'contradiction:' || y.x FROM pg_catalog.unnest(never) WITH ORDINALITY y(x, n) ORDER BY y.n)
	                                    || ARRAY['ambiguous'])) x(r, c)
	UNION ALL
	SELECT NULL, 'score_band';
END $$;
COMMENT ON FUNCTION cdp_internal._match_reason_codes(jsonb) IS
	'internal: the code of each review reason of _match_link_plan under the settings (placeholder, rule_veto, decided_no_match, relation, contradiction:<attr>, oversize, support, evidence_floor, ambiguous; score_band for an entry without one)';

/*
 * The rows of cdp.review_queue: the private review table read as the owner (record and person ids,
 * scores, why the entry waits and a summary of the comparisons, no values); EXECUTE is the role check
 * (cdp_admin).
 */
CREATE FUNCTION @extschema@.review_queue_entries()
	RETURNS TABLE (pair_id bigint, record_a bigint, record_b bigint, score float8, summary text, age interval,
	               priority float8, person_a bigint, person_b bigint, pairs int, reason text)
	LANGUAGE sql STABLE PARALLEL SAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT x.pair_id, x.record_a, x.record_b, x.score,
	       cdp_internal._match_summary(s.settings, x.levels)
	         || CASE WHEN x.reason IS NOT NULL THEN '; ' || x.reason ELSE '' END AS summary,
	       pg_catalog.now() - x.created_at AS age,
	       x.priority, x.person_a, x.person_b, x.pairs,
	       COALESCE(c.code, 'other') AS reason
	  FROM (SELECT DISTINCT ON (LEAST(ra.golden_id, rb.golden_id), GREATEST(ra.golden_id, rb.golden_id))
	               q.*, LEAST(ra.golden_id, rb.golden_id) AS person_a, GREATEST(ra.golden_id, rb.golden_id) AS person_b
	          FROM cdp_internal.match_review q
	          JOIN @extschema@.record ra ON ra.record_id = q.record_a
	          JOIN @extschema@.record rb ON rb.record_id = q.record_b
	         WHERE q.status = 'open'
	           -- a pair whose records were joined since (by another link or a person) needs no decision
	           AND ra.golden_id <> rb.golden_id
	         ORDER BY LEAST(ra.golden_id, rb.golden_id), GREATEST(ra.golden_id, rb.golden_id),
	                  q.priority DESC NULLS LAST, q.score DESC, q.pair_id) x
	  LEFT JOIN cdp_internal.match_settings s ON s.version = x.version
	  -- the codes of the reasons, once per settings version the entries name
	  LEFT JOIN (SELECT v.version, rc.reason, rc.code
	               FROM cdp_internal.match_settings v, cdp_internal._match_reason_codes(v.settings) rc
	              WHERE v.version IN (SELECT DISTINCT q.version FROM cdp_internal.match_review q WHERE q.status = 'open')) c
	    ON c.version = x.version AND c.reason IS NOT DISTINCT FROM x.reason
	 ORDER BY x.priority DESC NULLS LAST, x.score DESC, x.pair_id
$$;
COMMENT ON FUNCTION @extschema@.review_queue_entries() IS
	'the rows of cdp.review_queue, read as the owner; EXECUTE is the role check';
CREATE VIEW @extschema@.review_queue WITH (security_invoker = true) AS
	SELECT e.pair_id, e.record_a, e.record_b, e.score, e.summary, e.age, e.priority, e.person_a, e.person_b, e.pairs, e.reason
	  FROM @extschema@.review_queue_entries() e;
COMMENT ON VIEW @extschema@.review_queue IS 'the review work list: one open entry per pair of persons still apart, most important first (priority: probability times the records the decision moves), with score, Russian summary, age, the two persons, how many record pairs the entry stands for and why it waits (reason: score_band, contradiction:<attr>, support, oversize, rule_veto, placeholder, relation, decided_no_match, evidence_floor); decide with cdp.review_decide';

CREATE FUNCTION @extschema@.review_decide(pair_id bigint, decision text, note text DEFAULT NULL) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	q record;
	g bigint;
BEGIN
	IF pair_id IS NULL OR decision IS NULL THEN
		RAISE EXCEPTION 'pair_id and decision must not be null' USING ERRCODE = '22004';
	END IF;
	IF decision NOT IN ('match', 'no_match') THEN
		RAISE EXCEPTION 'invalid review decision "%"', decision USING ERRCODE = '22023',
			HINT = 'Use ''match'' or ''no_match''.';
	END IF;
	SELECT * INTO q FROM cdp_internal.match_review m WHERE m.pair_id = review_decide.pair_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'review pair "%" does not exist', pair_id USING ERRCODE = '22023';
	END IF;
	IF q.status <> 'open' THEN
		RAISE EXCEPTION 'review pair "%" is already decided as "%"', pair_id, q.status USING ERRCODE = '55000';
	END IF;
	PERFORM @extschema@.record_pair_decision(q.record_a, q.record_b, decision, note);
	IF decision = 'match' THEN
		g := @extschema@.link_records(q.record_a, q.record_b,
			pg_catalog.jsonb_build_object('by', 'review', 'pair_id', pair_id, 'score', q.score, 'note', note));
		-- link_records refuses (NULL) when a no_match decision joins a record of each person: the
		-- reviewer's match would be recorded and do nothing, so nothing is written
		IF g IS NULL THEN
			RAISE EXCEPTION 'review pair % cannot be matched: its two persons were decided apart', pair_id
				USING ERRCODE = '55000',
				      DETAIL = pg_catalog.format('Records %s and %s belong to persons a no_match decision keeps apart.',
				                                 q.record_a, q.record_b),
				      HINT = 'Withdraw that decision first (cdp.record_pair_decision(a, b, ''match'') over the pair it names, listed in cdp.pair_decision), or decide this entry ''no_match''.';
		END IF;
	END IF;
	UPDATE cdp_internal.match_review m SET status = decision, decided_at = pg_catalog.now(), note = review_decide.note
	 WHERE m.pair_id = review_decide.pair_id;
	RETURN g;
END $$;
COMMENT ON FUNCTION @extschema@.review_decide(bigint, text, text) IS
	'decides a review pair: ''match'' links the records (cdp.link_records; 55000 when a no_match decision keeps their persons apart), ''no_match'' records a decision that matching never overrides; both are events; e.g. review_decide(7, ''no_match'', ''twins'')';
