# shellcheck shell=bash
# The clusters of the scale-out suites (test/e2e/scale_*.sh): a PL/Proxy
# database and pg_helpdesk nodes, each a cluster of its own started as
# scripts/lib.sh starts one, under $work. Source after common.sh and lib.sh.
#   scale_start PROXY_PORT NODE_PORT...   starts them, prepares the nodes
#       (wal_level = logical for a move's catch-up, extension, tenant id series k+1 step 1024) and the proxy (one
#       partition per node, bridge URLs ws://127.0.0.1:(node port +
#       SCALE_BRIDGE_OFFSET, default 10)/ws)
#   P / N0 / N1 ...: psql on the proxy / node k
scale_ports=()
scale_stop() {
	local d
	for d in "$work"/*/data; do
		[ -f "$d/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$d" -m fast -w stop >/dev/null 2>&1 || true
	done
}
scale_at() { local p=$1; shift; PGHOST=/tmp/hd-sock-$p PGPORT=$p PGUSER=postgres psql -qXAt -v ON_ERROR_STOP=1 -d helpdesk "$@"; }
scale_conninfo() { echo "host=/tmp/hd-sock-$1 port=$1 dbname=helpdesk"; }
# scale_bridge NODE_PORT LOG: a helpdesk-bridge for that node on its bridge port; its pid in $!
scale_bridge() {
	HELPDESK_TOKEN_SECRET=$(scale_at "$1" -c 'SHOW helpdesk.token_secret') \
		bridge/helpdesk-bridge --port $(($1 + ${SCALE_BRIDGE_OFFSET:-10})) --db "$(scale_conninfo "$1") user=postgres" >"$2" 2>&1 &
}
scale_start() {
	local proxy=$1 k=0 p; shift
	(hd_cluster_start "$work/proxy" "$proxy") || fail "cannot start the proxy cluster"
	eval "P() { scale_at $proxy \"\$@\"; }"
	P -c 'CREATE EXTENSION plproxy' -c 'CREATE EXTENSION pg_helpdesk_proxy'
	for p in "$@"; do
		# wal_level = logical: scripts/move-tenant's catch-up publishes a tenant's rows
		(hd_cluster_start "$work/node$k" "$p" "wal_level = logical") || fail "cannot start cluster node$k"
		eval "N$k() { scale_at $p \"\$@\"; }"
		# Preparing a node (docs/scale-out.md): tenant ids from a series of its own
		scale_at "$p" -c 'CREATE EXTENSION pg_helpdesk' \
			-c "ALTER SEQUENCE helpdesk.tenant_id_seq INCREMENT BY 1024 START WITH $((k + 1)) RESTART"
		P -c "SELECT helpdesk_proxy.set_partition($k, '$(scale_conninfo "$p")', 'ws://127.0.0.1:$((p + ${SCALE_BRIDGE_OFFSET:-10}))/ws')" >/dev/null
		scale_ports+=("$p")
		k=$((k + 1))
	done
}
