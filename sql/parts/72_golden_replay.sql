/*
 * sql/parts/72_golden_replay.sql: golden records: replay from the log, as-of, history, lineage, survivorship configuration.
 */

/* ------------------------------------------------------------------ replay from the log */

/*
 * Membership intervals derived from the log alone: a record.created event puts a record into its
 * first golden id, patient.merged moves the listed records into the survivor, patient.unmerged
 * moves one record into its new id.  Each move ends the record's previous interval.
 */
CREATE FUNCTION cdp_internal.golden_membership_from_log()
	RETURNS TABLE (record_id bigint, golden_id bigint, from_event bigint, from_at timestamptz,
	               to_event bigint, to_at timestamptz)
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	/*
	 * one pass over the log: a patient.merged event gives one move per record it lists (none
	 * when the list is empty), the other two kinds one move each
	 */
	WITH moves AS (
		SELECT CASE e.kind WHEN 'record.created' THEN e.subject
		                   WHEN 'patient.merged' THEN m::bigint
		                   ELSE (e.payload ->> 'record_id')::bigint END AS record_id,
		       CASE e.kind WHEN 'record.created'
		                   THEN coalesce(e.golden_id, (e.payload -> 'record' ->> 'golden_id')::bigint)
		                   ELSE (e.payload ->> 'into')::bigint END AS golden_id,
		       e.event_id, e.at
		  FROM @extschema@.event e
		 CROSS JOIN LATERAL pg_catalog.jsonb_array_elements_text(
		           CASE WHEN e.kind = 'patient.merged' THEN e.payload -> 'records' ELSE '[null]'::jsonb END) m
		 WHERE e.kind IN ('record.created', 'patient.merged', 'patient.unmerged'))
	SELECT m.record_id, m.golden_id, m.event_id, m.at,
	       pg_catalog.lead(m.event_id) OVER w, pg_catalog.lead(m.at) OVER w
	  FROM moves m
	WINDOW w AS (PARTITION BY m.record_id ORDER BY m.event_id)
	$$;
COMMENT ON FUNCTION cdp_internal.golden_membership_from_log() IS
	'membership intervals of every record, derived from the log alone (used by rebuild_patients)';

/*
 * Profiles replayed from the log as of a time: the records that were members then, each at its
 * newest version logged by then, the rules in force then, the status from the newest
 * archive/restore event by then, and the last visit from the clinical events logged by then.
 * members holds (golden_id, record_id) pairs as of that time.  jit = off: with the statistics
 * of a small log (a bulk load autovacuum has not analyzed yet) the cost estimate passed
 * jit_above_cost and every patient_as_of spent ~30-60 ms compiling its plan for a 0.2 ms replay.
 */
