#!/usr/bin/env bash
# test/bench/match_floor.sh: the physical floor of train_matching() and run_matching('full') (issue
# 12): how long PostgreSQL itself needs to write exactly the rows these two calls write, into the
# same tables with the same indexes and constraints, in one transaction per call, with none of
# cdp's code, beside the measured calls and a plain COPY of the same rows, in the same run.
#
#   test/bench/match_floor.sh [REPEATS=3]
#
# Runs against the server in PG* (as root it re-runs itself as postgres with tmp_dev/env); the
# server must run on this machine (CPU from /proc; dumps written and read by the server).  Needs
# two databases made by first_day.sh in one run (its rows are what is replayed):
#   KEEP=1 DB=fl1m SNAPSHOT=fl1m_snap test/bench/first_day.sh 420000 /tmp/first_day_420000.csv
# Environment:
#   SNAP=fl1m_snap   the database just before run_matching (trained)
#   FINAL=fl1m       the same database after run_matching('full')
#   LOCK=FILE        flock -o FILE around each repeat (e.g. /work/bench.lock)
#   TPL=NAME         the template database (default mf_PID_tpl, dropped at the end with the dumps)
#   DUMPDIR=DIR      where the binary dumps go (default ${TMPDIR:-/tmp}/match_floor.PID)
#   NOIDX=1          also the run's floor with every index but the primary keys of the tables it
#                    writes dropped beforehand (run_noidx: what the secondary indexes cost)
#   ONLY=VARIANTS    run only these of the run's variants (cdp floor plain noidx), no training
#   KEEP_TPL=1       keep the template and the dumps; a later run given the same TPL and DUMPDIR
#                    reuses them (its setup is not repeated)
#
# Setup (untimed, once): a template database, a copy of SNAP, holding in schema mf (unlogged
# tables, vacuumed, checkpointed):
#   training  SNAP's rows whose xmin is the training's transaction (cdp_internal.match_settings'
#             active row): match_key and match_block (all their rows), match_tf, match_suspicious,
#             match_suspicious_source, match_settings (and any other table that has such rows)
#   the run   FINAL's rows whose xmin is the run's transaction (its cdp_internal.match_run row),
#             split by primary key against SNAP into inserted rows (mf.T__ins, in FINAL's heap
#             order) and updated rows (mf.T__upd, with the columns that changed), and SNAP's
#             rows whose primary key FINAL no longer has (mf.T__del); every table of cdp and
#             cdp_internal is compared (row counts, xmin) and the differences printed
#   scored    the run's scored pairs (the temp table _cdp_scored of _match_run, dropped at its
#             commit): the same walk, serial, into mf.scored
# Each repeat (alternating the order of cdp and floor):
#   train     a copy of the template brought back to before training (match_key, match_block,
#             match_suspicious(_source) emptied, match_tf of the version deleted, params NULL),
#             then cdp.train_matching() (its JSON times), and on the same copy, brought back again,
#             the floor: in one transaction, as _match_refresh_keys and train_matching do it,
#             TRUNCATE, DROP of match_key_pkey / match_block_bk / match_block_record, INSERT ...
#             SELECT (floor) or COPY binary (copy) of the key and block rows, ADD CONSTRAINT, the
#             two CREATE INDEX, the two ANALYZE, match_suspicious, match_tf, match_settings' UPDATE;
#             and plain: COPY binary of the same key and block rows into bare tables (no index)
#   run       a copy of the template, cdp.run_matching('full') (its JSON times and the merge's
#             DEBUG1 step log); another copy: the floor in one transaction: CREATE TEMP TABLE of
#             the scored pairs, then the run's rows in the function's order (cdp.event,
#             patient_member closes and opens, patient_redirect, cdp.record's golden_id, the
#             absorbed cdp.patient rows deleted, the survivors' refolded columns, match_review,
#             match_queue's DELETE, match_run), by INSERT ... SELECT, UPDATE ... FROM and
#             DELETE ... USING from the staged rows; and plain: COPY binary of every row image
#             written (inserted and updated rows, deleted keys) into bare tables
# The floors run as the table owner (RLS does not apply to the owner, nor to cdp's SECURITY DEFINER
# functions owned by it) with session_replication_role = replica: no user trigger fires (the
# merge's C writer fires none; it calls consent's bookkeeping itself) and no foreign key is checked
# row by row.  jit = off and synchronize_seqscans = off, as the functions set them.  Each
# statement's wall, backend CPU (/proc/self/stat) and WAL are read inside the backend; each call's
# wall and the cluster's CPU (the postmaster's reaped children, as first_day.sh's cpu()) outside.
# Prints each repeat on stderr, then the medians: step, cdp, floor, ratio.  Figures go to
# doc/benchmarks-match.md (session 38, floor40).
set -euo pipefail
REPEATS=${1:-3}
CDP_SRC=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" = 0 ]; then
	exec runuser -u postgres -- env SNAP="${SNAP:-}" FINAL="${FINAL:-}" LOCK="${LOCK:-}" TPL="${TPL:-}" KEEP_TPL="${KEEP_TPL:-0}" DUMPDIR="${DUMPDIR:-}" \
		TMPDIR="${TMPDIR:-/tmp}" bash -c "eval \"\$(cat '$CDP_SRC/tmp_dev/env')\"; exec bash '$0' $*"
