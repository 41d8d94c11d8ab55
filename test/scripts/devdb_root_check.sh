#!/usr/bin/env bash
# test/scripts/devdb_root_check.sh: devdb.sh works when run as root (issue 17, item 5), as
# `make check` does.  Run as root: `flock /work/bench.lock bash test/scripts/devdb_root_check.sh`
# (two builds).  Two copies of this tree, owned by root as a fresh `git clone` by root is:
#   1. in a directory postgres can reach (/tmp/...): devdb.sh gives it to postgres and works in place;
#   2. under a directory only root may enter (mode 700): devdb.sh works in a mirror postgres owns.
# Each: `devdb.sh start`, then CREATE EXTENSION cdp through the printed env, then `devdb.sh stop`.
# Exit code 0 when both work.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/cdp-devdb-root.XXXXXX)
trap 'for t in "$work/reach/cdp" "$work/private/cdp"; do [ -x "$t/test/scripts/devdb.sh" ] && bash "$t/test/scripts/devdb.sh" stop >/dev/null 2>&1 || true; done; rm -rf "$work" /var/tmp/cdp-dev-$(printf %s "$work/private/cdp" | cksum | cut -d" " -f1)' EXIT
chmod 755 "$work"
mkdir -p "$work/reach" "$work/private"
chmod 755 "$work/reach"; chmod 700 "$work/private"
rc=0
for t in "$work/reach/cdp" "$work/private/cdp"; do
	mkdir -p "$t"
	(cd "$src" && git ls-files -z | xargs -0 tar -cf - ) | tar -xf - -C "$t"
	chown -R root: "$t"; chmod -R go-w "$t"
	if out=$(PGPORT_CDP=$(( 29000 + RANDOM % 900 )) bash "$t/test/scripts/devdb.sh" start 2>&1) \
		&& env=$(echo "$out" | grep '^export ' | tail -1) \
		&& v=$(eval "$env"; runuser -u postgres -- env PATH="$PATH" PGHOST="$PGHOST" PGPORT="$PGPORT" \
			psql -XAtq -d postgres -c 'CREATE EXTENSION IF NOT EXISTS cdp' -c 'SELECT cdp.library_version()'); then
		echo "ok: devdb.sh start as root, tree $t: cdp $v"
	else
		echo "FAILED: devdb.sh start as root, tree $t"; echo "$out" | tail -20; rc=1
	fi
	bash "$t/test/scripts/devdb.sh" stop >/dev/null 2>&1 || true
done
exit $rc
