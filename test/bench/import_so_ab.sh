#!/usr/bin/env bash
# test/bench/import_so_ab.sh: the import commit of test/bench/import_speed.sh, two builds of the
# C library in one run (issue 16, session 32).  import_speed.sh's IMPORT_AB_SQL compares two
# versions of the SQL functions on one library; a change in C needs two libraries: this script
# puts each build's cdp.so in place before its arm (a backend loads the library when it first
# calls into it, so each arm's fresh backends run that arm's build), alternating the order of the
# arms on each repeat, and puts this build's library back at the end.  The SQL of the two builds
# must be the same (the extension is created from the installed script in both arms).  Runs against
# the server in PG* (e.g. eval "$(cat tmp_dev/env)"), as the owner of the library directory;
# hold flock /work/bench.lock.  While it runs, the installed cdp.so is the other build's half of
# the time: run no tests against the same installation (they would load whichever is in place).
#
#   test/bench/import_so_ab.sh ROWS REPEATS OTHER_SO
#
# OTHER_SO: the other build's cdp.so (e.g. built from the base commit:
#   git archive BASE | tar -x -C /tmp/base && make -C /tmp/base PG_CONFIG=... cdp.so).
# Each arm, in a database of its own (dropped after it): CREATE EXTENSION, register the source,
# stage the file (import_speed.sh's file, seed 11), CHECKPOINT, then cdp.import_commit(batch,
# 'quarantine') watched: wall ms, backend CPU ms (user + system, from /proc), peak RssAnon; then
# what it wrote, independent of ids and times (test/bench/ingest_digest.sql), which must be the
# same line in both arms.  Prints each pass and the medians.  FIRST=other starts with the other
# build (for one repeat per lock hold at 1M, alternate FIRST between holds).
set -euo pipefail
rows=${1:-100000}
repeats=${2:-3}
other=${3:?the other build\'s cdp.so}
here=$(cd "$(dirname "$0")" && pwd)
file=${TMPDIR:-/tmp}/cdp_import_bench_${rows}.csv
[ -s "$file" ] || { echo "no $file: run test/bench/import_speed.sh $rows 1 0 once to make it" >&2; exit 1; }
libdir=$(pg_config --pkglibdir)
tmpd=$(mktemp -d)
cp "$libdir/cdp.so" "$tmpd/this.so"
cp "$other" "$tmpd/other.so"
restore() { cp "$tmpd/this.so" "$libdir/cdp.so.ab" && mv -f "$libdir/cdp.so.ab" "$libdir/cdp.so"; rm -rf "$tmpd"; }
trap restore EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now_ms() { date +%s%3N; }

# peak RssAnon (kB), CPU time (ms, user + system) and minor page faults of a backend until it
# leaves (as import_speed.sh; the faults, a count independent of the load, since session 33)
watch_mem() {
	local pid=$1 peak=0 cpu=0 flt=0 v c f tick
	tick=$(getconf CLK_TCK)
	while [ -r "/proc/$pid/status" ]; do
		v=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
		[ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v
		c=$(awk -v t="$tick" '{print int(($14 + $15) * 1000 / t)}' "/proc/$pid/stat" 2>/dev/null || echo "")
		[ -n "$c" ] && cpu=$c
		f=$(awk '{print $10}' "/proc/$pid/stat" 2>/dev/null || echo "")
		[ -n "$f" ] && flt=$f
		sleep 0.2
	done
	echo "$peak $cpu $flt"
}

# one arm: $1 = this | other; prints "commit_ms cpu_ms peak_kB minflt" and leaves the digest in $tmpd/digest.$1
arm() {
	local db=cdp_bench_so_ab b out pid t0 t1 bg peak cpu flt
	cp "$tmpd/$1.so" "$libdir/cdp.so.ab" && mv -f "$libdir/cdp.so.ab" "$libdir/cdp.so"
	psql -XqAt -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
	psql -XqAt -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION cdp" -c "SELECT cdp.register_source('bench', 'internal', 50)" >/dev/null
	b=$(psql -XqAt -v ON_ERROR_STOP=1 -d "$db" \
		-c "SELECT cdp.import_begin('bench', 'patients', '{\"ignore_columns\": [\"source\", \"person_id\"]}')" \
		-c "\\copy cdp.import_staging (line) FROM '$file' WITH (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02', ENCODING 'SQL_ASCII')" | head -1)
	psql -XqAt -d "$db" -c "CHECKPOINT" >/dev/null
	out=$(mktemp)
	t0=$(now_ms)
	( psql -XqAt -v ON_ERROR_STOP=1 -d "$db" -c "SELECT pg_backend_pid()" -c "SELECT pg_sleep(0.5)" \
		-c "SELECT cdp.import_commit($b, 'quarantine')" > "$out" ) &
	bg=$!
	sleep 0.2
	pid=$(head -1 "$out" 2>/dev/null || true)
	while [ -z "$pid" ]; do sleep 0.05; pid=$(head -1 "$out" 2>/dev/null || true); done
	read -r peak cpu flt < <(watch_mem "$pid")
	wait $bg
	t1=$(now_ms)
	rm -f "$out"
	psql -XqAt -d "$db" -f "$here/ingest_digest.sql" > "$tmpd/digest.$1"
	psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $db"
	echo "$(( t1 - t0 - 500 )) $cpu $peak $flt"
}

declare -A ms cpu mem flts
for w in this other; do ms[$w]=""; cpu[$w]=""; mem[$w]=""; flts[$w]=""; done
for r in $(seq "$repeats"); do
	# FIRST=other: the other build first on odd repeats (for runs of one repeat per lock hold)
	shift_ab=0; [ "${FIRST:-this}" = other ] && shift_ab=1
	order="this other"; [ $(( (r + shift_ab) % 2 )) = 0 ] && order="other this"
	for w in $order; do
		read -r m c p f < <(arm "$w")
		ms[$w]+="$m "; cpu[$w]+="$c "; mem[$w]+="$p "; flts[$w]+="$f "
		echo "repeat $r $w: commit $m ms, backend CPU $c ms, peak RssAnon $p kB, minor faults $f, load $(cut -d' ' -f1 /proc/loadavg)" >&2
		echo "  digest $(cat "$tmpd/digest.$w")" >&2
	done
	if cmp -s "$tmpd/digest.this" "$tmpd/digest.other"; then echo "  digests equal" >&2; else echo "  DIGESTS DIFFER" >&2; fi
done
for w in this other; do
	printf '%-6s commit median %6s ms, backend CPU median %6s ms, peak RssAnon median %6s kB, minor faults median %s (%s rows, %s repeats)\n' "$w" \
		"$(printf '%s\n' ${ms[$w]} | median)" "$(printf '%s\n' ${cpu[$w]} | median)" "$(printf '%s\n' ${mem[$w]} | median)" \
		"$(printf '%s\n' ${flts[$w]} | median)" "$rows" "$repeats"
done
