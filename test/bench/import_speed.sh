#!/usr/bin/env bash
# test/bench/import_speed.sh: bulk import of a generated patients file (issue 16), against a plain
# COPY of the same file into an unvalidated table in the same run.  Runs against the server in
# PG* (e.g. eval "$(cat tmp_dev/env)"); hold flock /work/bench.lock for big runs.
#
#   test/bench/import_speed.sh [ROWS=100000] [REPEATS=3] [COMMIT=1]
#
# The file is test/bench/gen_clinic.py's (seed 11, about 2.43 records per person, cached in
# ${TMPDIR:-/tmp}); its columns source and person_id are ignored.  Each repeat, in a fresh
# database, times:
#   plain     COPY of the file into a table of 17 text columns (no checks)
#   stage     \copy of the same file into cdp.import_staging (one row per line)
#   read      the commit's reader alone: every chunk through _import_parse (no validation)
#   validate  reader + ingest's normaliser on every chunk (normalize_records, lenient), no writes
#   commit    cdp.import_commit(batch, 'quarantine'): reader, checks, upsert_records, profiles
# and reports rows/s of stage + read, stage + validate and stage + commit, each beside the plain
# COPY as a ratio, with the committing backend's peak private memory (RssAnon sampled every
# 0.2 s from /proc) and CPU time (user + system, from /proc: robust to other load).  COMMIT=0 skips the commit (whose speed is upsert_records').  Medians.
# IMPORT_AB=1: each repeat also commits the same file in a second fresh database with
# cdp.ingest_fast_path = off (ingest's general path, doc/ingest.md), right after the first commit,
# and reports both medians and their ratio: a same-run comparison of the fast path.
# IMPORT_AB_SQL=FILE: the same, but the second database keeps the fast path and gets FILE's
# definitions after CREATE EXTENSION (e.g. another branch's functions): a same-run comparison of
# two versions on one binary.  READS=0 skips the reader-only and validation passes (shorter runs).
# Since session 29 the two arms alternate (this build first on odd repeats, the other first on even
# ones), each in a database of its own that is dropped after its commit (at most one 1M database
# at a time), and the plain COPY runs in a third; DIGEST=1 prints after each commit what it wrote,
# independent of ids and times (test/bench/ingest_digest.sql), so the arms can be compared.
set -euo pipefail
rows=${1:-100000}
repeats=${2:-3}
do_commit=${3:-${COMMIT:-1}}
here=$(cd "$(dirname "$0")" && pwd)
file=${TMPDIR:-/tmp}/cdp_import_bench_${rows}.csv
if [ ! -s "$file" ]; then
	persons=$(( rows * 100 / 243 + 1 ))
	python3 "$here/gen_clinic.py" --persons "$persons" --seed 11 --out "$file.tmp" >/dev/null 2>&1
	head -n $(( rows + 1 )) "$file.tmp" > "$file" && rm -f "$file.tmp"
	chmod a+r "$file"