CREATE FUNCTION cdp_internal.golden_replay(at timestamptz, upto bigint, members jsonb) RETURNS SETOF @extschema@.patient
	LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 10
	SET jit = off
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	WITH rl AS (SELECT * FROM @extschema@.survivorship_rules_as_of(at, upto)),
	m AS (SELECT (x ->> 0)::bigint AS golden_id, (x ->> 1)::bigint AS record_id
	        FROM pg_catalog.jsonb_array_elements(members) x),
	/*
	 * The newest logged version of each member record, of each visit and of the status: one
	 * LATERAL lookup by subject (event_subject_idx, newest first) each, so the plan is
	 * index-driven whatever the statistics of cdp.event say (with those of a small log, a
	 * semi-join read the whole log at every patient_as_of).  The subject in the ORDER BY is
	 * constant there; it makes the (subject, event_id) index the only one giving that order, so
	 * a backward scan of the primary key "until a row of this subject turns up" is never chosen.
	 */
	ver AS (
		SELECT r.record_id, v.rec, v.source
		  FROM (SELECT DISTINCT m.record_id FROM m) r
		 CROSS JOIN LATERAL (
		       SELECT e.payload -> 'record' AS rec, e.payload ->> 'source' AS source
		         FROM @extschema@.event e
		        WHERE e.subject = r.record_id
		          AND e.kind IN ('record.created', 'record.updated')
		          AND e.at <= golden_replay.at AND e.event_id <= golden_replay.upto
		        ORDER BY e.subject DESC, e.event_id DESC LIMIT 1) v),
	docs AS (
		SELECT m.golden_id,
		       pg_catalog.jsonb_agg(@extschema@.golden_record_doc(
		           ver.rec || pg_catalog.jsonb_build_object('record_id', m.record_id, 'source_id', s.source_id),
		           s.trust) ORDER BY m.record_id) AS docs
		  FROM m JOIN ver ON ver.record_id = m.record_id
		  LEFT JOIN @extschema@.source s ON s.name = ver.source
		 GROUP BY m.golden_id),
	visits AS (
		/* only the fields read below */
		SELECT v.record_id, v.kind, v.visit_status, v.at
		  FROM @extschema@.clinical_event c
		 CROSS JOIN LATERAL (
		       SELECT (e.payload -> 'clinical' ->> 'record_id')::bigint AS record_id,
		              e.payload -> 'clinical' ->> 'kind' AS kind,
		              e.payload -> 'clinical' ->> 'visit_status' AS visit_status,
		              e.payload -> 'clinical' ->> 'at' AS at
		         FROM @extschema@.event e
		        WHERE e.subject = c.event_id
		          AND e.kind IN ('clinical.created', 'clinical.updated')
		          AND e.at <= golden_replay.at AND e.event_id <= golden_replay.upto
		        ORDER BY e.subject DESC, e.event_id DESC LIMIT 1) v
		 WHERE c.record_id IN (SELECT m.record_id FROM m)
		   /*
		    * only events that are or ever were visits: one never updated (version 1) has had
		    * its current kind all along, so most lab tests and diagnoses are skipped
		    */
		   AND (c.kind = 'visit' OR c.version > 1)),
	last_visit AS (
		SELECT m.golden_id, pg_catalog.max(v.at::timestamptz) AS at
		  FROM visits v JOIN m ON m.record_id = v.record_id
		 WHERE v.kind = 'visit' AND v.visit_status IN ('came', 'in_appointment', 'done')
		 GROUP BY m.golden_id),
	status AS (
		SELECT d.golden_id, x.status, x.at
		  FROM docs d
		 CROSS JOIN LATERAL (
		       SELECT CASE e.kind WHEN 'patient.archived' THEN 'archived' ELSE 'active' END AS status, e.at
		         FROM @extschema@.event e
		        WHERE e.subject = d.golden_id
		          AND e.kind IN ('patient.archived', 'patient.restored')
		          AND e.at <= golden_replay.at AND e.event_id <= golden_replay.upto
		        ORDER BY e.subject DESC, e.event_id DESC LIMIT 1) x)
	/* the row as a value expanded by field (OFFSET 0: one call per person), as golden_compute */
	SELECT (x.row).*
	  FROM (SELECT cdp_internal.golden_row(d.golden_id, @extschema@.golden_fold(d.docs, rl.rules, false),
	                   st.status, st.at, lv.at, rl.version) AS row
	          FROM docs d CROSS JOIN rl
	          LEFT JOIN status st ON st.golden_id = d.golden_id
	          LEFT JOIN last_visit lv ON lv.golden_id = d.golden_id
	        OFFSET 0) x;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_replay(timestamptz, bigint, jsonb) IS
	'profiles replayed from the log as of a time and log position for the given (golden_id, record_id) memberships (internal)';

/*
 * Replays the whole log into the projections: membership history, the members' golden ids in
 * cdp.record, redirects, survivorship rules and every profile.  Returns the number of profiles.
 * The result equals the live projections (a test compares them both ways).
 */
CREATE FUNCTION @extschema@.rebuild_patients() RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n	bigint;
BEGIN
	/* one rebuild at a time, and no merge or refresh while the tables are replaced */
	LOCK TABLE @extschema@.patient, @extschema@.patient_member, @extschema@.patient_redirect,
	           @extschema@.survivorship_rules IN EXCLUSIVE MODE;
	DELETE FROM @extschema@.survivorship_rules;
	INSERT INTO @extschema@.survivorship_rules (version, rules, at, event_id)
	SELECT (e.payload ->> 'version')::int, e.payload -> 'rules', e.at, e.event_id
	  FROM @extschema@.event e WHERE e.kind = 'survivorship.configured';
	DELETE FROM @extschema@.patient_member;
	INSERT INTO @extschema@.patient_member SELECT * FROM cdp_internal.golden_membership_from_log();
	DELETE FROM @extschema@.patient_redirect;
	INSERT INTO @extschema@.patient_redirect (old_id, new_id, at, event_id)
	SELECT (e.payload ->> 'from')::bigint, (e.payload ->> 'into')::bigint, e.at, e.event_id
	  FROM @extschema@.event e WHERE e.kind = 'patient.merged';
	UPDATE @extschema@.record r SET golden_id = m.golden_id
	  FROM @extschema@.patient_member m
	 WHERE m.record_id = r.record_id AND m.to_event IS NULL AND r.golden_id IS DISTINCT FROM m.golden_id;
	UPDATE @extschema@.clinical_event c SET golden_id = r.golden_id
	  FROM @extschema@.record r
	 WHERE r.record_id = c.record_id AND c.golden_id IS DISTINCT FROM r.golden_id;
	DELETE FROM @extschema@.patient;
	INSERT INTO @extschema@.patient
	SELECT * FROM cdp_internal.golden_replay('infinity', 9223372036854775807,
		(SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(m.golden_id, m.record_id)), '[]')
		   FROM @extschema@.patient_member m WHERE m.to_event IS NULL));
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.rebuild_patients() IS
	'replays cdp.event into the golden projections (profiles, membership, redirects, rules); returns the number of profiles';
