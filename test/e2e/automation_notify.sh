#!/usr/bin/env bash
# The rule actions send_webhook and ask_csat with the real rules worker and
# HTTP worker: a customer message fires a rule that sends two webhooks to a
# real server on 127.0.0.1 (test/webhooks/sink.js) — signed (verified by node
# crypto, verify.js), type automation.rule with the session, the flaky one
# retried with the same webhook-id until it answers 200 — and one to an
# unknown webhook, audited as an error while the others go on; ask_csat asks
# the session's survey (csat row, csat message), once: a second firing is
# audited as an error.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../webhooks/lib.sh"
db=e2e_rule_notify
port=$((HD_TEST_PORT + 33))
sinklog=$HD_CLUSTER/rule_notify_sink.jsonl
base=http://127.0.0.1:$port
wh_setup $db $port "$sinklog"
wait_http_worker $db
wait_until $db "SELECT count(*) = 2 FROM helpdesk.worker_status() WHERE kind IN ('dispatcher', 'rules') AND pid IS NOT NULL" 30 || fail "no dispatcher or rules worker"
ops=$(q $db "SELECT helpdesk.upsert_webhook($tenant, 'ops', '$base/ok-rule', '{ticket.created}')")
flaky=$(q $db "SELECT helpdesk.upsert_webhook($tenant, 'flaky', '$base/flaky?n=2', '{ticket.created}', retry_schedule => '{0,1s,1s,1s}')")
q $db "SELECT helpdesk.set_csat($tenant, 'on')" >/dev/null
rule() { q $db "SELECT helpdesk.upsert_rule($tenant, '$1', 'message.created', '$2', '$3')" >/dev/null; }
rule notify '{"field": "message.body", "op": "equal", "value": "escalate"}' \
	'[{"type": "send_webhook", "webhook": "ops"}, {"type": "send_webhook", "webhook": "nope"}, {"type": "send_webhook", "webhook": "flaky"}]'
rule rate '{"field": "message.body", "op": "equal", "value": "rate"}' '[{"type": "ask_csat"}]'
sleep 0.5
post() { q $db "SELECT helpdesk.post_message($tenant, $sess, 'customer', $cust, '$1')" >/dev/null; }

post escalate
wait_until $db "SELECT count(*) = 2 FROM helpdesk.webhook_delivery WHERE event_type = 'automation.rule' AND state = 'delivered'" 15 ||
	fail "rule webhooks: $(q $db "SELECT string_agg(webhook_id || ':' || state, ' ') FROM helpdesk.webhook_delivery")"
[ "$(q $db "SELECT r.errors || ' ' || (r.actions->1->>'error') FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id WHERE u.name = 'notify'")" = "1 webhook \"nope\" does not exist in the tenant" ] ||
	fail "audit of notify: $(q $db "SELECT r.actions FROM helpdesk.automation_rule_run r")"
for w in ops flaky; do
	secret=$(q $db "SELECT helpdesk.webhook_secret($tenant, $(eval echo \$$w))")
	path=$([ $w = ops ] && echo /ok-rule || echo /flaky)
	node "$WH_DIR/verify.js" "$sinklog" "$secret" | jq -c "select(.path == \"$path\")" >"$HD_CLUSTER/rn_$w.jsonl"
	[ "$(jq -s 'length > 0 and all(.ok)' "$HD_CLUSTER/rn_$w.jsonl")" = true ] || fail "$w: signature did not verify: $(cat "$HD_CLUSTER/rn_$w.jsonl")"
done
[ "$(jq -r "select(.path == \"/flaky\") | .headers[\"webhook-id\"]" "$sinklog" | sort | uniq -c | awk '{print $1}')" = 3 ] ||
	fail "flaky: not 3 requests with one webhook-id: $(jq -r 'select(.path == "/flaky") | .headers["webhook-id"]' "$sinklog")"
body=$(jq -r 'select(.path == "/ok-rule") | .body' "$sinklog")
[ "$(echo "$body" | jq -r '[.type, .data.rule, .data.event, (.data.session.id | tostring), (.timestamp | test("Z$") | tostring)] | join(" ")')" = "automation.rule notify message.created $sess true" ] ||
	fail "webhook body: $body"
note "send_webhook: signed, delivered, retried with one webhook-id (3 requests), body automation.rule with the session; an unknown webhook audited"

post rate
wait_until $db "SELECT EXISTS (SELECT 1 FROM helpdesk.csat WHERE session_id = $sess)" 5 || fail "ask_csat asked nothing"
[ "$(q $db "SELECT count(*) FROM helpdesk.message WHERE session_id = $sess AND type = 'csat'")" = 1 ] || fail "no csat message"
post rate
wait_until $db "SELECT count(*) = 2 FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id WHERE u.name = 'rate'" 5 ||
	fail "second rate did not run"
[ "$(q $db "SELECT r.errors FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id WHERE u.name = 'rate' ORDER BY r.id DESC LIMIT 1")" = 1 ] ||
	fail "a second ask_csat in the session should be audited as an error"
[ "$(q $db "SELECT count(*) FROM helpdesk.csat WHERE session_id = $sess")" = 1 ] || fail "asked twice"
note "ask_csat: the survey asked once (row and message); a second time audited as an error"
echo "automation_notify: ok"
