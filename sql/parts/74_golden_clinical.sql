/*
 * sql/parts/74_golden_clinical.sql: golden records: clinical events.
 */

/* ------------------------------------------------------------------ clinical events */

/* A required or optional typed value of a clinical event's attrs, with an error naming the key. */
CREATE FUNCTION cdp_internal.golden_attr(attrs jsonb, key text, typ text, required boolean) RETURNS text
	LANGUAGE plpgsql IMMUTABLE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v	text := attrs ->> key;
	ok	boolean;
BEGIN
	IF v IS NULL OR pg_catalog.btrim(v) = '' THEN
		IF required THEN
			RAISE EXCEPTION 'clinical event attribute "%" is required', key
				USING ERRCODE = '22023';
		END IF;
		RETURN NULL;
	END IF;
	IF pg_catalog.jsonb_typeof(attrs -> key) NOT IN ('string', 'number') THEN
		RAISE EXCEPTION 'invalid input syntax for clinical event attribute "%": "%"', key, attrs -> key
			USING ERRCODE = '22P02', HINT = 'Give a string or a number.';
	END IF;
	IF pg_catalog.octet_length(v) > 4096 THEN
		RAISE EXCEPTION 'clinical event attribute "%" is too long', key
			USING ERRCODE = '22001', DETAIL = pg_catalog.format('It has %s bytes; the limit is 4096.', pg_catalog.octet_length(v));
	END IF;
	IF typ = 'text' THEN
		RETURN v;
	END IF;
	BEGIN
		CASE typ
			WHEN 'date' THEN PERFORM v::date;
			WHEN 'timestamptz' THEN PERFORM v::timestamptz;
			WHEN 'interval' THEN PERFORM v::interval;
			ELSE PERFORM v::numeric;
		END CASE;
		ok := true;
	EXCEPTION WHEN data_exception THEN
		ok := false;			/* re-raised below with the key named */
	END;
	IF NOT ok THEN
		RAISE EXCEPTION 'invalid input syntax for clinical event attribute "%": "%"', key, v
			USING ERRCODE = '22P02',
			DETAIL = pg_catalog.format('The value is not a valid %s.', typ),
			HINT = CASE typ WHEN 'date' THEN 'Use an ISO date, for example 2024-03-01.'
			                WHEN 'timestamptz' THEN 'Use an ISO timestamp with its offset, for example 2024-03-01T09:30:00+03:00.'
			                WHEN 'interval' THEN 'Use an interval, for example 3 months.'
			                ELSE 'Use a plain number, for example 5.5.' END;
	END IF;
	RETURN v;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_attr(jsonb, text, text, boolean) IS
	'reads one typed attribute of a clinical event, raising 22023/22P02 errors naming the key (internal)';

/*
 * Validates a clinical event of a given kind and returns its typed columns as JSON (keys named
 * like the columns of cdp.clinical_event).  Unknown keys are refused.
 */
CREATE FUNCTION cdp_internal.golden_clinical_columns(kind text, attrs jsonb) RETURNS jsonb
	LANGUAGE plpgsql IMMUTABLE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	allowed		text[];
	k			text;
	c			jsonb;
	rng			text[];
	code		text;
