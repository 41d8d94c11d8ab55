#!/usr/bin/env bash
# test/bench/write_floor.sh: the physical floor of the import's writes (issue 16): how long
# PostgreSQL itself needs to write exactly the rows the import writes, into the same tables with the
# same constraints and indexes, with none of cdp's code on the way, beside the measured import and a
# plain COPY of the same file, in the same run.
#
#   test/bench/write_floor.sh [ROWS=1000000] [REPEATS=3]
#
# Runs against the server in PG* (eval "$(cat tmp_dev/env)"; as root it re-runs itself as postgres
# with tmp_dev/env); the server must run on this machine (CPU times are read from /proc, the dumps
# are written and read by the server: COPY ... TO/FROM a file, so a superuser).  Environment:
#   SOURCE=import     the rows come from cdp.import_commit of import_speed.sh's file
#                     ${TMPDIR:-/tmp}/cdp_import_bench_ROWS.csv (made by import_speed.sh, never
#                     written here; FILE= another path): staged with \copy into
#                     cdp.import_staging, committed with 'quarantine', as import_speed.sh does
#   SOURCE=first_day  the rows come from first_day.sh with UNTIL=ingest (FILE=, default
#                     /tmp/first_day_420000.csv; SESSIONS, BATCH as first_day.sh); ROWS is ignored
#   PER_INDEX=1       also load each table with one secondary index at a time (default 1; 0: no)
#   REPLICA=1         also the variants replica and ins_replica (session_replication_role =
#                     replica: no foreign key check row by row, as ingest's writer, which checks
#                     record -> source once a batch)
#   VARIANTS="..."    the variants to run (default: full noidx heap [replica ins_replica] ins_full
#                     ins_heap); PER_INDEX needs noidx
#   LOCK=FILE         take flock -o FILE around each repeat (not around the whole run), e.g.
#                     LOCK=/work/bench.lock, so no hold lasts longer than one repeat
#   DUMPDIR=DIR       where the binary dumps go (default ${TMPDIR:-/tmp}/write_floor.PID; removed)
#
# Each repeat:
#   plain     \copy of the file into a table of 17 text columns (no checks), as import_speed.sh
#   import    the measured step (stage + commit, or first_day's ingest), wall and backend CPU
#   dump      every cdp / cdp_internal table the step inserted into (pg_stat_user_tables n_tup_ins
#             before and after), the rows the step wrote (xmin at or after the step's first xid),
#             COPY ... TO a binary file each; the source database is then dropped
#   loads     in fresh databases made from one template (CREATE EXTENSION cdp and the source
#             registered), one transaction each, as the import commits, COPY ... FROM those files
#             table by table (parents first), each table's wall, backend CPU and WAL timed in the
#             backend itself (clock_timestamp(), /proc/self/stat, pg_current_wal_insert_lsn()) and
#             the whole with its COMMIT (and the database's size after it: for the ins_ variants it
#             includes the unlogged copies):
#               full      every index and constraint as the extension defines them
#               noidx     the secondary indexes dropped (every index but the primary key; the
#                         unique constraint record_source_key_unique included)
#               heap      no index and no primary key either (the foreign key record -> source kept)
#               +INDEX    (PER_INDEX=1) noidx plus that one index, its table alone
#               replica   (REPLICA=1) full, with session_replication_role = replica
#               ins_replica  (REPLICA=1) ins_full, with session_replication_role = replica
#               ins_full, ins_heap  as full and heap, but INSERT ... SELECT from an unlogged copy
#                         of each file (loaded, vacuumed, checkpointed before the timing): no
#                         input function (COPY's binary input runs jsonb_recv, cdp's phone_recv and
#                         the like), the rows' datums as they are: the writes alone
#             SOURCE=import: full, replica, ins_full and ins_replica also time the commit's last
#             write, the DELETE of the staged lines (the file staged in the new database
#             beforehand, untimed)
# The databases are cdp_wf_PID_{tpl,src,dst,plain} (two runs never share one): dropped at the end.
# The rows are loaded as the table owner (postgres) with the triggers as they are: no user trigger
# of these tables fires on INSERT (they are UPDATE / DELETE / TRUNCATE triggers); the foreign key
# check record -> source (an internal trigger) runs once a row, where ingest's writer runs it once
# a batch: the replica variants skip it, and are the fair floor of the import's writes.
# Sequences are not advanced (the ids are in the files): nextval's cost is not in the floor.
# Prints each repeat's figures on stderr (SOURCE=import: also the commit's WAL), then the
# medians: each table's rows, wall, CPU and WAL in each variant, the cost of each index (its +INDEX time less the noidx time of its table), and the
# floor's rows/s against the measured step's and the plain COPY's, as ratios.  For SOURCE=import
# the floor of the whole import is the staging COPY (measured: it is already a plain COPY) plus the
# floor of the commit's writes.  Figures go to doc/benchmarks-ingest.md (session 37).
set -euo pipefail
ROWS=${1:-1000000}
REPEATS=${2:-3}
SOURCE=${SOURCE:-import}
CDP_SRC=$(cd "$(dirname "$0")/../.." && pwd)
here=$CDP_SRC/test/bench
if [ "$(id -u)" = 0 ]; then
	exec runuser -u postgres -- env SOURCE="$SOURCE" PER_INDEX="${PER_INDEX:-1}" REPLICA="${REPLICA:-0}" VARIANTS="${VARIANTS:-}" LOCK="${LOCK:-}" \
		DUMPDIR="${DUMPDIR:-}" FILE="${FILE:-}" SESSIONS="${SESSIONS:-2}" BATCH="${BATCH:-10000}" TMPDIR="${TMPDIR:-/tmp}" \
		bash -c "eval \"\$(cat '$CDP_SRC/tmp_dev/env')\"; exec bash '$0' $*"
