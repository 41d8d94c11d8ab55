/*
 * sql/parts/81_offer.sql: layer 8, offers with contraindications (issue 13).  See doc/consent.md.
 *
 * An offer is a JSON document validated on save (cdp_internal.offer_check), kept in versions; the
 * current version and status are a projection of offer.created / offer.edited / offer.archived /
 * offer.restored events.  cdp.offer_block_reason(golden_id, offer_id) names the first rule that
 * keeps a person from an offer; segments apply it to every member as their last guard.
 */

/* ------------------------------------------------------------------ ICD-10 ranges */

/*
 * Parses one ICD-10 code or range ("C61", "E11.9", "N40-N42", "O00-O99") into its bounds.  A code
 * covers itself and every code under it (C61 covers C61.0); a range covers every code whose
 * prefix of the bound's length lies between the bounds.  22023 naming the value otherwise.
 */
CREATE FUNCTION cdp_internal.icd10_range(spec text, path text, OUT lo text, OUT hi text)
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	m	text[];
BEGIN
	m := pg_catalog.regexp_match(pg_catalog.upper(pg_catalog.btrim(coalesce(spec, ''))),
	        '^([A-Z][0-9]{2}(?:\.[0-9]{1,2})?)(?:\s*-\s*([A-Z][0-9]{2}(?:\.[0-9]{1,2})?))?$');
	IF m IS NULL OR (m[2] IS NOT NULL AND m[2] COLLATE "C" < m[1] COLLATE "C") THEN
		RAISE EXCEPTION 'invalid ICD-10 code or range "%"', pg_catalog.left(coalesce(spec, 'null'), 64)
			USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('At %s.', path),
			HINT = 'Use a code like "C61" or "E11.9", or a range like "N40-N42" (low end first).';
	END IF;
	lo := m[1];
	hi := coalesce(m[2], m[1]);
END
$$;
COMMENT ON FUNCTION cdp_internal.icd10_range(text, text) IS
	'bounds of an ICD-10 code or range such as N40-N42; 22023 naming the JSON path when malformed (internal)';

/* Does an ICD-10 code fall within the bounds of cdp_internal.icd10_range? */
CREATE FUNCTION cdp_internal.icd10_in(code text, lo text, hi text) RETURNS boolean
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.left(code, pg_catalog.length(lo)) COLLATE "C" >= lo COLLATE "C"
	   AND pg_catalog.left(code, pg_catalog.length(hi)) COLLATE "C" <= hi COLLATE "C"
$$;
COMMENT ON FUNCTION cdp_internal.icd10_in(text, text, text) IS
	'true when an ICD-10 code lies within a code range (prefix comparison, C collation) (internal)';

/* ------------------------------------------------------------------ offers */

CREATE SEQUENCE @extschema@.offer_id_seq;
COMMENT ON SEQUENCE @extschema@.offer_id_seq IS 'ids of cdp.offer';

CREATE TABLE @extschema@.offer (
	offer_id	bigint PRIMARY KEY,
	version		int NOT NULL,
	name		text NOT NULL,
	status		text NOT NULL CHECK (status IN ('active', 'archived')),
	doc			jsonb NOT NULL,
	created_at	timestamptz NOT NULL,
	updated_at	timestamptz NOT NULL
);
COMMENT ON TABLE @extschema@.offer IS
	'offers: the current version of each, with its status (projection of offer.* events)';
ALTER TABLE @extschema@.offer ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.offer FORCE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.offer_version (
	offer_id	bigint NOT NULL,
	version		int NOT NULL,
	doc			jsonb NOT NULL,
	at			timestamptz NOT NULL,
	event_id	bigint NOT NULL,
	PRIMARY KEY (offer_id, version)
);
COMMENT ON TABLE @extschema@.offer_version IS
	'every version of every offer document (projection of offer.created / offer.edited events)';
ALTER TABLE @extschema@.offer_version ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.offer_version FORCE ROW LEVEL SECURITY;

/*
 * Validates an offer document and returns it normalised: exclude_icd10 as a list of
 * {"spec", "lo", "hi"}.  Unknown keys, wrong types, an empty name, an age range out of order or
 * valid_to before valid_from: 22023 with the JSON path in the detail and an accepted form in the hint.
 */
CREATE FUNCTION cdp_internal.offer_check(doc jsonb) RETURNS jsonb
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	k		text;
	v		jsonb;
	r		record;
	ex		jsonb := '[]';
	i		int := 0;
	allowed	constant text[] := ARRAY['name', 'service', 'sex', 'age', 'exclude_icd10', 'exclude_pregnant',
	                                 'requires_service', 'requires_lab', 'valid_from', 'valid_to', 'description'];
	example	constant text := 'Accepted: {"name": "...", "service": "urology", "sex": "M", "age": [40, 75], "exclude_icd10": ["C61", "N40-N42"], "exclude_pregnant": false, "requires_lab": "PSA", "valid_from": "2026-01-01", "valid_to": "2026-12-31"}.';
