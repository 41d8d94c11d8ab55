#!/usr/bin/env bash
# test/scripts/lib.sh: shared steps of `make check`, `make demo` and the dev cluster.
#
# Root is used for one thing only: installing missing Debian packages. Everything else (build,
# a private copy of the PostgreSQL tree with cdp installed into it, a throwaway cluster, the tests)
# runs as an ordinary user: as root we copy the tree to a scratch folder owned by "postgres" and
# continue there, because initdb refuses to run as root.
set -euo pipefail

CDP_PG_MAJOR=${CDP_PG_MAJOR:-15}
CDP_DEBS="postgresql-$CDP_PG_MAJOR postgresql-server-dev-$CDP_PG_MAJOR postgresql-contrib \
libicu-dev libstemmer-dev pkg-config make gcc clang libclang-rt-14-dev \
postgresql-$CDP_PG_MAJOR-pgtap libtap-parser-sourcehandler-pgtap-perl libipc-run-perl \
postgresql-$CDP_PG_MAJOR-cron postgresql-$CDP_PG_MAJOR-similarity python3 rsync gnuplot-nox"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# cdp_deps: install the Debian packages cdp needs when any is missing (apt-get update first).
cdp_deps() {
	local missing=() p
	for p in $CDP_DEBS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing Debian packages: ${missing[*]}"
	local sudo=""
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
		sudo="sudo"
	fi
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
	# The Debian packages start a system cluster; cdp never uses it, but leave it as the admin expects.
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# cdp_drop_root SCRIPT ARGS: as root, copy the source tree to a scratch folder owned by postgres
# and re-run SCRIPT there as postgres. Returns (does not exec) so the caller can clean up.
cdp_drop_root() {
	local script=$1; shift
	local scratch
	scratch=$(mktemp -d /tmp/cdp-run.XXXXXX)
	rsync -a --exclude tmp_install --exclude tmp_check --exclude results --exclude output_iso \
		--exclude '*.o' --exclude '*.so' "$CDP_SRC"/ "$scratch/src/"
	chown -R postgres: "$scratch"
	chmod 755 "$scratch"
	log "running as user postgres in $scratch/src"
	# a cgroup of the v1 cpu controller handed to postgres, where test/t/023_match_cpus_quota.pl
	# sets CPU quotas on a test server (none when the hierarchy is absent or not writable)
	local cg=/sys/fs/cgroup/cpu/cdp-check.$$
	if [ -f /sys/fs/cgroup/cpu/cgroup.procs ] && mkdir "$cg" 2>/dev/null; then
		chown -R postgres: "$cg"
	else
		cg=
	fi
	local rc=0
	# from / : postgres may not enter the caller's directory (e.g. /root)
	(cd / && runuser -u postgres -- env CDP_NO_DEPS=1 ${CI:+CI=$CI} ${CDP_KEEP:+CDP_KEEP=$CDP_KEEP} \
		${CDP_DEMO_SIZE:+CDP_DEMO_SIZE=$CDP_DEMO_SIZE} ${CDP_DEMO_OUT:+CDP_DEMO_OUT=$CDP_DEMO_OUT} \
		${cg:+CDP_CGROUP_CPU=$cg} bash "$scratch/src/$script" "$@") || rc=$?
	[ -z "$cg" ] || find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
	[ -n "${CDP_KEEP:-}" ] || rm -rf "$scratch"
	return $rc
}

# cdp_pg_config: the pg_config of the wanted major version.
cdp_pg_config() {
	if [ -x "/usr/lib/postgresql/$CDP_PG_MAJOR/bin/pg_config" ]; then
		echo "/usr/lib/postgresql/$CDP_PG_MAJOR/bin/pg_config"
	else
		command -v pg_config
	fi
}

# cdp_tmp_install: build cdp and install it into a private copy of the PostgreSQL tree under
# $CDP_SRC/tmp_install (PostgreSQL finds share/ and lib/ relative to its binary, so a copy works
# without touching the system installation). Sets CDP_BIN and PATH.
cdp_tmp_install() {
	local pgc sharedir pkglibdir bindir incdir
	pgc=$(cdp_pg_config)
	bindir=$($pgc --bindir); sharedir=$($pgc --sharedir); pkglibdir=$($pgc --pkglibdir)
	local ti=$CDP_SRC/tmp_install
	log "building cdp"
	make -C "$CDP_SRC" -s -j2 PG_CONFIG="$pgc" >/dev/null
	if [ ! -x "$ti$bindir/postgres" ] || [ "$bindir/postgres" -nt "$ti$bindir/postgres" ]; then
		rm -rf "$ti"
		mkdir -p "$ti$(dirname "$bindir")" "$ti$(dirname "$sharedir")"
		cp -a "$(dirname "$bindir")" "$ti$(dirname "$(dirname "$bindir")")/"
		cp -a "$sharedir" "$ti$(dirname "$sharedir")/"
		# headers too, so PGXS driven by the copied pg_config (make installcheck) still finds them
		incdir=$($pgc --includedir-server); incdir=${incdir%/server}; incdir=${incdir%/[0-9]*}
		mkdir -p "$ti$(dirname "$incdir")"; cp -a "$incdir" "$ti$(dirname "$incdir")/"
		if [ "$pkglibdir" != "$(dirname "$bindir")/lib" ]; then
			mkdir -p "$ti$pkglibdir"; cp -a "$pkglibdir"/. "$ti$pkglibdir/"
		fi
	fi
	make -C "$CDP_SRC" -s install PG_CONFIG="$pgc" DESTDIR="$ti" >/dev/null
	CDP_BIN=$ti$bindir
	export PATH="$CDP_BIN:$PATH"
}

# cdp_cluster_start DIR: initdb (once) and start a cluster listening only on a socket in DIR.
cdp_cluster_start() {
	local dir=$1
	mkdir -p "$dir"
	export PGHOST=$dir/sock PGPORT=${PGPORT_CDP:-$(( 20000 + $(printf '%s' "$dir" | cksum | cut -d' ' -f1) % 9000 ))}
	export PGDATABASE=postgres PGUSER=$(id -un)
	unset PGPASSWORD PGSERVICE PGOPTIONS
	mkdir -p "$PGHOST"
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		initdb -D "$dir/data" -U "$PGUSER" -E UTF8 --locale=C.UTF-8 -A trust >"$dir/initdb.log" 2>&1 \
			|| { cat "$dir/initdb.log"; return 1; }
		cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$PGHOST'
port = $PGPORT
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
max_connections = 60
shared_buffers = 256MB
work_mem = 64MB
maintenance_work_mem = 512MB
max_wal_size = 4GB
fsync = ${CDP_FSYNC:-off}
synchronous_commit = off
full_page_writes = off
max_parallel_workers_per_gather = 2
log_min_messages = warning
CONF
	fi
	pg_ctl -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
		|| { tail -30 "$dir/server.log"; return 1; }
}

# cdp_cluster_stop DIR: stop the cluster (fast) if it runs.
cdp_cluster_stop() {
	local dir=$1
	[ -f "$dir/data/postmaster.pid" ] && pg_ctl -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# cdp_throwaway_cluster SCRIPT DIR: the common start of `make check` and `make demo`.
# Installs missing packages; as root re-runs SCRIPT as postgres and exits with its status; otherwise
# builds, installs into tmp_install and starts a fresh cluster in DIR, stopped and removed on exit.
cdp_throwaway_cluster() {
	local script=$1
	CDP_CLUSTER_DIR=$2
	[ -n "${CDP_NO_DEPS:-}" ] || cdp_deps
	if [ "$(id -u)" = 0 ]; then
		local rc=0
		cdp_drop_root "$script" || rc=$?
		exit $rc
	fi
	cdp_tmp_install
	cdp_cluster_stop "$CDP_CLUSTER_DIR"
	rm -rf "$CDP_CLUSTER_DIR"
	trap 'cdp_cluster_stop "$CDP_CLUSTER_DIR"; rm -rf "$CDP_CLUSTER_DIR"' EXIT
	cdp_cluster_start "$CDP_CLUSTER_DIR"
	log "cluster up on $PGHOST port $PGPORT"
}
