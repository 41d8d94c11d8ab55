#!/usr/bin/env bash
# test/bench/golden_merge_replay.sh: the golden merge of a full matching run, replayed alone (issue
# 16): the same links applied by cdp.link_records_many (as run_matching applies them: the check of
# the arguments, then cdp_internal.golden_link_apply) to copies of the same database, with
# main's definitions and with this branch's, alternating, with the DEBUG1 time of each step and a
# checksum of everything the merge writes (the two must be equal).  Each copy's merge tables and the
# log's indexes are loaded into shared buffers first (pg_prewarm).
#
#   test/bench/golden_merge_replay.sh SNAPSHOT [RUNS=3] [MODES="main c sql"]
#
# SNAPSHOT is a database copied just before run_matching('full') (test/bench/first_day.sh with
# SNAPSHOT=NAME).  The first call matches a copy of it once and keeps the links of that run (from
# its record.linked and patient.merged events, in order) in SNAPSHOT's table public.bench_links.
# Modes:  main  main's definitions of the merge's functions: every function of sql/parts/71_golden_fold.sql
#               and 73_golden_link.sql as they are at commit BASE (environment; default the merge
#               base of HEAD and main), then the sections MAIN_SECTIONS (environment, default
#               "merge31 merge32": the consent triggers of cdp.record, the records moved in C) of
#               BASE's sql/cdp--0.2.0--0.3.0.sql, loaded over the snapshot's
#         c     main's definitions (as for main) with this branch's section SECTION (environment,
#               default fold35: the re-fold from the records' columns) of sql/cdp--0.2.0--0.3.0.sql
#               loaded over them
#         sql   the same as c with cdp_internal.golden_link_writer = 'sql' (the SQL fallback)
# The library installed in the dev cluster must be this branch's (it has every symbol main's
# definitions name).  MAIN_SO (environment, optional): the cdp.so of a build of BASE (e.g.
#   git archive BASE | tar -x -C /tmp/base && make -C /tmp/base PG_CONFIG=... cdp.so);
# then each main run's backend loads it and each c/sql run's loads this branch's (put in place before
# the run, as test/bench/import_so_ab.sh does; this branch's is put back at the end): a change in C
# is measured against BASE's C.  While it runs, run no tests against the same installation.
# Hold `flock /work/bench.lock` for 100k and more.
set -euo pipefail
SNAP=${1:?snapshot database}
RUNS=${2:-3}
MODES=${3:-main c sql}
CDP_SRC=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" = 0 ]; then exec runuser -u postgres -- bash "$0" "$@"; fi
eval "$(cat "$CDP_SRC/tmp_dev/env")"
q() { psql -XqAt -v ON_ERROR_STOP=1 "$@"; }
SECTION=${SECTION:-fold35}
MAIN_SECTIONS=${MAIN_SECTIONS-merge31 merge32}
BASE=${BASE:-$(git -c safe.directory="*" -C "$CDP_SRC" merge-base HEAD main)}
DEFS=$(mktemp /tmp/golden_merge_defs.XXXXXX.sql)
DEFS_MAIN=$(mktemp /tmp/golden_merge_main.XXXXXX.sql)
sed -n "/==== section: $SECTION /,/==== end of section: $SECTION /p" "$CDP_SRC/sql/cdp--0.2.0--0.3.0.sql" |
	sed 's/@extschema@/cdp/g; s|MODULE_PATHNAME|$libdir/cdp|; s/^CREATE FUNCTION/CREATE OR REPLACE FUNCTION/' |
	sed 's/^DROP FUNCTION \(.*\);$/DO $x$ BEGIN ALTER EXTENSION cdp DROP FUNCTION \1; EXCEPTION WHEN object_not_in_prerequisite_state THEN NULL; END $x$; DROP FUNCTION \1;/' >"$DEFS"
[ -s "$DEFS" ] || { echo "no section $SECTION in sql/cdp--0.2.0--0.3.0.sql" >&2; exit 1; }
# the two libraries (MAIN_SO given): main's for main runs, this branch's for the others
libdir=$(pg_config --pkglibdir)
sodir=
if [ -n "${MAIN_SO:-}" ]; then
	sodir=$(mktemp -d /tmp/golden_merge_so.XXXXXX)
	cp "$libdir/cdp.so" "$sodir/c.so"
	cp "$MAIN_SO" "$sodir/main.so"
	trap 'cp "$sodir/c.so" "$libdir/cdp.so.ab" && mv -f "$libdir/cdp.so.ab" "$libdir/cdp.so"; rm -rf "$sodir"' EXIT