fi
SNAP=${SNAP:-fl1m_snap}
FINAL=${FINAL:-fl1m}
tpl=${TPL:-mf_$$_tpl}
dbt=mf_$$_train
dbr=mf_$$_run
dumpdir=${DUMPDIR:-${TMPDIR:-/tmp}/match_floor.$$}
mkdir -p "$dumpdir"
tmpd=$(mktemp -d)
tick=$(getconf CLK_TCK)
cleanup() {
	rm -rf "$tmpd"
	psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $dbt" -c "DROP DATABASE IF EXISTS $dbr" >/dev/null 2>&1 || true
	if [ "${KEEP_TPL:-0}" != 1 ]; then
		rm -rf "$dumpdir"
		psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $tpl" >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT
q() { psql -XqAt -v ON_ERROR_STOP=1 "$@"; }
load() { cut -d' ' -f1 /proc/loadavg; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
CPU="(SELECT ((a[14]::bigint + a[15]::bigint) * 1000 / $tick) FROM pg_catalog.string_to_array(pg_catalog.pg_read_file('/proc/self/stat'), ' ') a)"
NOW="(extract(epoch FROM pg_catalog.clock_timestamp()) * 1000)::bigint"
PM_PID=$(head -1 "$(q -d postgres -c 'SHOW data_directory')/postmaster.pid")
# the cluster's CPU (ms) of its ended processes, as first_day.sh's cpu()
ccpu() { sleep 0.3; awk -v t="$tick" '{ sub(/^.*\) /, ""); printf "%d\n", ($14 + $15) * 1000 / t }' "/proc/$PM_PID/stat"; }
now_ms() { date +%s%3N; }
copydb() { q -d postgres -c "DROP DATABASE IF EXISTS $2" -c "CREATE DATABASE $2 TEMPLATE $1 STRATEGY FILE_COPY"; }

# ---------------------------------------------------------------- setup: the template
setup() {
	local xr xt t n_x n_f n_s n_t pk pkl cols chg tl
	xr=$(q -d "$FINAL" -c "SELECT xmin FROM cdp_internal.match_run ORDER BY run_id DESC LIMIT 1")
	xt=$(q -d "$SNAP" -c "SELECT xmin FROM cdp_internal.match_settings WHERE active")
	echo "setup: run xid $xr (in $FINAL), training xid $xt (in $SNAP)" >&2
	copydb "$SNAP" "$tpl"
	q -d "$tpl" -c "CREATE SCHEMA mf" -c "CREATE UNLOGGED TABLE mf.steps (variant text, ord int, step text, sql text)" \
		-c "CREATE UNLOGGED TABLE mf.diff (tbl text, rows_snap bigint, rows_final bigint, ins bigint, upd bigint, del bigint, upd_cols text, train_rows bigint)"
	tl=$(q -d "$FINAL" -c "SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
		WHERE s.nspname IN ('cdp', 'cdp_internal') AND c.relkind = 'r' ORDER BY 1")
	: > "$tmpd/runtables"; : > "$tmpd/traintables"
	for t in $tl; do
		read -r n_x n_f <<< "$(q -F ' ' -d "$FINAL" -c "SELECT count(*) FILTER (WHERE xmin::text = '$xr'), count(*) FROM $t")"
		read -r n_s n_t <<< "$(q -F ' ' -d "$SNAP" -c "SELECT count(*), count(*) FILTER (WHERE xmin::text = '$xt') FROM $t")"
		pk=$(q -d "$tpl" -c "SELECT string_agg(quote_ident(a.attname), ',' ORDER BY k.n) FROM pg_index i
			CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(att, n) JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.att
			WHERE i.indrelid = '$t'::regclass AND i.indisprimary AND k.n <= i.indnkeyatts")
		local m=${t//./__}
		[ "$n_t" -eq 0 ] || echo "$t $n_t" >> "$tmpd/traintables"
		if [ "$n_x" -eq 0 ] && [ "$n_s" -eq "$n_f" ]; then
			q -d "$tpl" -c "INSERT INTO mf.diff VALUES ('$t', $n_s, $n_f, 0, 0, 0, NULL, $n_t)"
			continue
		fi
		[ -n "$pk" ] || { echo "setup: $t changed and has no primary key" >&2; exit 1; }
		pkl=$(sed 's/,/, /g' <<< "$pk")
		# the rows the run wrote, in FINAL's heap order, split by key against SNAP (= the template)
		q -d "$FINAL" -c "COPY (SELECT * FROM $t WHERE xmin::text = '$xr' ORDER BY ctid) TO '$dumpdir/$m.new' WITH (FORMAT binary)"
		q -d "$tpl" -c "CREATE UNLOGGED TABLE mf.${m}__new (LIKE $t)" -c "COPY mf.${m}__new FROM '$dumpdir/$m.new' WITH (FORMAT binary)" \
			-c "CREATE UNLOGGED TABLE mf.${m}__ins AS SELECT n.* FROM mf.${m}__new n WHERE NOT EXISTS (SELECT 1 FROM $t o WHERE ($(sed 's/\([^,]*\)/o.\1/g' <<< "$pk")) = ($(sed 's/\([^,]*\)/n.\1/g' <<< "$pk"))) ORDER BY n.ctid" \
			-c "CREATE UNLOGGED TABLE mf.${m}__upd AS SELECT n.* FROM mf.${m}__new n WHERE EXISTS (SELECT 1 FROM $t o WHERE ($(sed 's/\([^,]*\)/o.\1/g' <<< "$pk")) = ($(sed 's/\([^,]*\)/n.\1/g' <<< "$pk"))) ORDER BY $pkl"
		# the columns an update changed (in some row)
		cols=$(q -d "$tpl" -c "SELECT string_agg(quote_ident(attname), ' ' ORDER BY attnum) FROM pg_attribute
			WHERE attrelid = '$t'::regclass AND attnum > 0 AND NOT attisdropped AND attname NOT IN ($(sed "s/\([^,]*\)/'\1'/g" <<< "${pk//\"/}"))")
		chg=""
		for c in $cols; do
			if [ "$(q -d "$tpl" -c "SELECT EXISTS (SELECT 1 FROM mf.${m}__upd n JOIN $t o USING ($pkl) WHERE o.$c::text IS DISTINCT FROM n.$c::text)")" = t ]; then
				chg="$chg $c"
			fi
		done
		# the rows SNAP has and FINAL has not, by key
		q -d "$FINAL" -c "COPY (SELECT $pkl FROM $t) TO '$dumpdir/$m.keys' WITH (FORMAT binary)"
		q -d "$tpl" -c "CREATE UNLOGGED TABLE mf.${m}__keys AS SELECT $pkl FROM $t LIMIT 0" \
			-c "COPY mf.${m}__keys FROM '$dumpdir/$m.keys' WITH (FORMAT binary)" \
			-c "CREATE UNLOGGED TABLE mf.${m}__del AS SELECT $pkl FROM $t o WHERE NOT EXISTS (SELECT 1 FROM mf.${m}__keys k WHERE ($(sed 's/\([^,]*\)/k.\1/g' <<< "$pk")) = ($(sed 's/\([^,]*\)/o.\1/g' <<< "$pk"))) ORDER BY $pkl" \
			-c "DROP TABLE mf.${m}__keys" -c "DROP TABLE mf.${m}__new" \
			-c "INSERT INTO mf.diff SELECT '$t', $n_s, $n_f, (SELECT count(*) FROM mf.${m}__ins), (SELECT count(*) FROM mf.${m}__upd), (SELECT count(*) FROM mf.${m}__del), NULLIF('${chg# }', ''), $n_t"
		echo "$t $pk ${chg# }" >> "$tmpd/runtables"
		rm -f "$dumpdir/$m.new" "$dumpdir/$m.keys"
	done
	echo "setup: the tables the run changed (rows in $SNAP, in $FINAL; inserted, updated (columns), deleted; rows of the training's xid in $SNAP):" >&2
	q -F '|' -d "$tpl" -c "SELECT tbl, rows_snap, rows_final, ins, upd, coalesce(upd_cols, '-'), del, train_rows FROM mf.diff
		WHERE ins + upd + del > 0 OR train_rows > 0 ORDER BY 1" | awk -F'|' '{ printf "  %-38s snap %9s final %9s  ins %8s upd %8s (%s) del %8s  train %8s\n", $1, $2, $3, $4, $5, $6, $7, $8 }' >&2
	# the training's rows, and the dumps for its COPY variants
	while read -r t n; do
		local m=${t//./__}
		q -d "$tpl" -c "CREATE UNLOGGED TABLE mf.tr_${m} AS SELECT * FROM $t WHERE xmin::text = '$xt' ORDER BY ctid" \
			-c "COPY mf.tr_${m} TO '$dumpdir/tr_$m.bin' WITH (FORMAT binary)"
	done < "$tmpd/traintables"
	# the run's scored pairs: the walk of _match_run, serial (untimed)
	q -d "$tpl" -c "SET jit = off" -c "SET search_path = pg_catalog, pg_temp" -c "CREATE UNLOGGED TABLE mf.scored AS
		SELECT (pg_catalog.row_number() OVER ())::int AS id, w.record_a, w.record_b, w.golden_a, w.golden_b, w.rule, w.weight, w.probability, w.flags, w.levels
		  FROM cdp_internal._match_active() a
		 CROSS JOIN LATERAL cdp_internal._match_walk('run', cdp_internal._match_query(NULL, false), a.program, a.version,
		        (a.settings ->> 'review_threshold')::float8, (a.settings ->> 'max_block_size')::int, 0, NULL) w"
	echo "setup: scored pairs $(q -d "$tpl" -c "SELECT count(*) FROM mf.scored")" >&2
	q -d "$tpl" -c "COPY mf.scored TO '$dumpdir/scored.bin' WITH (FORMAT binary)"
	build_steps
	for t in $(q -d "$tpl" -c "SELECT tablename FROM pg_tables WHERE schemaname = 'mf'"); do q -d "$tpl" -c "VACUUM ANALYZE mf.$t" >/dev/null; done
	q -d "$tpl" -c "CHECKPOINT"
}

# the statements of each variant, into mf.steps (variant, ord, step, sql)
build_steps() {
	local o=0 v t m pk pkl chg set cond
	st() { o=$((o + 1)); q -d "$tpl" -c "INSERT INTO mf.steps VALUES (\$s\$$1\$s\$, $o, \$s\$$2\$s\$, \$s\$$3\$s\$)"; }
	# training: _match_refresh_keys(NULL), then train_matching's writes
	for v in floor copy; do
		st "$v" "keys: TRUNCATE, DROP pkey and indexes" "TRUNCATE cdp_internal.match_key, cdp_internal.match_block; ALTER TABLE cdp_internal.match_key DROP CONSTRAINT match_key_pkey; DROP INDEX IF EXISTS cdp_internal.match_block_bk; DROP INDEX IF EXISTS cdp_internal.match_block_record"
		if [ "$v" = floor ]; then
			st "$v" "keys: match_key rows" "INSERT INTO cdp_internal.match_key SELECT * FROM mf.tr_cdp_internal__match_key"
			st "$v" "keys: match_block rows" "INSERT INTO cdp_internal.match_block SELECT * FROM mf.tr_cdp_internal__match_block"
		else
			st "$v" "keys: match_key rows" "COPY cdp_internal.match_key FROM '$dumpdir/tr_cdp_internal__match_key.bin' WITH (FORMAT binary)"
			st "$v" "keys: match_block rows" "COPY cdp_internal.match_block FROM '$dumpdir/tr_cdp_internal__match_block.bin' WITH (FORMAT binary)"
		fi
		st "$v" "keys: match_key_pkey" "ALTER TABLE cdp_internal.match_key ADD CONSTRAINT match_key_pkey PRIMARY KEY (record_id)"
		st "$v" "keys: match_block_bk" "CREATE INDEX match_block_bk ON cdp_internal.match_block (bk) INCLUDE (record_id, birth_date)"
		st "$v" "keys: match_block_record" "CREATE INDEX match_block_record ON cdp_internal.match_block (record_id)"
		st "$v" "keys: ANALYZE match_key" "ANALYZE cdp_internal.match_key"
		st "$v" "keys: ANALYZE match_block" "ANALYZE cdp_internal.match_block"
		while read -r t n; do
			m=${t//./__}
			case "$t" in
			cdp_internal.match_key|cdp_internal.match_block) ;;
			cdp_internal.match_settings)
				st "$v" "em: match_settings" "UPDATE cdp_internal.match_settings s SET params = n.params, program = n.program FROM mf.tr_$m n WHERE s.version = n.version" ;;
			cdp_internal.match_tf)
				st "$v" "tf: match_tf" "DELETE FROM cdp_internal.match_tf WHERE version = (SELECT version FROM cdp_internal.match_settings WHERE active); INSERT INTO cdp_internal.match_tf SELECT * FROM mf.tr_$m" ;;
			*)
				st "$v" "keys: $t" "DELETE FROM $t; INSERT INTO $t SELECT * FROM mf.tr_$m" ;;
			esac
		done < "$tmpd/traintables"
	done
	# the physical reference: COPY binary of the key and block rows into bare tables
	st plain_train "match_key rows (bare table)" "CREATE TABLE mf.p_key (LIKE cdp_internal.match_key); COPY mf.p_key FROM '$dumpdir/tr_cdp_internal__match_key.bin' WITH (FORMAT binary)"
	st plain_train "match_block rows (bare table)" "CREATE TABLE mf.p_block (LIKE cdp_internal.match_block); COPY mf.p_block FROM '$dumpdir/tr_cdp_internal__match_block.bin' WITH (FORMAT binary)"
	# the run: the scored pairs, then its rows in the function's order
	st run "block_score: _cdp_scored" "CREATE TEMP TABLE _cdp_scored ON COMMIT DROP AS SELECT * FROM mf.scored"
	st plain_run "scored pairs (bare table)" "CREATE TABLE mf.p_scored (LIKE mf.scored); COPY mf.p_scored FROM '$dumpdir/scored.bin' WITH (FORMAT binary)"
	# the order of golden_link_apply, then the review, the queue, the run log; any other table after
	for t in cdp.patient:ins cdp.event:ins cdp.patient_member:upd cdp.patient_member:ins cdp.patient_redirect:ins cdp.record:upd \
		cdp.clinical_event:upd cdp.patient:del cdp.patient:upd cdp_internal.match_review:ins cdp_internal.match_review:upd \
		cdp_internal.match_queue:del cdp_internal.match_run:ins \
		$(awk '$1 !~ /^(cdp\.(patient|event|patient_member|patient_redirect|record|clinical_event)|cdp_internal\.(match_review|match_queue|match_run))$/ { print $1 ":ins " $1 ":upd " $1 ":del" }' "$tmpd/runtables"); do
		local kind=${t#*:}
		t=${t%:*}
		grep -q "^$t " "$tmpd/runtables" || continue
		read -r _ pk chg <<< "$(grep "^$t " "$tmpd/runtables")"
		m=${t//./__}
		pkl=$(sed 's/,/, /g' <<< "$pk")
		[ "$(q -d "$tpl" -c "SELECT count(*) > 0 FROM mf.${m}__$kind")" = t ] || continue
		case $kind in
		ins)
			st run "$t INSERT" "INSERT INTO $t OVERRIDING SYSTEM VALUE SELECT * FROM mf.${m}__ins"
			q -d "$tpl" -c "COPY mf.${m}__ins TO '$dumpdir/${m}_ins.bin' WITH (FORMAT binary)"
			st plain_run "$t inserted rows (bare table)" "CREATE TABLE mf.p_${m}_ins (LIKE $t); COPY mf.p_${m}_ins FROM '$dumpdir/${m}_ins.bin' WITH (FORMAT binary)" ;;
		upd)
			set=$(for c in $chg; do printf '%s = n.%s, ' "$c" "$c"; done)
			cond=$(tr ',' '\n' <<< "$pk" | awk '{ printf "%so.%s = n.%s", (NR > 1 ? " AND " : ""), $1, $1 }')
			st run "$t UPDATE ($chg)" "UPDATE $t o SET ${set%, } FROM mf.${m}__upd n WHERE $cond"
			q -d "$tpl" -c "COPY mf.${m}__upd TO '$dumpdir/${m}_upd.bin' WITH (FORMAT binary)"
			st plain_run "$t updated rows (bare table)" "CREATE TABLE mf.p_${m}_upd (LIKE $t); COPY mf.p_${m}_upd FROM '$dumpdir/${m}_upd.bin' WITH (FORMAT binary)" ;;
		del)
			cond=$(tr ',' '\n' <<< "$pk" | awk '{ printf "%so.%s = d.%s", (NR > 1 ? " AND " : ""), $1, $1 }')
			st run "$t DELETE" "DELETE FROM $t o USING mf.${m}__del d WHERE $cond"
			q -d "$tpl" -c "COPY mf.${m}__del TO '$dumpdir/${m}_del.bin' WITH (FORMAT binary)"
			st plain_run "$t deleted keys (bare table)" "CREATE TABLE mf.p_${m}_del AS SELECT * FROM mf.${m}__del LIMIT 0; COPY mf.p_${m}_del FROM '$dumpdir/${m}_del.bin' WITH (FORMAT binary)" ;;
		esac
	done
	echo "setup: the statements" >&2
	q -F ' | ' -d "$tpl" -c "SELECT variant, ord, step FROM mf.steps ORDER BY ord" | sed 's/^/  /' >&2
}

# the pre-training state in database $1 (untimed): what first_day.sh's database has before training
pretrain() {
	q -d "$1" -c "TRUNCATE cdp_internal.match_key, cdp_internal.match_block" \
		-c "DELETE FROM cdp_internal.match_tf WHERE version = (SELECT version FROM cdp_internal.match_settings WHERE active)" \
		-c "DELETE FROM cdp_internal.match_suspicious" -c "DELETE FROM cdp_internal.match_suspicious_source" \
		-c "UPDATE cdp_internal.match_settings SET params = NULL WHERE active" -c "VACUUM cdp_internal.match_tf, cdp_internal.match_suspicious, cdp_internal.match_suspicious_source, cdp_internal.match_settings" \
		-c "CHECKPOINT" >/dev/null
}

# the timed statements of variant $2 in database $1, one transaction; appends
# "label step wall_ms cpu_ms wal_bytes" lines and "label TOTAL wall cpu wal cluster_cpu" to $3
floor_txn() {
	local db=$1 v=$2 out c0 c1 label=${4:-$2}
	q -d "$db" -c "CHECKPOINT" >/dev/null
	c0=$(ccpu)
	out=$(psql -XqAt -v ON_ERROR_STOP=1 -d "$db" 2>&1 <<SQL
SET jit = off;
SET synchronize_seqscans = off;
SET session_replication_role = replica;
SELECT pg_current_wal_insert_lsn() AS w0 \\gset
SELECT 'mf_start', $NOW, $CPU;
BEGIN;
DO \$\$
DECLARE
	s record; t0 bigint; c0 bigint; w0 pg_lsn; n bigint;
BEGIN
	FOR s IN SELECT * FROM mf.steps WHERE variant = '$v' ORDER BY ord LOOP
		t0 := $NOW; c0 := $CPU; w0 := pg_current_wal_insert_lsn();
		EXECUTE s.sql;
		GET DIAGNOSTICS n = ROW_COUNT;
		RAISE NOTICE 'mf_step|%|%|%|%|%', s.step, n, $NOW - t0, $CPU - c0, pg_wal_lsn_diff(pg_current_wal_insert_lsn(), w0)::bigint;
	END LOOP;
END
\$\$;
COMMIT;
SELECT 'mf_end', $NOW, $CPU, pg_wal_lsn_diff(pg_current_wal_insert_lsn(), :'w0')::bigint;
SQL
	)
	c1=$(ccpu)
	grep -q mf_end <<< "$out" || { echo "floor $v failed: $out" >&2; exit 1; }
	awk -F'|' -v l="$label" -v cc=$((c1 - c0)) '
		/mf_step/ { sub(/^.*mf_step\|/, ""); split($0, a, "|"); printf "%s\t%s\t%s\t%s\t%s\t%s\n", l, a[1], a[3], a[4], a[5], a[2] }
		/^mf_start/ { t0 = $2; k0 = $3 }
		/^mf_end/ { printf "%s\tTOTAL\t%s\t%s\t%s\t%s\n", l, $2 - t0, $3 - k0, $4, cc }' <<< "$out" >> "$3"
}

# cdp's call in database $1: $2 train|run; appends "cdp_X step seconds*1000" lines to $3
cdp_call() {
	local db=$1 what=$2 out c0 c1 t0 t1 sql
	q -d "$db" -c "CHECKPOINT" >/dev/null
	if [ "$what" = train ]; then sql="SELECT cdp.train_matching() -> 'times'"; else sql="SELECT cdp.run_matching('full') -> 'times'"; fi
	c0=$(ccpu); t0=$(now_ms)
	out=$(psql -XqAt -v ON_ERROR_STOP=1 -d "$db" -c "SET client_min_messages = debug1" -c "SELECT 'mf_start', $CPU" -c "$sql" -c "SELECT 'mf_end', $CPU" 2>&1)
	t1=$(now_ms); c1=$(ccpu)
	local k0 k1 times
	k0=$(awk -F'|' '/^mf_start/ { print $2 }' <<< "$out"); k1=$(awk -F'|' '/^mf_end/ { print $2 }' <<< "$out")
	times=$(grep '^{' <<< "$out")
	[ -n "$times" ] || { echo "cdp $what failed: $out" >&2; exit 1; }
	printf 'cdp_%s\tTOTAL\t%s\t%s\t0\t%s\n' "$what" $((t1 - t0)) $((k1 - k0)) $((c1 - c0)) >> "$3"
	python3 -c "import json,sys; [print('cdp_$what\t%s\t%d\t\t\t' % (k, round(v * 1000))) for k, v in json.loads(sys.argv[1]).items()]" "$times" >> "$3"
	sed -n 's/.*golden_link_apply \([a-z_]*\): \([0-9.]*\) ms.*/\1 \2/p' <<< "$out" | awk -v w="$what" '{ printf "cdp_%s\tmerge %s\t%d\t\t\t\n", w, $1, $2 }' >> "$3"
}

if [ "$(q -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = '$tpl'")" = 1 ] && [ -n "${DUMPDIR:-}" ]; then
	echo "setup: reusing $tpl and $dumpdir" >&2
else
	setup
fi

for r in $(seq "$REPEATS"); do
	if [ -n "${LOCK:-}" ]; then exec 9>>"$LOCK"; flock 9; fi
	l0=$(load)
	res=$tmpd/res.$r
	: > "$res"
	[ -n "${ONLY:-}" ] || copydb "$tpl" "$dbt"
	# training: cdp and the floors on one copy, brought back before each; the order alternates
	if [ $((r % 2)) = 1 ]; then order="cdp floor copy plain"; else order="floor copy plain cdp"; fi
	[ -z "${ONLY:-}" ] || order=""
	for x in $order; do
		pretrain "$dbt"
		case $x in
		cdp) cdp_call "$dbt" train "$res" ;;
		floor) floor_txn "$dbt" floor "$res" ;;
		copy) floor_txn "$dbt" copy "$res" ;;
		plain) floor_txn "$dbt" plain_train "$res"; q -d "$dbt" -c "DROP TABLE mf.p_key, mf.p_block" ;;
		esac
	done
	q -d postgres -c "DROP DATABASE IF EXISTS $dbt"
	# the run: each on its own copy
	if [ $((r % 2)) = 1 ]; then order="cdp floor plain"; else order="plain floor cdp"; fi
	[ "${NOIDX:-0}" = 0 ] || order="$order noidx"
	[ -z "${ONLY:-}" ] || order=$ONLY
	for x in $order; do
		copydb "$tpl" "$dbr"
		case $x in
		cdp) cdp_call "$dbr" run "$res" ;;
		floor) floor_txn "$dbr" run "$res" ;;
		plain) floor_txn "$dbr" plain_run "$res" ;;
		noidx)
			q -d "$dbr" -c "DO \$\$ DECLARE i record; BEGIN
				FOR i IN SELECT x.indexrelid::regclass AS ix, c.conname, x.indrelid::regclass AS tb FROM pg_index x
				           LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.contype IN ('u', 'x')
				          WHERE x.indrelid::regclass::text IN (SELECT tbl FROM mf.diff WHERE ins + upd + del > 0) AND NOT x.indisprimary LOOP
					IF i.conname IS NOT NULL THEN EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', i.tb, i.conname);
					ELSE EXECUTE format('DROP INDEX %s', i.ix); END IF;
				END LOOP; END \$\$"
			floor_txn "$dbr" run "$res" run_noidx ;;
		esac
		q -d postgres -c "DROP DATABASE $dbr"
	done
	[ -z "${LOCK:-}" ] || flock -u 9
	{
		echo "repeat $r (load $l0 before, $(load) after)"
		awk -F'\t' '{ printf "  %-12s %-52s %9s ms  CPU %8s ms  WAL %8.1f MB  %s\n", $1, $2, $3, $4, ($5 == "" ? 0 : $5) / 1048576, $6 }' "$res"
	} >&2
