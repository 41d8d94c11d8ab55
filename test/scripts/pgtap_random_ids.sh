#!/usr/bin/env bash
# test/scripts/pgtap_random_ids.sh [ROUNDS]: every pgTAP file, ROUNDS times (default 3), in a fresh
# database whose cdp and cdp_internal sequences start at random values (1 to 1,000,000).  A test
# that passes only with the ids a fresh database hands out (an order, a hash or a constant that
# collides with a real id) fails here; the suites of `make check` always start from 1.  Run against
# a server of your own (psql's environment, e.g. eval "$(test/scripts/devdb.sh env)"), with pgTAP
# installed in it.  Prints each round's sequence starts and pg_prove's failures; exits 1 if any.
set -u
cd "$(dirname "$0")/../.."
rounds=${1:-3}
db=cdp_pgtap_random_ids
rc=0
for r in $(seq 1 "$rounds"); do
	dropdb --if-exists "$db" >/dev/null 2>&1
	createdb -E UTF8 "$db" || exit 2
	psql -XqAt -v ON_ERROR_STOP=1 -d "$db" -c 'CREATE EXTENSION pgtap; CREATE EXTENSION cdp CASCADE' || exit 2
	starts=$(psql -XqAt -v ON_ERROR_STOP=1 -d "$db" -c "SELECT string_agg(c.relname || '=' || setval(c.oid::regclass, 1 + (random() * 1000000)::int), ' ' ORDER BY c.relname)
	                                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	                                  WHERE c.relkind = 'S' AND n.nspname IN ('cdp', 'cdp_internal')") || exit 2
	echo "round $r: $starts"
	out=$(pg_prove --failures -d "$db" $(ls test/pgtap/*.sql | sort) 2>&1)
	if ! echo "$out" | grep -q '^Result: PASS'; then
		rc=1
		echo "$out" | grep -E '^(not ok|# |Failed|Result|test/pgtap/.*(Failed|Dubious))' | head -40
	else
		echo "round $r: pass"
	fi
	dropdb "$db"
done
exit $rc