BEGIN
	IF doc IS NULL OR pg_catalog.jsonb_typeof(doc) <> 'object' THEN
		RAISE EXCEPTION 'an offer must be a JSON object' USING ERRCODE = '22023', DETAIL = 'At $.', HINT = example;
	END IF;
	FOR k, v IN SELECT * FROM pg_catalog.jsonb_each(doc) LOOP
		IF NOT k = ANY (allowed) THEN
			RAISE EXCEPTION 'unknown offer key "%"', pg_catalog.left(k, 64) USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.%s.', pg_catalog.left(k, 64)),
				HINT = 'Known keys: ' || pg_catalog.array_to_string(allowed, ', ') || '.';
		END IF;
		IF k IN ('name', 'service', 'sex', 'requires_service', 'requires_lab', 'valid_from', 'valid_to', 'description')
		   AND pg_catalog.jsonb_typeof(v) <> 'string' THEN
			RAISE EXCEPTION 'offer key "%" must be a string', k USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.%s: found %s.', k, pg_catalog.jsonb_typeof(v)), HINT = example;
		END IF;
		IF pg_catalog.jsonb_typeof(v) = 'string' AND pg_catalog.octet_length(v #>> '{}') > 1000 THEN
			RAISE EXCEPTION 'offer key "%" is longer than 1000 bytes', k USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.%s.', k);
		END IF;
	END LOOP;
	IF coalesce(pg_catalog.btrim(doc ->> 'name'), '') = '' THEN
		RAISE EXCEPTION 'an offer needs a name' USING ERRCODE = '22023', DETAIL = 'At $.name.', HINT = example;
	END IF;
	IF doc ? 'sex' AND NOT (doc ->> 'sex') IN ('M', 'F') THEN
		RAISE EXCEPTION 'invalid offer sex "%"', pg_catalog.left(doc ->> 'sex', 64) USING ERRCODE = '22023',
			DETAIL = 'At $.sex.', HINT = 'Use "M" or "F", or leave the key out for both.';
	END IF;
	IF doc ? 'age' THEN
		v := doc -> 'age';
		IF pg_catalog.jsonb_typeof(v) <> 'array' OR pg_catalog.jsonb_array_length(v) <> 2
		   OR pg_catalog.jsonb_typeof(v -> 0) <> 'number' OR pg_catalog.jsonb_typeof(v -> 1) <> 'number'
		   OR (v ->> 0)::numeric <> pg_catalog.trunc((v ->> 0)::numeric) OR (v ->> 1)::numeric <> pg_catalog.trunc((v ->> 1)::numeric)
		   OR (v ->> 0)::numeric < 0 OR (v ->> 1)::numeric > 150 OR (v ->> 0)::numeric > (v ->> 1)::numeric THEN
			RAISE EXCEPTION 'invalid offer age range' USING ERRCODE = '22023',
				DETAIL = 'At $.age.', HINT = 'Use [lowest, highest] in whole years, for example [40, 75].';
		END IF;
	END IF;
	IF doc ? 'exclude_pregnant' AND pg_catalog.jsonb_typeof(doc -> 'exclude_pregnant') <> 'boolean' THEN
		RAISE EXCEPTION 'offer key "exclude_pregnant" must be true or false' USING ERRCODE = '22023',
			DETAIL = 'At $.exclude_pregnant.';
	END IF;
	IF doc ? 'exclude_icd10' THEN
		IF pg_catalog.jsonb_typeof(doc -> 'exclude_icd10') <> 'array' THEN
			RAISE EXCEPTION 'offer key "exclude_icd10" must be an array' USING ERRCODE = '22023',
				DETAIL = 'At $.exclude_icd10.', HINT = 'Use ["C61", "N40-N42"].';
		END IF;
		FOR v IN SELECT * FROM pg_catalog.jsonb_array_elements(doc -> 'exclude_icd10') LOOP
			IF pg_catalog.jsonb_typeof(v) <> 'string' THEN
				RAISE EXCEPTION 'invalid ICD-10 code or range' USING ERRCODE = '22023',
					DETAIL = pg_catalog.format('At $.exclude_icd10[%s].', i), HINT = 'Use ["C61", "N40-N42"].';
			END IF;
			r := cdp_internal.icd10_range(v #>> '{}', pg_catalog.format('$.exclude_icd10[%s]', i));
			ex := ex || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('spec', v #>> '{}', 'lo', r.lo, 'hi', r.hi));
			i := i + 1;
		END LOOP;
		doc := doc || pg_catalog.jsonb_build_object('exclude_ranges', ex);
	END IF;
	FOREACH k IN ARRAY ARRAY['valid_from', 'valid_to'] LOOP
		IF doc ? k AND NOT (doc ->> k) ~ '^\d{4}-\d{2}-\d{2}$' THEN
			RAISE EXCEPTION 'invalid offer date "%"', pg_catalog.left(doc ->> k, 64) USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.%s.', k), HINT = 'Use an ISO date, for example "2026-12-31".';
		END IF;
		IF doc ? k THEN
			BEGIN
				PERFORM (doc ->> k)::date;
			EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
				RAISE EXCEPTION 'invalid offer date "%"', doc ->> k USING ERRCODE = '22023',
					DETAIL = pg_catalog.format('At $.%s.', k), HINT = 'Use an ISO date, for example "2026-12-31".';
			END;
		END IF;
	END LOOP;
	IF (doc ->> 'valid_to')::date < (doc ->> 'valid_from')::date THEN
		RAISE EXCEPTION 'offer valid_to is before valid_from' USING ERRCODE = '22023', DETAIL = 'At $.valid_to.';
	END IF;
	RETURN doc;
END
$$;
COMMENT ON FUNCTION cdp_internal.offer_check(jsonb) IS
	'validates an offer document and returns it with parsed exclude ranges; 22023 with the JSON path (internal)';

/* Applies one offer event to the projections (live path and replay). */
CREATE FUNCTION cdp_internal.offer_apply(ev bigint, kind text, at timestamptz, id bigint, payload jsonb) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF kind IN ('offer.created', 'offer.edited') THEN
		INSERT INTO @extschema@.offer_version (offer_id, version, doc, at, event_id)
		VALUES (id, (payload ->> 'version')::int, payload -> 'doc', at, ev);
		INSERT INTO @extschema@.offer AS o (offer_id, version, name, status, doc, created_at, updated_at)
		VALUES (id, (payload ->> 'version')::int, payload -> 'doc' ->> 'name', 'active', payload -> 'doc', at, at)
		ON CONFLICT (offer_id) DO UPDATE SET version = excluded.version, name = excluded.name, doc = excluded.doc,
			updated_at = excluded.updated_at;
	ELSE
		UPDATE @extschema@.offer o SET status = CASE kind WHEN 'offer.archived' THEN 'archived' ELSE 'active' END,
		       updated_at = at
		 WHERE o.offer_id = id;
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.offer_apply(bigint, text, timestamptz, bigint, jsonb) IS
	'applies one offer event to cdp.offer and cdp.offer_version (internal)';

/* Creates an offer from a validated document; returns its id. */
CREATE FUNCTION @extschema@.create_offer(doc jsonb) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	id		bigint;
	d		jsonb := cdp_internal.offer_check(doc);
	ev		bigint;
	payload	jsonb;
BEGIN
	id := pg_catalog.nextval('@extschema@.offer_id_seq');
	payload := pg_catalog.jsonb_build_object('version', 1, 'doc', d);
	ev := cdp_internal.append_event('offer.created', id, NULL, payload);
	PERFORM cdp_internal.offer_apply(ev, 'offer.created', (SELECT e.at FROM @extschema@.event e WHERE e.event_id = ev), id, payload);
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@.create_offer(jsonb) IS
	'creates an offer (service, sex, age range, excluded ICD-10 codes and ranges, pregnancy, required prior service or lab, validity); returns its id';

/* The current row of an offer, locked, or P0002. */
CREATE FUNCTION cdp_internal.offer_get(id bigint, lock boolean) RETURNS @extschema@.offer
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	o	@extschema@.offer;
BEGIN
	IF lock THEN
		SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = id FOR UPDATE;
	ELSE
		SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = id;
	END IF;
	IF o.offer_id IS NULL THEN
		RAISE EXCEPTION 'offer "%" does not exist', id USING ERRCODE = 'P0002',
			HINT = 'Pass an offer_id returned by cdp.create_offer.';
	END IF;
	RETURN o;
END
$$;
COMMENT ON FUNCTION cdp_internal.offer_get(bigint, boolean) IS
	'the current row of an offer (optionally locked); P0002 when unknown (internal)';

/* Saves a new version of an offer; the old versions stay readable in cdp.offer_version. */
CREATE FUNCTION @extschema@.edit_offer(offer_id bigint, doc jsonb) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	o		@extschema@.offer := cdp_internal.offer_get(edit_offer.offer_id, true);
	d		jsonb := cdp_internal.offer_check(doc);
	ev		bigint;
	payload	jsonb := pg_catalog.jsonb_build_object('version', o.version + 1, 'doc', d);
BEGIN
	ev := cdp_internal.append_event('offer.edited', o.offer_id, NULL, payload);
	PERFORM cdp_internal.offer_apply(ev, 'offer.edited', (SELECT e.at FROM @extschema@.event e WHERE e.event_id = ev), o.offer_id, payload);
	RETURN o.version + 1;
END
$$;
COMMENT ON FUNCTION @extschema@.edit_offer(bigint, jsonb) IS
	'saves a new version of an offer document; returns the version number';

/* Archives (true) or restores (false) an offer. */
CREATE FUNCTION @extschema@.archive_offer(offer_id bigint, archived boolean DEFAULT true) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	o		@extschema@.offer := cdp_internal.offer_get(archive_offer.offer_id, true);
	k		text := CASE WHEN archived THEN 'offer.archived' ELSE 'offer.restored' END;
	ev		bigint;
BEGIN
	IF archived IS NULL OR (o.status = 'archived') = archived THEN
		RETURN;
	END IF;
	ev := cdp_internal.append_event(k, o.offer_id, NULL, '{}');
	PERFORM cdp_internal.offer_apply(ev, k, (SELECT e.at FROM @extschema@.event e WHERE e.event_id = ev), o.offer_id, '{}');
END
$$;
COMMENT ON FUNCTION @extschema@.archive_offer(bigint, boolean) IS
	'archives an offer (archived => false restores it); an archived offer blocks every person';

/*
 * The first reason that keeps a person (a profile row) from an offer document on a day, or NULL.
 * Order: validity of the offer, sex, age, contraindication (the person's first excluded diagnosis
 * code, ever), pregnancy (Z33 or O00-O99 within 10 months before the day, or a record flagged
 * "pregnant": true), then the required prior service or lab test.  A restriction the person's data
 * cannot confirm (sex or birth date unknown) blocks.
 */
CREATE FUNCTION cdp_internal.offer_reason(p @extschema@.patient, o @extschema@.offer, on_day date) RETURNS text
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d		jsonb := o.doc;
	code	text;
	age		int;
BEGIN
	IF p.golden_id IS NULL THEN
		RETURN 'unknown_patient';
	ELSIF p.status <> 'active' THEN
		RETURN 'archived_patient';
	ELSIF o.status <> 'active' THEN
		RETURN 'offer_archived';
	ELSIF on_day < (d ->> 'valid_from')::date THEN
		RETURN 'not_yet_valid';
	ELSIF on_day > (d ->> 'valid_to')::date THEN
		RETURN 'expired';
	END IF;
	IF d ? 'sex' AND p.sex IS DISTINCT FROM (d ->> 'sex') THEN
		RETURN 'sex';
	END IF;
	IF d ? 'age' THEN
		age := EXTRACT(year FROM pg_catalog.age(on_day, p.birth_date))::int;
		IF age IS NULL OR age < (d -> 'age' ->> 0)::int OR age > (d -> 'age' ->> 1)::int THEN
			RETURN 'age';
		END IF;
	END IF;
	IF d ? 'exclude_ranges' THEN
		SELECT c.icd10 INTO code
		  FROM @extschema@.clinical_event c
		  JOIN pg_catalog.jsonb_array_elements(d -> 'exclude_ranges') x ON cdp_internal.icd10_in(c.icd10, x ->> 'lo', x ->> 'hi')
		 WHERE c.golden_id = p.golden_id AND c.kind = 'diagnosis'
		 ORDER BY c.at, c.event_id
		 LIMIT 1;
		IF code IS NOT NULL THEN
			RETURN 'contraindication:' || code;
		END IF;
	END IF;
	IF (d ->> 'exclude_pregnant')::boolean THEN
		IF EXISTS (SELECT 1 FROM @extschema@.clinical_event c
		            WHERE c.golden_id = p.golden_id AND c.kind = 'diagnosis'
		              AND c.at >= on_day - interval '10 months' AND c.at < on_day + 1
		              AND (cdp_internal.icd10_in(c.icd10, 'Z33', 'Z33') OR cdp_internal.icd10_in(c.icd10, 'O00', 'O99')))
		   OR EXISTS (SELECT 1 FROM @extschema@.record r
		               WHERE r.golden_id = p.golden_id AND r.extra ->> 'pregnant' = 'true') THEN
			RETURN 'pregnancy';
		END IF;
	END IF;
	IF d ? 'requires_service' AND NOT EXISTS (
			SELECT 1 FROM @extschema@.clinical_event c
			 WHERE c.golden_id = p.golden_id AND c.kind = 'visit' AND c.specialty = d ->> 'requires_service'
			   AND c.visit_status IN ('came', 'in_appointment', 'done')) THEN
		RETURN 'requires:' || (d ->> 'requires_service');
	END IF;
	IF d ? 'requires_lab' AND NOT EXISTS (
			SELECT 1 FROM @extschema@.clinical_event c
			 WHERE c.golden_id = p.golden_id AND c.kind = 'lab_test' AND c.lab_code = d ->> 'requires_lab') THEN
		RETURN 'requires:' || (d ->> 'requires_lab');
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.offer_reason(@extschema@.patient, @extschema@.offer, date) IS
	'the first reason a profile is kept from an offer on a day, or NULL (internal; shared by offer_block_reason and segments)';

/*
 * The SQL condition over clinical_event e of an offer's ICD-10 ranges (a list of {"lo", "hi"}),
 * written for the (kind, code, at) index of the segment clauses: a range [lo, hi] is the index
 * range [lo, hi || '~'] of the code expression, which for a diagnosis row (the write path sets
 * only icd10 on it) is exactly cdp_internal.icd10_in(icd10, lo, hi).  Bounds are quoted literals.
 */
CREATE FUNCTION cdp_internal.offer_code_sql(ranges jsonb) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT '(' || coalesce(pg_catalog.string_agg(pg_catalog.format(
	           '((COALESCE(e.lab_code, e.icd10, e.specialty) COLLATE "C") >= %L AND (COALESCE(e.lab_code, e.icd10, e.specialty) COLLATE "C") <= %L)',
	           x ->> 'lo', (x ->> 'hi') || '~'), ' OR '), 'false') || ')'
	  FROM pg_catalog.jsonb_array_elements(ranges) x
$$;
COMMENT ON FUNCTION cdp_internal.offer_code_sql(jsonb) IS
	'the index condition over clinical_event e of a list of ICD-10 ranges, bounds quoted (internal)';

/*
 * The records flagged pregnant ("extra": {"pregnant": true}), which an offer excluding pregnancy
 * blocks: few, so a partial index lists them and the set-based guard intersects them with the
 * persons left instead of reading every record (session 25: a scan of 1M records, 0.35-0.6 s of
 * a preview).  Its upkeep is one expression test per record written.
 */
CREATE INDEX record_pregnant_idx ON @extschema@.record (golden_id) WHERE (extra ->> 'pregnant') = 'true';

/*
 * cdp_internal.offer_reason for a set of golden ids at once: every id with its first reason or
 * NULL, the same reasons in the same order, in a few set-based passes instead of one function
 * call per person.  First the profile's own reasons (one pass over the ids through the primary
 * key), then, for those left, the first excluded diagnosis, pregnancy, the required service or
 * lab test.  Each diagnosis pass finds who has such a code either by probing the persons left
 * (clinical_event_seg_patient_idx, index-only) or by reading the codes' range of
 * clinical_event_seg_code_idx, whichever the true number of persons left makes cheaper (as
 * cdp_internal.seg_eval chooses); the code named is then looked up for those few with
 * offer_reason's own condition.  test/pgtap/83_offer_set.sql proves it equal to offer_reason
 * person by person.
 *
 * known (a subset of ids, or NULL): ids with an active profile that meets the offer's sex and age
 * on the day, in the caller's snapshot: the segment evaluator's rule read
 * them with a profile clause that implies both (cdp_internal.offer_implied).  Their profiles are
 * not probed again (session 27: 16k probes of cdp.patient, 100-170 ms of a 1M preview); the
 * offer's own state and dates still apply to them, and every later reason.
 */
CREATE FUNCTION cdp_internal.offer_reasons(ids bigint[], o @extschema@.offer, on_day date, known bigint[])
	RETURNS TABLE (golden_id bigint, reason text)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d		jsonb := o.doc;
	rest	bigint[];
	bid		bigint[];
	bwhy	text[];
	n_all	bigint;
	probe	boolean;
	rd		jsonb;
	preg	constant jsonb := '[{"lo": "Z33", "hi": "Z33"}, {"lo": "O00", "hi": "O99"}]';
BEGIN
	ids := cdp_internal.seg_set(ids);
	IF pg_catalog.cardinality(ids) = 0 THEN
		RETURN;
	END IF;
	known := cdp_internal.seg_and(ids, cdp_internal.seg_set(known));
	SELECT GREATEST(c.reltuples::bigint, 1) INTO n_all FROM pg_catalog.pg_class c
	 WHERE c.oid = '@extschema@.patient'::regclass;
	rest := cdp_internal.seg_minus(ids, known);
	probe := pg_catalog.cardinality(rest) * 20 <= n_all;
	/* the profile's own reasons, in offer_reason's order */
	SELECT coalesce(pg_catalog.array_agg(x.id) FILTER (WHERE x.why IS NULL), '{}'),
	       pg_catalog.array_agg(x.id) FILTER (WHERE x.why IS NOT NULL),
	       pg_catalog.array_agg(x.why) FILTER (WHERE x.why IS NOT NULL)
	  INTO rest, bid, bwhy
	  FROM (SELECT p.id, CASE
	            WHEN NOT p.k AND p.golden_id IS NULL THEN 'unknown_patient'
	            WHEN NOT p.k AND p.status <> 'active' THEN 'archived_patient'
	            WHEN o.status <> 'active' THEN 'offer_archived'
	            WHEN on_day < (d ->> 'valid_from')::date THEN 'not_yet_valid'
	            WHEN on_day > (d ->> 'valid_to')::date THEN 'expired'
	            WHEN NOT p.k AND d ? 'sex' AND p.sex IS DISTINCT FROM (d ->> 'sex') THEN 'sex'
	            WHEN NOT p.k AND d ? 'age' AND coalesce(EXTRACT(year FROM pg_catalog.age(on_day, p.birth_date))::int
	                                            NOT BETWEEN (d -> 'age' ->> 0)::int AND (d -> 'age' ->> 1)::int, true) THEN 'age'
	            END AS why
	          /*
	           * the profiles: probes by primary key for a set small beside the clinic (OFFSET 0 keeps
	           * them probes: a hash join read every profile, 1.2 s at 1M for 17k ids), else one join;
	           * none for the known ids (k)
	           */
	          FROM (SELECT c.id, y.golden_id, y.status, y.sex, y.birth_date, false AS k
	                  FROM pg_catalog.unnest(rest) c(id)
	                  LEFT JOIN LATERAL (SELECT z.golden_id, z.status, z.sex, z.birth_date FROM @extschema@.patient z
	                                      WHERE z.golden_id = c.id OFFSET 0) y ON true
	                 WHERE probe
	                UNION ALL
	                SELECT c.id, y.golden_id, y.status, y.sex, y.birth_date, false
	                  FROM pg_catalog.unnest(rest) c(id)
	                  LEFT JOIN @extschema@.patient y ON y.golden_id = c.id
	                 WHERE NOT probe
	                UNION ALL
	                SELECT c.id, c.id, NULL, NULL, NULL, true FROM pg_catalog.unnest(known) c(id)) p) x;
	RETURN QUERY SELECT x.id, x.why FROM ROWS FROM (pg_catalog.unnest(bid), pg_catalog.unnest(bwhy)) x(id, why);
	rest := cdp_internal.seg_set(rest);
	probe := pg_catalog.cardinality(rest) * 20 <= n_all;
	/* the first excluded diagnosis, ever (by time, then event id) */
	IF d ? 'exclude_ranges' AND pg_catalog.cardinality(rest) > 0 THEN
		/* who has one: probes or the ranges read, over the segment indexes (index-only) */
		bid := NULL;
		IF probe AND pg_catalog.jsonb_array_length(d -> 'exclude_ranges') > 0
		   AND NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(d -> 'exclude_ranges') x WHERE x ->> 'lo' IS NULL OR x ->> 'hi' IS NULL) THEN
			/*
			 * session 26: the codes' own set when they have at most four events per person, else
			 * one descent per person for every range (cdp_internal.seg_read_few, src/seg_read.c)
			 */
			rd := pg_catalog.jsonb_build_object('kind', 'diagnosis', 'min', 1, 'codes',
				(SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(x ->> 'lo', (x ->> 'hi') || '~'))
				   FROM pg_catalog.jsonb_array_elements(d -> 'exclude_ranges') x));
			bid := cdp_internal.seg_read_few(rest, rd);
		END IF;
		IF bid IS NOT NULL THEN
			NULL;
		ELSIF probe THEN
			/* one index-only probe per range (an OR of ranges is no index range: a heap fetch per person) */
			bid := cdp_internal.seg_probe('SELECT c.id FROM pg_catalog.unnest($1) c(id) WHERE '
				|| (SELECT coalesce(pg_catalog.string_agg(pg_catalog.format('(SELECT true FROM @extschema@.clinical_event e'
				       ' WHERE e.golden_id = c.id AND e.kind = ''diagnosis'' AND %s LIMIT 1)', cdp_internal.offer_code_sql(pg_catalog.jsonb_build_array(x))), ' OR '), 'false')
				      FROM pg_catalog.jsonb_array_elements(d -> 'exclude_ranges') x), rest);
		ELSE
			EXECUTE pg_catalog.format('SELECT cdp_internal.seg_set(ARRAY(SELECT e.golden_id FROM @extschema@.clinical_event e'
				' WHERE e.kind = ''diagnosis'' AND %s))', cdp_internal.offer_code_sql(d -> 'exclude_ranges')) INTO bid;
			bid := cdp_internal.seg_and(rest, bid);
		END IF;
		/*
		 * and which code comes first, for those few, with offer_reason's own condition; the events
		 * read are those of each range's index range of clinical_event_seg_patient_idx (one
		 * branch per range), not every diagnosis of the person (session 27: 4,016 heap pages for
		 * 615 persons at 1M, 164 ms at load 7)
		 */
		RETURN QUERY EXECUTE pg_catalog.format('SELECT c.id, ''contraindication:'' || f.icd10'
			' FROM pg_catalog.unnest($1) c(id)'
			' CROSS JOIN LATERAL (SELECT e.icd10 FROM (%s) e'
			'                      WHERE EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements($2) x'
			'                                     WHERE cdp_internal.icd10_in(e.icd10, x ->> ''lo'', x ->> ''hi''))'
			'                      ORDER BY e.at, e.event_id LIMIT 1) f',
			(SELECT pg_catalog.string_agg(pg_catalog.format('SELECT e.icd10, e.at, e.event_id FROM @extschema@.clinical_event e'
			           ' WHERE e.golden_id = c.id AND e.kind = ''diagnosis'' AND %s', cdp_internal.offer_code_sql(pg_catalog.jsonb_build_array(x))),
			        ' UNION ALL ')
			   FROM pg_catalog.jsonb_array_elements(d -> 'exclude_ranges') x))
			USING bid, d -> 'exclude_ranges';
		rest := cdp_internal.seg_minus(rest, bid);
	END IF;
	/* pregnancy: Z33 or O00-O99 within 10 months before the day, or a record flagged pregnant */
	IF (d ->> 'exclude_pregnant')::boolean AND pg_catalog.cardinality(rest) > 0 THEN
		bid := NULL;
		IF probe THEN
			/* the codes' set or the event reader, as above; the window is the SQL's, [day - 10 months, day + 1) */
			rd := pg_catalog.jsonb_build_object('kind', 'diagnosis', 'min', 1,
				'from', (on_day - interval '10 months')::timestamptz, 'upto', (on_day + 1)::timestamptz, 'codes',
				(SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(x ->> 'lo', (x ->> 'hi') || '~'))
				   FROM pg_catalog.jsonb_array_elements(preg) x));
			bid := cdp_internal.seg_read_few(rest, rd);
		END IF;
		IF bid IS NOT NULL THEN
			NULL;
		ELSIF probe THEN
			bid := cdp_internal.seg_probe('SELECT c.id FROM pg_catalog.unnest($1) c(id) WHERE '
				|| (SELECT coalesce(pg_catalog.string_agg(pg_catalog.format('(SELECT true FROM @extschema@.clinical_event e'
				       ' WHERE e.golden_id = c.id AND e.kind = ''diagnosis'' AND %s AND e.at >= %L::date - interval ''10 months'' AND e.at < %L::date + 1 LIMIT 1)',
				       cdp_internal.offer_code_sql(pg_catalog.jsonb_build_array(x)), on_day, on_day), ' OR '), 'false')
				      FROM pg_catalog.jsonb_array_elements(preg) x), rest);
		ELSE
			EXECUTE pg_catalog.format('SELECT cdp_internal.seg_set(ARRAY(SELECT e.golden_id FROM @extschema@.clinical_event e'
				' WHERE e.kind = ''diagnosis'' AND %s AND e.at >= %L::date - interval ''10 months'' AND e.at < %L::date + 1))',
				cdp_internal.offer_code_sql(preg), on_day, on_day) INTO bid;
			bid := cdp_internal.seg_and(rest, bid);
		END IF;
		/* the flagged persons through their partial index (as a join, a scan of every record: 0.35-0.6 s at 1M) */
		bid := cdp_internal.seg_or(bid, cdp_internal.seg_and(cdp_internal.seg_minus(rest, bid), cdp_internal.seg_set(ARRAY(
			SELECT r.golden_id FROM @extschema@.record r WHERE r.extra ->> 'pregnant' = 'true'))));
		RETURN QUERY SELECT x, 'pregnancy'::text FROM pg_catalog.unnest(bid) x;
		rest := cdp_internal.seg_minus(rest, bid);
	END IF;
	/* the required prior service (a visit the person came to) or lab test */
	IF d ? 'requires_service' AND pg_catalog.cardinality(rest) > 0 THEN
		bid := ARRAY(SELECT c.id FROM pg_catalog.unnest(rest) c(id)
		              WHERE NOT EXISTS (SELECT 1 FROM @extschema@.clinical_event e
		                                 WHERE e.golden_id = c.id AND e.kind = 'visit' AND e.specialty = d ->> 'requires_service'
		                                   AND e.visit_status IN ('came', 'in_appointment', 'done')));
		RETURN QUERY SELECT x, 'requires:' || (d ->> 'requires_service') FROM pg_catalog.unnest(bid) x;
		rest := cdp_internal.seg_minus(rest, cdp_internal.seg_set(bid));
	END IF;
	IF d ? 'requires_lab' AND pg_catalog.cardinality(rest) > 0 THEN
		bid := ARRAY(SELECT c.id FROM pg_catalog.unnest(rest) c(id)
		              WHERE NOT EXISTS (SELECT 1 FROM @extschema@.clinical_event e
		                                 WHERE e.golden_id = c.id AND e.kind = 'lab_test' AND e.lab_code = d ->> 'requires_lab'));
		RETURN QUERY SELECT x, 'requires:' || (d ->> 'requires_lab') FROM pg_catalog.unnest(bid) x;
		rest := cdp_internal.seg_minus(rest, cdp_internal.seg_set(bid));
	END IF;
	RETURN QUERY SELECT x, NULL::text FROM pg_catalog.unnest(rest) x;