done

# ---------------------------------------------------------------- medians
cat "$tmpd"/res.* > "$tmpd/all"
mv_() { awk -F'\t' -v l="$1" -v t="$2" -v f="$3" '$1 == l && $2 == t && $f != "" { print $f }' "$tmpd/all" | median; }
mb() { awk -v x="${1:-0}" 'BEGIN { printf "%.0f", x / 1048576 }'; }
# the sum of the floor's steps whose name starts with $2, per repeat, then the median
grp() {
	local l=$1 p=$2 f=$3 r
	for r in $(seq "$REPEATS"); do
		awk -F'\t' -v l="$l" -v p="$p" -v f="$f" '$1 == l && index($2, p) == 1 { s += $f } END { print s + 0 }' "$tmpd/res.$r"
	done | median
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo "match floor: $SNAP -> $FINAL; medians of $REPEATS repeats; load $(load) at the end (each repeat's on stderr)"
q -d "$tpl" -F '|' -c "SELECT tbl, rows_snap, rows_final, ins, upd, coalesce(upd_cols, '-'), del, train_rows FROM mf.diff WHERE ins + upd + del > 0 OR train_rows > 0 ORDER BY 1" |
	awk -F'|' 'BEGIN { print "rows written (inserted, updated (columns), deleted by the run; of the training'"'"'s xid):" }
	     { printf "  %-38s ins %8s upd %8s (%s) del %8s  train %8s\n", $1, $4, $5, $6, $7, $8 }'
line() { printf '%-46s %9s %9s %9s %9s %7s\n' "$@"; }
line "step" "cdp ms" "floor ms" "flr CPU" "WAL MB" "cdp/flr"
echo "train_matching()"
for k in keys_s tf_s sample_patterns_s em_s; do
	case $k in keys_s) p="keys:" ;; tf_s) p="tf:" ;; em_s) p="em:" ;; *) p="-none-" ;; esac
	c=$(mv_ cdp_train "$k" 3); f=$(grp floor "$p" 3); fc=$(grp floor "$p" 4); fw=$(grp floor "$p" 5)
	line "  $k" "$c" "$f" "$fc" "$(mb "$fw")" "$(ratio "$c" "$f")"