REVOKE ALL ON FUNCTION @extschema@.rebuild_patients() FROM PUBLIC;

/*
 * The golden id a given id stood for at a time: redirects logged by then are followed.
 */
CREATE FUNCTION cdp_internal.golden_resolve_as_of(id bigint, at timestamptz, upto bigint) RETURNS bigint
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	cur		bigint := id;
	nxt		bigint;
BEGIN
	FOR depth IN 1..1000 LOOP
		SELECT d.new_id INTO nxt FROM @extschema@.patient_redirect d
		 WHERE d.old_id = cur AND d.at <= golden_resolve_as_of.at AND d.event_id <= golden_resolve_as_of.upto;
		EXIT WHEN NOT FOUND;
		cur := nxt;
	END LOOP;
	RETURN cur;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_resolve_as_of(bigint, timestamptz, bigint) IS
	'the golden id an id stood for at a time and log position, following only the redirects made by then';

/*
 * The profile of a golden id as it was at a time: the id is followed through the redirects made
 * by then, its members are those of the membership history at that time, each at its version
 * logged by then.  No row when the person did not exist then.
 */
CREATE FUNCTION cdp_internal.golden_as_of(id bigint, at timestamptz, upto bigint) RETURNS SETOF @extschema@.patient
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE ROWS 1
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	WITH g AS (SELECT cdp_internal.golden_resolve_as_of(id, at, upto) AS id)
	SELECT * FROM cdp_internal.golden_replay(at, upto,
		(SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(m.golden_id, m.record_id)), '[]')
		   FROM @extschema@.patient_member m
		  WHERE m.golden_id = (SELECT g.id FROM g)
		    AND m.from_at <= golden_as_of.at AND m.from_event <= golden_as_of.upto
		    AND (m.to_event IS NULL OR m.to_at > golden_as_of.at OR m.to_event > golden_as_of.upto)));
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_as_of(bigint, timestamptz, bigint) IS
	'the golden profile of a person as of a time and a log position (internal)';

CREATE FUNCTION @extschema@.patient_as_of(golden_id bigint, at timestamptz) RETURNS SETOF @extschema@.patient
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE ROWS 1
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	SELECT * FROM cdp_internal.golden_as_of(golden_id, at, 9223372036854775807);
END
$$;
COMMENT ON FUNCTION @extschema@.patient_as_of(bigint, timestamptz) IS
	'the golden profile of a person as it was at a time (events logged at or before it), replayed from the log';

CREATE FUNCTION @extschema@.patient_as_of_event(golden_id bigint, event_id bigint) RETURNS SETOF @extschema@.patient
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE ROWS 1
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	SELECT * FROM cdp_internal.golden_as_of(golden_id, 'infinity', event_id);
END
$$;
COMMENT ON FUNCTION @extschema@.patient_as_of_event(bigint, bigint) IS
	'the golden profile of a person as it was right after a given event of the log, replayed from the log';

/*
 * Every golden id that is or was merged into the given one (itself included).
 */
CREATE FUNCTION cdp_internal.golden_absorbed(id bigint) RETURNS bigint[]
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	RETURN (WITH RECURSIVE chain(id, depth) AS (
		SELECT id, 0
		UNION ALL
		SELECT d.old_id, c.depth + 1 FROM chain c JOIN @extschema@.patient_redirect d ON d.new_id = c.id
		 WHERE c.depth < 1000)
	SELECT pg_catalog.array_agg(DISTINCT c.id) FROM chain c);
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_absorbed(bigint) IS
	'the golden id and every id merged into it, directly or through a chain';

/*
 * What happened to a person, newest first: events logged under its golden id or any id merged
 * into it, and record, unmerge and decision events of every record that ever belonged to them.
 */
