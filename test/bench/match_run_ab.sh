#!/usr/bin/env bash
# test/bench/match_run_ab.sh: A/B of a whole run_matching('full') (issue 12, session 30): two builds
# (a cdp.so each, B with its SQL), alternated pass by pass in one cluster, each pass on a fresh copy
# of a snapshot database taken just before run_matching (test/bench/first_day.sh with SNAPSHOT=),
# timed by the CPU of the run's backend (backend_cpu.sh) and of every cluster process that ended
# during it (parallel workers of the walk included), with the run's own step times.
#
#   test/bench/match_run_ab.sh SNAPSHOT A.so B.so B.sql [PASSES=3]
#   ONLY=A (or B) ...: that build only (at 1M, one run per lock hold: A, then B, then A ...)
#
# B.sql is applied to B's copy before its run, with @extschema@ read as cdp (e.g. the section of
# sql/cdp--0.2.0--0.3.0.sql that B adds: sed -n '/section: NAME /,/end of section: NAME /p'); A's
# copy keeps the snapshot's definitions, or (ASQL=file) gets that script first: the sections main
# added since the snapshot was taken (session 35).  After each run, test/bench/match_run_digest.sql prints
# what the run ended with (events and their payloads, persons, memberships, redirects, the review
# work list, the run's counts): A's and B's lines must be equal.  The copies are dropped.  The
# library is installed by a rename (put_lib), never over the file in place.  Hold
# `flock -o /work/bench.lock` for each pass at 1M (PASSES=1 per hold).
set -euo pipefail
SNAP=$1 A=$2 B=$3 BSQL=$4 PASSES=${5:-3} ASQL=${ASQL:-}
CDP_SRC=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" = 0 ]; then exec runuser -u postgres -- bash "$0" "$@"; fi
eval "$(cat "$CDP_SRC/tmp_dev/env")"
. "$CDP_SRC/test/bench/backend_cpu.sh"
lib=$("$CDP_BIN/pg_config" --pkglibdir)/cdp.so
cp "$lib" "/tmp/match_run_ab.$$.so"
trap 'put_lib "/tmp/match_run_ab.$$.so"; rm -f "/tmp/match_run_ab.$$.so" "/tmp/match_run_ab.$$.sql" "/tmp/match_run_ab.$$.a.sql"' EXIT
sed -e 's/@extschema@/cdp/g' -e 's#MODULE_PATHNAME#$libdir/cdp#g' "$BSQL" >"/tmp/match_run_ab.$$.sql"
[ -z "$ASQL" ] || sed -e 's/@extschema@/cdp/g' -e 's#MODULE_PATHNAME#$libdir/cdp#g' "$ASQL" >"/tmp/match_run_ab.$$.a.sql"
PM_PID=$(head -1 "$(psql -XqAt -d postgres -c 'SHOW data_directory')/postmaster.pid")
tck=$(getconf CLK_TCK)
pmcpu() { sleep 0.3; awk -v t="$tck" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($14 + $15) / t }' "/proc/$PM_PID/stat"; }
for i in $(seq 1 "$PASSES"); do
	for v in ${ONLY:-A B}; do
		db=match_run_ab_${v,,}
		psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db TEMPLATE $SNAP STRATEGY FILE_COPY"
		if [ $v = A ]; then
			put_lib "$A"
			[ -z "$ASQL" ] || psql -XqAt -v ON_ERROR_STOP=1 -d "$db" -f "/tmp/match_run_ab.$$.a.sql" >/dev/null
		else
			put_lib "$B"
			psql -XqAt -v ON_ERROR_STOP=1 -d "$db" -f "/tmp/match_run_ab.$$.sql" >/dev/null
		fi
		c0=$(pmcpu)
		backend_cpu "$v #$i run" "$db" "SELECT (cdp.run_matching('full') -> 'times')::text;"
		c1=$(pmcpu)
		echo "$v #$i cluster CPU of ended processes: $(echo "$c1 - $c0" | bc) s"
		echo "$v #$i digest: $(psql -XqAt -d "$db" -f "$CDP_SRC/test/bench/match_run_digest.sql")"
		psql -XqAt -d postgres -c "DROP DATABASE $db"
	done
done