END
$$;
COMMENT ON FUNCTION cdp_internal.offer_reasons(bigint[], @extschema@.offer, date, bigint[]) IS
	'offer_reason for a set of golden ids, skipping the profile of the ids known to meet the offer''s sex and age (internal)';

/* offer_reasons with no id known (test/pgtap/83_offer_set.sql compares it with offer_reason) */
CREATE FUNCTION cdp_internal.offer_reasons(ids bigint[], o @extschema@.offer, on_day date)
	RETURNS TABLE (golden_id bigint, reason text)
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT x.golden_id, x.reason FROM cdp_internal.offer_reasons(ids, o, on_day, NULL) x $$;
COMMENT ON FUNCTION cdp_internal.offer_reasons(bigint[], @extschema@.offer, date) IS
	'offer_reason for a set of golden ids in set-based passes: each id with its first reason or NULL (internal)';

/*
 * Does a profile known to meet imp (cdp_internal.seg_attr_implies: {"sex", "lo", "hi"}, the
 * birth date in (lo, hi]) meet the offer's sex and age on the day?  True only when it follows:
 * the same sex, and a birth-date range within the offer's ages (age >= k exactly when
 * birth_date <= day - k years, for k from 1 to 150, as seg_age_range).  False when unsure.
 */
CREATE FUNCTION cdp_internal.offer_implied(o @extschema@.offer, imp jsonb, on_day date) RETURNS boolean
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT coalesce(o.doc IS NOT NULL AND pg_catalog.jsonb_typeof(imp) = 'object' AND on_day IS NOT NULL
	   AND (NOT o.doc ? 'sex' OR imp ->> 'sex' = o.doc ->> 'sex')
	   AND (NOT o.doc ? 'age'
	        OR ((o.doc -> 'age' ->> 0)::int BETWEEN 1 AND 150 AND (o.doc -> 'age' ->> 1)::int BETWEEN 0 AND 149
	            AND (imp ->> 'hi')::date <= (on_day - pg_catalog.make_interval(years => (o.doc -> 'age' ->> 0)::int))::date
	            AND (imp ->> 'lo')::date >= (on_day - pg_catalog.make_interval(years => (o.doc -> 'age' ->> 1)::int + 1))::date)), false)
