#!/usr/bin/env bash
# Webhooks end to end against a real HTTP server on 127.0.0.1 (test/webhooks/
# sink.js): Standard Webhooks signatures checked by an independent
# implementation (node crypto, verify.js), the same webhook-id on every
# retry, retries on a shortened schedule, Retry-After, dead letter, 410
# disables, redirects not followed, timeouts, secret rotation, redeliver,
# replay, and the SSRF guard (a name resolving to 127.0.0.1).
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../webhooks/lib.sh"
db=e2e_webhooks
port=$((HD_TEST_PORT + 31))
sinklog=$HD_CLUSTER/webhooks_sink.jsonl
base=http://127.0.0.1:$port
wh_setup $db $port "$sinklog"
post() { q $db "SELECT helpdesk.post_message($tenant, $sess, 'customer', $cust, '$1')" >/dev/null; }
hook() { q $db "SELECT helpdesk.upsert_webhook($tenant, '$1', '$base$2', '{message.created}', retry_schedule => ${3:-NULL}, timeout => ${4:-NULL})"; }
deliveries() { q $db "SELECT count(*) FROM helpdesk.webhook_delivery WHERE webhook_id = $1 AND state = '$2'"; }
wait_http_worker $db

ok=$(hook ok /ok)
flaky=$(hook flaky '/flaky?n=2' "'{0,1s,1s,1s}'")
failing=$(hook failing /fail "'{0,300ms,300ms}'")
gone=$(hook gone /gone)
busy=$(hook busy '/busy?after=2' "'{0,100ms}'")
redirect=$(hook redirect /redirect "'{0}'")
hang=$(hook hang /hang "'{0}'" "'1 second'")
# also the tenant's webhook events, on the ok endpoint's sibling
q $db "SELECT helpdesk.upsert_webhook($tenant, 'ops', '$base/ok-ops', '{webhook.*}')" >/dev/null
post "first"
post "second"

# 1. the ok endpoint: both messages, in commit order, signed, with the Standard Webhooks headers
wait_until $db "SELECT count(*) = 2 FROM helpdesk.webhook_delivery WHERE webhook_id = $ok AND state = 'delivered'" 10 ||
	fail "ok endpoint: $(deliveries $ok delivered) of 2 delivered"
secret=$(q $db "SELECT helpdesk.webhook_secret($tenant, $ok)")
[[ $secret =~ ^whsec_[A-Za-z0-9+/]{43}=$ ]] || fail "generated secret is not whsec_ + base64 of 32 bytes: $secret"
node "$WH_DIR/verify.js" "$sinklog" "$secret" | jq -c "select(.path == \"/ok\")" >"$HD_CLUSTER/wh_ok.jsonl"
[ "$(jq -s 'length' "$HD_CLUSTER/wh_ok.jsonl")" = 2 ] || fail "ok endpoint got $(jq -s length "$HD_CLUSTER/wh_ok.jsonl") requests"
[ "$(jq -s 'all(.ok)' "$HD_CLUSTER/wh_ok.jsonl")" = true ] || fail "a signature did not verify: $(cat "$HD_CLUSTER/wh_ok.jsonl")"
version=$(q $db "SELECT extversion FROM pg_extension WHERE extname = 'pg_helpdesk'")
[ "$(jq -s 'all(.ua == "pg_helpdesk/'"$version"'" and .ct == "application/json")' "$HD_CLUSTER/wh_ok.jsonl")" = true ] ||
	fail "user-agent or content-type wrong: $(head -1 "$HD_CLUSTER/wh_ok.jsonl")"
bodies=$(jq -r 'select(.path == "/ok" and .headers["webhook-id"] != null) | .body' "$sinklog")
[ "$(echo "$bodies" | jq -r '.data.message.body' | paste -sd,)" = "first,second" ] || fail "ok endpoint: not in commit order: $bodies"
[ "$(echo "$bodies" | jq -r 'select(.type == "message.created" and (.timestamp | test("Z$")) and .data.customer.id == '"$cust"' and .data.session.id == '"$sess"') | .type' | wc -l)" = 2 ] ||
	fail "payload lacks type/timestamp/customer/session: $bodies"
node "$WH_DIR/verify.js" "$sinklog" "whsec_$(head -c 32 /dev/urandom | base64)" | jq -s -e 'any(.[]; .path == "/ok" and .ok)' >/dev/null &&
	fail "a wrong secret verified"