fi
nrows=$(( $(wc -l < "$file") - 1 ))
mb=$(du -m "$file" | cut -f1)
db=cdp_bench_import
q() { psql -XqAt -v ON_ERROR_STOP=1 -d "$db" "$@"; }
now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# peak RssAnon (kB) and CPU time (ms, user + system) of a backend until it leaves: sampled from
# /proc every 0.2 s (the CPU time is the last sample's, so short of the end by up to 0.2 s of work)
watch_mem() {
	local pid=$1 peak=0 cpu=0 user=0 v c tick
	tick=$(getconf CLK_TCK)
	while [ -r "/proc/$pid/status" ]; do
		v=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
		[ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v
		c=$(awk -v t="$tick" '{print int(($14 + $15) * 1000 / t), int($14 * 1000 / t)}' "/proc/$pid/stat" 2>/dev/null || echo "")
		[ -n "$c" ] && read -r cpu user <<< "$c"
		sleep 0.2
	done
	echo "$peak $cpu $user"
}

# commits batch $2 in database $1 with cdp.ingest_fast_path = $3 in the background, watching its
# backend: prints "ms peak_kB cpu_ms user_cpu_ms result"
commit_watched() {
	local out pid t0 t1 bg peak cpu user
	out=$(mktemp)
	t0=$(now_ms)
	( psql -XqAt -v ON_ERROR_STOP=1 -d "$1" -c "SELECT pg_backend_pid()" -c "SET cdp.ingest_fast_path = $3" \
		-c "SELECT pg_sleep(0.5)" -c "SELECT cdp.import_commit($2, 'quarantine')" > "$out" ) &
	bg=$!
	sleep 0.2
	pid=$(head -1 "$out" 2>/dev/null || true)
	while [ -z "$pid" ]; do sleep 0.05; pid=$(head -1 "$out" 2>/dev/null || true); done
	read -r peak cpu user < <(watch_mem "$pid")
	wait $bg
	t1=$(now_ms)
	echo "$(( t1 - t0 - 500 )) $peak $cpu $user $(tail -1 "$out")"
	rm -f "$out"
}

read_sql() {
	# $1: false = reader only, true = reader + ingest's normaliser; the commit's own chunk loop
	cat <<SQL
DO \$\$
DECLARE
	b bigint := $2; v_last bigint; v_lines text[]; v_nos bigint[]; s record; h record; p cdp_internal.import_parsed;
	v_row int := 2; v_line int; n bigint := 0;
BEGIN
	SELECT array_agg(line ORDER BY line_no), array_agg(line_no ORDER BY line_no) INTO v_lines, v_nos
	  FROM (SELECT line, line_no FROM cdp.import_staging WHERE batch_id = b ORDER BY line_no LIMIT 200) x;
	s := cdp_internal._import_sniff(v_lines, 'auto', 'auto');
	h := cdp_internal._import_header('patients', s.header, '{"ignore_columns": ["source", "person_id"]}');
	v_last := v_nos[s.consumed]; v_line := s.consumed + 1;
	LOOP
		SELECT array_agg(line ORDER BY line_no), array_agg(line_no ORDER BY line_no) INTO v_lines, v_nos
		  FROM (SELECT line, line_no FROM cdp.import_staging WHERE batch_id = b AND line_no > v_last ORDER BY line_no LIMIT 10000) x;
		EXIT WHEN v_lines IS NULL;
		p := cdp_internal._import_parse(v_lines, cardinality(v_lines) < 10000, s.encoding, s.delimiter, s.header, h.keys, h.key_col, v_row, v_line);
		v_last := v_nos[p.consumed]; v_line := v_line + p.consumed; v_row := p.next_row;
		IF $1 THEN
			n := n + cardinality(cdp_internal.normalize_records(p.keys, p.attrs, array_fill(NULL::text, ARRAY[cardinality(p.keys)]), true));
		ELSE
			n := n + cardinality(p.keys);
		END IF;
	END LOOP;
	RAISE NOTICE 'rows %', n;
END \$\$;
SQL
}

# one arm of a repeat in database $1 (dropped and created; $2: a file of definitions to load after
# CREATE EXTENSION, or ""; $3: cdp.ingest_fast_path): stage the file, commit it watched, print the
# digest of what it wrote (DIGEST=1), drop the database (so at most one 1M database exists at a time)
# prints "stage_ms commit_ms peak_kB cpu_ms user_ms result"
arm() {
	local adb=$1 sql=$2 fp=$3 b t0 t1 ms peak cpu user res
	psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $adb" -c "CREATE DATABASE $adb"
	psql -XqAt -v ON_ERROR_STOP=1 -d "$adb" -c "CREATE EXTENSION cdp" -c "SELECT cdp.register_source('bench', 'internal', 50)" >/dev/null
	[ -z "$sql" ] || psql -XqAt -v ON_ERROR_STOP=1 -d "$adb" -f "$sql" >/dev/null
	psql -XqAt -d "$adb" -c "CHECKPOINT" >/dev/null
	t0=$(now_ms)
	b=$(psql -XqAt -v ON_ERROR_STOP=1 -d "$adb" \
		-c "SELECT cdp.import_begin('bench', 'patients', '{\"ignore_columns\": [\"source\", \"person_id\"]}')" \
		-c "\\copy cdp.import_staging (line) FROM '$file' WITH (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02', ENCODING 'SQL_ASCII')" | head -1)
	t1=$(now_ms)
	if [ "${READS:-1}" = 1 ] && [ -z "$sql" ] && [ "$fp" = on ]; then
		local r0 r1
		r0=$(now_ms); read_sql false "$b" | psql -XqAt -d "$adb" >/dev/null 2>&1; r1=$(now_ms); echo "$(( r1 - r0 ))" > "$tmpd/read"
		r0=$(now_ms); read_sql true "$b" | psql -XqAt -d "$adb" >/dev/null 2>&1; r1=$(now_ms); echo "$(( r1 - r0 ))" > "$tmpd/validate"
	fi
	psql -XqAt -d "$adb" -c "CHECKPOINT" >/dev/null
	read -r ms peak cpu user res < <(commit_watched "$adb" "$b" "$fp")
	if [ "${DIGEST:-0}" = 1 ]; then
		# what the commit wrote, independent of ids and times (test/bench/ingest_digest.sql)
		echo "    digest $(psql -XqAt -d "$adb" -f "$here/ingest_digest.sql")" >&2
	fi
	psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $adb"
	echo "$(( t1 - t0 )) $ms $peak $cpu $user $res"
}

tmpd=$(mktemp -d)
ab=0
if [ "${IMPORT_AB:-0}" = 1 ] || [ -n "${IMPORT_AB_SQL:-}" ]; then
	ab=1
	if [ -n "${IMPORT_AB_SQL:-}" ]; then bsql=$IMPORT_AB_SQL; bfp=on; label="$IMPORT_AB_SQL"
	else bsql=""; bfp=off; label="general path (cdp.ingest_fast_path = off)"; fi
fi
plain=(); stage=(); rd=(); val=(); com=(); mem=(); gen=(); ccpu=(); gcpu=()
for r in $(seq "$repeats"); do
	psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS ${db}_plain" -c "CREATE DATABASE ${db}_plain"
	psql -XqAt -v ON_ERROR_STOP=1 -d "${db}_plain" -c "CREATE TABLE plain (source text, source_id text, person_id text, family_name text, given_name text,
		patronymic text, full_name text, birth_date text, sex text, phone text, email text, snils text, oms text,
		address text, city text, vk text, telegram text)" -c "CHECKPOINT" >/dev/null
	t0=$(now_ms); psql -XqAt -v ON_ERROR_STOP=1 -d "${db}_plain" -c "\\copy plain FROM '$file' WITH (FORMAT csv, HEADER)"; t1=$(now_ms)
	plain+=($(( t1 - t0 )))
	psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS ${db}_plain"
	echo 0 > "$tmpd/read"; echo 0 > "$tmpd/validate"

	if [ "$do_commit" != 1 ]; then
		# staging and the reads only
		psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
		q -c "CREATE EXTENSION cdp" -c "SELECT cdp.register_source('bench', 'internal', 50)" >/dev/null
		t0=$(now_ms)
		batch=$(q -c "SELECT cdp.import_begin('bench', 'patients', '{\"ignore_columns\": [\"source\", \"person_id\"]}')" \
		          -c "\\copy cdp.import_staging (line) FROM '$file' WITH (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02', ENCODING 'SQL_ASCII')" | head -1)
		t1=$(now_ms); stage+=($(( t1 - t0 )))
		if [ "${READS:-1}" = 1 ]; then
			t0=$(now_ms); read_sql false "$batch" | q >/dev/null 2>&1; t1=$(now_ms); rd+=($(( t1 - t0 )))
			t0=$(now_ms); read_sql true "$batch" | q >/dev/null 2>&1; t1=$(now_ms); val+=($(( t1 - t0 )))
		else rd+=(0); val+=(0); fi
		echo "repeat $r: plain ${plain[-1]} ms, stage ${stage[-1]} ms, read ${rd[-1]} ms, validate ${val[-1]} ms" >&2
		continue
	fi

	# the arms alternate: this build first on odd repeats, the other first on even ones
	# (FIRST=b: the other first on odd repeats)
	shift_ab=0; [ "${FIRST:-a}" = b ] && shift_ab=1
	order="a"; [ "$ab" = 1 ] && { order="a b"; [ $(( (r + shift_ab) % 2 )) = 0 ] && order="b a"; }
	for w in $order; do
		if [ "$w" = a ]; then
			read -r st ms peak cpu user res < <(arm "$db" "" on)
			stage+=("$st"); com+=("$ms"); mem+=("$peak"); ccpu+=("$cpu")
			rd+=("$(cat "$tmpd/read")"); val+=("$(cat "$tmpd/validate")")
			echo "repeat $r: plain ${plain[-1]} ms, stage $st ms, read ${rd[-1]} ms, validate ${val[-1]} ms, commit $ms ms (backend CPU ${cpu} ms, user ${user}), peak RssAnon ${peak} kB, load $(cut -d' ' -f1 /proc/loadavg)" >&2
			echo "  $res" >&2
		else
			read -r st ms peak cpu user res < <(arm "${db}_b" "$bsql" "$bfp")
			gen+=("$ms"); gcpu+=("$cpu")
			echo "  $label: commit $ms ms (backend CPU ${cpu} ms, user ${user}), peak RssAnon ${peak} kB, load $(cut -d' ' -f1 /proc/loadavg)" >&2
		fi
	done
