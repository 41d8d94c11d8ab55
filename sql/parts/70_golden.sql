/*
 * sql/parts/70_golden.sql: golden records (placeholder until the golden family lands).
 * refresh_patients is called by ingest after every changed record.
 */
CREATE FUNCTION @extschema@.refresh_patients(golden_ids bigint[]) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	AS $$ BEGIN RETURN; END $$;
COMMENT ON FUNCTION @extschema@.refresh_patients(bigint[]) IS 'placeholder: re-folds golden profiles (golden family)';
