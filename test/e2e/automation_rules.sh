#!/usr/bin/env bash
# Automation rules run by the rules worker on the event log: a message rule
# fires within 1 s (its audit names the conditions that held and the action
# done); a rule that answers every message does not answer its own answer
# (loop guard); a failing action is audited and the actions after it still
# run (the session is closed through close_session); ticket.created sets
# priority and tags through the tickets API; session.closed fires; rules run
# in their order; a disabled rule does not fire. Then each of the nine
# events fires its rule, within 1 s of the change that logged it (the SLA
# events within 1 s of their due time): session.created, session.queued,
# message.created by the customer and by the agent, session.closed,
# ticket.created, ticket.updated, sla.warning, sla.breached, csat.submitted.
source "$(dirname "$0")/common.sh"
db=e2e_rules
fresh_db $db
seed_sessions $db 3
tenant=$(q $db "SELECT id FROM helpdesk.tenant WHERE slug = 'e2e'")
read -r s1 c1 < <(q $db "SELECT session_id, customer_id FROM public.e2e_session WHERE n = 1" | tr '|' ' ')
read -r s2 c2 < <(q $db "SELECT session_id, customer_id FROM public.e2e_session WHERE n = 2" | tr '|' ' ')
read -r s3 c3 < <(q $db "SELECT session_id, customer_id FROM public.e2e_session WHERE n = 3" | tr '|' ' ')
wait_until $db "SELECT count(*) = 2 FROM helpdesk.worker_status() WHERE kind IN ('dispatcher', 'rules') AND pid IS NOT NULL" 30 || fail "no dispatcher or rules worker"

rule() { q $db "SELECT helpdesk.upsert_rule($tenant, '$1', '$2', '$3', '$4', ${5:-0}, ${6:-true})" >/dev/null; }
rule refund message.created '{"all": [{"field": "message.sender_kind", "op": "equal", "value": "customer"},
	{"any": [{"field": "message.body", "op": "contains", "value": "退款"}, {"field": "message.body", "op": "regex", "value": "(?i)refund"}]}]}' \
	'[{"type": "send_message", "message": "已为您登记退款"}]' 10
rule echo message.created '{"field": "session.id", "op": "equal", "value": '"$s2"'}' '[{"type": "send_message", "message": "echo"}]' 20
rule failing message.created '{"field": "message.body", "op": "equal", "value": "bye"}' \
	'[{"type": "assign", "agent_id": 999999}, {"type": "send_message", "message": "再见"}, {"type": "close", "reason": "resolved"}]' 30
rule disabled message.created '{"all": []}' '[{"type": "send_message", "message": "never"}]' 40 false
rule ticket ticket.created '{"field": "ticket.subject", "op": "contains", "value": "VIP"}' \
	'[{"type": "set_priority", "priority": "urgent"}, {"type": "add_tags", "tags": ["vip", "auto"]}]'
rule closed session.closed '{"field": "session.id", "op": "equal", "value": '"$s3"'}' '[{"type": "send_message", "message": "too late"}]'
sleep 0.5   # the stage starts its cursor at the log's head when it first sees rules

t0=$(q $db "SELECT clock_timestamp()")
q $db "SELECT helpdesk.post_message($tenant, $s1, 'customer', $c1, '我要退款')" >/dev/null
wait_until $db "SELECT EXISTS (SELECT 1 FROM helpdesk.message WHERE session_id = $s1 AND sender_kind = 'system' AND body = '已为您登记退款')" 5 ||
	fail "refund rule did not answer: $(q $db "SELECT string_agg(body, ', ') FROM helpdesk.message WHERE session_id = $s1")"
lat=$(q $db "SELECT round(extract(epoch FROM (SELECT created_at FROM helpdesk.message WHERE session_id = $s1 AND sender_kind = 'system') - '$t0'::timestamptz) * 1000)")
[ "$lat" -lt 1000 ] || fail "refund rule answered after $lat ms"
q $db "SELECT r.conditions, r.actions FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id WHERE u.name = 'refund'" |
	grep -q '"result": true' || fail "audit of the refund rule lacks its conditions"
[ "$(q $db "SELECT r.actions->0->>'done' FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id WHERE u.name = 'refund'")" = "send_message on session $s1" ] ||
	fail "audit of the refund rule lacks its action"
