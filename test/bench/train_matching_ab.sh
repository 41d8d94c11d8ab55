#!/bin/bash
# test/bench/train_matching_ab.sh: A/B of cdp.train_matching() right after a bulk load (issue 12,
# session 29): each run on a fresh CREATE DATABASE ... TEMPLATE of a loaded database (e.g.
# `env UNTIL=ingest KEEP=1 DB=tk1m test/bench/first_day.sh 420000`, then ANALYZE), A = library
# A_SO with the template's definitions, B = library B_SO with the SQL file B_SQL applied (e.g. a
# section of the update script with @extschema@ replaced by cdp); one new backend per run under
# `flock /work/bench.lock` (LOCK=env: none), printing wall, backend CPU, cluster CPU (children of the
# postmaster that ended meanwhile: parallel workers) and the step times, then md5 digests of
# match_key (by record, and its physical order: the order the training walk samples in),
# match_block (content; its physical order; and its order by key, then physical: the order of a
# block's mates in its index, which reads the first 128 of a block in it, and in any scan of one
# key: a change of the physical order across keys must leave it), the model (params without times and trained_at) and
# match_tf, which must be equal.
#
#   A_SO=a.so [A_SQL=a.sql] B_SO=b.so B_SQL=b.sql test/bench/train_matching_ab.sh TEMPLATE [PASSES=1] [ORDER=AB]
# (A_SQL: definitions applied to A's copy, e.g. the base's sections a template predates)
# Run as root from the work tree whose dev cluster holds TEMPLATE; leaves B_SO installed.
# the step times, and digests of match_key (content and physical order), match_block and the model.
T=$1 PASSES=${2:-1} ORDER=${3:-AB}
CDP_SRC=$(cd "$(dirname "$0")/../.." && pwd); cd "$CDP_SRC"
lib=$(runuser -u postgres -- bash -c 'eval "$(cat tmp_dev/env)"; pg_config --pkglibdir')/cdp.so
put_lib() { cp "$1" "$lib.new.$$" && mv -f "$lib.new.$$" "$lib"; }
PM=$(head -1 tmp_dev/data/postmaster.pid); tck=$(getconf CLK_TCK)
P() { runuser -u postgres -- bash -c 'eval "$(cat tmp_dev/env)"; psql -X -q -At -v ON_ERROR_STOP=1 "$@"' x "$@"; }
for i in $(seq 1 $PASSES); do
 for v in $(echo $ORDER | fold -w1); do
  db=${T}_$(echo $v | tr A-Z a-z)
  P -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db TEMPLATE $T"
  # the library first: a new C function of B_SQL is looked up in it when created
  if [ $v = B ]; then put_lib "$B_SO"; P -d $db -f "$B_SQL" >/dev/null; else put_lib "$A_SO"; [ -z "$A_SQL" ] || P -d $db -f "$A_SQL" >/dev/null; fi
  ${LOCK:-flock -o /work/bench.lock} bash -c '
   cd '"$CDP_SRC"'
   coproc Q { runuser -u postgres -- bash -c "eval \"\$(cat tmp_dev/env)\"; psql -X -q -At -d '$db' 2>&1"; }
   echo "SELECT pg_backend_pid();" >&"${Q[1]}"; read -r pid <&"${Q[0]}"
   s0=$(awk "{print \$14 + \$15}" /proc/$pid/stat); c0=$(awk "{sub(/^.*\\) /, \"\"); print \$14 + \$15}" /proc/'$PM'/stat); t0=$(date +%s.%N); l0=$(cut -d" " -f1 /proc/loadavg)
   echo "SELECT (cdp.train_matching() -> '"'times'"')::text;" >&"${Q[1]}"; read -r out <&"${Q[0]}"
   t1=$(date +%s.%N); s1=$(awk "{print \$14 + \$15}" /proc/$pid/stat)
   echo "\\q" >&"${Q[1]}"; wait; sleep 0.3; c1=$(awk "{sub(/^.*\\) /, \"\"); print \$14 + \$15}" /proc/'$PM'/stat)
   printf "%s #%s: wall %.1f s, backend CPU %.1f s, cluster CPU %.1f s, load %s-%s, %s\n" '$v' '$i' $(echo "$t1 - $t0" | bc) $(echo "($s1 - $s0) / '$tck'" | bc -l) $(echo "($c1 - $c0) / '$tck'" | bc -l) $l0 $(cut -d" " -f1 /proc/loadavg) "$out"'
  echo "$v #$i digests: $(P -d $db -c "SELECT md5(string_agg(k::text, E'\n' ORDER BY k.record_id)) FROM (SELECT record_id, version, flags, feat, bk, queued_at FROM cdp_internal.match_key) k") keys, $(P -d $db -c "SELECT md5(string_agg(record_id::text, ',' ORDER BY ctid)) FROM cdp_internal.match_key") order, $(P -d $db -c "SELECT md5(string_agg(b::text, E'\n' ORDER BY b.bk, b.record_id, b.birth_date)) FROM cdp_internal.match_block b") block, $(P -d $db -c "SELECT md5(string_agg(record_id || ' ' || bk, ',' ORDER BY ctid)) FROM cdp_internal.match_block") block order, $(P -d $db -c "SELECT md5(string_agg(record_id || ' ' || bk, ',' ORDER BY bk, ctid)) FROM cdp_internal.match_block") block key order, $(P -d $db -c "SELECT md5((params - 'times' - 'trained_at')::text) FROM cdp_internal.match_settings WHERE active") model, $(P -d $db -c "SELECT md5(string_agg(t::text, ';' ORDER BY version, comp, value)) FROM cdp_internal.match_tf t") tf, $(P -d $db -c "SELECT count(*) FROM pg_indexes WHERE schemaname = 'cdp_internal' AND tablename IN ('match_key', 'match_block')") indexes"
  # DUMP_MATES=DIR: per key of two rows or more, the md5 of its record ids in heap order (the index's
  # order) and of the set of its first 128 (what _match_lookup_query reads), to DIR/A.mates, B.mates
  [ -z "$DUMP_MATES" ] || P -d $db -F ' ' -c "SELECT bk, md5(string_agg(record_id::text, ',' ORDER BY ctid)), count(*),
    (SELECT md5(string_agg(f::text, ',' ORDER BY f)) FROM unnest((array_agg(record_id ORDER BY ctid))[1:128]) f)
    FROM cdp_internal.match_block GROUP BY bk HAVING count(*) > 1 ORDER BY bk" > "$DUMP_MATES/$v.mates"
  [ "${KEEPDB:-0}" = 1 ] || P -d postgres -c "DROP DATABASE $db"
 done
done
put_lib "$B_SO"
