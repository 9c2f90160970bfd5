#!/usr/bin/env bash
# scripts/demo, started in the background as a CI job or a supervisor would:
# it comes up (cluster, demo tenant, bridge), the demo's first agent gets one
# chat assigned and one offered, and SIGINT and SIGTERM each stop it within
# seconds leaving nothing behind: no process of its session, no socket
# directory, no cluster directory (HD_KEEP=1 keeps the cluster only).
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../../scripts/lib.sh"
root=$HD_ROOT
cd "$root"
pg_port=$((HD_TEST_PORT + 50))
br_port=$((HD_TEST_PORT + 51))
tmp=$(mktemp -d)
chmod 755 "$tmp"
cleanup() {
	local d
	pkill -KILL -s "${sid:-0}" 2>/dev/null || true
	for d in "$tmp"/cluster-*/data; do
		[ -f "$d/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1
	done
	rm -rf "$tmp" "/tmp/hd-sock-$pg_port"
}
trap cleanup EXIT

# demo_run SIGNAL [KEEP]: start the demo, check it, signal it, check it is gone
demo_run() {
	local sig=$1 keep=${2:-0} dir="$tmp/cluster-$1" i
	HD_PORT=$pg_port HD_BRIDGE_PORT=$br_port HD_DIR=$dir HD_KEEP=$keep \
		setsid bash scripts/demo >"$tmp/demo-$sig.log" 2>&1 &
	local pid=$!
	sid=$pid
	for ((i = 0; i < 600; i++)); do
		grep -qs 'pg_helpdesk is running' "$tmp/demo-$sig.log" && break
		kill -0 "$pid" 2>/dev/null || { cat "$tmp/demo-$sig.log"; fail "the demo exited before it was up"; }
		sleep 0.1
	done
	grep -q 'pg_helpdesk is running' "$tmp/demo-$sig.log" || { cat "$tmp/demo-$sig.log"; fail "the demo did not come up"; }
	grep -q "installing pg_helpdesk into /" "$tmp/demo-$sig.log" || fail "the demo does not say where it installs"
	curl -fsS "http://127.0.0.1:$br_port/healthz" >/dev/null || fail "demo bridge not healthy"

	if [ "$sig" = INT ]; then
		# the first experience: Ana goes online; Luna's chat (general, direct)
		# is hers at once and DragonSlayer's (billing) is offered to her
		local d="host=/tmp/hd-sock-$pg_port port=$pg_port dbname=helpdesk user=postgres"
		psql -qXAt -d "$d" -c "SELECT helpdesk.set_agent_status(t.id, a.id, 'online') FROM helpdesk.agent a
			JOIN helpdesk.tenant t ON t.id = a.tenant_id WHERE t.slug = 'starfall' AND a.external_id = 'ana'" >/dev/null
		for ((i = 0; i < 100; i++)); do
			[ "$(psql -qXAt -d "$d" -c "SELECT string_agg(c.external_id || ':' || s.state, ',' ORDER BY c.external_id)
				FROM helpdesk.session s JOIN helpdesk.customer c ON (c.tenant_id, c.id) = (s.tenant_id, s.customer_id)")" \
				= "player-1001:offered,player-2002:active" ] && break
			sleep 0.1
		done
		[ "$i" -lt 100 ] || fail "demo: Ana online did not give one offered and one active chat"
		note "first agent online: one chat assigned, one offered"
	fi

	local t0=$SECONDS
	kill -"$sig" "$pid"
	for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && { tail "$tmp/demo-$sig.log"; fail "SIG$sig did not stop the demo within 15 s"; }
	wait "$pid" || fail "the demo exited non-zero after SIG$sig: $(tail -3 "$tmp/demo-$sig.log")"
	local left
	left=$(ps -eo sess=,pid=,args= | awk -v s="$sid" '$1 == s' || true)
	[ -z "$left" ] || fail "SIG$sig left processes behind: $left"
	! psql -qXAt -h 127.0.0.1 -p "$pg_port" -d postgres -c 'SELECT 1' >/dev/null 2>&1 ||
		fail "SIG$sig left PostgreSQL running on port $pg_port"
	[ ! -e "/tmp/hd-sock-$pg_port" ] || fail "SIG$sig left the socket directory /tmp/hd-sock-$pg_port"
	if [ "$keep" = 1 ]; then
		[ -f "$dir/postgres.log" ] || fail "HD_KEEP=1 did not keep $dir"
	else
		[ ! -e "$dir" ] || fail "SIG$sig left the cluster directory $dir"
	fi
	note "SIG$sig: stopped in $((SECONDS - t0)) s, nothing left behind (keep=$keep)"
}

demo_run INT
demo_run TERM
demo_run TERM 1
echo "demo script: ok"