CREATE FUNCTION @extschema@.patient_history(golden_id bigint)
	RETURNS TABLE (event_id bigint, at timestamptz, kind text, subject bigint, event_golden_id bigint,
	               actor text, payload jsonb)
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	WITH ids AS (SELECT pg_catalog.unnest(cdp_internal.golden_absorbed(
	                 coalesce(@extschema@.resolve_patient(patient_history.golden_id), patient_history.golden_id))) AS id),
	recs AS (SELECT DISTINCT m.record_id FROM @extschema@.patient_member m WHERE m.golden_id IN (SELECT id FROM ids)),
	ev AS (
		SELECT e.event_id FROM @extschema@.event e WHERE e.golden_id IN (SELECT id FROM ids)
		UNION
		SELECT e.event_id FROM @extschema@.event e
		 WHERE e.subject IN (SELECT record_id FROM recs)
		   AND (e.kind LIKE 'record.%' OR e.kind IN ('patient.unmerged', 'decision.recorded')))
	SELECT e.event_id, e.at, e.kind, e.subject, e.golden_id, e.actor, e.payload
	  FROM @extschema@.event e WHERE e.event_id IN (SELECT ev.event_id FROM ev)
	 ORDER BY e.event_id DESC;
END
$$;
COMMENT ON FUNCTION @extschema@.patient_history(bigint) IS
	'the events of a person (merged ids and former records included), newest first';

/* ------------------------------------------------------------------ lineage */

/*
 * For every single-valued attribute of a person: the value, the source record and source that
 * gave it, the rule that decided, the records that agree, and the values that lost.
 */
CREATE FUNCTION @extschema@.patient_lineage(golden_id bigint)
	RETURNS TABLE (attribute text, value text, record_id bigint, source text, rule text,
	               agreeing_records bigint[], lost jsonb)
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	WITH g AS (SELECT @extschema@.resolve_patient(patient_lineage.golden_id) AS id),
	f AS (
		SELECT @extschema@.golden_fold(
		           pg_catalog.jsonb_agg(@extschema@.golden_record_doc(pg_catalog.to_jsonb(r), s.trust) ORDER BY r.record_id),
		           (SELECT rl.rules FROM @extschema@.survivorship_rules_as_of('infinity') rl)) AS fold
		  FROM @extschema@.record r LEFT JOIN @extschema@.source s ON s.source_id = r.source_id
		 WHERE r.golden_id = (SELECT g.id FROM g))
	SELECT l.key, l.value ->> 'value', (l.value ->> 'record_id')::bigint, s.name, l.value ->> 'rule',
	       ARRAY(SELECT pg_catalog.jsonb_array_elements_text(l.value -> 'agree')::bigint),
	       l.value -> 'lost'
	  FROM f, pg_catalog.jsonb_each(f.fold -> 'lineage') l
	  LEFT JOIN @extschema@.source s ON s.source_id = (l.value ->> 'source_id')::int
	 ORDER BY l.key;
END
$$;
COMMENT ON FUNCTION @extschema@.patient_lineage(bigint) IS
	'per attribute of a golden profile: winning value, source record and source, deciding rule, agreeing records, losing values';

/* ------------------------------------------------------------------ survivorship configuration */

/*
 * Validates and stores a new version of the survivorship rules (attributes not named keep the
 * default), appends survivorship.configured and re-folds every profile under the new rules.
 * Returns the new version.
 */
CREATE FUNCTION @extschema@.configure_survivorship(rules jsonb) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	full_rules	jsonb := cdp_internal.golden_check_rules(rules);
	v			int;
	ev			bigint;
	ids			bigint[];
BEGIN
	LOCK TABLE @extschema@.survivorship_rules IN EXCLUSIVE MODE;
	SELECT coalesce(pg_catalog.max(s.version), 0) + 1 INTO v FROM @extschema@.survivorship_rules s;
	ev := cdp_internal.append_event('survivorship.configured', v, NULL,
		pg_catalog.jsonb_build_object('version', v, 'rules', full_rules));
	INSERT INTO @extschema@.survivorship_rules (version, rules, at, event_id)
	SELECT v, full_rules, e.at, e.event_id FROM @extschema@.event e WHERE e.event_id = ev;
	SELECT pg_catalog.array_agg(p.golden_id ORDER BY p.golden_id) INTO ids FROM @extschema@.patient p;
	PERFORM cdp_internal.refresh_patients(ids);
	RETURN v;
END
$$;
COMMENT ON FUNCTION @extschema@.configure_survivorship(jsonb) IS
	'validates and stores a new version of the survivorship rules (an event) and re-folds every profile; returns the version';
REVOKE ALL ON FUNCTION @extschema@.configure_survivorship(jsonb) FROM PUBLIC;