fi
PER_INDEX=${PER_INDEX:-1}
REPLICA=${REPLICA:-0}
VARIANTS=${VARIANTS:-full noidx heap $([ "$REPLICA" = 1 ] && echo "replica ins_replica") ins_full ins_heap}
has() { [[ " $VARIANTS " == *" $1 "* ]]; }
tick=$(getconf CLK_TCK)
if [ "$SOURCE" = import ]; then
	file=${FILE:-${TMPDIR:-/tmp}/cdp_import_bench_${ROWS}.csv}
	[ -s "$file" ] || { echo "missing $file: make it with test/bench/import_speed.sh $ROWS 1 0" >&2; exit 1; }
else
	file=${FILE:-/tmp/first_day_420000.csv}
	[ -s "$file" ] || { echo "missing $file" >&2; exit 1; }
fi
nrows=$(( $(wc -l < "$file") - 1 ))
dumpdir=${DUMPDIR:-${TMPDIR:-/tmp}/write_floor.$$}
mkdir -p "$dumpdir"
tpl=cdp_wf_$$_tpl; src=cdp_wf_$$_src; dst=cdp_wf_$$_dst; pdb=cdp_wf_$$_plain
tmpd=$(mktemp -d)
cleanup() {
	rm -rf "$tmpd" "$dumpdir"
	psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $src" -c "DROP DATABASE IF EXISTS $dst" \
		-c "DROP DATABASE IF EXISTS $pdb" -c "DROP DATABASE IF EXISTS $tpl" >/dev/null 2>&1 || true
}
trap cleanup EXIT
now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
load() { cut -d' ' -f1 /proc/loadavg; }
# the backend's own CPU time (ms, user + system), as a SQL expression
CPU="(SELECT ((a[14]::bigint + a[15]::bigint) * 1000 / $tick) FROM pg_catalog.string_to_array(pg_catalog.pg_read_file('/proc/self/stat'), ' ') a)"
NOW="(extract(epoch FROM pg_catalog.clock_timestamp()) * 1000)::bigint"

# the template: the extension, and for the import the source it registers before the import
psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $tpl" -c "CREATE DATABASE $tpl"
psql -XqAt -v ON_ERROR_STOP=1 -d "$tpl" -c "CREATE EXTENSION cdp" >/dev/null
[ "$SOURCE" != import ] || psql -XqAt -v ON_ERROR_STOP=1 -d "$tpl" -c "SELECT cdp.register_source('bench', 'internal', 50)" >/dev/null

