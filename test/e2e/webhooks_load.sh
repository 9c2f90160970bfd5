#!/usr/bin/env bash
# A backlog against a slow receiver: 10,000 deliveries to an endpoint that
# answers after 100 ms. All are delivered, none times out or is retried,
# the receiver never sees more requests at once than the endpoint's cap,
# and the HTTP worker's memory stays flat while the backlog drains.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../webhooks/lib.sh"
db=e2e_webhooks_load
port=$((HD_TEST_PORT + 33))
N=${WEBHOOK_LOAD_DELIVERIES:-10000}
CAP=50
wh_setup $db $port "$HD_CLUSTER/webhooks_load_sink.jsonl"
hook=$(q $db "SELECT helpdesk.upsert_webhook($tenant, 'load', 'http://127.0.0.1:$port/slow?ms=100', '{message.created}', max_in_flight => $CAP)")
wait_http_worker $db
pid=$(http_pid $db)
# private memory (RssAnon): VmRSS also counts the shared buffers the worker touched
rss() { awk '/^RssAnon/ {print $2}' "/proc/$pid/status"; }

t0=$(date +%s)
q $db "SELECT count(helpdesk.post_message($tenant, $sess, 'customer', $cust, 'load ' || g)) FROM generate_series(1, $N) g" >/dev/null
# a delivery's row is written when its attempt ends (the window holds the rest): wait for the first
wait_until $db "SELECT count(*) > 0 FROM helpdesk.webhook_delivery WHERE webhook_id = $hook" 60 || fail "no delivery made"
samples=()
delivered=0
for ((i = 0; i < 600 && delivered < N; i++)); do
	sleep 1
	delivered=$(q $db "SELECT count(*) FROM helpdesk.webhook_delivery WHERE webhook_id = $hook AND state = 'delivered'")
	samples+=("$delivered:$(rss)")
done
t1=$(date +%s)
[ "$delivered" = "$N" ] || fail "$delivered of $N delivered"
stats=$(sink_stats $port)
max=$(echo "$stats" | jq .max_in_flight)
[ "$max" -le "$CAP" ] || fail "the receiver saw $max requests at once, cap $CAP"
[ "$max" -ge $((CAP / 2)) ] || fail "only $max requests at once: the cap is not used"
[ "$(q $db "SELECT count(*) FROM helpdesk.webhook_attempt WHERE webhook_id = $hook")" = "$N" ] || fail "some deliveries were retried"
[ "$(q $db "SELECT count(*) FROM helpdesk.webhook_attempt WHERE webhook_id = $hook AND error IS NOT NULL")" = 0 ] || fail "errors (timeouts) among the attempts"
[ "$(echo "$stats" | jq .requests)" = "$N" ] || fail "the receiver got $(echo "$stats" | jq .requests) requests"
# memory: from the first sample past 20% of the backlog to the end, RSS grows by less than 4 MB
base= last=
for s in "${samples[@]}"; do
	d=${s%%:*} r=${s##*:}
	if [ -z "$base" ] && [ "$d" -ge $((N / 5)) ]; then base=$r; fi
	last=$r
done
[ -n "$base" ] || fail "no memory sample"
[ $((last - base)) -lt 4096 ] || fail "worker RSS grew from $base kB to $last kB while draining: ${samples[*]}"
[ "$(q $db "SELECT state FROM helpdesk.worker_status() WHERE kind = 'http'")" = active ] && [ "$(http_pid $db)" = "$pid" ] || fail "the worker restarted"
note "$N deliveries in $((t1 - t0)) s, at most $max in flight (cap $CAP), RSS $base -> $last kB"
echo "webhooks_load: ok"