done
awk -F'\t' '$1 == "floor" && $2 != "TOTAL" { print $2 }' "$tmpd/res.1" | while read -r s; do
	line "    floor: $s" "" "$(mv_ floor "$s" 3)" "$(mv_ floor "$s" 4)" "$(mb "$(mv_ floor "$s" 5)")" ""
	line "    copy:  $s" "" "$(mv_ copy "$s" 3)" "$(mv_ copy "$s" 4)" "$(mb "$(mv_ copy "$s" 5)")" ""
done
line "  total (floor: one transaction, COMMIT)" "$(mv_ cdp_train TOTAL 3)" "$(mv_ floor TOTAL 3)" "$(mv_ floor TOTAL 4)" "$(mb "$(mv_ floor TOTAL 5)")" "$(ratio "$(mv_ cdp_train TOTAL 3)" "$(mv_ floor TOTAL 3)")"
line "  total, COPY variant" "" "$(mv_ copy TOTAL 3)" "$(mv_ copy TOTAL 4)" "$(mb "$(mv_ copy TOTAL 5)")" "$(ratio "$(mv_ cdp_train TOTAL 3)" "$(mv_ copy TOTAL 3)")"
line "  plain COPY of the key and block rows" "" "$(mv_ plain_train TOTAL 3)" "$(mv_ plain_train TOTAL 4)" "$(mb "$(mv_ plain_train TOTAL 5)")" "$(ratio "$(mv_ cdp_train TOTAL 3)" "$(mv_ plain_train TOTAL 3)")"
echo "  cdp train: backend CPU $(mv_ cdp_train TOTAL 4) ms, cluster CPU $(mv_ cdp_train TOTAL 6) ms; floor cluster CPU $(mv_ floor TOTAL 6) ms"
echo "run_matching('full')"
for k in keys_s block_score_s plan_s merge_s review_s queue_s; do
	case $k in
	block_score_s) p="block_score:" ;;
	merge_s) p="cdp." ;;
	review_s) p="cdp_internal.match_review" ;;
	queue_s) p="cdp_internal.match_queue" ;;
	*) p="-none-" ;;
	esac
	c=$(mv_ cdp_run "$k" 3); f=$(grp run "$p" 3); fc=$(grp run "$p" 4); fw=$(grp run "$p" 5)
	line "  $k" "$c" "$f" "$fc" "$(mb "$fw")" "$(ratio "$c" "$f")"