note "signed deliveries verified by node crypto, in commit order"

# 2. flaky (500, 500, 200): three requests, one webhook-id per event, about 1 s apart
wait_until $db "SELECT count(*) = 2 FROM helpdesk.webhook_delivery WHERE webhook_id = $flaky AND state = 'delivered'" 15 ||
	fail "flaky: $(deliveries $flaky delivered) delivered"
[ "$(jq -r 'select(.path == "/flaky") | .headers["webhook-id"]' "$sinklog" | sort | uniq -c | awk '{print $1}' | paste -sd,)" = "3,3" ] ||
	fail "flaky: not 3 requests per webhook-id: $(jq -r 'select(.path == "/flaky") | .headers["webhook-id"]' "$sinklog" | sort | uniq -c)"
gaps=$(jq -s -r '[.[] | select(.path == "/flaky")] | group_by(.headers["webhook-id"]) | map((.[1].at - .[0].at), (.[2].at - .[1].at)) | map(tostring) | join(",")' "$sinklog")
for g in ${gaps//,/ }; do [ "$g" -ge 850 ] && [ "$g" -le 1600 ] || fail "flaky: retry gap ${g} ms not ~1 s (+-10% jitter): $gaps"; done
[ "$(q $db "SELECT string_agg(a.status::text, ',' ORDER BY a.attempt) FROM helpdesk.webhook_attempt a JOIN helpdesk.webhook_delivery d ON d.tenant_id = a.tenant_id AND d.id = a.delivery_id WHERE d.webhook_id = $flaky GROUP BY d.id LIMIT 1")" = "500,500,200" ] ||
	fail "flaky: attempt log is not 500,500,200"
note "retries: same webhook-id, gaps $gaps ms"

# 3. failing: dead-lettered after its 3 attempts, with an event
wait_until $db "SELECT count(*) = 2 FROM helpdesk.webhook_delivery WHERE webhook_id = $failing AND state = 'dead' AND attempts = 3" 10 ||
	fail "failing: not dead after 3 attempts: $(q $db "SELECT state, attempts FROM helpdesk.webhook_delivery WHERE webhook_id = $failing")"
wait_until $db "SELECT count(*) = 2 FROM helpdesk.event WHERE type = 'webhook.dead_letter' AND payload->>'webhook_id' = '$failing' AND payload->>'reason' = 'schedule_exhausted'" 5 ||
	fail "failing: no webhook.dead_letter events"
[ "$(q $db "SELECT response FROM helpdesk.webhook_attempt WHERE webhook_id = $failing LIMIT 1")" = "failing on purpose" ] || fail "response body not logged"
note "dead letter after the schedule"

# 4. gone: disabled at the first 410, the other delivery dead-lettered, an event
wait_until $db "SELECT NOT enabled AND disabled_reason = 'gone' FROM helpdesk.webhook WHERE id = $gone" 10 || fail "410 did not disable"
wait_until $db "SELECT count(*) = 1 FROM helpdesk.event WHERE type = 'webhook.disabled' AND payload->>'webhook_id' = '$gone'" 5 || fail "no webhook.disabled event"
wait_until $db "SELECT count(*) FILTER (WHERE state = 'dead') >= 1 AND count(*) FILTER (WHERE state <> 'dead') = 0 FROM helpdesk.webhook_delivery WHERE webhook_id = $gone" 5 ||
	fail "gone: deliveries not all dead"
gone_n=$(q $db "SELECT count(*) FROM helpdesk.webhook_delivery WHERE webhook_id = $gone")
wait_until $db "SELECT count(*) >= 1 FROM helpdesk.webhook_delivery d JOIN helpdesk.webhook w ON w.tenant_id = d.tenant_id AND w.id = d.webhook_id WHERE w.external_id = 'ops' AND d.event_type = 'webhook.disabled' AND d.state = 'delivered'" 10 ||
	fail "webhook.disabled not delivered to the ops endpoint"
post "third"
sleep 0.5
[ "$(q $db "SELECT count(*) FROM helpdesk.webhook_delivery WHERE webhook_id = $gone")" = "$gone_n" ] || fail "disabled endpoint still gets deliveries"
[ "$(jq -s '[.[] | select(.path == "/gone")] | length' "$sinklog")" = "$gone_n" ] || fail "gone: more requests than deliveries"
note "410 disables the endpoint"

# 5. 429 with Retry-After: 2 — the second attempt waits 2 s although the schedule says 100 ms
wait_until $db "SELECT count(*) = 3 FROM helpdesk.webhook_delivery WHERE webhook_id = $busy AND state = 'dead'" 15 || fail "busy: not dead"
gap=$(jq -s -r '[.[] | select(.path == "/busy")] | group_by(.headers["webhook-id"]) | .[0] | (.[1].at - .[0].at)' "$sinklog")
[ "$gap" -ge 1900 ] || fail "429 Retry-After: 2 not honoured, retried after $gap ms"
note "Retry-After honoured ($gap ms)"

# 6. redirects are not followed (302 fails); a hanging server times out at the endpoint's 1 s
wait_until $db "SELECT count(*) = 3 FROM helpdesk.webhook_delivery WHERE webhook_id = $redirect AND state = 'dead' AND last_status = 302" 10 || fail "302 not a failure"
[ "$(jq -s '[.[] | select(.path == "/redirect")] | length' "$sinklog")" = 3 ] || fail "302: not one request per delivery"
wait_until $db "SELECT count(*) = 3 FROM helpdesk.webhook_delivery WHERE webhook_id = $hang AND state = 'dead'" 15 || fail "hang: not dead"
[ "$(q $db "SELECT bool_and(error ~* 'timed? ?out' AND latency_us BETWEEN 900000 AND 3000000) FROM helpdesk.webhook_attempt WHERE webhook_id = $hang")" = t ] ||
	fail "hang: not a ~1 s timeout: $(q $db "SELECT error, latency_us FROM helpdesk.webhook_attempt WHERE webhook_id = $hang")"
note "302 not followed, hanging server timed out"

# 7. redeliver a dead delivery after fixing the endpoint: same webhook-id, delivered
dead=$(q $db "SELECT min(id) FROM helpdesk.webhook_delivery WHERE webhook_id = $failing")
dead_msg=$(q $db "SELECT msg_id FROM helpdesk.webhook_delivery WHERE id = $dead")
q $db "SELECT helpdesk.upsert_webhook($tenant, 'failing', '$base/ok-fixed', '{message.created}')" >/dev/null
[ "$(q $db "SELECT helpdesk.redeliver($tenant, $dead)")" = "$dead" ] || fail "redeliver did not return the id"
wait_until $db "SELECT state = 'delivered' FROM helpdesk.webhook_delivery WHERE id = $dead" 10 || fail "redelivered delivery not delivered"
# jq -e judges only the last line's result: slurp and ask for any line (a
# later delivery's line after it made this fail in a CI run)
jq -s -e "any(.[]; .headers[\"webhook-id\"] == \"$dead_msg\" and .path == \"/ok-fixed\")" "$sinklog" >/dev/null || fail "redelivery did not carry $dead_msg"
note "redeliver: $dead_msg delivered"

# 8. replay the ok endpoint from position 0: every message.created again, with the same ids
ids_before=$(jq -r 'select(.path == "/ok" and (.body | fromjson | .type) == "message.created") | .headers["webhook-id"]' "$sinklog" | grep "_$ok\$" | sort -u | paste -sd,)
n=$(q $db "SELECT helpdesk.replay_webhooks($tenant, $ok, 0)")
[ "$n" = 3 ] || fail "replay made $n deliveries, want 3"
wait_until $db "SELECT count(*) = 6 FROM helpdesk.webhook_delivery WHERE webhook_id = $ok AND state = 'delivered'" 10 || fail "replay not delivered"
ids_after=$(jq -r 'select(.path == "/ok" and (.body | fromjson | .type) == "message.created") | .headers["webhook-id"]' "$sinklog" | grep "_$ok\$" | sort | uniq -c | awk '$1 == 2 {print $2}' | paste -sd,)
[ -n "$ids_before" ] && [[ $ids_after == *"$(echo "$ids_before" | cut -d, -f1)"* ]] || fail "replay ids differ: before $ids_before after $ids_after"
note "replay: 3 deliveries, same webhook-ids"

# 9. rotation: a new secret; for 24 h both sign, and both verify independently
old=$(q $db "SELECT helpdesk.webhook_secret($tenant, $ok)")
new="whsec_$(head -c 32 /dev/urandom | base64)"
q $db "SELECT helpdesk.upsert_webhook($tenant, 'ok', '$base/ok', '{message.created}', secret => '$new')" >/dev/null
[ "$(q $db "SELECT helpdesk.webhook_secret($tenant, $ok)")" = "$new" ] || fail "webhook_secret is not the new secret"
post "rotated"
wait_until $db "SELECT count(*) = 7 FROM helpdesk.webhook_delivery WHERE webhook_id = $ok AND state = 'delivered'" 10 || fail "rotated delivery not delivered"
rot=$(jq -c 'select(.path == "/ok" and (.body | fromjson | .data.message.body) == "rotated")' "$sinklog" | sed -n 1p)
echo "$rot" >"$HD_CLUSTER/wh_rot.jsonl"
[ "$(node "$WH_DIR/verify.js" "$HD_CLUSTER/wh_rot.jsonl" "$new" | jq -r '"\(.ok) \(.nsig)"')" = "true 2" ] || fail "new secret does not verify, or not two signatures"
[ "$(node "$WH_DIR/verify.js" "$HD_CLUSTER/wh_rot.jsonl" "$old" | jq -r .ok)" = true ] || fail "old secret does not verify during rotation"
note "rotation: two signatures, each verifies"

# 10. SSRF: with no allowed hosts, http://localhost (resolves to 127.0.0.1) is refused at connect
set_http http_allowed_hosts ''
before=$(count_path "$sinklog" /ok)
ssrf=$(q $db "SELECT helpdesk.upsert_webhook($tenant, 'ssrf', 'http://localhost:$port/ok-ssrf', '{message.created}', retry_schedule => '{0}')")
post "ssrf"
wait_until $db "SELECT count(*) = 1 FROM helpdesk.webhook_delivery WHERE webhook_id = $ssrf AND state = 'dead'" 10 || fail "ssrf: delivery not dead"
err=$(q $db "SELECT error FROM helpdesk.webhook_attempt WHERE webhook_id = $ssrf")
[[ $err == *"SSRF guard"*"loopback"* ]] || fail "ssrf: error is not the guard's: $err"
set_http http_allowed_hosts 'localhost'
q $db "SELECT helpdesk.redeliver($tenant, (SELECT id FROM helpdesk.webhook_delivery WHERE webhook_id = $ssrf))" >/dev/null
wait_until $db "SELECT count(*) = 1 FROM helpdesk.webhook_delivery WHERE webhook_id = $ssrf AND state = 'delivered'" 10 || fail "ssrf: allowed by name but not delivered"
note "SSRF: localhost refused ($err), allowed by name"

# 11. the worker is woken by COMMIT: commit -> received well under the 1 s sweep
set_http http_allowed_hosts '127.0.0.1/32'
t0=$(date +%s%3N)
post "latency"
wait_until $db "SELECT count(*) = 9 FROM helpdesk.webhook_delivery WHERE webhook_id = $ok AND state = 'delivered'" 5 || fail "latency delivery missing"
t1=$(jq -r 'select((.body | fromjson | .data.message.body) == "latency" and .path == "/ok") | .at' "$sinklog" | sed -n 1p)
[ $((t1 - t0)) -lt 500 ] || fail "commit -> received took $((t1 - t0)) ms"
note "commit -> received $((t1 - t0)) ms (psql start included)"

# 12. prune: finished deliveries older than keep go, with their attempts
[ "$(q $db "SELECT helpdesk.prune_webhook_deliveries('1 hour')")" = 0 ] || fail "prune removed fresh deliveries"
wait_until $db "SELECT count(*) = 0 FROM helpdesk.webhook_delivery WHERE webhook_id = $failing AND finished_at IS NULL" 5 || fail "failing endpoint still has work"
old_n=$(q $db "SELECT count(*) FROM helpdesk.webhook_delivery WHERE webhook_id = $failing")
q $db "UPDATE helpdesk.webhook_delivery SET finished_at = finished_at - interval '2 hours' WHERE webhook_id = $failing" >/dev/null
[ "$(q $db "SELECT helpdesk.prune_webhook_deliveries('1 hour')")" = "$old_n" ] || fail "prune did not remove the $old_n old deliveries"
[ "$(q $db "SELECT count(*) FROM helpdesk.webhook_attempt WHERE webhook_id = $failing")" = 0 ] || fail "attempts of pruned deliveries remain"
# 13. a bad row is marked and skipped: a secret that no longer opens dead-letters its
#     delivery ("bad row"), the worker stays up and the others still go out
pid=$(http_pid $db)
bad=$(q $db "SELECT helpdesk.upsert_webhook($tenant, 'bad', '$base/ok-bad', '{message.created}')")
q $db "UPDATE helpdesk.webhook SET secret = '\\x01'::bytea || gen_random_uuid()::text::bytea WHERE id = $bad" >/dev/null
post "bad row"
wait_until $db "SELECT state = 'dead' AND last_error LIKE 'bad row:%' FROM helpdesk.webhook_delivery WHERE webhook_id = $bad" 10 ||
	fail "bad row not marked: $(q $db "SELECT state, last_error FROM helpdesk.webhook_delivery WHERE webhook_id = $bad")"
wait_until $db "SELECT count(*) = 1 FROM helpdesk.event WHERE type = 'webhook.dead_letter' AND payload->>'reason' = 'bad_row'" 5 || fail "no dead_letter event for the bad row"
wait_until $db "SELECT count(*) = 10 FROM helpdesk.webhook_delivery WHERE webhook_id = $ok AND state = 'delivered'" 10 || fail "the good endpoint stopped with the bad row"
[ "$(http_pid $db)" = "$pid" ] || fail "the worker restarted on a bad row"
note "bad row marked and skipped, worker $pid still up"

# 14. an endpoint failing for helpdesk.webhook_disable_after (1 s here) is disabled
set_http webhook_disable_after 1s
failing2=$(hook failing2 /fail "'{0,1500ms,1500ms}'")
post "failing for long"
wait_until $db "SELECT NOT enabled AND disabled_reason = 'failing' FROM helpdesk.webhook WHERE id = $failing2" 15 ||
	fail "failing endpoint not disabled: $(q $db "SELECT enabled, failing_since FROM helpdesk.webhook WHERE id = $failing2")"
wait_until $db "SELECT count(*) = 1 FROM helpdesk.event WHERE type = 'webhook.disabled' AND payload->>'webhook_id' = '$failing2' AND payload->>'reason' = 'failing'" 5 ||
	fail "no webhook.disabled event (failing)"
note "failing endpoint disabled after helpdesk.webhook_disable_after"

# 15. SIGTERM with requests in flight: the worker is gone within 1 s; what it had in flight is sent again
#     (a first attempt in flight has no row yet: the receiver sees it twice, with one webhook-id)
hang2=$(hook hang2 /hang "'{0}'" "'30 seconds'")
hang_ids() { jq -r 'select(.path == "/hang" and (.body | fromjson | .data.message.body) == "in flight at SIGTERM") | .headers["webhook-id"]' "$sinklog"; }
post "in flight at SIGTERM"
for ((i = 0; i < 100; i++)); do [ -n "$(hang_ids)" ] && break; sleep 0.1; done
[ -n "$(hang_ids)" ] || fail "hang2 not in flight"
pid=$(http_pid $db)
t0=$(date +%s%3N)
q $db "SELECT pg_terminate_backend($pid)" >/dev/null
for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.01; done
t1=$(date +%s%3N)
kill -0 "$pid" 2>/dev/null && fail "the worker did not exit within 1 s of SIGTERM"
[ $((t1 - t0)) -lt 1000 ] || fail "SIGTERM took $((t1 - t0)) ms"
wait_until $db "SELECT coalesce((SELECT pid FROM helpdesk.worker_status() WHERE kind = 'http'), 0) NOT IN (0, $pid)" 20 || fail "worker not restarted"
for ((i = 0; i < 200; i++)); do [ "$(hang_ids | wc -l)" -ge 2 ] && break; sleep 0.1; done
[ "$(hang_ids | wc -l)" = 2 ] && [ "$(hang_ids | sort -u | wc -l)" = 1 ] ||
	fail "the in-flight delivery was not sent again (once, same webhook-id) after the restart: $(hang_ids | paste -sd,)"
[ "$(q $db "SELECT count(*) FROM helpdesk.webhook_delivery WHERE webhook_id = $hang2")" = 0 ] || fail "hang2: a row before its attempt ended"
q $db "SELECT helpdesk.upsert_webhook($tenant, 'hang2', '$base/hang', '{message.created}', enabled => false)" >/dev/null
note "SIGTERM with a request in flight: exited in $((t1 - t0)) ms, resent after the restart with the same webhook-id"
echo "webhooks: ok"
