/*
 * sql/parts/68_match_find.sql: find_patient, the reception desk's question «is this patient already
 * with us?» over the matching keys and the name index (stores nothing but one index).
 */

-- The records' birth dates by record id, read without the record table: find_patient split its
-- candidates by their dates before reading their matching keys (session 25, issue 18; since
-- session 28 it reads those dates from the block key index, cdp_internal.match_block_bk, and the
-- index by record id for the candidates it ranks).
-- Its golden id too (session 26): the ranking reads a candidate's record only when it compares
-- the names or identifiers.  And the names (session 27): the names a lookup compares (of the
-- records born on the day given, or near it) are read from the index, not from the record's heap
-- page (at 1M name-dense records with 256 MB of shared buffers, a third of a slow lookup's page
-- reads were record heap pages for three names).
-- That index was record_find_by_id, (record_id) INCLUDE (birth_date, golden_id, family_name,
-- given_name, patronymic), until session 31 (issue 16): the record's primary key now carries those
-- columns (record_pkey, sql/parts/50_ingest.sql), one entry a record for both readers.  The
-- comments below that name record_find_by_id mean record_pkey.
COMMENT ON INDEX @extschema@.record_pkey IS
	'the record id, with find_patient''s columns: a candidate''s birth date, golden id and names by an index-only scan (issues 16, 18)';

-- _find_probe: the attrs of a lookup as a record row, normalised by ingest's own normaliser (invalid
-- values set aside); shared by find_patient and find_patient_namesakes.
CREATE FUNCTION cdp_internal._find_probe(attrs jsonb) RETURNS @extschema@.record
	LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	n jsonb;
BEGIN
	IF attrs IS NULL OR pg_catalog.jsonb_typeof(attrs) <> 'object' THEN
		RAISE EXCEPTION 'attrs must be a JSON object' USING ERRCODE = '22023';
	END IF;
	n := @extschema@.normalize_attrs(attrs, true);
	-- a birth date that is no date («31.02.1990») is the desk's typo: ingest's own error (22008 or
	-- 22007, with detail and hint), not a lookup silently made without it (issue 18); other
	-- invalid values (a phone, a SNILS) are set aside as lenient ingest does
	IF n -> 'extra' -> '_invalid' ? 'birth_date' THEN
		PERFORM @extschema@.normalize_attrs(pg_catalog.jsonb_build_object('birth_date', attrs -> 'birth_date'), false);
	END IF;
	RETURN pg_catalog.jsonb_populate_record(NULL::@extschema@.record, n || '{"record_id": -1, "golden_id": -1}');
END $$;
COMMENT ON FUNCTION cdp_internal._find_probe(jsonb) IS
	'internal: the attrs of find_patient / find_patient_namesakes as a normalised record row (22023 unless an object; ingest''s error for a birth date that is no date; other invalid values set aside)';

-- _find_date_ranges: the ranges of cdp_internal.match_block keys holding the records born on a date
-- (or on the date with day and month exchanged): for every blocking rule of settings (of any list:
-- _match_rules) whose first key is the plain birth date, the prefix r<rule>:<YYYYMMDD> (find_patient reads the keys from the
-- prefix up to the prefix and U+10FFFF, in "C" order).  The date is written as
-- _match_feature_query writes a birth date key (to_char YYYYMMDD).  Empty when no rule starts with
-- the date.
CREATE FUNCTION cdp_internal._find_date_ranges(settings jsonb, d date) RETURNS text[]
	LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	RETURN ARRAY(
		SELECT pg_catalog.format('r%s:%s', r.o - 1, dd.v)
		  FROM pg_catalog.jsonb_array_elements(cdp_internal._match_rules(settings)) WITH ORDINALITY r(rule, o)
		 CROSS JOIN LATERAL (SELECT pg_catalog.to_char(d, 'YYYYMMDD') AS v
		                     UNION
		                     SELECT pg_catalog.to_char(pg_catalog.make_date(pg_catalog.date_part('year', d)::int,
		                                                  pg_catalog.date_part('day', d)::int, pg_catalog.date_part('month', d)::int), 'YYYYMMDD')
		                      WHERE pg_catalog.date_part('day', d) <= 12) dd
		 WHERE d IS NOT NULL AND r.rule ->> 0 = 'birth_date'
		 ORDER BY 1);
COMMENT ON FUNCTION cdp_internal._find_date_ranges(jsonb, date) IS
	'internal: the match_block key prefixes of the records born on a date or on it with day and month exchanged (blocking rules starting with the plain birth date)';

-- _find_dates_usual: the ranges of _find_date_ranges that hold at most cap match_block keys (a day
-- carried by more records is a placeholder such as 01.01 or a system's default date: find_patient
-- does not read it whole).  Counts at most cap + 1 keys per range.
CREATE FUNCTION cdp_internal._find_dates_usual(dates text[], cap int) RETURNS text[]
	LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	RETURN ARRAY(
		SELECT d.p FROM pg_catalog.unnest(dates) WITH ORDINALITY d(p, o)
		 WHERE (SELECT pg_catalog.count(*) FROM (SELECT 1 FROM cdp_internal.match_block m
		                                          WHERE m.bk >= d.p AND m.bk < d.p || pg_catalog.chr(1114111) LIMIT cap + 1) c) <= cap
		 ORDER BY d.o);
COMMENT ON FUNCTION cdp_internal._find_dates_usual(text[], int) IS
	'internal: the birth-date key ranges (of _find_date_ranges) holding at most cap records; a fuller day is a placeholder find_patient does not read whole';