BEGIN
	allowed := CASE kind
		WHEN 'visit' THEN ARRAY['at', 'type', 'status', 'doctor', 'specialty']
		WHEN 'lab_test' THEN ARRAY['code', 'result', 'unit', 'reference_range', 'ref_low', 'ref_high', 'taken_at']
		WHEN 'diagnosis' THEN ARRAY['code', 'at']
		WHEN 'sick_leave' THEN ARRAY['number', 'from', 'to']
		WHEN 'recommendation' THEN ARRAY['text', 'due_date', 'due_in', 'at', 'code', 'service']
		END || ARRAY['record_source_id', 'patient_source_id', 'note'];
	IF attrs IS NULL OR pg_catalog.jsonb_typeof(attrs) <> 'object' THEN
		RAISE EXCEPTION 'clinical event attrs must be a JSON object' USING ERRCODE = '22023';
	END IF;
	FOR k IN SELECT pg_catalog.jsonb_object_keys(attrs) LOOP
		IF NOT k = ANY (allowed) THEN
			RAISE EXCEPTION 'unknown attribute "%" for clinical event kind "%"', k, kind
				USING ERRCODE = '22023',
				HINT = pg_catalog.format('Use some of: %s.', pg_catalog.array_to_string(allowed, ', '));
		END IF;
	END LOOP;
	IF kind = 'visit' THEN
		c := pg_catalog.jsonb_build_object(
			'at', cdp_internal.golden_attr(attrs, 'at', 'timestamptz', true)::timestamptz,
			'visit_type', cdp_internal.golden_attr(attrs, 'type', 'text', false),
			'visit_status', coalesce(cdp_internal.golden_attr(attrs, 'status', 'text', false), 'booked'),
			'doctor', cdp_internal.golden_attr(attrs, 'doctor', 'text', false),
			'specialty', cdp_internal.golden_attr(attrs, 'specialty', 'text', false));
		IF NOT coalesce(c ->> 'visit_type', 'first') IN ('first', 'repeat') THEN
			RAISE EXCEPTION 'invalid input syntax for clinical event attribute "type": "%"', c ->> 'visit_type'
				USING ERRCODE = '22P02', HINT = 'Use first or repeat.';
		END IF;
		IF NOT (c ->> 'visit_status') IN ('booked', 'came', 'in_appointment', 'done') THEN
			RAISE EXCEPTION 'invalid input syntax for clinical event attribute "status": "%"', c ->> 'visit_status'
				USING ERRCODE = '22P02', HINT = 'Use booked, came, in_appointment or done.';
		END IF;
	ELSIF kind = 'lab_test' THEN
		c := pg_catalog.jsonb_build_object(
			'lab_code', cdp_internal.golden_attr(attrs, 'code', 'text', true),
			'lab_result', cdp_internal.golden_attr(attrs, 'result', 'text', true),
			'lab_unit', cdp_internal.golden_attr(attrs, 'unit', 'text', false),
			'at', cdp_internal.golden_attr(attrs, 'taken_at', 'timestamptz', true)::timestamptz,
			'ref_low', cdp_internal.golden_attr(attrs, 'ref_low', 'numeric', false)::numeric,
			'ref_high', cdp_internal.golden_attr(attrs, 'ref_high', 'numeric', false)::numeric,
			'ref_text', cdp_internal.golden_attr(attrs, 'reference_range', 'text', false));
		IF c ->> 'ref_text' IS NOT NULL AND c ->> 'ref_low' IS NULL AND c ->> 'ref_high' IS NULL THEN
			rng := pg_catalog.regexp_match(c ->> 'ref_text', '^\s*(-?[0-9]+(?:[.,][0-9]+)?)\s*[-–]\s*(-?[0-9]+(?:[.,][0-9]+)?)\s*$');
			IF rng IS NOT NULL THEN
				c := c || pg_catalog.jsonb_build_object('ref_low', pg_catalog.replace(rng[1], ',', '.')::numeric,
				                                        'ref_high', pg_catalog.replace(rng[2], ',', '.')::numeric);
			END IF;
		END IF;
		IF (c ->> 'ref_low')::numeric > (c ->> 'ref_high')::numeric THEN
			RAISE EXCEPTION 'clinical event reference range is empty: "ref_low" % is above "ref_high" %',
				c ->> 'ref_low', c ->> 'ref_high' USING ERRCODE = '22023';
		END IF;
	ELSIF kind = 'diagnosis' THEN
		code := pg_catalog.upper(pg_catalog.btrim(cdp_internal.golden_attr(attrs, 'code', 'text', true)));
		IF code !~ '^[A-Z][0-9]{2}(\.[0-9]{1,2})?$' THEN
			RAISE EXCEPTION 'invalid input syntax for clinical event attribute "code": "%"', attrs ->> 'code'
				USING ERRCODE = '22P02',
				DETAIL = 'A diagnosis code is an ICD-10 code: a letter, two digits, and optionally a dot and one or two digits.',
				HINT = 'Use a code such as E11 or E11.9.';
		END IF;
		c := pg_catalog.jsonb_build_object('icd10', code,
			'at', cdp_internal.golden_attr(attrs, 'at', 'timestamptz', true)::timestamptz);
	ELSIF kind = 'sick_leave' THEN
		c := pg_catalog.jsonb_build_object(
			'sick_leave_number', cdp_internal.golden_attr(attrs, 'number', 'text', true),
			'sick_from', cdp_internal.golden_attr(attrs, 'from', 'date', true)::date,
			'sick_to', cdp_internal.golden_attr(attrs, 'to', 'date', true)::date);
		IF (c ->> 'sick_to')::date < (c ->> 'sick_from')::date THEN
			RAISE EXCEPTION 'clinical event attribute "to" (%) is before "from" (%)', c ->> 'sick_to', c ->> 'sick_from'
				USING ERRCODE = '22023';
		END IF;
		c := c || pg_catalog.jsonb_build_object('at', (c ->> 'sick_from')::date::timestamp AT TIME ZONE 'UTC');
	ELSIF kind = 'recommendation' THEN
		c := pg_catalog.jsonb_build_object(
			'recommendation', cdp_internal.golden_attr(attrs, 'text', 'text', true),
			'at', cdp_internal.golden_attr(attrs, 'at', 'timestamptz', false)::timestamptz,
			-- the lab code or service to re-test (issue 14: reminders name the test)
			'lab_code', pg_catalog.upper(pg_catalog.btrim(cdp_internal.golden_attr(attrs, 'code', 'text', false))),
			'specialty', cdp_internal.golden_attr(attrs, 'service', 'text', false),
			'due_date', cdp_internal.golden_attr(attrs, 'due_date', 'date', false)::date);
		IF attrs ? 'due_in' THEN
			IF c ->> 'due_date' IS NOT NULL OR c ->> 'at' IS NULL THEN
				RAISE EXCEPTION 'clinical event attribute "due_in" needs "at" and excludes "due_date"'
					USING ERRCODE = '22023',
					HINT = 'Give {"at": "2024-03-01T10:00:00+03:00", "due_in": "3 months"} or {"due_date": "2024-06-01"}.';
			END IF;
			c := c || pg_catalog.jsonb_build_object('due_date',
				(((c ->> 'at')::timestamptz AT TIME ZONE 'UTC')
				 + cdp_internal.golden_attr(attrs, 'due_in', 'interval', true)::interval)::date);
		END IF;
	ELSE
		RAISE EXCEPTION 'invalid clinical event kind "%"', kind
			USING ERRCODE = '22023', HINT = 'Use visit, lab_test, diagnosis, sick_leave or recommendation.';
	END IF;
	RETURN c;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_clinical_columns(text, jsonb) IS
	'validates a clinical event''s attrs for its kind and returns its typed columns as JSON (internal)';

