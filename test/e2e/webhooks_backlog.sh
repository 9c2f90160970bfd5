#!/usr/bin/env bash
# An endpoint with a backlog holds no one back: two endpoints get the same
# 5,000 messages, one answering at once, one at one request a second (cap 1).
# The window of the fast path (4,096 jobs) fills with the slow one's jobs;
# they become pending rows after 2 s (spilled), and the fast endpoint gets
# all 5,000 while the slow one has sent a handful. Disabling the slow one
# then dead-letters what it has pending, rows and window jobs alike: every
# event has exactly one row per endpoint in the end.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../webhooks/lib.sh"
db=e2e_webhooks_backlog
port=$((HD_TEST_PORT + 35))
N=${WEBHOOK_BACKLOG_MESSAGES:-5000}
wh_setup $db $port "$HD_CLUSTER/webhooks_backlog_sink.jsonl"
fast=$(q $db "SELECT helpdesk.upsert_webhook($tenant, 'fast', 'http://127.0.0.1:$port/ok', '{message.created}', max_in_flight => 32)")
slow=$(q $db "SELECT helpdesk.upsert_webhook($tenant, 'slow', 'http://127.0.0.1:$port/slow?ms=1000', '{message.created}', max_in_flight => 1, timeout => '5 seconds')")
wait_http_worker $db

t0=$(date +%s)
q $db "SELECT count(helpdesk.post_message($tenant, $sess, 'customer', $cust, 'backlog ' || g)) FROM generate_series(1, $N) g" >/dev/null
wait_until $db "SELECT count(*) = $N FROM helpdesk.webhook_delivery WHERE webhook_id = $fast AND state = 'delivered'" 120 ||
	fail "fast endpoint: $(q $db "SELECT count(*) FROM helpdesk.webhook_delivery WHERE webhook_id = $fast AND state = 'delivered'") of $N delivered (held back by the slow one?)"
t1=$(date +%s)
slow_sent=$(count_path "$HD_CLUSTER/webhooks_backlog_sink.jsonl" /slow)
[ "$slow_sent" -le $((t1 - t0 + 5)) ] || fail "slow endpoint sent $slow_sent in $((t1 - t0)) s with a cap of 1 request of 1 s"
spilled=$(q $db "SELECT count(*) FROM helpdesk.webhook_delivery WHERE webhook_id = $slow AND state = 'pending'")
[ "$spilled" -gt 0 ] || fail "no pending rows for the slow endpoint: its window jobs were not spilled"
# disabling the slow endpoint: its pending rows and its jobs still in the window are dead-lettered
q $db "SELECT helpdesk.upsert_webhook($tenant, 'slow', 'http://127.0.0.1:$port/slow?ms=1000', '{message.created}', enabled => false)" >/dev/null
wait_until $db "SELECT count(*) = $N AND count(*) FILTER (WHERE state IN ('pending', 'sending')) = 0 FROM helpdesk.webhook_delivery WHERE webhook_id = $slow" 60 ||
	fail "slow endpoint after disabling: $(q $db "SELECT state, count(*) FROM helpdesk.webhook_delivery WHERE webhook_id = $slow GROUP BY 1")"
[ "$(q $db "SELECT count(DISTINCT event_pos) FROM helpdesk.webhook_delivery WHERE webhook_id = $slow")" = "$N" ] || fail "slow endpoint: not one row per event"
[ "$(q $db "SELECT count(DISTINCT event_pos) FROM helpdesk.webhook_delivery WHERE webhook_id = $fast")" = "$N" ] || fail "fast endpoint: not one row per event"
note "fast endpoint: $N delivered in $((t1 - t0)) s while the slow one sent $slow_sent; $spilled of the slow one's spilled to rows; disabled: all dead-lettered"
echo "webhooks_backlog: ok"