-- _find_name_ranges: the probe's own keys (bk, by rule position) of the blocking rules of two name
-- keys (["family_name.key", "given_name.key"]: "r<rule>:<key 1>|<key 2>"), of any list
-- (_match_rules): the shipped settings have them as lookup_blocking rules only, keyed for this and
-- never walked (issue 12, session 40).  find_patient reads
-- the keys from the first to the first two letters of the second (every Павлов(а) whose given name
-- begins with "na" for «Павлова Натшлья»), and keeps those whose second key is at most two edits
-- from the probe's (Наталья, not Надежда).  A rule of two name keys in any order
-- (["any_order", "family_name.key", "given_name.key"]) keys them in alphabetical order, so its
-- range is also read: for «Lobnov Aleksey» it is every «alexei» whose family name begins with
-- "lo", which holds «Лобанов Алексей» (a typo in the family name, session 26).  Of two rules
-- whose keys read alike (the any-order key of «Абрамов Иван» is "abramov|ivan", as the ordered
-- rule's), the range of the first only: the other would read the same records again.
CREATE FUNCTION cdp_internal._find_name_ranges(settings jsonb, bk text[]) RETURNS text[]
	LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	RETURN ARRAY(
		SELECT u.k FROM (
		SELECT DISTINCT ON (pg_catalog.substr(bk[r.o], pg_catalog.strpos(bk[r.o], ':') + 1)) bk[r.o] AS k
		  FROM pg_catalog.jsonb_array_elements(cdp_internal._match_rules(settings)) WITH ORDINALITY r(rule, o)
		 CROSS JOIN LATERAL (SELECT (r.rule ->> 0 = 'any_order')::int AS s) a
		 WHERE pg_catalog.jsonb_array_length(r.rule) = 2 + a.s
		   AND r.rule ->> a.s IN ('family_name.key', 'given_name.key', 'patronymic.key')
		   AND r.rule ->> (a.s + 1) IN ('family_name.key', 'given_name.key', 'patronymic.key')
		   AND pg_catalog.strpos(bk[r.o], '|') > 0
		 ORDER BY pg_catalog.substr(bk[r.o], pg_catalog.strpos(bk[r.o], ':') + 1), r.o) u
		 ORDER BY 1);
COMMENT ON FUNCTION cdp_internal._find_name_ranges(jsonb, text[]) IS
	'internal: the probe''s keys of the blocking rules of two name keys, in order or any order (find_patient reads the records whose first key is the probe''s and whose second is near it)';

-- _find_probe_features: a lookup's probe as the kernel reads a record (flags, features, blocking
-- keys, by _match_feature_query), shared by find_patient and find_patient_namesakes.  Names read by
-- what the words are (name_roles) can leave a probe without any key: «Владимир Бабич» typed as
-- family and given name reads as a given name and a patronymic (-ич), with no family name.  Then
-- the names as the desk typed them (as_typed: the any-order name rule, and the comparisons'
-- swapped levels, still meet «Бабич Владимир»), not a refusal (issue 12, session 41).
CREATE FUNCTION cdp_internal._find_probe_features(settings jsonb, probe @extschema@.record,
		OUT flags int, OUT feat text[], OUT bk text[], OUT as_typed boolean)
	LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	as_typed := false;
	EXECUTE pg_catalog.format('SELECT x.flags, x.feat, x.bk FROM (%s) x', cdp_internal._match_feature_query(settings, '(SELECT ($1).*) r'))
	   INTO flags, feat, bk USING probe;
	IF COALESCE((settings ->> 'name_roles')::boolean, false)
	   AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(bk) b WHERE b IS NOT NULL) THEN
		EXECUTE pg_catalog.format('SELECT x.flags, x.feat, x.bk FROM (%s) x',
		                          cdp_internal._match_feature_query(settings || '{"name_roles": false}', '(SELECT ($1).*) r'))
		   INTO flags, feat, bk USING probe;
		as_typed := true;
	END IF;
END $$;
COMMENT ON FUNCTION cdp_internal._find_probe_features(jsonb, @extschema@.record) IS
	'internal: a lookup probe''s flags, features and blocking keys; with the names as typed (as_typed) when reading them by their roles leaves no key';

-- _find_require_keys: a lookup no blocking rule can use (a family name alone, a patronymic alone;
-- the rules of every list count, lookup_blocking's too)
-- would find nothing whoever is stored: an error asking for more, not an empty answer (issue 18).
-- bk: the probe's blocking keys; dates: its birth-date ranges (_find_date_ranges).
CREATE FUNCTION cdp_internal._find_require_keys(fn text, attrs jsonb, bk text[], dates text[]) RETURNS void
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(bk) b WHERE b IS NOT NULL) AND COALESCE(pg_catalog.cardinality(dates), 0) = 0 THEN
		RAISE EXCEPTION '% needs more than the attrs given', fn USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('The lookup gives %s; no blocking rule of the matching settings can search by that alone.',
			                           COALESCE((SELECT pg_catalog.string_agg(k, ', ' ORDER BY k) FROM pg_catalog.jsonb_object_keys(attrs) k), 'nothing')),
			HINT = 'Give a family and a given name, or a phone, SNILS, e-mail or OMS policy (a birth date or a patronymic narrows a name).';
	END IF;
END $$;
COMMENT ON FUNCTION cdp_internal._find_require_keys(text, jsonb, text[], text[]) IS
	'internal: 22023 (with detail and hint) when a lookup gives no blocking key and no birth date to search by';