$$;
COMMENT ON FUNCTION cdp_internal.offer_implied(@extschema@.offer, jsonb, date) IS
	'whether a profile meeting a rule''s implied sex and birth-date range meets an offer''s sex and age on a day (internal)';

/*
 * Why may the person not get the offer today?  NULL when nothing blocks it, else the first
 * reason: offer_archived, not_yet_valid, expired, sex, age, contraindication:<code>, pregnancy,
 * requires:<service or lab>; unknown_patient / archived_patient for the person.
 */
CREATE FUNCTION @extschema@.offer_block_reason(golden_id bigint, offer_id bigint) RETURNS text
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	p	@extschema@.patient;
	o	@extschema@.offer;
BEGIN
	IF offer_block_reason.offer_id IS NULL THEN
		RAISE EXCEPTION 'offer_id must not be null' USING ERRCODE = '22004';
	END IF;
	SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = offer_block_reason.offer_id;
	IF o.offer_id IS NULL THEN
		RAISE EXCEPTION 'offer "%" does not exist', offer_block_reason.offer_id USING ERRCODE = 'P0002',
			HINT = 'Pass an offer_id returned by cdp.create_offer.';
	END IF;
	SELECT * INTO p FROM @extschema@.patient x WHERE x.golden_id = @extschema@.resolve_patient(offer_block_reason.golden_id);
	RETURN cdp_internal.offer_reason(p, o, CURRENT_DATE);
