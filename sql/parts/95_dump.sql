/*
 * sql/parts/95_dump.sql: what pg_dump keeps.  Tables an extension creates are part of it, so
 * pg_dump writes only "CREATE EXTENSION cdp" for them and none of their rows, unless they are
 * marked as configuration tables.  Every table holding the clinic's data is marked here, with the
 * sequences behind its ids, so that pg_dump / pg_restore (and pg_dumpall, pg_upgrade's schema
 * dump aside) carry the records, the event log, the golden profiles and the matching state.
 * Applied after every family has created its tables.  Only cdp.match_part (eight fixed rows
 * describing how walks split into parts) is left out: the install script recreates it; and
 * cdp.campaign_rollup (counters derived from cdp.campaign_send): its triggers rebuild it as a
 * restore copies the send rows in, so a dumped copy would count them twice.
 *
 * Two tables get a row at install time: cdp.match_settings (the default settings, version 1,
 * later holding the parameters trained for it) and cdp.golden_state (the maintenance checkpoint).
 * A restore first runs CREATE EXTENSION, which inserts those rows, and then copies the dumped
 * rows in, which would collide with them.  A BEFORE INSERT trigger on each makes a row with the
 * same key replace the installed one, so the dumped state wins; in normal use no insert meets an
 * existing key and the triggers change nothing.  The test: test/t/030_dump_restore.pl.
 */

/*
 * A row inserted with the key of an existing one (a restore copying its dump over the row
 * CREATE EXTENSION installed) replaces it.  In match_settings an active version also deactivates
 * the others, since only one may be active; golden_state has one row.
 */
CREATE FUNCTION cdp_internal._restore_replace_installed() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF TG_TABLE_NAME = 'match_settings' THEN
		DELETE FROM cdp_internal.match_settings s WHERE s.version = NEW.version;
		IF NEW.active THEN
			UPDATE cdp_internal.match_settings s SET active = false WHERE s.active;
		END IF;
	ELSIF TG_TABLE_NAME = 'golden_state' THEN
		DELETE FROM cdp_internal.golden_state s WHERE s.one = NEW.one;
	ELSE
		RAISE EXCEPTION 'cdp._restore_replace_installed is not a trigger of table "%"', TG_TABLE_NAME
			USING ERRCODE = 'wrong_object_type', HINT = 'It serves cdp.match_settings and cdp.golden_state only.';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION cdp_internal._restore_replace_installed() IS
	'internal trigger: a row copied in by a restore replaces the one CREATE EXTENSION installed (match_settings, golden_state)';
CREATE TRIGGER match_settings_restore BEFORE INSERT ON cdp_internal.match_settings
	FOR EACH ROW EXECUTE FUNCTION cdp_internal._restore_replace_installed();
CREATE TRIGGER golden_state_restore BEFORE INSERT ON cdp_internal.golden_state
	FOR EACH ROW EXECUTE FUNCTION cdp_internal._restore_replace_installed();
/*
 * ALWAYS, like every trigger of the extension: rows copied in with session_replication_role =
 * replica (a logical-replication apply, a load run with triggers "off") must replace the
 * installed ones too, and keep one settings version active, rather than collide with them.
 */
ALTER TABLE cdp_internal.match_settings ENABLE ALWAYS TRIGGER match_settings_restore;
ALTER TABLE cdp_internal.golden_state ENABLE ALWAYS TRIGGER golden_state_restore;

/*
 * Every table of the extension but match_part and campaign_rollup, and every sequence of the
 * extension (those behind identity columns included), dumped whole.  Driven by the catalog, so a table a later family
 * adds is dumped unless it is named here; test/sql/00_install.sql lists what is not.
 */
DO $dump$
DECLARE
	r	regclass;
BEGIN
	FOR r IN
		SELECT c.oid::regclass
		  FROM pg_catalog.pg_class c
		 WHERE c.relnamespace OPERATOR(pg_catalog.=) ANY (ARRAY['@extschema@'::regnamespace, 'cdp_internal'::regnamespace])
		   AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'S']::"char"[])
		   AND c.relname OPERATOR(pg_catalog.<>) ALL (ARRAY['match_part', 'campaign_rollup'])
		 ORDER BY c.relname
	LOOP
		PERFORM pg_catalog.pg_extension_config_dump(r, '');
	END LOOP;
END
$dump$;
