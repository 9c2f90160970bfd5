#!/usr/bin/env bash
# Webhook payloads of tickets and surveys at a real receiver (test/webhooks/
# sink.js on 127.0.0.1): ticket.created, ticket.updated (a status change), a
# ticket's csat.submitted and a session's csat.submitted each arrive once,
# signed (checked by node crypto, verify.js), and carry what a receiver needs
# without calling back: the ticket (or the session) and the customer summary.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../webhooks/lib.sh"
db=e2e_webhooks_payloads
port=$((HD_TEST_PORT + 84))
sinklog=$HD_CLUSTER/webhooks_payloads_sink.jsonl
wh_setup $db $port "$sinklog"
wait_http_worker $db

hook=$(q $db "SELECT helpdesk.upsert_webhook($tenant, 'tickets', 'http://127.0.0.1:$port/ok-tickets', '{ticket.*,csat.submitted}')")
secret=$(q $db "SELECT helpdesk.webhook_secret($tenant, $hook)")
q $db "SELECT helpdesk.set_csat($tenant, 'on')" >/dev/null
q $db "SELECT helpdesk.upsert_customer($tenant, 'cust-1', display_name => 'Mei', vip_level => 4, language => 'zh-cn')" >/dev/null
agent=$(q $db "SELECT helpdesk.upsert_agent($tenant, 'ana', 'Ana', max_sessions => 5)")

# a ticket: created, resolved by the agent (ticket.updated, status), rated
ticket=$(q $db "SELECT ticket_id FROM helpdesk.create_ticket($tenant, $cust, 'lost my sword', 'it vanished', priority => 'high', issue_type => 'items', tags => '{pvp}')")
q $db "SELECT helpdesk.set_ticket_status($tenant, $ticket, 'resolved', 'agent', $agent)" >/dev/null
q $db "SELECT helpdesk.submit_csat($tenant, 'ticket', $ticket, $cust, 4, 'quick')" >/dev/null

# a chat with the agent, closed by it, rated
q $db "SELECT helpdesk.set_agent_status($tenant, $agent, 'online')" >/dev/null
wait_until $db "SELECT state = 'offered' AND agent_id = $agent FROM helpdesk.session WHERE id = $sess" 15 ||
	fail "session $sess not offered: $(q $db "SELECT state, agent_id FROM helpdesk.session WHERE id = $sess")"
q $db "SELECT helpdesk.accept_offer($tenant, $agent, $sess)" >/dev/null
q $db "SELECT helpdesk.close_session($tenant, $sess, NULL, 'agent', $agent)" >/dev/null
q $db "SELECT helpdesk.submit_csat($tenant, 'session', $sess, $cust, 5)" >/dev/null

# every matching event once: ticket.created, ticket.updated, csat.submitted x 2
want=$(q $db "SELECT count(*) FROM helpdesk.event WHERE tenant_id = $tenant AND audience = 'tenant' AND (type LIKE 'ticket.%' OR type = 'csat.submitted')")
wait_until $db "SELECT count(*) = $want FROM helpdesk.webhook_delivery WHERE webhook_id = $hook AND state = 'delivered'" 15 ||
	fail "$(q $db "SELECT count(*) FROM helpdesk.webhook_delivery WHERE webhook_id = $hook AND state = 'delivered'") of $want delivered"
sleep 0.5
bodies=$HD_CLUSTER/wh_payloads.jsonl
jq -c 'select(.path == "/ok-tickets") | .body | fromjson' "$sinklog" >"$bodies"
[ "$(jq -s 'length' "$bodies")" = "$want" ] || fail "the receiver got $(jq -s length "$bodies") requests, not $want (a duplicate copy?): $(jq -c '[.type, .data.audience]' "$bodies" | paste -sd' ')"
[ "$(jq -s '[.[] | select(.type == "csat.submitted")] | length' "$bodies")" = 2 ] || fail "not one csat.submitted per survey: $(jq -c '[.type, .data.audience]' "$bodies" | paste -sd' ')"
node "$WH_DIR/verify.js" "$sinklog" "$secret" | jq -s -e 'map(select(.path == "/ok-tickets")) | length > 0 and all(.ok)' >/dev/null ||
	fail "a signature did not verify: $(node "$WH_DIR/verify.js" "$sinklog" "$secret" | head -3)"