fi
use_so() { [ -z "$sodir" ] || { cp "$sodir/$1.so" "$libdir/cdp.so.ab" && mv -f "$libdir/cdp.so.ab" "$libdir/cdp.so"; }; }
# main's definitions replace a copy's; the internal entry golden_link_apply, whose signature a branch
# may change, is dropped first in every overload (and a section's DROP FUNCTION, outside an
# extension script, takes the function out of the extension first when it is a member)
{
	cat <<'SQL'
DO $$
DECLARE f regprocedure;
BEGIN
	FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
	          WHERE p.pronamespace = 'cdp_internal'::regnamespace AND p.proname IN ('golden_link_apply') LOOP
		EXECUTE 'ALTER EXTENSION cdp DROP FUNCTION ' || f::text;
		EXECUTE 'DROP FUNCTION ' || f::text;
	END LOOP;
END
$$;
SQL
	for part in 71_golden_fold 73_golden_link; do git -c safe.directory="*" -C "$CDP_SRC" show "$BASE:sql/parts/$part.sql"; done |
		sed '/^CREATE TYPE cdp_internal.golden_fold_input/,/;$/d; /^COMMENT ON TYPE cdp_internal.golden_fold_input/,/;$/d' |
		sed 's/@extschema@/cdp/g; s|MODULE_PATHNAME|$libdir/cdp|; s/^CREATE FUNCTION/CREATE OR REPLACE FUNCTION/'
	# the sections of BASE's update script in MAIN_SECTIONS: main's definitions of what else the merge
	# runs (merge31: the consent triggers of cdp.record) over a snapshot made before them
	for s in $MAIN_SECTIONS; do
		git -c safe.directory="*" -C "$CDP_SRC" show "$BASE:sql/cdp--0.2.0--0.3.0.sql" |
			sed -n "/==== section: $s /,/==== end of section: $s /p" |
			sed 's/@extschema@/cdp/g; s|MODULE_PATHNAME|$libdir/cdp|; s/^CREATE FUNCTION/CREATE OR REPLACE FUNCTION/'
	done
} >"$DEFS_MAIN"

if [ "$(q -d "$SNAP" -c "SELECT to_regclass('public.bench_links') IS NOT NULL")" != t ]; then
	q -d postgres -c "DROP DATABASE IF EXISTS ${SNAP}_links" -c "CREATE DATABASE ${SNAP}_links TEMPLATE $SNAP"
	since=$(q -d "${SNAP}_links" -c "SELECT coalesce(max(event_id), 0) FROM cdp.event")
	q -d "${SNAP}_links" -c "SELECT cdp.run_matching('full') IS NOT NULL" >/dev/null
	q -d "$SNAP" -c "CREATE TABLE public.bench_links (a bigint[], b bigint[], evidence jsonb[])"
	q -d "${SNAP}_links" -c "COPY (SELECT array_agg((payload->>'a')::bigint ORDER BY event_id), array_agg((payload->>'b')::bigint ORDER BY event_id),
	                                      array_agg(payload->'evidence' ORDER BY event_id)
	                                 FROM cdp.event WHERE event_id > $since AND kind IN ('record.linked', 'patient.merged')) TO STDOUT" |
		q -d "$SNAP" -c "COPY public.bench_links FROM STDIN"
	q -d postgres -c "DROP DATABASE ${SNAP}_links"
fi
links=$(q -d "$SNAP" -c "SELECT cardinality(a) FROM public.bench_links")
echo "golden merge replay: $links links on copies of $SNAP, $RUNS runs per mode, main = $BASE${MAIN_SO:+ (library $MAIN_SO)}, c = section $SECTION ($(uptime | sed 's/.*load/load/'))"

