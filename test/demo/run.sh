#!/usr/bin/env bash
# test/demo/run.sh: the clinic demo, run by `make demo` against a throwaway cluster (PG* set).
# A generated clinic with known duplicates goes through ingest -> match -> golden records (demo.sql),
# then each later family's section, test/demo/NN_<family>.sql in name order (consent and segments,
# campaigns, ...), over the same database; a section may leave files (charts) in $CDP_DEMO_OUT.
#   CDP_DEMO_SIZE   persons to generate (default 2000)
#   CDP_DEMO_OUT    directory for the files the demo writes (default demo_output/ in the tree)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
size=${CDP_DEMO_SIZE:-2000}
out=${CDP_DEMO_OUT:-$(cd "$here/../.." && pwd)/demo_output}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$here/../bench/gen_clinic.py" --persons "$size" --seed 42 --out "$tmp/clinic.csv" --quiet
chmod 644 "$tmp/clinic.csv"; chmod 755 "$tmp"
psql -X -v ON_ERROR_STOP=1 -q -v csv="$tmp/clinic.csv" -v persons="$size" \
	-v settings="$(cat "$here/../bench/settings/clinic.json")" -f "$here/demo.sql"
for section in "$here"/[0-9][0-9]_*.sql; do
	[ -e "$section" ] || continue
	psql -X -v ON_ERROR_STOP=1 -q -v persons="$size" -v outdir="$out" -v tmpdir="$tmp" -f "$section"
	# a section may come with a script of the same name that draws its files (charts)
	if [ -x "${section%.sql}.sh" ]; then
		CDP_DEMO_OUT="$out" bash "${section%.sql}.sh"
	fi
done
