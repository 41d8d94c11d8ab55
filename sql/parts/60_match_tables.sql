/*
 * sql/parts/60_match_tables.sql: probabilistic patient matching (layer 6, issue 6).
 *
 * Settings are a versioned JSON document (cdp.match_settings), expanded and validated on save and
 * compiled into a flat float8[] program for the C kernel (src/match_walk.c), which loads the
 * pre-normalised features of cdp.match_key once, walks the blocks of every blocking rule and scores
 * each candidate pair in one C call.  Training (u from random pairs, m and lambda by EM over blocked
 * pairs) stores its parameters with the settings version.  A run decides its links in memory
 * (src/match_link.c) and applies them in one cdp.link_records_many call (golden); people's
 * decisions go through cdp.record_pair_decision (ingest).  See doc/matching.md.
 */

/* ---------------------------------------------------------------- tables */

CREATE TABLE cdp_internal.match_settings (
	version    serial PRIMARY KEY,
	settings   jsonb NOT NULL,
	params     jsonb,
	program    float8[],
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	active     boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX match_settings_one_active ON cdp_internal.match_settings (active) WHERE active;
COMMENT ON TABLE cdp_internal.match_settings IS
	'versioned matching settings (expanded JSON document) with the parameters trained for each version and their compiled kernel program; one is active';

CREATE TABLE cdp_internal.match_key (
	record_id bigint PRIMARY KEY,
	version   int NOT NULL,
	flags     int NOT NULL DEFAULT 0,
	feat      text[],
	bk        text[],
	queued_at timestamptz
);
COMMENT ON TABLE cdp_internal.match_key IS
	'per record: the pre-normalised comparison values (feat) and blocking keys (bk, "r<rule>:<key>") of the settings version that computed them';
-- queued_at: a change of the record re-queues it with another queued_at (ingest), so a key row whose
-- queued_at is the queue entry's was computed from the record as it is (issue 12: a full run right
-- after training does not compute the keys of a million queued records again)
COMMENT ON COLUMN cdp_internal.match_key.queued_at IS
	'the record''s cdp_internal.match_queue.queued_at when these values were computed (in the same snapshot as the record; NULL: it was not queued): equal to the queue entry''s, the values are current';
ALTER TABLE cdp_internal.match_key ENABLE ROW LEVEL SECURITY;

-- The blocking keys again, one row per key, for the lookups that find a record's block mates
-- (match_record, incremental runs, find_patient).  A B-tree on these rows builds 2 to 4 times faster
-- than a GIN index on match_key.bk after a full re-key, and a lookup never reads a GIN pending list.
-- The key index carries the record ids: once (auto)vacuum has marked the pages all-visible, a lookup
-- reads a block's mates from the index alone (an index-only scan), not one heap page per mate
-- (issue 12: match_record at 1M records of common names).  It carries the record's birth date too
-- (session 28, issue 18): find_patient splits its candidates by their dates from the block index
-- alone, before it reads anything else of them (8 bytes more an index entry, written with the
-- keys).
CREATE TABLE cdp_internal.match_block (
	bk        text COLLATE "C" NOT NULL,
	record_id bigint NOT NULL,
	birth_date date
);
CREATE INDEX match_block_bk ON cdp_internal.match_block (bk) INCLUDE (record_id, birth_date);
CREATE INDEX match_block_record ON cdp_internal.match_block (record_id);
COMMENT ON TABLE cdp_internal.match_block IS
	'one row per blocking key of each record of cdp.match_key (kept with it): the index the lookups find block mates through';
COMMENT ON COLUMN cdp_internal.match_block.birth_date IS
	'the record''s birth date when its keys were written (find_patient splits its candidates by it; a record changed since is in cdp_internal.match_queue)';
ALTER TABLE cdp_internal.match_block ENABLE ROW LEVEL SECURITY;

CREATE TABLE cdp_internal.match_tf (
	version int NOT NULL,
	comp    int NOT NULL,
	value   text NOT NULL,
	freq    float8 NOT NULL,
	PRIMARY KEY (version, comp, value)
);
COMMENT ON TABLE cdp_internal.match_tf IS
	'term frequencies of the tf-adjusted comparisons, per settings version (value '''' = the frequency of a value seen once)';
ALTER TABLE cdp_internal.match_tf ENABLE ROW LEVEL SECURITY;

CREATE TABLE cdp_internal.match_suspicious (
	attr    text NOT NULL,
	value   text NOT NULL,
	persons int NOT NULL,
	PRIMARY KEY (attr, value)
);
COMMENT ON TABLE cdp_internal.match_suspicious IS
	'snapshot of cdp.suspicious_values taken by a full run or training: these values are not evidence';
ALTER TABLE cdp_internal.match_suspicious ENABLE ROW LEVEL SECURITY;

-- what match_suspicious was taken from (one row): the threshold and a digest of the records' names,
-- phones and e-mails (the inputs of cdp.suspicious_values), and the rows it had then (erasure deletes
-- some); _match_refresh_suspicious does not take the snapshot again while all are the same (issue 12:
-- training and the full run after it both took it)
CREATE TABLE cdp_internal.match_suspicious_source (
	min_persons int NOT NULL,
	records     bigint NOT NULL,
	digest      numeric NOT NULL,
	snapshot    bigint NOT NULL
);
COMMENT ON TABLE cdp_internal.match_suspicious_source IS
	'the threshold, records digest and row count of the cdp.match_suspicious snapshot when it was taken (at most one row)';
ALTER TABLE cdp_internal.match_suspicious_source ENABLE ROW LEVEL SECURITY;

CREATE TABLE cdp_internal.match_review (
	pair_id    bigserial PRIMARY KEY,
	record_a   bigint NOT NULL,
	record_b   bigint NOT NULL,
	score      float8 NOT NULL,
	weight     float8,
	levels     smallint[],
	flags      int NOT NULL DEFAULT 0,
	version    int,
	reason     text,
	status     text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'match', 'no_match')),
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	decided_at timestamptz,
	note       text,
	priority   float8,
	pairs      int,
	CHECK (record_a < record_b),
	UNIQUE (record_a, record_b)
);
COMMENT ON TABLE cdp_internal.match_review IS
	'the review work list: one open entry per pair of persons a run could not decide (the strongest of their record pairs, over the review threshold or held back by a rule), waiting for a person''s decision';
COMMENT ON COLUMN cdp_internal.match_review.priority IS
	'how much the decision matters: probability times the records of the two persons (issue 12)';
COMMENT ON COLUMN cdp_internal.match_review.pairs IS
	'how many record pairs between the two persons the run found uncertain (this entry stands for all of them)';
ALTER TABLE cdp_internal.match_review ENABLE ROW LEVEL SECURITY;

CREATE TABLE cdp_internal.household (
	record_a   bigint NOT NULL,
	record_b   bigint NOT NULL,
	relation   text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (record_a, record_b, relation),
	CHECK (record_a < record_b)
);
COMMENT ON TABLE cdp_internal.household IS
	'related but different people (spouses, parent and child, twins): never a merge, and the pair is not linked automatically';
ALTER TABLE cdp_internal.household ENABLE ROW LEVEL SECURITY;

CREATE TABLE cdp_internal.match_run (
	run_id      bigserial PRIMARY KEY,
	mode        text NOT NULL,
	started_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	finished_at timestamptz,
	result      jsonb
);
COMMENT ON TABLE cdp_internal.match_run IS 'one row per finished cdp.run_matching call, with its counts and step times';