-- _find_queued: the records still waiting in cdp_internal.match_queue (registered or changed since
-- the last matching run, so without keys or with stale ones) that a lookup must also consider
-- (issue 18: the desk registers a patient, then asks again): of the newest 200 queued records (by
-- record id: a minute of registrations between two runs of run_maintenance), those sharing with
-- the probe a birth date (exact, day and month exchanged, one digit off), a phone, an e-mail, the
-- SNILS or the OMS policy, or both the family and the given name keys (either way round).  The
-- cheap comparisons come first; a name key costs microseconds, so 200 records cost a few
-- milliseconds when the queue is long (a bulk load not yet matched) and nothing when it is empty.
-- find_patient scores them with features computed now; find_patient_namesakes counts them.
CREATE FUNCTION cdp_internal._find_queued(probe @extschema@.record) RETURNS bigint[]
	LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	RETURN ARRAY(
		SELECT r.record_id
		  FROM (SELECT mq.record_id FROM cdp_internal.match_queue mq ORDER BY mq.record_id DESC LIMIT 200) q
		  JOIN @extschema@.record r ON r.record_id = q.record_id
		  CROSS JOIN (SELECT @extschema@.name_key(probe.family_name) AS f, @extschema@.name_key(probe.given_name) AS g) p
		 WHERE @extschema@.date_level(r.birth_date, probe.birth_date) IN ('exact', 'day_month_swapped', 'one_digit')
		    OR r.phones OPERATOR(pg_catalog.&&) probe.phones
		    OR r.emails OPERATOR(pg_catalog.&&) probe.emails
		    OR r.snils OPERATOR(@extschema@.=) probe.snils
		    OR r.oms OPERATOR(@extschema@.=) probe.oms
		    OR (p.f IS NOT NULL AND p.g IS NOT NULL AND r.family_name IS NOT NULL AND r.given_name IS NOT NULL
		        AND ARRAY[@extschema@.name_key(r.family_name), @extschema@.name_key(r.given_name)] OPERATOR(pg_catalog.<@) ARRAY[p.f, p.g]
		        AND ARRAY[p.f, p.g] OPERATOR(pg_catalog.<@) ARRAY[@extschema@.name_key(r.family_name), @extschema@.name_key(r.given_name)])
		 ORDER BY r.record_id);
COMMENT ON FUNCTION cdp_internal._find_queued(@extschema@.record) IS
	'internal: the newest queued records (at most 200) sharing a birth date (or near), a phone, an e-mail, the SNILS or OMS, or the family and given name keys (either way round) with a lookup''s probe';

CREATE FUNCTION @extschema@.find_patient(attrs jsonb, max_results int DEFAULT 10)
	RETURNS TABLE (golden_id bigint, probability float8, record_id bigint, summary text)
	LANGUAGE plpgsql STABLE PARALLEL UNSAFE
	-- a generic plan: re-planning the ranking query at every call was a third of a lookup
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
	a record := cdp_internal._match_active();
	probe @extschema@.record;
	f record;
	min_prob float8 := 0.01 * (a.settings ->> 'review_threshold')::float8;
	dates text[];
	names text[];
	pname text;
	pinit text[];
	pkeys text[];
	fuzzy boolean := false;
	min_sim real;
	dfilter text;
	rfilter text;
	idfilter text := '';
	idsok boolean;
	gs bigint[];
	ps float8[];
	rids bigint[];
	lvls text[];
	g2 bigint[];
	p2 float8[];
	r2 bigint[];
	l2 text[];
	queued text;
	pfilter text;
	cand text;
	cand0 text;
	candd text;
	ccols text;
	qbusy boolean := false;
	ids1 bigint[];
	ids2 bigint[];
	floor2 boolean;
	idsgiven boolean;
	dall text[];
