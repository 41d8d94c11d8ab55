#!/usr/bin/env bash
# test/scripts/devdb.sh: a persistent developer cluster for this work tree (no root needed).
#   devdb.sh start    rebuild, reinstall into tmp_install, start (or restart) the cluster
#   devdb.sh env      print the exports to talk to it:  eval "$(test/scripts/devdb.sh env)"
#   devdb.sh installcheck   rebuild, reinstall, run every suite against it (restart first after C changes)
#   devdb.sh stop     stop it
# `make installcheck PG_CONFIG=$CDP_BIN/pg_config` then runs the suites against it.
set -euo pipefail
CDP_SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$CDP_SRC/test/scripts/lib.sh"
dir=$CDP_SRC/tmp_dev
# As root, work as "postgres" in place (the work tree must be writable by postgres).
if [ "$(id -u)" = 0 ]; then
	exec runuser -u postgres -- bash "$0" "$@"
fi
case "${1:-start}" in
start)
	cdp_tmp_install
	cdp_cluster_stop "$dir"
	cdp_cluster_start "$dir"
	echo "export PATH='$CDP_BIN':\$PATH PGHOST='$PGHOST' PGPORT=$PGPORT PGDATABASE=postgres PGUSER=$PGUSER CDP_BIN='$CDP_BIN'" >"$dir/env"
	cat "$dir/env";;
env) cat "$dir/env";;
installcheck)
	# rebuild + reinstall, then every suite against the running dev cluster
	cdp_tmp_install
	. "$dir/env"
	make -C "$CDP_SRC" PG_CONFIG="$CDP_BIN/pg_config" installcheck;;
stop) PATH=$(cut -d"'" -f2 "$dir/env"):$PATH; cdp_cluster_stop "$dir";;
*) echo "usage: $0 start|env|installcheck|stop" >&2; exit 2;;
esac
