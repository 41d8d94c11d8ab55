#!/usr/bin/env bash
# test/bench/population_eval.sh: match a population with known truth in cdp and report what issues
# 12 and 18 measure (step times, cluster sizes, pairwise and B-cubed precision / recall / F1, the
# review queue, match_record p50 / p95): a compact table, then one line of JSON.
#
#   population_eval.sh [--install BINDIR] [--db NAME] [--keep-db] POPULATION [popeval options]
#
# POPULATION (files are generated once into $POP_DATA, default /tmp/cdp-populations):
#   clinic N        gen_clinic.py --persons N --seed 42 (the default mode)
#   name-dense N    gen_clinic.py --mode name-dense --persons N --seed 42
#   sparse N        gen_clinic.py --mode sparse --persons N --seed 42
#   faker N         gen_faker (Node.js, @faker-js/faker, locale ru) --persons N --seed 42
#   febrl1 | febrl2 /work/shared/data/febrl_dataset{1,2}.csv, settings test/bench/settings/febrl.json
#   fake_1000       /work/shared/data/splink_fake_1000.csv, settings test/bench/settings/splink_fake_1000.json
#   csv FILE        any CSV: give --truth COL (and --id, --source ...) as for test/bench/accuracy
# popeval options (test/bench/population_eval/popeval.py): --fields-only (settings that only name the
# fields), --settings FILE, --sample N (match_record calls, default 300), --label, --json-out FILE,
# and every option of test/bench/accuracy.
#
# The server: the one the PG* variables name (e.g. eval "$(cat tmp_dev/env)"), in which a fresh
# database NAME (default cdp_popeval) is created with CREATE EXTENSION cdp, and dropped at the end
# unless --keep-db. With --install BINDIR (an install's bin directory, e.g. tmp_install/.../bin), a
# throwaway cluster of that install is started in a temporary directory instead and removed at the
# end. Heavy runs: flock /work/bench.lock test/bench/population_eval.sh ...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
data=${POP_DATA:-/tmp/cdp-populations}
SHARED=${CDP_SHARED_DATA:-/work/shared/data}
install= db=cdp_popeval keep=0
while [ $# -gt 0 ]; do
	case "$1" in
	--install) install=$2; shift 2;;
	--db) db=$2; shift 2;;
	--keep-db) keep=1; shift;;
	-h|--help) sed -n '2,26p' "$0"; exit 0;;
	*) break;;
	esac
done
[ $# -ge 1 ] || { sed -n '2,26p' "$0" >&2; exit 2; }

# As root with --install, run as postgres (initdb refuses root); the CSVs must be readable by it.
if [ -n "$install" ] && [ "$(id -u)" = 0 ]; then
	mkdir -p "$data" && chmod 777 "$data"
	exec runuser -u postgres -- env POP_DATA="$data" CDP_SHARED_DATA="$SHARED" PATH="$PATH" \
		bash "$0" --install "$install" --db "$db" $([ $keep = 1 ] && echo --keep-db) "$@"
fi

pop=$1; shift
mkdir -p "$data"
gen_args=()
case "$pop" in
clinic|name-dense|sparse)
	n=${1:?"$pop needs a number of persons"}; shift
	mode=$pop; [ "$pop" = clinic ] && mode=default
	file=$data/$pop-$n-s42.csv
	if [ ! -s "$file" ]; then
		python3 "$here/gen_clinic.py" --mode "$mode" --persons "$n" --seed 42 --out "$file.part" --quiet
		mv "$file.part" "$file"
	fi
	gen_args=("$file" --truth person_id --id source_id --source source --label "$pop $n");;
faker)
	n=${1:?"faker needs a number of persons"}; shift
	file=$data/faker-$n-s42.csv
	if [ ! -s "$file" ]; then
		bash "$here/gen_faker/gen_faker.sh" --persons "$n" --seed 42 --out "$file.part" --quiet
		mv "$file.part" "$file"
	fi
	gen_args=("$file" --truth person_id --id source_id --source source --label "faker $n");;
febrl1|febrl2)
	file=$SHARED/febrl_dataset${pop#febrl}.csv
	gen_args=("$file" --truth rec_id --truth-regex 'rec-(\d+)' --id rec_id
			  --settings "$here/settings/febrl.json" --label "FEBRL ${pop#febrl}");;
fake_1000)
	gen_args=("$SHARED/splink_fake_1000.csv" --truth cluster --id unique_id
			  --settings "$here/settings/splink_fake_1000.json" --label "Splink fake_1000");;
csv)
	gen_args=("${1:?csv needs a FILE}"); shift;;
*) echo "population_eval.sh: unknown population '$pop' (see --help)" >&2; exit 2;;
esac

tmpc=
cleanup() {
	if [ -n "$tmpc" ]; then
		pg_ctl -D "$tmpc/data" -m fast -w stop >/dev/null 2>&1 || true
		rm -rf "$tmpc"
	elif [ $keep = 0 ]; then
		psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT
if [ -n "$install" ]; then
	export PATH=$install:$PATH
	. "$top/test/scripts/lib.sh"
	tmpc=$(mktemp -d /tmp/cdp-popeval-cluster.XXXXXX)
	PGPORT_CDP=$(( 30000 + $$ % 9000 )) cdp_cluster_start "$tmpc"
fi
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS \"$db\"" -c "CREATE DATABASE \"$db\"" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION cdp CASCADE" >/dev/null
echo "population_eval: $(psql -X -At -d "$db" -c "SELECT 'cdp ' || extversion FROM pg_extension WHERE extname = 'cdp'"), server $(psql -X -At -d "$db" -c 'SHOW server_version'), database $db" >&2
python3 "$here/population_eval/popeval.py" "${gen_args[@]}" -d "$db" --psql "$(command -v psql)" "$@"