BEGIN
	probe := cdp_internal._find_probe(attrs);
	-- a phone, a SNILS or an e-mail given: the candidates' records are compared on them
	idsgiven := probe.phones IS NOT NULL OR probe.snils IS NOT NULL OR probe.emails IS NOT NULL;
	pname := pg_catalog.concat_ws(' ', probe.family_name, probe.given_name, probe.patronymic);
	-- the probe's initials: given name, patronymic, and '1' when its given name is only an initial
	pinit := ARRAY[pg_catalog.left(@extschema@.name_key(probe.given_name), 1), pg_catalog.left(@extschema@.name_key(probe.patronymic), 1),
	               (pg_catalog.length(pg_catalog.regexp_replace(probe.given_name, '[^[:alpha:]]', '', 'g')) = 1)::int::text];
	-- the probe's given name and patronymic by name key (a birth date agrees with both, session 26)
	pkeys := ARRAY[@extschema@.name_key(probe.given_name), @extschema@.name_key(probe.patronymic)];
	IF max_results IS NULL OR max_results < 1 OR max_results > 1000 THEN
		RAISE EXCEPTION 'max_results must be between 1 and 1000' USING ERRCODE = '22023';
	END IF;
	-- (the library is loaded by name_key above, so its setting exists)
	min_sim := pg_catalog.current_setting('cdp.name_similarity_threshold')::real;
	-- (the names as typed when their roles leave no key: _find_probe_features)
	SELECT * INTO f FROM cdp_internal._find_probe_features(a.settings, probe);
	-- Candidates: the probe's block mates, and with a birth date every record born that day or on the
	-- day with day and month exchanged, whatever its name (a maiden name, initials, a name written
	-- so that no name block meets it).  Every candidate is scored (no probability floor in the walk).
	dall := cdp_internal._find_date_ranges(a.settings, probe.birth_date);
	-- A day carried by more than 1 000 records (per rule) is a placeholder, not a birth date (at
	-- 1M name-dense records 2007-01-06 has 7 322, an ordinary day about 35): its range is not read
	-- whole (scoring it took 0.5-1 s a lookup); the records born that day whose name meets the
	-- probe's blocks are still candidates through those blocks (session 23).
	dates := cdp_internal._find_dates_usual(dall, 1000);
	-- (a lookup with a birth-date range to read can always search: session 27 skips the call)
	IF COALESCE(pg_catalog.cardinality(dall), 0) = 0 THEN
		PERFORM cdp_internal._find_require_keys('find_patient', attrs, f.bk, dall);
	END IF;
	-- the records still waiting for a matching run (registered a minute ago), with features computed
	-- now, as one more branch of the candidates' query (_find_queued; each pass filters it alike;
	-- nothing to look at when the queue is empty, as it is between bulk loads: session 27; read as
	-- _find_queued reads it, backwards by its key, not by a scan of a queue a run has just emptied)
	IF (SELECT mq.record_id FROM cdp_internal.match_queue mq ORDER BY mq.record_id DESC LIMIT 1) IS NOT NULL THEN
		qbusy := true;
		SELECT pg_catalog.format(' UNION ALL SELECT k.record_id, NULL::bigint, k.flags, k.feat, k.bk FROM (%s) k WHERE true',
		                         cdp_internal._match_feature_query(a.settings, pg_catalog.format('@extschema@.record r WHERE r.record_id = ANY (%L::bigint[])', q.ids)))
		  INTO queued
		  FROM (SELECT cdp_internal._find_queued(probe) AS ids) q WHERE pg_catalog.cardinality(q.ids) > 0;
	END IF;
	-- Unless a record born that day, or one sharing an identifier the probe gives (the keys of the
	-- one-attr rules: phone, SNILS, ...), has a name similar to the probe's (cdp.%), the truth may
	-- carry no date and a name written otherwise: then also the records whose name keys begin like
	-- the probe's (_find_name_ranges).
	-- (each record is read by its id: the generic plan's range estimates once chose a merge join
	-- over the whole record table)
	IF NOT EXISTS (SELECT 1 FROM (SELECT m.record_id FROM pg_catalog.unnest(dates) d(p)
	                                JOIN cdp_internal.match_block m ON m.bk >= d.p AND m.bk < d.p || pg_catalog.chr(1114111)
	                              UNION ALL
	                              SELECT m.record_id FROM cdp_internal.match_block m
	                               WHERE m.bk = ANY (ARRAY(SELECT f.bk[r.o] FROM pg_catalog.jsonb_array_elements(cdp_internal._match_rules(a.settings)) WITH ORDINALITY r(rule, o)
	                                                        WHERE pg_catalog.jsonb_array_length(r.rule) = 1))) c
	                CROSS JOIN LATERAL (SELECT r.family_name, r.given_name, r.patronymic FROM @extschema@.record r
	                                     WHERE r.record_id = c.record_id LIMIT 1) r
	                WHERE @extschema@.name_similar(pg_catalog.concat_ws(' ', r.family_name, r.given_name, r.patronymic), pname)) THEN
		names := cdp_internal._find_name_ranges(a.settings, f.bk);
		fuzzy := true;
	END IF;
	-- What the desk gave beside the name decides first: a person whose record agrees on the birth
	-- date (also with day and month exchanged or one digit off), a phone or the SNILS given, and
	-- whose name is compatible with the probe's (below), comes before namesakes that only score
	-- well; then the rows at or above the review floor, then, when the name ranges were read, the
	-- rows under it whose name is as similar as cdp.name_similarity_threshold asks (a typo the
	-- comparison levels call a disagreement), by name similarity.  After the agreeing persons, a
	-- record whose birth date contradicts the probe's comes after every record that does not,
	-- whatever its probability: a record of the person without a birth date (or with the date
	-- near the probe's) outranks a namesake born on another day (session 22); the probability
	-- orders the rest; a person is represented by its best record in that order (agreeing, then
	-- not contradicting the date, then by probability).  The summary is written for the rows
	-- returned only.
	-- Two passes (session 23): when the desk gave a birth date and neither a phone nor a SNILS, a
	-- record whose date contradicts the probe's can neither agree nor come before any record that
	-- does not contradict it.  So the first pass scores only the candidates without a birth date
	-- or with one near the probe's (cdp.date_level exact, day_month_swapped, one_digit), read from
	-- the keys' date feature before the walk: of the thousand namesakes of a common name at 1M,
	-- the fifth that carry no date.  Only when that pass finds fewer than max_results persons does
	-- the second score the others (the contradicting ones), whose persons follow.  Both together
	-- are exactly the one-pass ranking (test/pgtap/68_find_patient.sql compares them).
	-- With a phone or a SNILS beside the date (session 24), a candidate sharing one of them can agree
	-- whatever its date: the first pass also scores the candidates whose phone or SNILS feature
	-- shares a value with the probe's (idfilter), and keeps of the contradicting ones only those that
	-- agree; the second scores every contradicting candidate (those kept by the first are persons
	-- of gs, so not listed twice).  A phone the matching tables call suspicious is not in the
	-- features, so a probe giving one is ranked in one pass, as before.
	IF probe.birth_date IS NOT NULL
	   AND (probe.phones IS NULL
	        OR pg_catalog.cardinality(probe.phones) = (SELECT pg_catalog.cardinality(pg_catalog.string_to_array(f.feat[l.fpos],
	                                                              cdp_internal._match_constants() ->> 'value_sep'))
	                                                     FROM cdp_internal._match_layout(a.settings) l
	                                                    WHERE l.attr = 'phones' AND l.comparator = 'phone' LIMIT 1)) THEN
		SELECT pg_catalog.format('NULLIF(pg_catalog.split_part(k.feat[%s], %L, 1), %L) IS NULL'
		                         ' OR @extschema@.date_level(pg_catalog.split_part(k.feat[%s], %L, 1)::date, %L::date)'
		                         ' IN (%L, %L, %L)',
		                         l.fpos, cdp_internal._match_constants() ->> 'value_sep', '', l.fpos,
		                         cdp_internal._match_constants() ->> 'value_sep', probe.birth_date,
		                         'exact', 'day_month_swapped', 'one_digit')
		  INTO dfilter
		  FROM cdp_internal._match_layout(a.settings) l WHERE l.attr = 'birth_date' AND l.comparator = 'date' LIMIT 1;
		SELECT pg_catalog.count(*) = (probe.phones IS NOT NULL)::int + (probe.snils IS NOT NULL)::int,
		       pg_catalog.string_agg(CASE l.attr
		         WHEN 'phones' THEN pg_catalog.format(' OR pg_catalog.string_to_array(k.feat[%s], %L) OPERATOR(pg_catalog.&&) %L::text[]',
		                                              l.fpos, cdp_internal._match_constants() ->> 'value_sep',
		                                              pg_catalog.string_to_array(f.feat[l.fpos], cdp_internal._match_constants() ->> 'value_sep'))
		         ELSE pg_catalog.format(' OR k.feat[%s] = %L', l.fpos, f.feat[l.fpos]) END, '')
		  INTO idsok, idfilter
		  FROM cdp_internal._match_layout(a.settings) l
		 WHERE f.feat[l.fpos] IS NOT NULL
		   AND ((l.attr = 'phones' AND l.comparator = 'phone' AND probe.phones IS NOT NULL)
		        OR (l.attr = 'snils' AND l.comparator = 'id' AND probe.snils IS NOT NULL));
		-- a phone or SNILS given that the features do not carry: one pass
		IF NOT idsok THEN
			dfilter := NULL;
		END IF;
		idfilter := COALESCE(idfilter, '');
		-- With the date alone (session 25), the passes split the candidates by the records' birth
		-- dates before their keys are read: at 1M name-dense records the keys of the thousand-odd
		-- namesakes of a common name were most of a slow lookup, and four in five contradict the
		-- date.  The dates are those the block index carries beside each candidate (session 28;
		-- before, read through the index record_find_by_id): the records' dates when their keys
		-- were written, so the keys' date feature, and the ones the ranking tests (dc below)
		-- unless the record changed since (then it is queued: its date is read from the record,
		-- below), so the passes are the same.
		IF dfilter IS NOT NULL AND idfilter = '' THEN
			rfilter := pg_catalog.format('c.birth_date IS NULL OR @extschema@.date_level(c.birth_date, %L::date) IN (%L, %L, %L)',
			                             probe.birth_date, 'exact', 'day_month_swapped', 'one_digit');
		END IF;
	END IF;
	-- The candidates: the probe's blocks, the records born that day (dates), and the records whose
	-- name keys begin like the probe's (names); with rfilter also with their block rows' dates
	-- (candd, below).
	FOREACH ccols IN ARRAY CASE WHEN rfilter IS NULL THEN ARRAY['m.record_id'] ELSE ARRAY['m.record_id', 'm.record_id, m.birth_date'] END LOOP
	cand := pg_catalog.format('SELECT DISTINCT %s FROM cdp_internal.match_block m WHERE m.bk = ANY (%L::text[])%s',
	                          ccols, f.bk,
	                          pg_catalog.concat((SELECT pg_catalog.string_agg(pg_catalog.format(
	                                                      ' UNION SELECT %s FROM cdp_internal.match_block m WHERE m.bk >= %L AND m.bk < %L',
	                                                      ccols, d.p, d.p || pg_catalog.chr(1114111)), '')
	                                               FROM pg_catalog.unnest(dates) d(p)),
	                                            (SELECT pg_catalog.string_agg(pg_catalog.format(
	                                                      ' UNION SELECT %s FROM cdp_internal.match_block m WHERE m.bk >= %L AND m.bk < %L'
	                                                      ' AND @extschema@.osa_distance(pg_catalog.substr(m.bk, %s), %L, 2) <= 2',
	                                                      ccols, x.lo, x.lo || pg_catalog.chr(1114111), x.bar + 1, pg_catalog.substr(x.k, x.bar + 1)), '')
	                                               FROM pg_catalog.unnest(names) n(k)
	                                              CROSS JOIN LATERAL (SELECT n.k, pg_catalog.strpos(n.k, '|') AS bar,
	                                                                         pg_catalog.left(n.k, pg_catalog.strpos(n.k, '|') + 2) AS lo) x)));
	IF ccols <> 'm.record_id' THEN
		candd := cand;
	ELSE
		cand0 := cand;
	END IF;
	END LOOP;
	cand := cand0;
	-- With rfilter, the candidates are gathered and split by their dates once, both passes' ids
	-- (session 26: the second pass gathered them again, a third of its time at a thousand namesakes).
	-- The dates are the block index's own (match_block.birth_date, session 28): the split reads
	-- no index entry of the record table (at 1M name-dense records a common name's thousand
	-- candidates were a thousand descents of record_find_by_id, four in five of them for
	-- namesakes born on another day that the first pass never looks at again).  A block row
	-- carries the date its record had when the keys were written; a record changed since is
	-- queued (cdp_internal.match_queue), and while the queue is not empty a queued candidate's
	-- date is read from its record, as before.  The ids are in record id order, as the record
	-- index gave them.
	IF rfilter IS NOT NULL THEN
		EXECUTE pg_catalog.format('SELECT pg_catalog.array_agg(c.record_id ORDER BY c.record_id) FILTER (WHERE %1$s),'
		                          ' pg_catalog.array_agg(c.record_id ORDER BY c.record_id) FILTER (WHERE NOT (%1$s))'
		                          ' FROM (SELECT u.record_id, %2$s AS birth_date FROM (%3$s) u) c',
		                          rfilter,
		                          CASE WHEN qbusy THEN '(CASE WHEN EXISTS (SELECT 1 FROM cdp_internal.match_queue q WHERE q.record_id = u.record_id)'
		                                               ' THEN (SELECT r.birth_date FROM @extschema@.record r WHERE r.record_id = u.record_id LIMIT 1)'
		                                               ' ELSE u.birth_date END)'
		                               ELSE 'u.birth_date' END,
		                          candd)
		   INTO ids1, ids2;
	END IF;
	-- The second pass of a date alone (session 26): every candidate contradicts the date by its
	-- record's (rfilter), so none agrees or shares a date, and without an e-mail given none shares
	-- an identifier; unless the name ranges were read (fuzzy: a row under the floor may be kept
	-- by its name's similarity), it keeps only the rows at or above the floor, and the others'
	-- records (two thirds of a slow lookup's reads at 1M: the namesakes born on other days) are not
	-- read.
	floor2 := rfilter IS NOT NULL AND probe.emails IS NULL AND NOT fuzzy;
	FOR pass IN 1 .. 2 LOOP
	pfilter := CASE WHEN dfilter IS NULL THEN '' WHEN pass = 1 THEN ' AND ((' || dfilter || ')' || idfilter || ')'
	                ELSE ' AND NOT (' || dfilter || ')' END;
	SELECT pg_catalog.array_agg(t.g ORDER BY t.o), pg_catalog.array_agg(t.probability ORDER BY t.o),
	       pg_catalog.array_agg(t.rid ORDER BY t.o), pg_catalog.array_agg(t.levels::text ORDER BY t.o)
	  INTO g2, p2, r2, l2
	  FROM (
	SELECT z.g, z.probability, z.rid, z.levels,
	       pg_catalog.row_number() OVER (ORDER BY z.agree DESC, z.dc, z.probability >= min_prob DESC, z.ns DESC NULLS FIRST, z.probability DESC, z.g) AS o
	  FROM (
	SELECT DISTINCT ON (x.g) x.g, x.probability, x.rid, x.levels, x.agree, x.ns, x.dc
	  FROM (SELECT rb.golden_id AS g, y.probability, y.rid, y.levels,
	               -- the last tier: a name similar enough, a contradicting birth date last
	               CASE WHEN fuzzy AND y.probability < min_prob
	                    THEN @extschema@.name_similarity(nc.nm, pname) END AS ns,
	               e.dl IS NOT DISTINCT FROM 'different' AS dc,
	               -- the cheap checks first; the names are compared only for the rows they keep.
	               -- A phone, SNILS or e-mail given agrees with a compatible name: it meets the
	               -- probe's in a word, or one side gives the given name as an initial and the
	               -- initials agree («Полякова Н. С.» for «Филиппова Нина Сергеевна»: a maiden name
	               -- and initials), the patronymic's too when both give one (a lookup without any
	               -- name: an identifier or contact that agrees is enough).  The birth date given
	               -- agrees likewise; a date near it (day and month exchanged, one digit off) only
	               -- with a similar name (session 26): cdp.% (name_similar), the initials as above,
	               -- or the given name and the patronymic both equal by name key (a maiden name
	               -- written in full).  About forty days are a digit off a date: at 1M name-dense
	               -- records the «IVANOV ALEKSANDR» and «Иванова Елена» born on them, which share a
	               -- word with the probe and nothing else, came before «Иванова Мария Тимофеевна»'s
	               -- own record without a date, which no other record outranks.
	               CASE WHEN e.n = 0 THEN 0
	                    ELSE CASE WHEN e.n > e.ids
	                               AND ((e.dl = 'exact' AND nc.sim > 0) OR nc.ini
	                                    OR (nc.sim >= min_sim AND @extschema@.name_similar(nc.nm, pname))
	                                    OR (@extschema@.name_key(rc.given_name) = pkeys[1] AND @extschema@.name_key(rc.patronymic) = pkeys[2]))
	                              THEN 1 ELSE 0 END
	                       + CASE WHEN e.ids > 0 AND (pname = '' OR nc.sim > 0 OR nc.ini) THEN e.ids ELSE 0 END END AS agree,
	               -- what session 25 called agreeing (a word in common or the initials; below)
	               e.n > 0 AND (nc.sim > 0 OR nc.ini OR (pname = '' AND e.ids > 0)) AS shares
	          FROM (SELECT w.probability, w.levels, CASE WHEN w.record_a = -1 THEN w.record_b ELSE w.record_a END AS rid
	                  FROM cdp_internal._match_walk('cross',
	                         -- the candidates' keys are read by their ids, as one index scan over
	                         -- the array of ids (no join: the range estimates once made the planner
	                         -- hash the whole match_key table; a nested loop of one-row scans cost
	                         -- four times as much at a thousand namesakes, session 23)
	                         pg_catalog.format('SELECT -1::bigint, -1::bigint, %s::int, %L::text[], %L::text[] UNION ALL '
	                                           'SELECT k.record_id, NULL::bigint, k.flags, k.feat, k.bk FROM cdp_internal.match_key k '
	                                           'WHERE k.record_id = ANY (%s)%s%s',
	                                           f.flags, f.feat, f.bk,
	                                           -- (with rfilter: the pass's ids, split before the loop)
	                                           CASE WHEN rfilter IS NULL THEN 'ARRAY(' || cand || ')'
	                                                ELSE pg_catalog.format('%L::bigint[]', CASE WHEN pass = 1 THEN ids1 ELSE ids2 END) END,
	                                           -- the keys' date filter where the dates did not split
	                                           -- the candidates; the queued records' always
	                                           CASE WHEN rfilter IS NOT NULL THEN '' ELSE pfilter END,
	                                           COALESCE(queued || pfilter, '')),
	                         a.program, a.version, 0::float8, 0, 0, ARRAY[-1]::bigint[]) w
	                 -- (in a second pass that only probability can place, a row under the floor
	                 -- is not kept: its record is not read)
	                 WHERE NOT (pass = 2 AND floor2 AND w.probability < min_prob)) y
	          -- block mates are read without golden ids; the pairs kept read theirs, one by one
	          -- (LIMIT 1 keeps the planner from hashing the whole record table for a few rows),
	          -- with the birth date from the index record_find_by_id (no heap page, session 26),
	          -- and the names from the same index entry (session 27)
	         CROSS JOIN LATERAL (SELECT r.golden_id, r.birth_date, r.family_name, r.given_name, r.patronymic
	                               FROM @extschema@.record r WHERE r.record_id = y.rid LIMIT 1) rb
	         CROSS JOIN LATERAL (SELECT CASE WHEN probe.birth_date IS NULL OR rb.birth_date IS NULL THEN NULL
	                                         WHEN rb.birth_date = probe.birth_date THEN 'exact'
	                                         WHEN @extschema@.date_level(rb.birth_date, probe.birth_date) IN ('day_month_swapped', 'one_digit') THEN 'near'
	                                         ELSE 'different' END AS dl) d
	         -- the names and identifiers from the record itself only for the rows that compare them:
	         -- a date given agrees or is near, an identifier or e-mail is given, or the name's
	         -- similarity may keep the row (session 26: at 1M a lookup of a common name read a
	         -- record heap page for each of a few hundred namesakes without a date, most of them
	         -- outside the 256 MB pool, to learn nothing the ranking used but the golden id)
	         -- (session 27: without a phone, SNILS or e-mail given, the names of rb's index entry: the
	         -- ranking compares them only for the rows above, so reading them for every row changes
	         -- nothing; with one, the whole record, once)
	         LEFT JOIN LATERAL ((SELECT rb.family_name, rb.given_name, rb.patronymic, NULL::@extschema@.phone[] AS phones,
	                                    NULL::@extschema@.snils AS snils, NULL::@extschema@.email[] AS emails
	                              WHERE NOT idsgiven)
	                            UNION ALL
	                            (SELECT r.family_name, r.given_name, r.patronymic, r.phones, r.snils, r.emails
	                               FROM @extschema@.record r
	                              WHERE idsgiven AND r.record_id = y.rid LIMIT 1)) rc ON true
	         -- (a record without the phone or SNILS given agrees on none: COALESCE, or the NULL would
	         -- hide the birth date it agrees on; session 24)
	         CROSS JOIN LATERAL (SELECT d.dl, (d.dl IS NOT NULL AND d.dl <> 'different')::int + i.ids AS n, i.ids
	                               FROM (SELECT COALESCE(probe.phones IS NOT NULL AND rc.phones OPERATOR(pg_catalog.&&) probe.phones, false)::int
	                                          + COALESCE(probe.snils IS NOT NULL AND rc.snils OPERATOR(@extschema@.=) probe.snils, false)::int
	                                          + COALESCE(probe.emails IS NOT NULL AND rc.emails OPERATOR(pg_catalog.&&) probe.emails, false)::int AS ids) i) e
	         -- the names compared only for the rows that share a date or an identifier: the full
	         -- name, its similarity, and the initials rule (one side gives the given name as an
	         -- initial and the initials agree, the patronymic's too when both give one)
	         CROSS JOIN LATERAL (SELECT n.nm, CASE WHEN e.n > 0 THEN @extschema@.name_similarity(n.nm, pname) END AS sim,
	                                    e.n > 0 AND pg_catalog.left(@extschema@.name_key(rc.given_name), 1) = pinit[1]
	                                    AND (pinit[3] = '1' OR pg_catalog.length(pg_catalog.regexp_replace(rc.given_name, '[^[:alpha:]]', '', 'g')) = 1)
	                                    AND (rc.patronymic IS NULL OR pinit[2] IS NULL
	                                         OR pg_catalog.left(@extschema@.name_key(rc.patronymic), 1) = pinit[2]) AS ini
	                               FROM (SELECT pg_catalog.concat_ws(' ', rc.family_name, rc.given_name, rc.patronymic) AS nm) n) nc) x
	 -- (a record sharing a date near the probe's and a word of the name, which no longer agrees,
	 -- is kept as before, after the rows agreeing or above the floor: session 26)
	 WHERE (x.agree > 0 OR x.shares OR x.probability >= min_prob OR x.ns >= min_sim)
	   -- (the first pass's contradicting candidates only when they agree: the second ranks the rest)
	   AND (x.agree > 0 OR NOT x.dc OR pass = 2 OR dfilter IS NULL)
	 ORDER BY x.g, x.agree DESC, x.dc, x.probability DESC) z
	 ORDER BY o
	 LIMIT max_results) t;
	IF pass = 1 THEN
		gs := g2; ps := p2; rids := r2; lvls := l2;
		g2 := NULL; p2 := NULL; r2 := NULL; l2 := NULL;
	END IF;
	EXIT WHEN dfilter IS NULL OR COALESCE(pg_catalog.cardinality(gs), 0) >= max_results;
	END LOOP;
	-- the first pass's persons, then the second's that the first did not list
	RETURN QUERY
	SELECT v.g, v.p, v.r, cdp_internal._match_summary(a.settings, v.s::smallint[]) FROM (
	SELECT w.g, w.p, w.r, w.s, w.o FROM (
	SELECT u.g, u.p, u.r, u.s, u.o FROM ROWS FROM (pg_catalog.unnest(gs), pg_catalog.unnest(ps), pg_catalog.unnest(rids), pg_catalog.unnest(lvls)) WITH ORDINALITY u(g, p, r, s, o)
	UNION ALL
	SELECT u.g, u.p, u.r, u.s, max_results + u.o FROM ROWS FROM (pg_catalog.unnest(g2), pg_catalog.unnest(p2), pg_catalog.unnest(r2), pg_catalog.unnest(l2)) WITH ORDINALITY u(g, p, r, s, o)
	 WHERE u.g <> ALL (COALESCE(gs, '{}'))) w
	 ORDER BY w.o LIMIT max_results) v
	 ORDER BY v.o;
END $$;
COMMENT ON FUNCTION @extschema@.find_patient(jsonb, int) IS
	'is this patient already with us? candidate persons for a set of attrs (stores nothing), best record per person with probability and a Russian summary; with a birth date also every record born that day (or day and month exchanged); persons agreeing on a birth date (or one digit off), phone or SNILS given come first; e.g. find_patient(''{"family_name":"Иванова","birth_date":"1980-03-05"}'')';


-- find_patient_namesakes: with only a name, find_patient would show an arbitrary max_results of the
-- namesakes; this says how many persons share everything the attrs give, and what to ask for next.
CREATE FUNCTION @extschema@.find_patient_namesakes(attrs jsonb)
	RETURNS TABLE (persons bigint, records bigint, ask text[])
	LANGUAGE plpgsql STABLE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record := cdp_internal._match_active();
	probe @extschema@.record;
	f record;
BEGIN
	probe := cdp_internal._find_probe(attrs);
	-- candidates: the probe's blocks (for a name alone, the name-only blocking rules) and the
	-- records still waiting for a matching run (_find_queued), then every record that agrees
	-- exactly with each attribute the probe gives (names by their name key).  A probe no block
	-- reads (a family name alone) is an error asking for more, not a count of nought (issue 18).
	-- (names whose roles leave no key are read as typed, as find_patient reads them, and then a
	-- family and a given name agree in either order, «Владимир Бабич» with «Бабич Владимир»)
	SELECT * INTO f FROM cdp_internal._find_probe_features(a.settings, probe);
	PERFORM cdp_internal._find_require_keys('find_patient_namesakes', attrs, f.bk, NULL);
	RETURN QUERY
	SELECT pg_catalog.count(DISTINCT rc.golden_id), pg_catalog.count(*),
	       ARRAY(SELECT x FROM pg_catalog.unnest(ARRAY['birth_date', 'phone', 'snils']) x
	              WHERE (x = 'birth_date' AND probe.birth_date IS NULL) OR (x = 'phone' AND probe.phones IS NULL)
	                 OR (x = 'snils' AND probe.snils IS NULL))
	  FROM @extschema@.record rc
	 WHERE rc.record_id IN (SELECT m.record_id FROM cdp_internal.match_block m WHERE m.bk = ANY (f.bk)
	                        UNION SELECT pg_catalog.unnest(cdp_internal._find_queued(probe)))
	   AND (((probe.family_name IS NULL OR @extschema@.name_key(rc.family_name) = @extschema@.name_key(probe.family_name))
	         AND (probe.given_name IS NULL OR @extschema@.name_key(rc.given_name) = @extschema@.name_key(probe.given_name)))
	        OR (f.as_typed AND (probe.family_name IS NULL OR @extschema@.name_key(rc.given_name) = @extschema@.name_key(probe.family_name))
	                   AND (probe.given_name IS NULL OR @extschema@.name_key(rc.family_name) = @extschema@.name_key(probe.given_name))))
	   AND (probe.patronymic IS NULL OR @extschema@.name_key(rc.patronymic) = @extschema@.name_key(probe.patronymic))
	   AND (probe.birth_date IS NULL OR rc.birth_date = probe.birth_date)
	   AND (probe.phones IS NULL OR rc.phones OPERATOR(pg_catalog.&&) probe.phones)
	   AND (probe.snils IS NULL OR rc.snils OPERATOR(@extschema@.=) probe.snils);
END $$;
COMMENT ON FUNCTION @extschema@.find_patient_namesakes(jsonb) IS
	'how many persons (and records) agree exactly with everything attrs give (names by name key), and which of birth_date, phone, snils to ask for next; e.g. find_patient_namesakes(''{"family_name":"Иванова","given_name":"Мария"}'')';