END
$$;
COMMENT ON FUNCTION @extschema@.offer_block_reason(bigint, bigint) IS
	'NULL when the person may get the offer today, else the first reason: sex, age, contraindication:N40, pregnancy, expired, ...; e.g. offer_block_reason(42, 1)';

/* Replays the offer events into the projections; returns how many. */
CREATE FUNCTION @extschema@.rebuild_offers() RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	e	record;
	n	bigint := 0;
BEGIN
	LOCK TABLE @extschema@.offer, @extschema@.offer_version IN EXCLUSIVE MODE;
	DELETE FROM @extschema@.offer_version;
	DELETE FROM @extschema@.offer;
	FOR e IN SELECT x.event_id, x.kind, x.at, x.subject, x.payload FROM @extschema@.event x
	          WHERE x.kind LIKE 'offer.%' ORDER BY x.event_id LOOP
		PERFORM cdp_internal.offer_apply(e.event_id, e.kind, e.at, e.subject, e.payload);
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.rebuild_offers() IS
	'replays the offer events of cdp.event into cdp.offer and cdp.offer_version; returns how many';

REVOKE ALL ON FUNCTION @extschema@.create_offer(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.edit_offer(bigint, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.archive_offer(bigint, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.rebuild_offers() FROM PUBLIC;