# everything the merge writes, event ids by rank (the identity sequence differs between copies), and
# the consent summary as its readers see it: a person's row, or for a person without one the
# defaults with the kinds of the person's records (since merge31 the move writes no row for a person
# with neither row nor statement; main's wrote one of the defaults), then how many stored rows differ
# from their recomputation (must be 0); the number of stored rows is printed beside the check
CHECK="WITH ev AS (SELECT e.*, row_number() OVER (ORDER BY e.event_id) AS rk FROM cdp.event e WHERE e.event_id > :since),
evn AS (SELECT x.event_id, coalesce('n' || ev.rk, x.event_id::text) AS name, ev.at FROM cdp.event x LEFT JOIN ev USING (event_id))
SELECT md5((SELECT string_agg(concat_ws('|', ev.rk, ev.kind, ev.subject, ev.golden_id, ev.payload, ev.actor), ',' ORDER BY ev.event_id) FROM ev)),
       md5((SELECT string_agg(concat_ws('|', m.record_id, m.golden_id, f.name, t.name, coalesce((m.from_at = f.at)::text, m.from_at::text),
                                        coalesce((m.to_at = t.at)::text, m.to_at::text)), ',' ORDER BY m.record_id, m.from_at, f.name)
              FROM cdp.patient_member m JOIN evn f ON f.event_id = m.from_event LEFT JOIN evn t ON t.event_id = m.to_event)),
       md5((SELECT string_agg(concat_ws('|', d.old_id, d.new_id, e.name, (d.at = e.at)), ',' ORDER BY d.old_id)
              FROM cdp.patient_redirect d JOIN evn e ON e.event_id = d.event_id)),
       md5((SELECT string_agg(r.record_id || '|' || r.golden_id, ',' ORDER BY r.record_id) FROM cdp.record r)),
       md5((SELECT string_agg((to_jsonb(p) - 'status_at')::text, ',' ORDER BY p.golden_id) FROM cdp.patient p)),
       md5((SELECT string_agg(concat_ws('|', k.golden_id, coalesce(s.allowed, cdp_internal.consent_default_mask()), coalesce(s.internal, k.internal),
                                        coalesce(s.partner, k.partner), s.statements), ',' ORDER BY k.golden_id)
              FROM (SELECT r.golden_id, bool_or(o.kind = 'internal') AS internal, bool_or(o.kind = 'partner') AS partner
                      FROM cdp.record r JOIN cdp.source o ON o.source_id = r.source_id GROUP BY r.golden_id) k
              LEFT JOIN cdp_internal.consent_summary s ON s.golden_id = k.golden_id)),
       (SELECT count(*) FROM cdp_internal.consent_summary s LEFT JOIN cdp_internal.consent_summary_of(NULL) x ON x.golden_id = s.golden_id
         WHERE (s.allowed, s.internal, s.partner, s.statements) IS DISTINCT FROM (x.allowed, x.internal, x.partner, x.statements))"
SUMROWS="SELECT count(*) FROM cdp_internal.consent_summary"

for run in $(seq 1 "$RUNS"); do
	for mode in $MODES; do
		db=${SNAP}_replay
		if [ "$mode" = main ]; then use_so main; else use_so c; fi
		q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db TEMPLATE $SNAP"
		# c: main's merge definitions too, then the section (a snapshot older than BASE has older ones)
		q -d "$db" -f "$DEFS_MAIN" >/dev/null
		if [ "$mode" != main ]; then q -d "$db" -f "$DEFS" >/dev/null; fi
		since=$(q -d "$db" -c "SELECT coalesce(max(event_id), 0) FROM cdp.event")
		# the tables the merge reads and updates, and the log's indexes, in shared buffers (as after
		# the matching run's own reads), so that a fresh copy's cold cache does not weigh on either mode
		q -d "$db" -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm" \
			-c "SELECT sum(pg_prewarm(c.oid)) FROM pg_class c LEFT JOIN pg_index i ON i.indexrelid = c.oid
			     WHERE coalesce(i.indrelid, c.oid) IN ('cdp.record'::regclass, 'cdp.patient'::regclass, 'cdp.patient_member'::regclass,
			                                           'cdp.patient_redirect'::regclass, 'cdp.clinical_event'::regclass, 'cdp.pair_decision'::regclass)
			        OR i.indrelid = 'cdp.event'::regclass" >/dev/null
		writer=c
		[ "$mode" = sql ] && writer=sql
		t0=$(date +%s.%N)
		# the backend's own CPU time (utime + stime of /proc/self/stat, in clock ticks) around the merge:
		# on a loaded machine, wall time also counts the waits for a core
		cpu=$(q -d "$db" -c "SET client_min_messages = debug1" -c "SET cdp_internal.golden_link_writer = $writer" \
			-c "SELECT pg_read_file('/proc/self/stat')" \
			-c "SELECT count(*) FROM public.bench_links, unnest(cdp.link_records_many(a, b, evidence))" \
			-c "SELECT pg_read_file('/proc/self/stat')" 2>/tmp/golden_merge_debug.$$ |
			awk -v hz="$(getconf CLK_TCK)" 'NF > 20 { sub(/^.*\) /, ""); t[++n] = $12 + $13 } END { printf "%.2f", (t[2] - t[1]) / hz }')
		t1=$(date +%s.%N)
		sum=$(q -d "$db" -v since="$since" <<<"$CHECK;" | md5sum | cut -c1-12)
		sumrows=$(q -d "$db" -c "$SUMROWS")
		printf '%-5s run %d: %7.2f s wall, %6.2f s backend CPU  check %s (%s summary rows)  steps:%s\n' "$mode" "$run" "$(echo "$t1 - $t0" | bc)" "$cpu" "$sum" "$sumrows" \
			"$(sed -n 's/.*golden_link_apply \([a-z_]*\): \([0-9.]*\) ms.*/ \1 \2/p' /tmp/golden_merge_debug.$$ | tr -d '\n')"
		q -d postgres -c "DROP DATABASE $db"
	done
done
rm -f "$DEFS" "$DEFS_MAIN" /tmp/golden_merge_debug.$$
