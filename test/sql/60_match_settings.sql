-- test/sql/60_match_settings.sql: matching settings documents are validated when saved (22023, the
-- detail names the JSON path), fields-only documents expand, and the shipped default is version 1.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
-- the shipped default
SELECT s.version = 1 AS default_is_version_1, s.settings ->> 'link_threshold' AS link, s.settings ->> 'review_threshold' AS review,
       jsonb_array_length(s.settings -> 'comparisons') AS comparisons, jsonb_array_length(s.settings -> 'blocking') AS rules
  FROM cdp_internal.match_settings s WHERE s.version = 1;
SELECT jsonb_path_query_array(cdp_internal._match_expand(cdp_internal._match_default_settings()), '$.comparisons[*].attr') AS compared;
-- a document that only names fields (as a CSV header does) expands to comparators, levels, blocking
SELECT jsonb_pretty(cdp_internal._match_expand('{"fields": ["surname", "given_name", "date_of_birth", "phone"]}') - 'placeholder_names');
-- bad documents: one error each
SELECT cdp.configure_matching(NULL);
SELECT cdp.configure_matching('[]');
SELECT cdp.configure_matching('{}');
SELECT cdp.configure_matching('{"fields": []}');
SELECT cdp.configure_matching('{"fields": ["surname", 3]}');
SELECT cdp.configure_matching('{"fields": ["surname"], "comparisons": []}');
SELECT cdp.configure_matching('{"fields": ["surname"], "colour": "red"}');
SELECT cdp.configure_matching('{"fields": ["surname"], "name_roles": "yes"}');
-- candidate_blocking (issue 12, session 26): an array of rules like "blocking", on compared attrs
SELECT cdp.configure_matching('{"fields": ["surname"], "candidate_blocking": "surname"}');
SELECT cdp.configure_matching('{"fields": ["surname"], "candidate_blocking": [["given_name.key"]]}');
SELECT cdp.configure_matching('{"fields": ["surname"], "candidate_blocking": [[]]}');
SELECT cdp_internal._match_expand('{"fields": ["surname", "dob"], "blocking": [["birth_date"]], "candidate_blocking": [["family_name.phonetic"]]}') -> 'candidate_blocking' AS candidate_rules;
SELECT cdp_internal._match_expand('{"fields": ["surname", "dob"], "blocking": [["birth_date"]]}') -> 'candidate_blocking' AS none_when_blocking_given;
-- lookup_blocking (issue 12, session 40): rules keyed for find_patient only, validated alike
SELECT cdp.configure_matching('{"fields": ["surname"], "lookup_blocking": "surname"}');
SELECT cdp.configure_matching('{"fields": ["surname", "given_name"], "lookup_blocking": [["family_name.key", "given_name.nope"]]}');
SELECT cdp_internal._match_expand('{"fields": ["surname", "given_name"], "lookup_blocking": [["family_name.key", "given_name.key"]]}') -> 'lookup_blocking' AS lookup_rules;
SELECT cdp_internal._match_expand('{"fields": ["surname", "given_name"]}') ? 'lookup_blocking' AS no_lookup_rules_unless_given;
-- the coherence keys (issue 12): a whole size bound, a share, a whole queue limit
SELECT cdp.configure_matching('{"fields": ["surname"], "max_person_records": 2.5}');
SELECT cdp.configure_matching('{"fields": ["surname"], "person_support": 1.5}');
SELECT cdp.configure_matching('{"fields": ["surname"], "review_limit": -1}');
SELECT cdp.configure_matching('{"fields": ["surname"], "max_rule_pairs": "many"}');
SELECT cdp.configure_matching('{"fields": ["surname"], "evidence_floor": "no"}');
SELECT cdp.matching_settings() -> 'max_person_records' AS max_person_records, cdp.matching_settings() -> 'person_support' AS person_support;
SELECT cdp.configure_matching('{"comparisons": [{"attr": "family_name", "comparator": "soundex"}], "blocking": [["family_name"]]}');
SELECT cdp.configure_matching('{"comparisons": [{"attr": "family_name", "comparator": "name", "levels": [{"if": "jw", "ge": 1.5}]}], "blocking": [["family_name"]]}');
SELECT cdp.configure_matching('{"comparisons": [{"attr": "birth_date", "levels": ["exact", "last7"]}], "blocking": [["birth_date"]]}');
SELECT cdp.configure_matching('{"comparisons": [{"attr": "family_name"}, {"attr": "surname"}], "blocking": [["family_name"]]}');
SELECT cdp.configure_matching('{"comparisons": [{"attr": "family_name", "levels": [{"if": "swapped", "with": "patronymic"}]}], "blocking": [["family_name"]]}');
SELECT cdp.configure_matching('{"comparisons": [{"attr": "family_name"}]}');
SELECT cdp.configure_matching('{"comparisons": [{"attr": "family_name"}], "blocking": [["given_name"]]}');
SELECT cdp.configure_matching('{"comparisons": [{"attr": "family_name"}], "blocking": [["family_name.soundex"]]}');
SELECT cdp.configure_matching('{"comparisons": [{"attr": "family_name"}, {"attr": "phones"}], "blocking": [["phones.key"]]}');
SELECT cdp.configure_matching('{"fields": ["surname"], "link_threshold": 1.2}');
SELECT cdp.configure_matching('{"fields": ["surname"], "review_threshold": 0}');
SELECT cdp.configure_matching('{"fields": ["surname"], "link_threshold": 0.9, "review_threshold": 0.95}');
SELECT cdp.configure_matching('{"fields": ["surname"], "rules": {"same_id_match": ["snils"]}}');
SELECT cdp.configure_matching('{"fields": ["surname"], "rules": {"always": []}}');
SELECT cdp.configure_matching('{"fields": ["surname"], "max_block_size": 1}');
SELECT cdp.configure_matching('{"fields": ["surname"], "lambda": 0}');
-- a failed configure leaves the default in force
SELECT (cdp.matching_settings() ->> 'version')::int AS version_in_force;
-- a good one becomes the active version; matching_settings() returns it
BEGIN;
SELECT cdp.configure_matching('{"fields": ["surname", "given_name", "date_of_birth"], "link_threshold": 0.95}') > 1 AS new_version;
SELECT cdp.matching_settings() -> 'blocking' AS blocking, cdp.matching_settings() ->> 'link_threshold' AS link,
       cdp.matching_settings() -> 'trained' AS trained;
SELECT count(*) FILTER (WHERE active) AS active_versions FROM cdp_internal.match_settings;
ROLLBACK;
-- levels may be written as plain names
SELECT cdp_internal._match_expand('{"comparisons": [{"attr": "birth_date", "levels": ["exact", "day_month_swapped"]}], "blocking": [["birth_date.year"]]}') -> 'comparisons' -> 0 -> 'levels' AS levels;
-- other statements need an active version
BEGIN;
UPDATE cdp_internal.match_settings SET active = false;
SELECT cdp.run_matching();
ROLLBACK;
SELECT cdp.run_matching('sometimes');
