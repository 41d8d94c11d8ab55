#!/usr/bin/env bash
# test/bench/match_keys_ab.sh: A/B of the keys step of training and full runs (issue 12, session 28):
# two builds of cdp.so, alternated pass by pass in one cluster, each pass in a new backend, timed by
# that backend's CPU (backend_cpu.sh), on a database loaded beforehand (e.g. test/bench/match_speed.sh
# with LINK=0 TRAIN=0 CANDIDATES=0 AGAIN=0, or any database with cdp.record rows and active settings).
#
#   test/bench/match_keys_ab.sh DB A.so B.so [PASSES=3]
#
# Per pass and build: "feat" = the feature query of every record alone (the C feature function and
# cdp.name_roles), "rekey" = cdp_internal._match_refresh_keys(NULL) (features, match_key, match_block,
# their indexes and statistics), "view" = cdp.suspicious_values evaluated (what the suspicious-value
# check cost before session 28, every time), "check" = cdp_internal._match_refresh_suspicious() on
# unchanged records (since session 28: the digest only; the database must have the 0.3.0 SQL of
# session 28 or later).  After the passes
# each build re-keys once more and prints an md5 of match_key and of cdp.name_roles over every record:
# the two must be equal.  The library is installed by a rename (put_lib), never over the file in place.
# Hold `flock /work/bench.lock` while it runs.
set -euo pipefail
DB=$1 A=$2 B=$3 PASSES=${4:-3}
CDP_SRC=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" = 0 ]; then exec runuser -u postgres -- bash "$0" "$@"; fi
eval "$(cat "$CDP_SRC/tmp_dev/env")"
. "$CDP_SRC/test/bench/backend_cpu.sh"
lib=$("$CDP_BIN/pg_config" --pkglibdir)/cdp.so
cp "$lib" "/tmp/match_keys_ab.$$.so"
trap 'put_lib "/tmp/match_keys_ab.$$.so"; rm -f "/tmp/match_keys_ab.$$.so"' EXIT
FEAT="DO \$\$DECLARE a record := cdp_internal._match_active(); n bigint; BEGIN
 EXECUTE 'SELECT sum(z.flags + cardinality(z.feat) + cardinality(z.bk)) FROM (' || cdp_internal._match_feature_query(a.settings, 'cdp.record r') || ') z' INTO n; END\$\$; SELECT 'done';"
for i in $(seq 1 "$PASSES"); do
	for v in A B; do
		if [ $v = A ]; then put_lib "$A"; else put_lib "$B"; fi
		backend_cpu "$v #$i feat" "$DB" "$FEAT"
		backend_cpu "$v #$i rekey" "$DB" "SELECT cdp_internal._match_refresh_keys(NULL);"
		backend_cpu "$v #$i view" "$DB" "SELECT count(*) FROM cdp.suspicious_values;"
		backend_cpu "$v #$i check" "$DB" "SELECT cdp_internal._match_refresh_suspicious();"
	done
done
for v in A B; do
	if [ $v = A ]; then put_lib "$A"; else put_lib "$B"; fi
	psql -XqAt -d "$DB" -c "SELECT cdp_internal._match_refresh_keys(NULL)" -o /dev/null
	echo "$v digest: $(psql -XqAt -d "$DB" -c "SELECT md5(string_agg(k::text, E'\n' ORDER BY k.record_id)) FROM (SELECT record_id, version, flags, feat, bk, queued_at FROM cdp_internal.match_key) k") keys,"\
	     "$(psql -XqAt -d "$DB" -c "SELECT md5(string_agg(cdp.name_roles(family_name, given_name, patronymic)::text, E'\n' ORDER BY record_id)) FROM cdp.record") roles"
done
