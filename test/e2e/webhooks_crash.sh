#!/usr/bin/env bash
# At least once, across crashes: messages are posted while webhook requests
# are in flight to a slow receiver; the HTTP worker is killed with SIGKILL
# (the postmaster restarts every process) and later PostgreSQL is restarted
# with -m immediate. Every message.created event reaches the receiver at
# least once, a duplicate carries the same webhook-id, none is lost (the
# test counts); the worker resends what it had in flight (recover()).
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../../scripts/lib.sh"
source "$(dirname "$0")/../webhooks/lib.sh"
db=e2e_webhooks_crash
port=$((HD_TEST_PORT + 32))
sinklog=$HD_CLUSTER/webhooks_crash_sink.jsonl
N=${WEBHOOK_CRASH_MESSAGES:-600}
wh_setup $db $port "$sinklog"
hook=$(q $db "SELECT helpdesk.upsert_webhook($tenant, 'crash', 'http://127.0.0.1:$port/slow?ms=2000', '{message.created}', retry_schedule => '{0,200ms,200ms,200ms,200ms,200ms,200ms,200ms}', max_in_flight => 40)")
wait_http_worker $db

# post m1..mN, each until it is known to be stored (client_msg_id makes a retry after a crash idempotent)
post_all() {
	local i
	for ((i = 1; i <= N; i++)); do
		until psql -qXAt -d $db -c "SELECT helpdesk.post_message($tenant, $sess, 'customer', $cust, 'm$i', client_msg_id => 'm$i')" >/dev/null 2>&1; do
			sleep 0.2
		done
		[ $((i % 50)) -eq 0 ] && sleep 0.1
	done
}
post_all &
poster=$!

# requests the receiver holds (a first attempt has no row while in flight: it is written when it ends)
in_flight() { sink_stats $port | jq .in_flight; }
wait_in_flight() { local i; for ((i = 0; i < 600; i++)); do [ "$(in_flight)" -ge 5 ] && return 0; sleep 0.1; done; return 1; }
# 1. SIGKILL while requests are in flight
wait_in_flight || fail "nothing in flight to kill"
pid=$(http_pid $db)
flying=$(in_flight)
kill -9 "$pid"
note "killed the http worker ($pid) with $flying requests in flight"
sleep 2
wait_until $db "SELECT true" 60 || fail "server did not come back after the crash"
wait_until $db "SELECT coalesce((SELECT pid FROM helpdesk.worker_status() WHERE kind = 'http'), 0) NOT IN (0, $pid)" 30 || fail "http worker not back after SIGKILL"

# 2. an immediate restart of PostgreSQL while requests are in flight
wait_in_flight || fail "nothing in flight before the restart"
flying=$(in_flight)
as_pg "$PGBIN/pg_ctl" -D "$HD_CLUSTER/data" -l "$HD_CLUSTER/postgres.log" -m immediate -w -t 60 restart >/dev/null || fail "pg_ctl restart -m immediate failed"
note "restarted PostgreSQL -m immediate with $flying requests in flight"
wait_until $db "SELECT true" 60 || fail "server did not come back after the restart"

wait "$poster" || fail "poster failed"
wait_until $db "SELECT count(*) = $N FROM helpdesk.message WHERE session_id = $sess AND client_msg_id LIKE 'm%'" 30 || fail "not all $N messages stored"
wait_until $db "SELECT count(*) = $N AND bool_and(state = 'delivered') FROM helpdesk.webhook_delivery WHERE webhook_id = $hook" 120 ||
	fail "deliveries: $(q $db "SELECT state, count(*) FROM helpdesk.webhook_delivery WHERE webhook_id = $hook GROUP BY 1")"

# the receiver's view: every message at least once, one webhook-id per message
jq -r 'select(.path == "/slow") | [(.body | fromjson | .data.message.body), .headers["webhook-id"]] | @tsv' "$sinklog" | sort -u >"$HD_CLUSTER/crash_pairs.tsv"
got=$(cut -f1 "$HD_CLUSTER/crash_pairs.tsv" | sort -u | wc -l)
[ "$got" = "$N" ] || fail "the receiver got $got of $N messages"
[ "$(wc -l <"$HD_CLUSTER/crash_pairs.tsv")" = "$N" ] || fail "a message came with two webhook-ids: $(cut -f1 "$HD_CLUSTER/crash_pairs.tsv" | uniq -d | head -3)"
total=$(jq -s '[.[] | select(.path == "/slow")] | length' "$sinklog")
note "$N messages, $total requests ($((total - N)) duplicates, each with its message's webhook-id), none lost"
echo "webhooks_crash: ok"
