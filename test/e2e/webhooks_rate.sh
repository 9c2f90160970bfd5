#!/usr/bin/env bash
# Per-endpoint rate limits (upsert_webhook(rate_limit, rate_burst)): two
# endpoints get the same messages at once, one limited to RATE/s with a
# burst of BURST, one without a limit. The free one gets all of them at once
# (not held behind the limited one); the limited one receives, in every
# stretch of its receive times, at most BURST + RATE/s x the stretch (the
# token bucket), all of them in the end, and the worker sleeps between its
# tokens instead of polling (its CPU time while only the limited endpoint
# waits is a small fraction of the wall time).
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../webhooks/lib.sh"
db=e2e_webhooks_rate
port=$((HD_TEST_PORT + 77))
N=${WEBHOOK_RATE_MESSAGES:-200}
RATE=20
BURST=5
sinklog=$HD_CLUSTER/webhooks_rate_sink.jsonl
wh_setup $db $port "$sinklog"
limited=$(q $db "SELECT helpdesk.upsert_webhook($tenant, 'limited', 'http://127.0.0.1:$port/ok-limited', '{message.created}', rate_limit => $RATE, rate_burst => $BURST)")
free=$(q $db "SELECT helpdesk.upsert_webhook($tenant, 'free', 'http://127.0.0.1:$port/ok-free', '{message.created}')")
[ "$(q $db "SELECT rate_limit || '/' || rate_burst FROM helpdesk.webhook WHERE id = $limited")" = "$RATE/$BURST" ] || fail "rate limit not stored"
wait_http_worker $db
pid=$(http_pid $db)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }

t0=$(date +%s%N)
q $db "SELECT count(helpdesk.post_message($tenant, $sess, 'customer', $cust, 'rate ' || g)) FROM generate_series(1, $N) g" >/dev/null
wait_until $db "SELECT count(*) = $N FROM helpdesk.webhook_delivery WHERE webhook_id = $free AND state = 'delivered'" 60 ||
	fail "free endpoint: $(q $db "SELECT count(*) FROM helpdesk.webhook_delivery WHERE webhook_id = $free AND state = 'delivered'") of $N delivered"
t_free=$((($(date +%s%N) - t0) / 1000000))
sent_then=$(count_path "$sinklog" /ok-limited)
# the limited endpoint needs (N - BURST) / RATE s at least; the free one was not held behind it
min_ms=$(((N - BURST) * 1000 / RATE))
[ "$t_free" -lt $((min_ms / 2)) ] || fail "free endpoint took $t_free ms for $N deliveries (the limited one needs $min_ms ms)"
[ "$sent_then" -lt "$N" ] || fail "the limited endpoint had all $N already after $t_free ms"

# the worker while only the limited endpoint waits: sleeping between tokens, not polling
c0=$(cpu "$pid")
sleep 2
c1=$(cpu "$pid")
cpu_ms=$(((c1 - c0) * 1000 / $(getconf CLK_TCK)))
[ "$cpu_ms" -le 300 ] || fail "the HTTP worker used $cpu_ms ms of CPU in 2 s with only rate-limited deliveries waiting (busy loop?)"

wait_until $db "SELECT count(*) = $N FROM helpdesk.webhook_delivery WHERE webhook_id = $limited AND state = 'delivered'" 60 ||
	fail "limited endpoint: $(q $db "SELECT count(*) FROM helpdesk.webhook_delivery WHERE webhook_id = $limited AND state = 'delivered'") of $N delivered"
[ "$(q $db "SELECT count(*) FROM helpdesk.webhook_attempt WHERE webhook_id = $limited")" = "$N" ] || fail "the limited endpoint's deliveries took more than one attempt each"

# every stretch of receive times [t_i, t_j]: at most BURST + RATE x (t_j - t_i) requests
# (+1: the sink's clock against the worker's, a millisecond apart)
jq -r 'select(.path == "/ok-limited") | .at' "$sinklog" | sort -n >"$sinklog.limited"
[ "$(wc -l <"$sinklog.limited")" -ge "$N" ] || fail "the sink logged $(wc -l <"$sinklog.limited") requests of the limited endpoint"
worst=$(awk -v r=$RATE -v b=$BURST '{t[NR] = $1} END {
	w = -1e9
	for (i = 1; i <= NR; i++) for (j = i; j <= NR; j++) { x = (j - i + 1) - (b + r * (t[j] - t[i]) / 1000); if (x > w) { w = x; wi = i; wj = j } }
	printf "%.2f %d %d\n", w, wj - wi + 1, t[wj] - t[wi] }' "$sinklog.limited")
read -r excess count span <<<"$worst"
awk -v x="$excess" 'BEGIN {exit !(x <= 1)}' ||
	fail "the limited endpoint received $count requests in $span ms: more than $BURST + $RATE/s"
first=$(head -1 "$sinklog.limited")
last=$(tail -1 "$sinklog.limited")
span_all=$((last - first))
[ "$span_all" -ge $((min_ms * 9 / 10)) ] || fail "the limited endpoint received $N in $span_all ms (at $RATE/s with a burst of $BURST: at least $min_ms ms)"
note "free endpoint: $N in $t_free ms; limited ($RATE/s, burst $BURST): $N over $span_all ms (at least $min_ms ms at that rate), worst stretch $count in $span ms; worker CPU $cpu_ms ms in 2 s of waiting for tokens"
echo "webhooks_rate: ok"