/*
 * Stores a clinical event from a source, attached to the source record named by
 * attrs.record_source_id (or patient_source_id) of the same source, so to its golden record.
 * Same input twice changes nothing.  Every change appends clinical.created / clinical.updated
 * carrying the stored row; a visit re-derives the patient's last visit.  Returns the event id.
 */
CREATE FUNCTION @extschema@.upsert_clinical_event(source text, source_id text, kind text, attrs jsonb) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sid		int;
	rkey	text;
	rec		bigint;
	g		bigint;
	cols	jsonb;
	hash	text;
	old		@extschema@.clinical_event;
	row		@extschema@.clinical_event;
BEGIN
	IF source IS NULL OR source_id IS NULL OR kind IS NULL OR attrs IS NULL THEN
		RAISE EXCEPTION 'upsert_clinical_event arguments must not be null' USING ERRCODE = '22004';
	END IF;
	IF pg_catalog.octet_length(source_id) > 256 OR pg_catalog.btrim(source_id) = '' THEN
		RAISE EXCEPTION 'invalid clinical event source_id "%"', pg_catalog.left(source_id, 64)
			USING ERRCODE = '22023', DETAIL = 'A source_id is 1 to 256 bytes.';
	END IF;
	cols := cdp_internal.golden_clinical_columns(kind, attrs);
	SELECT s.source_id INTO sid FROM @extschema@.source s WHERE s.name = upsert_clinical_event.source;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'source "%" does not exist', source
			USING ERRCODE = 'P0002', HINT = 'Register the source and its records before their clinical events.';
	END IF;
	rkey := coalesce(attrs ->> 'record_source_id', attrs ->> 'patient_source_id');
	IF rkey IS NULL THEN
		RAISE EXCEPTION 'clinical event attribute "record_source_id" is required'
			USING ERRCODE = '22023',
			DETAIL = 'A clinical event belongs to a source record of the same source.',
			HINT = 'Give "record_source_id" (or "patient_source_id"): the source_id the record was upserted with.';
	END IF;
	/*
	 * the record's person, read under a share lock of the record row: a merge or unmerge moving the
	 * record holds it (a row lock, or a large batch's table lock), so this waits for it to end and
	 * then reads the record as it left it; a merge that comes later waits for this transaction and
	 * moves the event with the record.  Without the lock an event stored during a merge kept the
	 * absorbed id (issue 16, session 32; isolation spec clinical_event_merge)
	 */
	SELECT r.record_id, r.golden_id INTO rec, g FROM @extschema@.record r
	 WHERE r.source_id = sid AND r.source_key = rkey
	   FOR SHARE OF r;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'record "%" of source "%" does not exist', rkey, source
			USING ERRCODE = 'P0002', HINT = 'Upsert the patient record before its clinical events.';
	END IF;
	hash := pg_catalog.md5(kind || ':' || attrs::text);
	SELECT * INTO old FROM @extschema@.clinical_event c
	 WHERE c.source_id = sid AND c.source_key = upsert_clinical_event.source_id FOR UPDATE;
	IF FOUND AND old.attrs_hash = hash THEN
		RETURN old.event_id;
	END IF;
	row := pg_catalog.jsonb_populate_record(NULL::@extschema@.clinical_event, cols || pg_catalog.jsonb_build_object(
		'event_id', coalesce(old.event_id, pg_catalog.nextval('@extschema@.clinical_event_id_seq')),
		'source_id', sid, 'source_key', upsert_clinical_event.source_id, 'record_id', rec, 'golden_id', g,
		'kind', kind, 'attrs', attrs, 'attrs_hash', hash,
		'created_at', coalesce(old.created_at, pg_catalog.now()), 'updated_at', pg_catalog.now(),
		'version', coalesce(old.version, 0) + 1));
	IF old.event_id IS NOT NULL THEN
		DELETE FROM @extschema@.clinical_event c WHERE c.event_id = old.event_id;
	END IF;
	INSERT INTO @extschema@.clinical_event SELECT row.*;
	PERFORM cdp_internal.append_event(CASE WHEN old.event_id IS NULL THEN 'clinical.created' ELSE 'clinical.updated' END,
		row.event_id, g, pg_catalog.jsonb_build_object('clinical', pg_catalog.to_jsonb(row) - 'golden_id')
		                 -- moved to another person: who had it (an incremental segment refresh re-evaluates both)
		                 || CASE WHEN old.golden_id <> g THEN pg_catalog.jsonb_build_object('previous_golden_id', old.golden_id) ELSE '{}' END);
	IF kind = 'visit' OR old.kind = 'visit' THEN
		PERFORM cdp_internal.refresh_patients(ARRAY[g, old.golden_id]);
	END IF;
	RETURN row.event_id;
END
$$;
COMMENT ON FUNCTION @extschema@.upsert_clinical_event(text, text, text, jsonb) IS
	'stores (idempotently) a visit, lab test, diagnosis, sick leave or recommendation of a source record; returns its event id';
