#!/usr/bin/env bash
# test/demo/run.sh: the clinic demo, run by `make demo` against a throwaway cluster (PG* set).
# A generated clinic with known duplicates goes through ingest -> match -> golden records, and the
# summary compares what cdp found with the truth the generator knows.
#   CDP_DEMO_SIZE   persons to generate (default 2000)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
size=${CDP_DEMO_SIZE:-2000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$here/../bench/gen_clinic.py" --persons "$size" --seed 42 --out "$tmp/clinic.csv" --quiet
chmod 644 "$tmp/clinic.csv"; chmod 755 "$tmp"
psql -X -v ON_ERROR_STOP=1 -q -v csv="$tmp/clinic.csv" -v persons="$size" \
	-v settings="$(cat "$here/../bench/settings/clinic.json")" -f "$here/demo.sql"