# runs the step in $src; writes $tmpd/step: "step_ms step_cpu_ms stage_ms stage_cpu_ms", and
# $tmpd/xid0: the first xid of the step
run_step() {
	psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $src"
	if [ "$SOURCE" = import ]; then
		psql -XqAt -d postgres -c "CREATE DATABASE $src TEMPLATE $tpl"
		local out b
		out=$(psql -XqAt -v ON_ERROR_STOP=1 -d "$src" -c "SELECT $NOW, $CPU" \
			-c "SELECT cdp.import_begin('bench', 'patients', '{\"ignore_columns\": [\"source\", \"person_id\"]}')" \
			-c "\\copy cdp.import_staging (line) FROM '$file' WITH (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02', ENCODING 'SQL_ASCII')" \
			-c "SELECT $NOW, $CPU")
		b=$(sed -n 2p <<< "$out")
		read -r s0 c0 <<< "$(sed -n 1p <<< "$out" | tr '|' ' ')"
		read -r s1 c1 <<< "$(sed -n 3p <<< "$out" | tr '|' ' ')"
		psql -XqAt -d "$src" -c "CHECKPOINT" -c "SELECT pg_stat_force_next_flush()" >/dev/null
		sleep 1
		psql -XqAt -d "$src" -c "SELECT relid, n_tup_ins FROM pg_stat_user_tables" > "$tmpd/ins0"
		out=$(psql -XqAt -v ON_ERROR_STOP=1 -d "$src" -c "SELECT txid_current()" -c "SELECT $NOW, $CPU, pg_current_wal_insert_lsn()" \
			-c "SELECT cdp.import_commit($b, 'quarantine')" -c "SELECT $NOW, $CPU, pg_current_wal_insert_lsn()")
		sed -n 1p <<< "$out" > "$tmpd/xid0"
		read -r t0 k0 w0 <<< "$(sed -n 2p <<< "$out" | tr '|' ' ')"
		read -r t1 k1 w1 <<< "$(sed -n 4p <<< "$out" | tr '|' ' ')"
		echo "  import_commit: $(sed -n 3p <<< "$out")" >&2
		# the commit's WAL (this cluster's, from the insert position: nothing else writes meanwhile)
		echo "  import_commit WAL: $(( ( (16#${w1%/*} - 16#${w0%/*}) * 4294967296 + 16#${w1#*/} - 16#${w0#*/} ) / 1048576 )) MB" >&2
		echo "$(( t1 - t0 )) $(( k1 - k0 )) $(( s1 - s0 )) $(( c1 - c0 ))" > "$tmpd/step"
	else
		# first_day.sh's ingest step, its own database (kept); its figure from its output
		local o
		o=$(UNTIL=ingest KEEP=1 DB=$src SESSIONS="${SESSIONS:-2}" BATCH="${BATCH:-10000}" bash "$here/first_day.sh" 0 "$file" 2>/dev/null)
		echo "  $o" | tail -1 >&2
		: > "$tmpd/ins0"
		# the step's first xid: the sources it registers first
		psql -XqAt -d "$src" -c "SELECT min(xmin::text::bigint) FROM cdp.source" > "$tmpd/xid0"
		awk '/^plain COPY/ { for (i = 1; i <= NF; i++) if ($i == "ingest") print int($(i+1) * 1000), int($(i+4) * 1000), 0, 0 }' \
			<<< "$o" > "$tmpd/step"
	fi
}

