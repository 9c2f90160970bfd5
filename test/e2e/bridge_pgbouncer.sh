#!/usr/bin/env bash
# helpdesk-bridge behind pgbouncer (Debian's) in transaction pooling mode
# (test/bridge/pgbouncer.js): through the pooler alone the LISTEN connection
# hears no NOTIFY and the bridge must say so (/healthz 503 "deaf") while
# still relaying; with --listen-db on a direct session it relays by NOTIFY
# and stays healthy. pgbouncer listens on PGB_PORT (default HD_TEST_PORT + 45),
# a second one that spreads queries over its sessions (server_round_robin) on
# PGB_RR_PORT (+ 44); the bridges on HD_TEST_PORT + 46, + 47 and + 48.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../../scripts/lib.sh"
: "${HD_CLUSTER:?HD_CLUSTER (the cluster scripts/test started) is not set}"
command -v pgbouncer >/dev/null || hd_install_packages pgbouncer
export PGB_PORT=${PGB_PORT:-$((${HD_TEST_PORT:-55432} + 45))}
export PGB_RR_PORT=${PGB_RR_PORT:-$((${HD_TEST_PORT:-55432} + 44))}
export BRIDGE_PORT=${BRIDGE_PORT:-$((${HD_TEST_PORT:-55432} + 46))}
export BRIDGE_DB=${BRIDGE_DB:-e2e_bridge_pgbouncer}
export BRIDGE_LOG=${BRIDGE_LOG:-$HD_CLUSTER/bridge-pgbouncer.log}
export BRIDGE_SCRIPT=pgbouncer.js

pgb=$(mktemp -d /tmp/hd-pgbouncer.XXXXXX)
cleanup() {
	[ -f "$pgb/pgbouncer.pid" ] && kill "$(cat "$pgb/pgbouncer.pid")" 2>/dev/null
	[ -f "$pgb/rr.pid" ] && kill "$(cat "$pgb/rr.pid")" 2>/dev/null
	sleep 0.2
	rm -rf "$pgb"
}
trap cleanup EXIT
cat >"$pgb/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$PGPORT
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = trust
auth_file = $pgb/users.txt
pool_mode = transaction
default_pool_size = 4
logfile = $pgb/pgbouncer.log
pidfile = $pgb/pgbouncer.pid
INI
sed -e "s/^listen_port = .*/listen_port = $PGB_RR_PORT/" -e "s|pgbouncer\.log|rr.log|" \
	-e "s|pgbouncer\.pid|rr.pid|" "$pgb/pgbouncer.ini" >"$pgb/rr.ini"
printf 'server_round_robin = 1\nmin_pool_size = 3\n' >>"$pgb/rr.ini"
echo "\"${PGUSER:-postgres}\" \"\"" >"$pgb/users.txt"
# pgbouncer refuses to run as root
if [ "$(id -u)" -eq 0 ]; then chown -R postgres "$pgb"; fi
as_pg pgbouncer -d "$pgb/pgbouncer.ini" || fail "pgbouncer did not start"
as_pg pgbouncer -d "$pgb/rr.ini" || fail "the second pgbouncer did not start"
for _ in $(seq 50); do psql -qXAt "host=127.0.0.1 port=$PGB_PORT dbname=postgres user=${PGUSER:-postgres}" -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
note "pgbouncer $(pgbouncer --version | head -1) on port $PGB_PORT, transaction pooling"
rc=0
bash "$(dirname "$0")/bridge_e2e.sh" || rc=$?
[ "$rc" -eq 0 ] || { tail -n 20 "$pgb/pgbouncer.log"; exit "$rc"; }
