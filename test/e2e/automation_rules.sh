#!/usr/bin/env bash
# Automation rules run by the rules worker on the event log: a message rule
# fires within 1 s (its audit names the conditions that held and the action
# done); a rule that answers every message does not answer its own answer
# (loop guard); a failing action is audited and the actions after it still
# run (the session is closed through close_session); ticket.created sets
# priority and tags through the tickets API; session.closed fires; rules run
# in their order; a disabled rule does not fire.
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
	'[{"type": "set_priority", "priority": "high"}, {"type": "send_message", "message": "再见"}, {"type": "close", "reason": "resolved"}]' 30
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
note "failing action audited (set_priority without a ticket), the message and the close after it done; disabled rule silent"

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
echo "automation_rules: ok"
