#!/usr/bin/env bash
# test/bench/comparators.sh: cdp's string comparators against their usual peers, in one run.
#
#   bash test/scripts/devdb.sh start && eval "$(cat tmp_dev/env)"
#   bash test/bench/comparators.sh              # 1M pairs, 3 rounds
#   CDP_BENCH_PAIRS=100000 CDP_BENCH_RUNS=5 bash test/bench/comparators.sh
#
# Uses the server the PG* environment points at (cdp, fuzzystrmatch, pg_similarity and pg_trgm
# must be installable there) and a database of its own, CDP_BENCH_DB (default cdp_bench), which
# it creates when missing and fills with CDP_BENCH_PAIRS name pairs (deterministic: setseed).
# Compares cdp.jaro_winkler with pg_similarity's jarowinkler, cdp.osa_distance (with and without a
# cap) with fuzzystrmatch's levenshtein_less_equal and levenshtein, cdp.qgram_jaccard with
# pg_trgm's similarity, and checks the answers against each other; then splits the time of the
# capped OSA and its peer by kind of pair (comparators/osa_split.sql), and times the comparators
# alone, called through fmgr on pairs held in memory (comparators/direct.sql, with the
# benchmark-only module test/bench/cmpcall). Figures: doc/benchmarks-compare.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
db=${CDP_BENCH_DB:-cdp_bench}
pairs=${CDP_BENCH_PAIRS:-1000000}
runs=${CDP_BENCH_RUNS:-3}
seed=${CDP_BENCH_SEED:-0.17}

psql -XAtq -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 \
	|| createdb -E UTF8 -T template0 "$db"
psql -Xq -v ON_ERROR_STOP=1 -d "$db" <<SQL
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cdp;
CREATE EXTENSION IF NOT EXISTS fuzzystrmatch SCHEMA public;
CREATE EXTENSION IF NOT EXISTS pg_similarity SCHEMA public;
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
SQL

echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
psql -XAtq -d "$db" -c "SELECT version()" -c "SELECT 'cdp ' || cdp.library_version()"
echo "== generating $pairs pairs (seed $seed)"
t0=$(date +%s)
psql -Xq -v ON_ERROR_STOP=1 -v pairs="$pairs" -v seed="$seed" -d "$db" -f "$here/comparators/pairs.sql"
echo "   ($(( $(date +%s) - t0 )) s)"
echo "== timing, $runs rounds"
PGOPTIONS="-c cdp_bench.runs=$runs" psql -Xq -v ON_ERROR_STOP=1 -d "$db" -f "$here/comparators/run.sql"
echo
PGOPTIONS="-c cdp_bench.runs=$runs" psql -Xq -v ON_ERROR_STOP=1 -d "$db" -f "$here/comparators/osa_split.sql"
# the comparators alone, called through fmgr on the pairs held in memory (no table scan): needs the
# benchmark-only module test/bench/cmpcall installed into the server (skipped when that fails)
echo
if make -s -C "$here/cmpcall" PG_CONFIG="${CDP_BIN:+$CDP_BIN/}pg_config" install >/tmp/cmpcall_build.$$ 2>&1; then
	PGOPTIONS="-c cdp_bench.runs=$runs" psql -Xq -v ON_ERROR_STOP=1 -d "$db" -f "$here/comparators/direct.sql"
else
	echo "== direct calls skipped: test/bench/cmpcall could not be installed into this server:"
	tail -3 /tmp/cmpcall_build.$$
fi
rm -f /tmp/cmpcall_build.$$