# the tables the step inserted into (schema cdp / cdp_internal), parents first; dumps their new
# rows to $dumpdir; writes $tmpd/tables: "table rows"
dump_step() {
	local xid0 t
	xid0=$(cat "$tmpd/xid0")
	psql -XqAt -d "$src" -c "SELECT pg_stat_force_next_flush()" >/dev/null
	sleep 1
	psql -XqAt -d "$src" -c "SELECT relid, n_tup_ins FROM pg_stat_user_tables" > "$tmpd/ins1"
	: > "$tmpd/tables"
	for t in $(psql -XqAt -d "$src" -c "CREATE TEMP TABLE i0 (relid oid, n bigint)" -c "\\copy i0 FROM '$tmpd/ins0' WITH (DELIMITER '|')" \
		-c "SELECT s.relid::regclass FROM pg_stat_user_tables s LEFT JOIN i0 ON i0.relid = s.relid
		     WHERE s.schemaname IN ('cdp', 'cdp_internal') AND s.n_tup_ins > coalesce(i0.n, 0)
		     ORDER BY CASE s.relid::regclass::text WHEN 'cdp.source' THEN 0 WHEN 'cdp.patient' THEN 1 WHEN 'cdp.record' THEN 2
		              WHEN 'cdp.patient_member' THEN 3 WHEN 'cdp.event' THEN 4 ELSE 5 END, 1"); do
		local n
		n=$(psql -XqAt -v ON_ERROR_STOP=1 -d "$src" -c "COPY (SELECT * FROM $t WHERE xmin::text::bigint >= $xid0) TO '$dumpdir/$t.bin' WITH (FORMAT binary)" \
			-c "SELECT count(*) FROM $t WHERE xmin::text::bigint >= $xid0")
		[ "$n" -gt 0 ] && echo "$t $n" >> "$tmpd/tables"
	done
	psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $src"
}

# the secondary indexes of the loaded tables: "table index drop_sql create_sql", from the template
list_indexes() {
	local tl
	tl=$(awk '{printf "%s'\''%s'\''", (NR > 1 ? "," : ""), $1}' "$tmpd/tables")
	psql -XqAt -F $'\t' -d "$tpl" -c "SELECT i.indrelid::regclass, i.indexrelid::regclass,
		  CASE WHEN c.conname IS NOT NULL THEN format('ALTER TABLE %s DROP CONSTRAINT %I', i.indrelid::regclass, c.conname)
		       ELSE format('DROP INDEX %s', i.indexrelid::regclass) END,
		  CASE WHEN c.conname IS NOT NULL THEN format('ALTER TABLE %s ADD CONSTRAINT %I %s', i.indrelid::regclass, c.conname, pg_get_constraintdef(c.oid))
		       ELSE pg_get_indexdef(i.indexrelid) END
		FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.contype IN ('u', 'x')
		WHERE i.indrelid::regclass::text IN ($tl) AND NOT i.indisprimary ORDER BY 1, 2" > "$tmpd/indexes"
	psql -XqAt -d "$tpl" -c "SELECT format('ALTER TABLE %s DROP CONSTRAINT %I CASCADE', conrelid::regclass, conname) FROM pg_constraint
		WHERE contype = 'p' AND conrelid::regclass::text IN ($tl)" > "$tmpd/pkeys"
}

# one load in a fresh $dst: $1 label, $2 SQL run (untimed) before, $3 the tables to load
# (default all), $4 SET before the load, $5 copy (COPY FROM the files) or insert (INSERT ... SELECT
# from an unlogged copy of each file loaded, vacuumed and checkpointed before: no input function,
# the rows' datums as they are), $6 del: (SOURCE=import) the file staged before (untimed) and
# deleted from cdp.import_staging after the tables, timed, as the commit does at its end; appends "label table rows wall_ms cpu_ms" (and
# "label TOTAL rows wall_ms cpu_ms", with the COMMIT) to $tmpd/res.$r
load_variant() {
	local label=$1 pre=$2 only=${3:-} set=${4:-} how=${5:-copy} del=${6:-} arr out stmt t
	psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $dst" -c "CREATE DATABASE $dst TEMPLATE $tpl"
	[ -z "$pre" ] || psql -XqAt -v ON_ERROR_STOP=1 -d "$dst" -c "$pre" >/dev/null 2>&1
	if [ -n "$only" ]; then arr="'$only'"; else arr=$(awk '{printf "%s'\''%s'\''", (NR > 1 ? "," : ""), $1}' "$tmpd/tables"); fi
	stmt="format('COPY %s FROM %L WITH (FORMAT binary)', t, '$dumpdir/' || t || '.bin')"
	if [ "$how" = insert ]; then
		stmt="format('INSERT INTO %s OVERRIDING SYSTEM VALUE SELECT * FROM wf_src.%I', t, replace(t, '.', '__'))"
		psql -XqAt -v ON_ERROR_STOP=1 -d "$dst" -c "CREATE SCHEMA wf_src" >/dev/null
		for t in $(tr -d "'" <<< "$arr" | tr ',' ' '); do
			psql -XqAt -v ON_ERROR_STOP=1 -d "$dst" -c "CREATE UNLOGGED TABLE wf_src.\"${t/./__}\" (LIKE $t)" \
				-c "COPY wf_src.\"${t/./__}\" FROM '$dumpdir/$t.bin' WITH (FORMAT binary)" -c "VACUUM wf_src.\"${t/./__}\"" >/dev/null
		done
	fi
	if [ -n "$del" ]; then
		psql -XqAt -v ON_ERROR_STOP=1 -d "$dst" -c "SELECT cdp.import_begin('bench', 'patients', '{\"ignore_columns\": [\"source\", \"person_id\"]}')" \
			-c "\\copy cdp.import_staging (line) FROM '$file' WITH (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02', ENCODING 'SQL_ASCII')" >/dev/null
	fi
	psql -XqAt -d "$dst" -c "CHECKPOINT" >/dev/null
	out=$(psql -XqAt -v ON_ERROR_STOP=1 -d "$dst" 2>&1 <<SQL
${set}
SELECT pg_current_wal_insert_lsn() AS wf_w0 \\gset
SELECT 'wf_start', $NOW, $CPU;
BEGIN;
DO \$\$
DECLARE
	t text; n bigint; t0 bigint; c0 bigint; w0 pg_lsn;
BEGIN
	FOREACH t IN ARRAY ARRAY[$arr]::text[] LOOP
		t0 := $NOW; c0 := $CPU; w0 := pg_current_wal_insert_lsn();
		EXECUTE $stmt;
		GET DIAGNOSTICS n = ROW_COUNT;
		RAISE NOTICE 'wf_table % % % % %', t, n, $NOW - t0, $CPU - c0, pg_wal_lsn_diff(pg_current_wal_insert_lsn(), w0)::bigint;
	END LOOP;
	IF '$del' <> '' THEN
		t0 := $NOW; c0 := $CPU; w0 := pg_current_wal_insert_lsn();
		DELETE FROM cdp.import_staging;
		GET DIAGNOSTICS n = ROW_COUNT;
		RAISE NOTICE 'wf_table % % % % %', 'staging_delete', n, $NOW - t0, $CPU - c0, pg_wal_lsn_diff(pg_current_wal_insert_lsn(), w0)::bigint;
	END IF;
END
\$\$;
COMMIT;
SELECT 'wf_end', $NOW, $CPU, pg_wal_lsn_diff(pg_current_wal_insert_lsn(), :'wf_w0')::bigint, pg_size_pretty(pg_database_size(current_database()));
SQL
	)
	awk -v l="$label" '
		/wf_table/ { sub(/^.*wf_table /, ""); print l, $0; n += $2 }
		/^wf_start/ { split($0, a, "|"); t0 = a[2]; c0 = a[3] }
		/^wf_end/ { split($0, a, "|"); print l, "TOTAL", n, a[2] - t0, a[3] - c0, a[4], a[5] }' <<< "$out" >> "$tmpd/res.$r"
	grep -q wf_end <<< "$out" || { echo "load $label failed: $out" >&2; exit 1; }
	psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $dst"
}

# plain COPY of the file into 17 text columns: "wall_ms cpu_ms"
plain_copy() {
	psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $pdb" -c "CREATE DATABASE $pdb"
	psql -XqAt -v ON_ERROR_STOP=1 -d "$pdb" -c "CREATE TABLE plain (source text, source_id text, person_id text, family_name text, given_name text,
		patronymic text, full_name text, birth_date text, sex text, phone text, email text, snils text, oms text,
		address text, city text, vk text, telegram text)" -c "CHECKPOINT" >/dev/null
	local out
	out=$(psql -XqAt -v ON_ERROR_STOP=1 -d "$pdb" -c "SELECT $NOW, $CPU" -c "\\copy plain FROM '$file' WITH (FORMAT csv, HEADER)" -c "SELECT $NOW, $CPU")
	psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $pdb"
	awk -F'|' 'NR == 1 { t = $1; c = $2 } END { print $1 - t, $2 - c }' <<< "$out"
}

for r in $(seq "$REPEATS"); do
	if [ -n "${LOCK:-}" ]; then exec 9>>"$LOCK"; flock 9; fi
	l0=$(load)
	: > "$tmpd/res.$r"
	read -r pw pc < <(plain_copy)
	echo "plain $pw $pc" > "$tmpd/plain.$r"
	run_step
	read -r sw sc stw stc < "$tmpd/step"
	echo "step $sw $sc $stw $stc" > "$tmpd/stepr.$r"
	dump_step
	[ "$r" -gt 1 ] || list_indexes
	del=$([ "$SOURCE" = import ] && echo del || true)
	has full && load_variant full "" "" "" copy "$del"
	has noidx && load_variant noidx "$(cut -f3 "$tmpd/indexes" | sed 's/$/;/')"
	has heap && load_variant heap "$(cut -f3 "$tmpd/indexes" | sed 's/$/;/'; sed 's/$/;/' "$tmpd/pkeys")"
	if [ "$PER_INDEX" = 1 ]; then
		while IFS=$'\t' read -r tb ix _ _; do
			load_variant "+$ix" "$(awk -F'\t' -v ix="$ix" '$2 != ix { print $3 ";" }' "$tmpd/indexes")" "$tb"
		done < "$tmpd/indexes"
	fi
	has replica && load_variant replica "" "" "SET session_replication_role = replica;" copy "$del"
	has ins_full && load_variant ins_full "" "" "" insert "$del"
	has ins_replica && load_variant ins_replica "" "" "SET session_replication_role = replica;" insert "$del"
	has ins_heap && load_variant ins_heap "$(cut -f3 "$tmpd/indexes" | sed 's/$/;/'; sed 's/$/;/' "$tmpd/pkeys")" "" "" insert
	[ -z "${LOCK:-}" ] || flock -u 9
	{
		echo "repeat $r (load $l0 before, $(load) after): plain COPY $pw ms (CPU $pc), step $sw ms (CPU $sc)$([ "$SOURCE" = import ] && echo ", staging $stw ms (CPU $stc)")"
		awk '{ printf "  %-40s %-28s %9s rows %8s ms  CPU %8s ms  WAL %6.1f MB %s %s\n", $1, $2, $3, $4, $5, $6 / 1048576, $7, $8 }' "$tmpd/res.$r"
	} >&2
done

# medians
med() { printf '%s\n' "$@" | median; }
P=$(med $(cut -d' ' -f2 "$tmpd"/plain.*)); PC=$(med $(cut -d' ' -f3 "$tmpd"/plain.*))
S=$(med $(cut -d' ' -f2 "$tmpd"/stepr.*)); SC=$(med $(cut -d' ' -f3 "$tmpd"/stepr.*))
ST=$(med $(cut -d' ' -f4 "$tmpd"/stepr.*)); STC=$(med $(cut -d' ' -f5 "$tmpd"/stepr.*))
cat "$tmpd"/res.* > "$tmpd/all"
mv_() { awk -v l="$1" -v t="$2" -v f="$3" '$1 == l && $2 == t { print $f }' "$tmpd/all" | median; }
rate() { awk -v n="$nrows" -v ms="$1" 'BEGIN { printf "%.0f", n * 1000 / ms }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "write floor, SOURCE=$SOURCE: $nrows rows of $file; medians of $REPEATS repeats; load $(load) at the end"
printf '%-44s %9s %9s %9s  %s\n' "table / variant" "wall ms" "CPU ms" "WAL MB" "rows"
for v in $VARIANTS; do
	while read -r t n; do
		printf '  %-42s %9s %9s %9s  %s\n' "$v $t" "$(mv_ "$v" "$t" 4)" "$(mv_ "$v" "$t" 5)" "$(( $(mv_ "$v" "$t" 6) / 1048576 ))" "$n"
	done < "$tmpd/tables"
	d=$(mv_ "$v" staging_delete 4)
	[ -z "$d" ] || printf '  %-42s %9s %9s %9s  %s\n' "$v DELETE FROM cdp.import_staging" "$d" "$(mv_ "$v" staging_delete 5)" "$(( $(mv_ "$v" staging_delete 6) / 1048576 ))" "$nrows"
	printf '  %-42s %9s %9s %9s  database %s\n' "$v TOTAL (one transaction, with COMMIT)" "$(mv_ "$v" TOTAL 4)" "$(mv_ "$v" TOTAL 5)" "$(( $(mv_ "$v" TOTAL 6) / 1048576 ))" "$(awk -v l="$v" '$1 == l && $2 == "TOTAL" { s = $7 " " $8 } END { print s }' "$tmpd/all")"
done
if [ "$PER_INDEX" = 1 ] && has noidx; then
	echo "each secondary index: its table loaded with it alone (median), less the median of the table's noidx loads"
	while IFS=$'\t' read -r tb ix _ _; do
		w=$(mv_ "+$ix" "$tb" 4); c=$(mv_ "+$ix" "$tb" 5); w0=$(mv_ noidx "$tb" 4); c0=$(mv_ noidx "$tb" 5)
		printf '  %-42s %9s %9s  (+%s ms wall, +%s ms CPU)\n' "+$ix" "$w" "$c" "$((w - w0))" "$((c - c0))"
	done < "$tmpd/indexes"
	while read -r t n; do
		printf '  %-42s primary key: noidx %s ms less heap %s ms = %s ms wall, CPU %s ms\n' "$t" "$(mv_ noidx "$t" 4)" "$(mv_ heap "$t" 4)" \
			"$(( $(mv_ noidx "$t" 4) - $(mv_ heap "$t" 4) ))" "$(( $(mv_ noidx "$t" 5) - $(mv_ heap "$t" 5) ))"
	done < "$tmpd/tables"
fi
# the floor: full and ins_full, or with REPLICA=1 replica and ins_replica (ingest's writer checks
# the foreign key once a batch, not once a row)
fv=full; iv=ins_full; has replica && fv=replica; has ins_replica && iv=ins_replica
echo "floor variants: $fv (COPY binary), $iv (INSERT SELECT)"
F=$(mv_ $fv TOTAL 4); FC=$(mv_ $fv TOTAL 5); I=$(mv_ $iv TOTAL 4); IC=$(mv_ $iv TOTAL 5)
printf '%-52s %9s ms (CPU %7s) %9s rows/s\n' "plain COPY (17 text columns)" "$P" "$PC" "$(rate "$P")"
line() { printf '%-52s %9s ms (CPU %7s) %9s rows/s  %s of plain\n' "$1" "$2" "$3" "$(rate "$2")" "$(ratio "$P" "$2")"; }
if [ "$SOURCE" = import ]; then
	line "import measured: staging + commit" $((ST + S)) $((STC + SC))
	printf '%-52s %9s ms (CPU %7s)\n' "  staging" "$ST" "$STC"
	printf '%-52s %9s ms (CPU %7s)\n' "  commit" "$S" "$SC"
	line "floor, COPY binary: staging + commit's rows + DELETE" $((ST + F)) $((STC + FC))
	line "floor, INSERT SELECT: staging + commit's rows + DELETE" $((ST + I)) $((STC + IC))
	line "  the commit's rows + DELETE alone, COPY binary" "$F" "$FC"
	line "  the commit's rows + DELETE alone, INSERT SELECT" "$I" "$IC"
	printf 'floor / measured, whole import: COPY %s wall %s CPU; INSERT %s wall %s CPU\n' "$(ratio $((ST + F)) $((ST + S)))" \
		"$(ratio $((STC + FC)) $((STC + SC)))" "$(ratio $((ST + I)) $((ST + S)))" "$(ratio $((STC + IC)) $((STC + SC)))"
	printf 'floor / measured, commit alone: COPY %s wall %s CPU; INSERT %s wall %s CPU\n' "$(ratio "$F" "$S")" \
		"$(ratio "$FC" "$SC")" "$(ratio "$I" "$S")" "$(ratio "$IC" "$SC")"
else
	line "first-day ingest measured (CPU: the cluster's)" "$S" "$SC"
	line "floor of its rows, COPY binary (one backend)" "$F" "$FC"
	line "floor of its rows, INSERT SELECT (one backend)" "$I" "$IC"
	printf 'floor / measured: COPY %s wall %s CPU; INSERT %s wall %s CPU\n' "$(ratio "$F" "$S")" "$(ratio "$FC" "$SC")" \
		"$(ratio "$I" "$S")" "$(ratio "$IC" "$SC")"
fi