q $db "SELECT helpdesk.post_message($tenant, $s1, 'customer', $c1, 'Please REFUND me')" >/dev/null
wait_until $db "SELECT count(*) = 2 FROM helpdesk.message WHERE session_id = $s1 AND body = '已为您登记退款'" 5 || fail "regex (?i) refund"
note "message rule: answered in $lat ms, audited with its conditions and action; OR group with a regex"

# loop guard: the echo rule matches every message of session 2, its own too
q $db "SELECT helpdesk.post_message($tenant, $s2, 'customer', $c2, 'hello')" >/dev/null
wait_until $db "SELECT count(*) >= 1 FROM helpdesk.message WHERE session_id = $s2 AND body = 'echo'" 5 || fail "echo rule did not fire"
sleep 1.5
[ "$(q $db "SELECT count(*) FROM helpdesk.message WHERE session_id = $s2 AND body = 'echo'")" = 1 ] ||
	fail "loop: $(q $db "SELECT count(*) FROM helpdesk.message WHERE session_id = $s2 AND body = 'echo'") echoes"
note "loop guard: a rule matching its own message fired once"

# a failing action is audited, the others run
q $db "SELECT helpdesk.post_message($tenant, $s1, 'customer', $c1, 'bye')" >/dev/null
wait_until $db "SELECT state = 'closed' FROM helpdesk.session WHERE id = $s1" 5 || fail "the close after a failing action did not run"
[ "$(q $db "SELECT errors || ' ' || (r.actions->0 ? 'error') || ' ' || (r.actions->1->>'done') FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id WHERE u.name = 'failing'")" = "1 true send_message on session $s1" ] ||
	fail "failing rule audit: $(q $db "SELECT r.actions FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id WHERE u.name = 'failing'")"
[ "$(q $db "SELECT closed_by FROM helpdesk.session WHERE id = $s1")" = system ] || fail "closed_by is not system"
[ "$(q $db "SELECT count(*) FROM helpdesk.message WHERE body = 'never'")" = 0 ] || fail "a disabled rule fired"
[ "$(q $db "SELECT r.actions->0->>'error' FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id WHERE u.name = 'failing'")" = \
	"agent 999999 does not exist in tenant $tenant" ] || fail "the failing action's error is not audited"
note "failing action audited (assign to an agent that does not exist), the message and the close after it done; disabled rule silent"

# ticket.created
tid=$(q $db "SELECT ticket_id FROM helpdesk.create_ticket($tenant, $c2, 'VIP cannot log in', 'help')")
wait_until $db "SELECT priority = 'urgent' AND tags @> '{vip,auto}' FROM helpdesk.ticket WHERE id = $tid" 5 ||
	fail "ticket rule: $(q $db "SELECT priority, tags FROM helpdesk.ticket WHERE id = $tid")"
note "ticket.created: priority and tags set through the tickets API"

# session.closed
q $db "SELECT helpdesk.close_session($tenant, $s3, 'resolved', 'system')" >/dev/null
wait_until $db "SELECT count(*) = 1 FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id WHERE u.name = 'closed'" 5 ||
	fail "session.closed rule did not run"
[ "$(q $db "SELECT r.actions->0->>'error' LIKE '%closed%' FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id WHERE u.name = 'closed'")" = t ] ||
	fail "a message into a closed session should fail and be audited"
note "session.closed fired (its message into the closed session refused and audited)"

