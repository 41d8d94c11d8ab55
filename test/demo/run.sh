#!/usr/bin/env bash
# test/demo/run.sh: the clinic demo, run by `make demo` against a throwaway cluster (PG* set).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
psql -X -v ON_ERROR_STOP=1 -q -f "$here/demo.sql"
