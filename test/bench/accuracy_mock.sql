-- test/bench/accuracy_mock.sql: a stand-in for cdp's ingest and matching functions, for developing
-- and testing test/bench/accuracy without them. Never part of the extension.
--
--   psql -X -v ON_ERROR_STOP=1 -f test/bench/accuracy_mock.sql
--   test/bench/accuracy FILE.csv --truth COL --schema cdp_mock ...
--
-- It creates schema cdp_mock with the shapes the accuracy tool relies on (doc/architecture.md):
-- source(source_id, name), record(record_id, source_id, source_key, golden_id, raw),
-- upsert_record(source, source_id, attrs), configure_matching(jsonb), train_matching(),
-- run_matching(mode), candidate_pairs(). Its "matching" is deliberately naive: records whose
-- configured fields agree on their first four letters or digits are one person; candidate pairs
-- share the first two letters of the first field. A record with no attributes is refused, so
-- the tool's handling of refused rows is exercised too.

DROP SCHEMA IF EXISTS cdp_mock CASCADE;
CREATE SCHEMA cdp_mock;
COMMENT ON SCHEMA cdp_mock IS 'mock of cdp ingest and matching for test/bench/accuracy (development only)';

CREATE TABLE cdp_mock.source (
	source_id serial PRIMARY KEY,
	name text NOT NULL UNIQUE
);
CREATE TABLE cdp_mock.record (
	record_id bigserial PRIMARY KEY,
	source_id int NOT NULL REFERENCES cdp_mock.source,
	source_key text NOT NULL,
	golden_id bigint,
	raw jsonb NOT NULL,
	UNIQUE (source_id, source_key)
);
CREATE TABLE cdp_mock.settings (
	id int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
	doc jsonb NOT NULL
);

CREATE FUNCTION cdp_mock.upsert_record(p_source text, p_source_id text, p_attrs jsonb)
RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	sid int;
	rid bigint;
BEGIN
	IF p_attrs IS NULL OR p_attrs = '{}'::jsonb THEN
		RAISE EXCEPTION 'record "%" of source "%" has no attributes', p_source_id, p_source
			USING ERRCODE = '22023';
	END IF;
	INSERT INTO cdp_mock.source (name) VALUES (p_source) ON CONFLICT (name) DO NOTHING;
	SELECT source_id INTO sid FROM cdp_mock.source WHERE name = p_source;
	INSERT INTO cdp_mock.record (source_id, source_key, raw) VALUES (sid, p_source_id, p_attrs)
		ON CONFLICT (source_id, source_key) DO UPDATE SET raw = excluded.raw
		RETURNING record_id INTO rid;
	UPDATE cdp_mock.record SET golden_id = rid WHERE record_id = rid AND golden_id IS NULL;
	RETURN rid;
END $$;

CREATE FUNCTION cdp_mock.configure_matching(p_settings jsonb)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	IF jsonb_typeof(p_settings -> 'fields') IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION 'settings need a "fields" array' USING ERRCODE = '22023';
	END IF;
	INSERT INTO cdp_mock.settings (doc) VALUES (p_settings)
		ON CONFLICT (id) DO UPDATE SET doc = excluded.doc;
	RETURN p_settings;
END $$;

CREATE FUNCTION cdp_mock.train_matching()
RETURNS text LANGUAGE sql VOLATILE AS $$ SELECT 'mock: nothing to train'::text $$;

-- the configured fields, or family_name/given_name/birth_date
CREATE FUNCTION cdp_mock.fields()
RETURNS text[] LANGUAGE sql STABLE AS $$
	SELECT coalesce((SELECT array_agg(f) FROM cdp_mock.settings, jsonb_array_elements_text(doc -> 'fields') f),
					ARRAY['family_name', 'given_name', 'birth_date'])
$$;

-- a record's naive key: the first four letters or digits of each configured field, lower case
CREATE FUNCTION cdp_mock.key(raw jsonb, fields text[])
RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT string_agg(left(regexp_replace(lower(coalesce(raw ->> f, '')), '[^[:alnum:]]', '', 'g'), 4), '|')
	FROM unnest(fields) f
$$;

CREATE FUNCTION cdp_mock.run_matching(p_mode text DEFAULT 'incremental')
RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	n bigint;
	f text[] := cdp_mock.fields();
BEGIN
	WITH k AS (
		SELECT record_id, cdp_mock.key(raw, f) AS key FROM cdp_mock.record
	), g AS (
		SELECT record_id, CASE WHEN replace(key, '|', '') = '' THEN record_id
						  ELSE min(record_id) OVER (PARTITION BY key) END AS gid
		FROM k
	)
	UPDATE cdp_mock.record r SET golden_id = g.gid FROM g
	WHERE r.record_id = g.record_id AND r.golden_id IS DISTINCT FROM g.gid;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END $$;

CREATE FUNCTION cdp_mock.candidate_pairs()
RETURNS TABLE (record_a bigint, record_b bigint) LANGUAGE sql STABLE AS $$
	WITH b AS (
		SELECT record_id,
			   left(regexp_replace(lower(coalesce(raw ->> (cdp_mock.fields())[1], '')), '[^[:alnum:]]', '', 'g'), 2) AS bk
		FROM cdp_mock.record
	)
	SELECT x.record_id, y.record_id FROM b x JOIN b y ON x.bk = y.bk AND x.record_id < y.record_id
	WHERE x.bk <> ''
$$;
