/*
 * sql/parts/75_golden_archive.sql: golden records: archive, restore, maintenance.
 */

/* ------------------------------------------------------------------ archive and restore */

/* Why a patient is (or is not) a candidate for archiving: when it was last seen. */
CREATE FUNCTION cdp_internal.golden_seen_reason(p @extschema@.patient) RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.format('last seen %s (last visit %s, last record change %s)',
		coalesce(pg_catalog.to_char(greatest(p.last_visit, p.updated_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'never'),
		coalesce(pg_catalog.to_char(p.last_visit AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'none'),
		coalesce(pg_catalog.to_char(p.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'none'))
	$$;
COMMENT ON FUNCTION cdp_internal.golden_seen_reason(@extschema@.patient) IS
	'a sentence saying when a patient was last seen (internal)';

/*
 * Active patients not seen (no visit and no record change) for the given interval, with the
 * reason.
 */
CREATE FUNCTION @extschema@.archive_candidates(not_seen interval)
	RETURNS TABLE (golden_id bigint, last_seen timestamptz, reason text)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF not_seen IS NULL OR not_seen <= interval '0' THEN
		RAISE EXCEPTION 'not_seen must be a positive interval'
			USING ERRCODE = '22023', HINT = 'Use for example interval ''3 years''.';
	END IF;
	RETURN QUERY
	SELECT p.golden_id, greatest(p.last_visit, p.updated_at),
	       pg_catalog.format('not seen for %s: %s', not_seen, cdp_internal.golden_seen_reason(p))
	  FROM @extschema@.patient p
	 WHERE p.status = 'active'
	   AND greatest(p.last_visit, p.updated_at) < pg_catalog.now() - not_seen
	 ORDER BY p.golden_id;
END
$$;
COMMENT ON FUNCTION @extschema@.archive_candidates(interval) IS
	'active patients not seen (no visit, no record change) for the given interval, with the reason';

/* Shared body of archive_patients and restore_patients. */
CREATE FUNCTION cdp_internal.golden_set_status(ids bigint[], comment text, dry_run boolean, target text)
	RETURNS TABLE (golden_id bigint, action text, reason text)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	verb	text := CASE target WHEN 'archived' THEN 'archive' ELSE 'restore' END;
	plan	record;
	ev		bigint;
	bad		text;
BEGIN
	IF ids IS NULL OR dry_run IS NULL THEN
		RAISE EXCEPTION 'ids and dry_run must not be null' USING ERRCODE = '22004';
	END IF;
	IF NOT dry_run AND (comment IS NULL OR pg_catalog.btrim(comment) = '') THEN
		RAISE EXCEPTION 'a comment is required to % patients', verb
			USING ERRCODE = '22023', HINT = 'Say why, for example ''not seen for 3 years''.';
	END IF;
	IF pg_catalog.to_regclass('pg_temp.golden_status_plan') IS NULL THEN
		CREATE TEMP TABLE golden_status_plan (asked bigint, golden_id bigint, action text, reason text) ON COMMIT DROP;
	END IF;
	TRUNCATE golden_status_plan;
	INSERT INTO golden_status_plan
	SELECT i, @extschema@.resolve_patient(i), NULL, NULL FROM (SELECT DISTINCT i FROM pg_catalog.unnest(ids) i) d;
	IF NOT dry_run THEN
		PERFORM 1 FROM @extschema@.patient p WHERE p.golden_id IN (SELECT x.golden_id FROM golden_status_plan x)
		 ORDER BY p.golden_id FOR UPDATE;
	END IF;
	UPDATE golden_status_plan x SET
		action = CASE WHEN p.status = target THEN 'skipped'
		              ELSE CASE target WHEN 'archived' THEN 'archive' ELSE 'restore' END END,
		reason = CASE WHEN p.status = target THEN pg_catalog.format('patient %s is already %s', p.golden_id, target)
		              ELSE cdp_internal.golden_seen_reason(p) END
	  FROM @extschema@.patient p
	 WHERE p.golden_id = x.golden_id;
	UPDATE golden_status_plan x SET action = 'skipped', reason = pg_catalog.format('unknown patient %s', x.asked)
	 WHERE x.action IS NULL;
	IF NOT dry_run THEN
		SELECT x.reason INTO bad FROM golden_status_plan x WHERE x.action = 'skipped' ORDER BY x.asked LIMIT 1;
		IF bad IS NOT NULL THEN
			RAISE EXCEPTION 'cannot % patients: %', verb, bad
				USING ERRCODE = CASE WHEN bad LIKE 'unknown%' THEN 'P0002' ELSE '55000' END,
				DETAIL = 'Nothing was changed.',
				HINT = pg_catalog.format('Run cdp.%s_patients with dry_run => true to see every skipped patient.', verb);
		END IF;
		FOR plan IN SELECT DISTINCT x.golden_id FROM golden_status_plan x WHERE x.golden_id IS NOT NULL
		             ORDER BY x.golden_id LOOP
			ev := cdp_internal.append_event(CASE target WHEN 'archived' THEN 'patient.archived' ELSE 'patient.restored' END,
				plan.golden_id, plan.golden_id,
				pg_catalog.jsonb_build_object('comment', comment));
			UPDATE @extschema@.patient p SET status = target, status_at = e.at
			  FROM @extschema@.event e WHERE e.event_id = ev AND p.golden_id = plan.golden_id;
		END LOOP;
		UPDATE golden_status_plan x SET action = target;
	END IF;
	RETURN QUERY SELECT coalesce(x.golden_id, x.asked), x.action, x.reason
	  FROM golden_status_plan x ORDER BY x.asked;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_set_status(bigint[], text, boolean, text) IS
	'shared body of archive_patients and restore_patients (internal)';

CREATE FUNCTION @extschema@.archive_patients(ids bigint[], comment text, dry_run boolean DEFAULT true)
	RETURNS TABLE (golden_id bigint, action text, reason text)
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT * FROM cdp_internal.golden_set_status(ids, comment, dry_run, 'archived') $$;
COMMENT ON FUNCTION @extschema@.archive_patients(bigint[], text, boolean) IS
	'archives patients (dry run by default: lists what would be archived and why, and what is skipped); one patient.archived event each';
REVOKE ALL ON FUNCTION @extschema@.archive_patients(bigint[], text, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.restore_patients(ids bigint[], comment text, dry_run boolean DEFAULT true)
	RETURNS TABLE (golden_id bigint, action text, reason text)
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT * FROM cdp_internal.golden_set_status(ids, comment, dry_run, 'active') $$;
COMMENT ON FUNCTION @extschema@.restore_patients(bigint[], text, boolean) IS
	'restores archived patients (dry run by default); one patient.restored event each';
REVOKE ALL ON FUNCTION @extschema@.restore_patients(bigint[], text, boolean) FROM PUBLIC;

/* ------------------------------------------------------------------ maintenance */

/*
 * One step of cdp.run_maintenance, in the caller's transaction, with the owner's rights (the steps
 * read and write the private schema, which no clinic role may; EXECUTE is the role check:
 * cdp_scheduler and cdp_admin):
 *   matching   an incremental matching run
 *   golden     one batch of batch_size events of the golden projections' catch-up
 * Returns the events the golden catch-up still has to read (0 for the other steps).
 *   segments   the segments due for their automatic refresh (issue 13)
 *   campaigns  the triggered campaigns, finished campaigns and their metrics (issue 14)
 */
CREATE FUNCTION @extschema@.maintenance_step(step text, batch_size int DEFAULT 1000) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	lo		bigint;
	hi		bigint;
	top		bigint;
	ids		bigint[];
BEGIN
	IF batch_size IS NULL OR batch_size < 1 OR batch_size > 1000000 THEN
		RAISE EXCEPTION 'batch_size must be between 1 and 1000000' USING ERRCODE = '22023';
	END IF;
	CASE step
	WHEN 'matching' THEN
		PERFORM @extschema@.run_matching('incremental');
		RETURN 0;
	WHEN 'golden' THEN
		SELECT coalesce(pg_catalog.max(e.event_id), 0) INTO top FROM @extschema@.event e;
		SELECT s.last_event_id INTO lo FROM cdp_internal.golden_state s;
		IF lo >= top THEN
			RETURN 0;
		END IF;
		hi := least(lo + batch_size, top);
		SELECT pg_catalog.array_agg(DISTINCT x) INTO ids FROM (
			SELECT e.golden_id AS x FROM @extschema@.event e
			 WHERE e.event_id > lo AND e.event_id <= hi AND e.golden_id IS NOT NULL
			UNION
			SELECT r.golden_id FROM @extschema@.event e JOIN @extschema@.record r ON r.record_id = e.subject
			 WHERE e.event_id > lo AND e.event_id <= hi AND e.kind IN ('record.created', 'record.updated')) t;
		PERFORM cdp_internal.refresh_patients(ids);
		UPDATE cdp_internal.golden_state SET last_event_id = hi;
		RETURN top - hi;
	WHEN 'segments' THEN
		PERFORM @extschema@.refresh_due_segments();	/* segments due for their automatic refresh (issue 13, doc/segments.md) */
		RETURN 0;
	WHEN 'campaigns' THEN
		PERFORM @extschema@.run_campaigns(pg_catalog.now());	/* re-test reminders and other triggers, finished campaigns, metrics (issue 14) */
		RETURN 0;
	ELSE
		RAISE EXCEPTION 'unknown maintenance step "%"', pg_catalog.left(coalesce(step, 'null'), 64) USING ERRCODE = '22023',
			HINT = 'Use matching, golden, segments or campaigns.';
	END CASE;
END
$$;
COMMENT ON FUNCTION @extschema@.maintenance_step(text, int) IS
	'one step of cdp.run_maintenance (matching, golden, segments, campaigns) in the caller''s transaction, as the owner; returns the events the golden catch-up has left';

/*
 * Scheduled maintenance, safe from pg_cron every minute beside live traffic: one runner at a
 * time (session advisory lock; a second caller returns at once), a matching increment, then the
 * golden projections caught up with the log in short transactions of batch_size events (COMMIT
 * between batches), so a crash loses at most the batch in flight, which the next run redoes;
 * then the segments due for refresh and the campaigns.  Each step is cdp.maintenance_step (as the
 * owner), so the procedure itself needs no private right: cdp_scheduler may run it.  Must be
 * CALLed outside an explicit transaction block to commit between batches.
 */
-- A procedure that commits cannot carry a SET clause (PostgreSQL refuses transaction control
-- there), so it pins search_path itself: set_config(..., is_local => true) at the start and again
-- after every COMMIT, before any name is resolved.  test/sql/00_install.sql checks this.
CREATE PROCEDURE @extschema@.run_maintenance(batch_size int DEFAULT 1000)
	LANGUAGE plpgsql
	AS $$
DECLARE
	lock_key constant bigint := 7307770001;
	left_	bigint;
	rounds	bigint;
BEGIN
	PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	IF batch_size IS NULL OR batch_size < 1 OR batch_size > 1000000 THEN
		RAISE EXCEPTION 'batch_size must be between 1 and 1000000' USING ERRCODE = '22023';
	END IF;
	IF NOT pg_catalog.pg_try_advisory_lock(lock_key) THEN
		RAISE NOTICE 'cdp.run_maintenance is already running in another session';
		RETURN;
	END IF;
	PERFORM @extschema@.maintenance_step('matching', batch_size);
	COMMIT;
	PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	/* the events there were at the start, batch by batch (events arriving meanwhile wait for the next run) */
	left_ := @extschema@.maintenance_step('golden', batch_size);
	rounds := left_ / batch_size + 1;
	COMMIT;
	PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	WHILE left_ > 0 AND rounds > 0 LOOP
		left_ := @extschema@.maintenance_step('golden', batch_size);
		rounds := rounds - 1;
		COMMIT;
		PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	END LOOP;
	PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	PERFORM @extschema@.maintenance_step('segments', batch_size);
	COMMIT;
	PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	PERFORM @extschema@.maintenance_step('campaigns', batch_size);
	COMMIT;
	PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	PERFORM pg_catalog.pg_advisory_unlock(lock_key);
END
$$;
COMMENT ON PROCEDURE @extschema@.run_maintenance(int) IS
	'matching increment plus golden projection catch-up, in short committed batches under an advisory lock; schedule with pg_cron';
REVOKE ALL ON PROCEDURE @extschema@.run_maintenance(int) FROM PUBLIC;

/* ------------------------------------------------------------------ privileges */

/* Writers are for the admin and the cdp families, like ingest's upsert_record. */
REVOKE ALL ON FUNCTION cdp_internal.refresh_patients(bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.link_records(bigint, bigint, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.link_records_many(bigint[], bigint[], jsonb[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal.golden_link_apply(bigint[], bigint[], jsonb[], bigint[], bigint[], boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.unmerge(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.upsert_clinical_event(text, text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal.golden_lock(bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal.golden_lock_tables(int) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal.golden_refold(bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal.golden_open_members(bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal.golden_set_status(bigint[], text, boolean, text) FROM PUBLIC;