done
rm -rf "$tmpd"

P=$(printf '%s\n' "${plain[@]}" | median); S=$(printf '%s\n' "${stage[@]}" | median)
R=$(printf '%s\n' "${rd[@]}" | median); V=$(printf '%s\n' "${val[@]}" | median)
rate() { echo $(( nrows * 1000 / $1 )); }
ratio() { awk -v a="$P" -v b="$1" 'BEGIN { printf "%.2f", a / b }'; }
echo "file: $nrows rows, $mb MB; medians of $repeats"
printf '%-44s %10s ms %10s rows/s\n' "plain COPY (17 text columns)" "$P" "$(rate "$P")"
printf '%-44s %10s ms %10s rows/s  %s of plain\n' "staging COPY" "$S" "$(rate "$S")" "$(ratio "$S")"
if [ "${READS:-1}" = 1 ]; then
	printf '%-44s %10s ms %10s rows/s  %s of plain\n' "staging + reader" "$((S + R))" "$(rate $((S + R)))" "$(ratio $((S + R)))"
	printf '%-44s %10s ms %10s rows/s  %s of plain\n' "staging + reader + ingest's checks" "$((S + V))" "$(rate $((S + V)))" "$(ratio $((S + V)))"
fi
if [ "$do_commit" = 1 ]; then
	C=$(printf '%s\n' "${com[@]}" | median); M=$(printf '%s\n' "${mem[@]}" | median)
	printf '%-44s %10s ms %10s rows/s  %s of plain\n' "staging + commit (upsert_records, profiles)" "$((S + C))" "$(rate $((S + C)))" "$(ratio $((S + C)))"
	printf '%-44s %10s kB\n' "committing backend, peak RssAnon" "$M"
	printf '%-44s %10s ms\n' "committing backend, CPU time" "$(printf '%s\n' "${ccpu[@]}" | median)"
	if [ "${IMPORT_AB:-0}" = 1 ] || [ -n "${IMPORT_AB_SQL:-}" ]; then
		G=$(printf '%s\n' "${gen[@]}" | median)
		if [ -n "${IMPORT_AB_SQL:-}" ]; then other="with $IMPORT_AB_SQL"; else other="general path (fast path off)"; fi
		printf '%-44s %10s ms %10s rows/s  %s of plain\n' "staging + commit, $other" "$((S + G))" "$(rate $((S + G)))" "$(ratio $((S + G)))"
		awk -v c="$C" -v g="$G" -v o="$other" 'BEGIN { printf "commit alone: this build %d ms, %s %d ms: %.2fx\n", c, o, g, g / c }'
		CC=$(printf '%s\n' "${ccpu[@]}" | median); GC=$(printf '%s\n' "${gcpu[@]}" | median)
		awk -v c="$CC" -v g="$GC" -v o="$other" 'BEGIN { printf "committing backend CPU: this build %d ms, %s %d ms: %.2fx\n", c, o, g, g / c }'
	fi
fi
psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP DATABASE IF EXISTS ${db}_b"
