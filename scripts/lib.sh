# Shared by scripts/test, scripts/demo and bench: packages, build, throwaway cluster.
# shellcheck shell=bash
set -euo pipefail

HD_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# HD_PGBIN: another copy of PostgreSQL 15's binaries (a relocated copy of
# /usr/lib/postgresql and /usr/share/postgresql), so that several checkouts can
# build, install and test side by side without sharing the system's extension dir.
PGBIN=${HD_PGBIN:-/usr/lib/postgresql/15/bin}
export PG_CONFIG=${PG_CONFIG:-$PGBIN/pg_config}
HD_PACKAGES=(make gcc libc6-dev postgresql-15 postgresql-client-15 postgresql-server-dev-15
	postgresql-15-cron postgresql-15-pgtap postgresql-15-plproxy libtap-parser-sourcehandler-pgtap-perl
	libwebsockets-dev libwebsockets-evlib-ev libev-dev libcurl4-openssl-dev libssl-dev
	libjansson-dev libpq-dev pgbouncer prometheus
	clang libclang-rt-14-dev curl openssl
	chromium fonts-noto-cjk)

# One secret per checkout run: the cluster's helpdesk.token_secret and the bridge's.
export HELPDESK_TOKEN_SECRET=${HELPDESK_TOKEN_SECRET:-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}

hd_log() { printf '== %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Install the Debian packages that are missing (apt-get update only when needed).
hd_install_packages() {
	local missing=() p
	for p in "${HD_PACKAGES[@]}" "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	hd_log "installing: ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
}

# Builds, then installs into the PostgreSQL that PG_CONFIG names (the system's
# own by default: its extension and library directories, as root) and the
# bridge into /usr/local/bin; says where.
hd_build_install() {
	hd_log "building pg_helpdesk"
	make -s -C "$HD_ROOT" >/dev/null
	hd_log "installing pg_helpdesk into $("$PG_CONFIG" --sharedir)/extension, $("$PG_CONFIG" --pkglibdir) and /usr/local/bin"
	as_root make -s -C "$HD_ROOT" install >/dev/null
}

# Node.js (the bridge's test clients and its Node peer) and the npm packages
# locked in test/bridge/package-lock.json.
hd_node_modules() {
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		hd_log "installing: nodejs npm"
		as_root apt-get update -qq
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
	fi
	if [ ! -d "$HD_ROOT/test/bridge/node_modules/ws" ] || [ ! -d "$HD_ROOT/test/bridge/node_modules/pg" ]; then
		hd_log "installing npm packages for test/bridge"
		(cd "$HD_ROOT/test/bridge" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	fi
}

# Run a command as the postgres OS user when we are root (postgres refuses root).
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Pick the cluster directory: inside the checkout when postgres can reach it.
hd_cluster_dir() {
	local want=$1
	mkdir -p "$want"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres:postgres "$want"
		if ! runuser -u postgres -- test -w "$want"; then
			want=$(mktemp -d /tmp/pg_helpdesk.XXXXXX)
			chown postgres:postgres "$want"
			hd_log "the checkout is not reachable by the postgres user; cluster goes to $want"
		fi
	fi
	echo "$want"
}

# hd_cluster_start DIR PORT [extra postgresql.conf lines...]
# Creates a fresh cluster in DIR and starts it; exports PGHOST PGPORT PGUSER.
hd_cluster_start() {
	local dir=$1 port=$2; shift 2
	HD_CLUSTER=$dir
	HD_SOCK=/tmp/hd-sock-$port
	if [ -f "$dir/data/postmaster.pid" ]; then as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; fi
	rm -rf "$dir/data" "$HD_SOCK"
	mkdir -p "$HD_SOCK" "$dir"
	[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$HD_SOCK" "$dir"
	as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
	# the key that seals secrets at rest (webhook secrets, bot keys)
	(umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$dir/data/encryption.key")
	[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir/data/encryption.key"
	{
		echo "port = $port"
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$HD_SOCK'"
		echo "shared_preload_libraries = 'pg_helpdesk, pg_cron'"
		echo "cron.database_name = 'helpdesk'"
		echo "cron.host = '$HD_SOCK'"
		echo "max_worker_processes = 360"	# 1 launcher + 5 per database (publisher, dispatcher, http, rollup, rules) for up to 64 test databases, pg_cron
		echo "helpdesk.max_databases = 64"
		echo "max_connections = 200"
		echo "shared_buffers = 256MB"
		echo "log_line_prefix = '%m [%p] %b '"
		echo "helpdesk.launcher_naptime = 5"
		echo "helpdesk.token_secret = '$HELPDESK_TOKEN_SECRET'"
		echo "helpdesk.encryption_key_file = 'encryption.key'"
		for line in "$@"; do echo "$line"; done
	} >>"$dir/data/postgresql.conf"
	as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null
	export PGHOST=$HD_SOCK PGPORT=$port PGUSER=postgres
	psql -q -d postgres -c 'CREATE DATABASE helpdesk' >/dev/null
}

hd_cluster_stop() {
	[ -n "${HD_CLUSTER:-}" ] && [ -f "$HD_CLUSTER/data/postmaster.pid" ] &&
		as_pg "$PGBIN/pg_ctl" -D "$HD_CLUSTER/data" -m fast -w stop >/dev/null 2>&1 || true
}

hd_cluster_restart() {
	as_pg "$PGBIN/pg_ctl" -D "$HD_CLUSTER/data" -l "$HD_CLUSTER/postgres.log" -m fast -w -t 60 restart >/dev/null
}