done
awk -F'\t' '$1 == "run" && $2 != "TOTAL" { print $2 }' "$tmpd/res.1" | while read -r s; do
	line "    floor: $s" "" "$(mv_ run "$s" 3)" "$(mv_ run "$s" 4)" "$(mb "$(mv_ run "$s" 5)")" ""
done
if grep -q '^run_noidx' "$tmpd/all"; then
	awk -F'\t' '$1 == "run_noidx" { print $2 }' "$tmpd/res.1" | while read -r s; do
		line "    noidx: $s" "" "$(mv_ run_noidx "$s" 3)" "$(mv_ run_noidx "$s" 4)" "$(mb "$(mv_ run_noidx "$s" 5)")" ""
	done
fi
awk -F'\t' '$1 == "cdp_run" && $2 ~ /^merge / { print $2 }' "$tmpd/res.1" | while read -r s; do
	line "    cdp: $s" "$(mv_ cdp_run "$s" 3)" "" "" "" ""
done
line "  total (floor: one transaction, COMMIT)" "$(mv_ cdp_run TOTAL 3)" "$(mv_ run TOTAL 3)" "$(mv_ run TOTAL 4)" "$(mb "$(mv_ run TOTAL 5)")" "$(ratio "$(mv_ cdp_run TOTAL 3)" "$(mv_ run TOTAL 3)")"
line "  plain COPY of the same row images" "" "$(mv_ plain_run TOTAL 3)" "$(mv_ plain_run TOTAL 4)" "$(mb "$(mv_ plain_run TOTAL 5)")" "$(ratio "$(mv_ cdp_run TOTAL 3)" "$(mv_ plain_run TOTAL 3)")"
echo "  cdp run: backend CPU $(mv_ cdp_run TOTAL 4) ms, cluster CPU $(mv_ cdp_run TOTAL 6) ms (parallel workers included); floor cluster CPU $(mv_ run TOTAL 6) ms"
