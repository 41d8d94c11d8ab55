#!/usr/bin/env bash
# test/scripts/devdb.sh: a persistent developer cluster for this work tree (no root needed; as root
# it runs as user postgres, see below).
#   devdb.sh start    rebuild, reinstall into tmp_install, start (or restart) the cluster
#   devdb.sh env      print the exports to talk to it:  eval "$(test/scripts/devdb.sh env)"
#   devdb.sh installcheck   rebuild, reinstall, run every suite against it (restart first after C changes)
#   devdb.sh stop     stop it
# `make installcheck PG_CONFIG=$CDP_BIN/pg_config` then runs the suites against it.
set -euo pipefail
CDP_SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$CDP_SRC/test/scripts/lib.sh"
dir=$CDP_SRC/tmp_dev
# As root, work as "postgres" (initdb refuses root), as `make check` does:
# - a tree postgres can reach but not write (a root checkout) is given to postgres first
#   (chown -R postgres:), then used in place;
# - a tree postgres cannot even reach (under /root) is copied to a mirror that postgres owns,
#   /var/tmp/cdp-dev-<hash of the path>/, refreshed on every call; the cluster lives there.
if [ "$(id -u)" = 0 ]; then
	if runuser -u postgres -- test -x "$CDP_SRC" -a -r "$CDP_SRC/Makefile"; then
		if ! runuser -u postgres -- test -w "$CDP_SRC/src" -a -w "$CDP_SRC"; then
			log "devdb: the build and the cluster run as user postgres: chown -R postgres: $CDP_SRC"
			chown -R postgres: "$CDP_SRC"
		fi
		exec runuser -u postgres -- bash "$0" "$@"
	fi
	mirror=/var/tmp/cdp-dev-$(printf '%s' "$CDP_SRC" | cksum | cut -d' ' -f1)
	log "devdb: user postgres cannot reach $CDP_SRC; working in a copy it owns: $mirror"
	mkdir -p "$mirror"
	rsync -a --delete --exclude /tmp_install --exclude /tmp_dev --exclude /tmp_check --exclude /results \
		--exclude /output_iso --exclude '*.o' --exclude '*.so' --exclude '*.bc' "$CDP_SRC"/ "$mirror/"
	chown -R postgres: "$mirror"
	chmod 755 "$mirror"
	cd / && exec runuser -u postgres -- bash "$mirror/test/scripts/devdb.sh" "$@"
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