node "$WH_DIR/verify.js" "$sinklog" "whsec_$(head -c 32 /dev/urandom | base64)" | jq -s -e 'any(.[]; .path == "/ok-tickets" and .ok)' >/dev/null &&
	fail "a wrong secret verified"
note "$want deliveries, each once, signatures verified by node crypto"

customer_ok='.data.customer.id == '"$cust"' and .data.customer.external_id == "cust-1" and .data.customer.display_name == "Mei" and .data.customer.vip_level == 4 and .data.customer.language == "zh-cn"'
ticket_ok='.data.ticket.id == '"$ticket"' and (.data.ticket.number | type) == "number" and .data.ticket.subject == "lost my sword" and .data.ticket.priority == "high" and .data.ticket.issue_type == "items" and .data.ticket.tags == ["pvp"] and (.data.ticket | has("queue_id") and has("assignee_id") and has("created_at")) and .data.session == null and .data.message == null'
check() {	# check NAME JQ-SELECT JQ-CONDITION
	jq -s -e "map(select($2)) | length == 1 and all($3)" "$bodies" >/dev/null ||
		fail "$1: $(jq -c "select($2)" "$bodies")"
}
check "ticket.created" '.type == "ticket.created"' \
	"$ticket_ok and $customer_ok and .data.event.ticket_id == $ticket and .data.audience == \"tenant\" and (.timestamp | test(\"Z$\"))"
check "ticket.updated (status)" '.type == "ticket.updated" and .data.event.change == "status"' \
	"$ticket_ok and $customer_ok and .data.event.status == \"resolved\" and .data.ticket.status == \"resolved\" and (.data.ticket.resolved_at | type) == \"string\""
check "ticket csat.submitted" '.type == "csat.submitted" and .data.event.target == "ticket"' \
	"$ticket_ok and $customer_ok and .data.event.score == 4 and .data.event.ticket_id == $ticket"
check "session csat.submitted" '.type == "csat.submitted" and .data.event.target == "session"' \
	"$customer_ok and .data.ticket == null and .data.session.id == $sess and .data.session.state == \"closed\" and .data.session.agent_id == $agent and .data.event.score == 5 and .data.event.session_id == $sess"
note "ticket.created, ticket.updated, both csat.submitted carry the ticket or session and the customer"

# a replay builds the same data (in jsonb's key order; the ticket and session as they are
# when each delivery is made: their mutable fields may have moved on meanwhile)
q $db "SELECT helpdesk.replay_webhooks($tenant, $hook, 0)" >/dev/null
wait_until $db "SELECT count(*) = 2 * $want FROM helpdesk.webhook_delivery WHERE webhook_id = $hook AND state = 'delivered'" 15 ||
	fail "replay: not delivered"
sleep 0.5
jq -c 'select(.path == "/ok-tickets") | .body | fromjson' "$sinklog" | jq -s -e '
	def key: {tenant_id, position, audience, message, customer, event: (.event | del(.truncated)),
		ticket: (.ticket | if . then {id, number, subject, channel, created_at} else null end),
		session: (.session | if . then {id, channel, created_at} else null end)};
	group_by(.data.position) | length == '"$want"' and all(length == 2 and (.[0].data | key) == (.[1].data | key))' >/dev/null ||
	fail "a replayed payload differs from the original: $(jq -c 'select(.path == "/ok-tickets") | .body | fromjson | .data' "$sinklog" | sort | uniq -c | head -4)"
note "replayed payloads carry the same ticket, session and customer"
echo "webhooks_payloads: ok"