# --- each of the nine events fires its rule
q $db "SELECT helpdesk.upsert_agent($tenant, 'ev-agent', 'Ev', max_sessions => 5);
SELECT helpdesk.set_agent_status($tenant, (SELECT id FROM helpdesk.agent WHERE external_id = 'ev-agent'), 'online');
SELECT helpdesk.upsert_customer($tenant, 'ev');
SELECT helpdesk.set_csat($tenant, 'on');
SELECT helpdesk.upsert_sla_policy($tenant, 'ev', 1, first_response => '2 s', warning_percent => 50);" >/dev/null
agent=$(q $db "SELECT id FROM helpdesk.agent WHERE external_id = 'ev-agent'")
cev=$(q $db "SELECT id FROM helpdesk.customer WHERE external_id = 'ev'")
by_customer='{"field": "customer.external_id", "op": "equal", "value": "ev"}'
by_ticket='{"field": "ticket.subject", "op": "equal", "value": "ev ticket"}'
note_it='[{"type": "set_issue_type", "issue_type": "seen"}]'
tag_it='[{"type": "add_tags", "tags": ["seen"]}]'
rule ev_created session.created "$by_customer" "$note_it"
rule ev_queued session.queued "$by_customer" "$note_it"
rule ev_msg_customer message.created '{"all": [{"field": "message.sender_kind", "op": "equal", "value": "customer"}, {"field": "message.body", "op": "equal", "value": "ev hello"}]}' "$note_it"
rule ev_msg_agent message.created '{"all": [{"field": "message.sender_kind", "op": "equal", "value": "agent"}, {"field": "message.body", "op": "equal", "value": "ev answer"}]}' "$note_it"
rule ev_closed session.closed "$by_customer" "$note_it"
rule ev_csat csat.submitted "$by_customer" "$note_it"
rule ev_ticket_created ticket.created "$by_ticket" "$tag_it"
rule ev_ticket_updated ticket.updated '{"all": ['"$by_ticket"', {"field": "event.payload.change", "op": "equal", "value": "priority"}]}' "$tag_it"
rule ev_sla_warning sla.warning "$by_ticket" "$tag_it"
rule ev_sla_breached sla.breached "$by_ticket" "$tag_it"
sleep 0.5
# fired NAME SINCE: the rule's audit row within 5 s, at most 1 s after SINCE and not before it
fired() {
	wait_until $db "SELECT EXISTS (SELECT 1 FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id WHERE u.name = '$1')" 5 ||
		fail "rule $1 did not fire"
	local ms
	ms=$(q $db "SELECT (extract(epoch FROM min(r.at) - '$2'::timestamptz) * 1000)::int FROM helpdesk.automation_rule_run r
	            JOIN helpdesk.automation_rule u ON u.id = r.rule_id WHERE u.name = '$1'")
	[ "$ms" -ge 0 ] && [ "$ms" -lt 1000 ] || fail "rule $1 fired $ms ms after its event"
	lats="$lats $1=${ms}ms"
}
now() { q $db "SELECT clock_timestamp()"; }
lats=
t=$(now)
sev=$(q $db "SELECT session_id FROM helpdesk.start_session($tenant, $cev)")
fired ev_created "$t"
fired ev_queued "$t"
wait_until $db "SELECT state = 'offered' FROM helpdesk.session WHERE id = $sev" 10 || fail "ev session not offered"
q $db "SELECT helpdesk.accept_offer($tenant, $agent, $sev)" >/dev/null
t=$(now); q $db "SELECT helpdesk.post_message($tenant, $sev, 'customer', $cev, 'ev hello')" >/dev/null; fired ev_msg_customer "$t"
t=$(now); q $db "SELECT helpdesk.post_message($tenant, $sev, 'agent', $agent, 'ev answer')" >/dev/null; fired ev_msg_agent "$t"
t=$(now); q $db "SELECT helpdesk.close_session($tenant, $sev, 'resolved', 'agent', $agent)" >/dev/null; fired ev_closed "$t"
[ "$(q $db "SELECT count(*) FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id
           WHERE u.name = 'ev_msg_customer'")" = 1 ] || fail "the customer's message rule fired for the agent's message too"
t=$(now); q $db "SELECT helpdesk.submit_csat($tenant, 'session', $sev, $cev, 5)" >/dev/null; fired ev_csat "$t"
t=$(now)
tev=$(q $db "SELECT ticket_id FROM helpdesk.create_ticket($tenant, $cev, 'ev ticket', 'help')")
fired ev_ticket_created "$t"
t=$(now); q $db "SELECT helpdesk.set_ticket_priority($tenant, $tev, 'high', 'system')" >/dev/null; fired ev_ticket_updated "$t"
due=$(q $db "SELECT sla_first_response_due FROM helpdesk.ticket WHERE id = $tev")
[ -n "$due" ] || fail "the ev ticket has no SLA due time"
fired ev_sla_warning "$(q $db "SELECT '$due'::timestamptz - interval '1 second'")"   # 50 % of 2 s
fired ev_sla_breached "$due"
note "nine events fired their rules:$lats"
echo "automation_rules: ok"
