# Helpers of the webhook e2e scripts (test/e2e/webhooks*.sh): a sink server
# (sink.js) on 127.0.0.1, the HTTP worker's settings, counting what arrived.
# shellcheck shell=bash
WH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# sink_start PORT LOG: starts sink.js, waits until it listens; SINK_PID
sink_start() {
	local port=$1 logf=$2 i
	: >"$logf"
	node "$WH_DIR/sink.js" "$port" "$logf" >"$logf.out" 2>&1 &
	SINK_PID=$!
	for ((i = 0; i < 100; i++)); do
		curl -fsS "http://127.0.0.1:$port/_stats" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	fail "sink on $port did not start"
}
sink_stop() { [ -n "${SINK_PID:-}" ] && kill "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null || true; SINK_PID=; }
sink_stats() { curl -fsS "http://127.0.0.1:$1/_stats"; }

# set_http GUC VALUE: ALTER SYSTEM + reload, and wait until the server has it
set_http() {
	psql -qXAt -d postgres -c "ALTER SYSTEM SET helpdesk.$1 = '$2'" -c "SELECT pg_reload_conf()" >/dev/null
	sleep 0.3
}
reset_http() {
	psql -qXAt -d postgres -c "ALTER SYSTEM RESET helpdesk.http_allowed_hosts" -c "ALTER SYSTEM RESET helpdesk.webhook_disable_after" \
		-c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
}

# requests in the sink's log for one path (and optionally one webhook-id)
count_path() { local n; n=$(grep -c "\"path\":\"$2\"" "$1" || true); echo "${n:-0}"; }
http_pid() { q "$1" "SELECT coalesce((SELECT pid FROM helpdesk.worker_status() WHERE kind = 'http'), 0)"; }

# wh_setup DB PORT SINKLOG: what every webhook e2e script starts with (the
# cleanup trap, 127.0.0.1 allowed, the sink, a fresh database with one
# session); sets tenant, sess and cust.
wh_setup() {
	trap 'sink_stop; reset_http' EXIT
	set_http http_allowed_hosts '127.0.0.1/32'
	sink_start "$2" "$3"
	fresh_db "$1"
	seed_sessions "$1" 1
	tenant=$(q "$1" "SELECT id FROM helpdesk.tenant WHERE slug = 'e2e'")
	sess=$(q "$1" "SELECT session_id FROM public.e2e_session WHERE n = 1")
	cust=$(q "$1" "SELECT customer_id FROM public.e2e_session WHERE n = 1")
}
# wait_http_worker DB: the HTTP worker is running
wait_http_worker() { wait_until "$1" "SELECT pid IS NOT NULL FROM helpdesk.worker_status() WHERE kind = 'http'" 15 || fail "no http worker"; }
