#!/usr/bin/env bash
# Rule actions on sessions and tickets (issue 18) with the real dispatcher,
# through routing's and the tickets' own paths:
# - Chatwoot #13515, "reassign if the assignee does not reply within X
#   minutes": a time.no_agent_reply rule unassigns an active chat whose agent
#   did not answer in 3 s (within 1 s of its due time, never before); the chat
#   goes back to its queue with that agent excluded, is not offered to an
#   agent at capacity, and another agent who comes online gets it.
# - assign to an agent at capacity: the chat waits for that agent (nobody else
#   is offered it) and is offered to it once it has a free slot.
# - transfer to a queue, set_priority and set_issue_type on a queued chat: its
#   queue, priority, issue type, boost and rank move.
# - tickets: set_queue, set_issue_type, pending and ask_csat (the survey in
#   the ticket's thread); a second ask_csat is refused and audited while the
#   resolve after it is done, and the resolve does not ask again.
# - loop guard: a session.queued rule whose assign requeues the session (a
#   session.queued of its own) runs once.
# - failing actions (an unknown queue or agent, a disabled agent, no ticket)
#   are audited with their errors and the action after them is done.
source "$(dirname "$0")/common.sh"
db=e2e_rule_actions
fresh_db $db
trap 'psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
q $db "
SELECT helpdesk.upsert_tenant('ra', 'Rule actions');
SELECT helpdesk.upsert_queue(1, 'main', 'Main', is_default => true, offer_timeout => '60 s');
SELECT helpdesk.upsert_queue(1, 'vip', 'VIP', offer_timeout => '60 s');
SELECT helpdesk.upsert_agent(1, a, initcap(a), max_sessions => 1) FROM unnest(ARRAY['ana', 'bob', 'cid']) a;
SELECT helpdesk.upsert_customer(1, 'c' || g) FROM generate_series(1, 6) g;" >/dev/null
wait_until $db "SELECT pid IS NOT NULL FROM helpdesk.worker_status() WHERE kind = 'dispatcher'" 30 || fail "no dispatcher"
id() { q $db "SELECT id FROM helpdesk.$1 WHERE external_id = '$2'"; }
ana=$(id agent ana) bob=$(id agent bob) cid=$(id agent cid) main=$(id queue main) vip=$(id queue vip)
rule() { q $db "SELECT helpdesk.upsert_rule(1, '$1', '$2', '$3', '$4', wait_for => ${5:-NULL})" >/dev/null; }
run_actions() { q $db "SELECT r.actions FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id
                       WHERE u.name = '$1' ORDER BY r.id DESC LIMIT 1"; }
state() { q $db "SELECT state || ':' || coalesce(agent_id::text, '-') FROM helpdesk.session WHERE id = $1"; }
over_capacity() { q $db "SELECT count(*) FROM helpdesk.agent WHERE tenant_id = 1 AND load > max_sessions"; }
take() { # agent session: wait for the offer, accept it
	wait_until $db "SELECT state = 'offered' AND agent_id = $1 FROM helpdesk.session WHERE id = $2" 10 ||
		fail "session $2 not offered to agent $1: $(state $2)"
	q $db "SELECT helpdesk.accept_offer(1, $1, $2)" >/dev/null
}

# --- 1. #13515: no agent reply for 3 s -> unassign, another agent gets it
rule reassign time.no_agent_reply '{"field": "session.state", "op": "equal", "value": "active"}' \
	'[{"type": "unassign"}, {"type": "send_message", "message": "a colleague will take over"}]' "'3 seconds'"
q $db "SELECT helpdesk.set_agent_status(1, $ana, 'online')" >/dev/null
s1=$(q $db "SELECT session_id FROM helpdesk.start_session(1, $(id customer c1))")
take $ana $s1
q $db "SELECT helpdesk.set_agent_status(1, $bob, 'online')" >/dev/null
s2=$(q $db "SELECT session_id FROM helpdesk.start_session(1, $(id customer c2))")
take $bob $s2
q $db "SELECT helpdesk.post_message(1, $s1, 'customer', $(id customer c1), 'hello? anyone?')" >/dev/null
t1=$(q $db "SELECT max(created_at) FROM helpdesk.message WHERE session_id = $s1 AND sender_kind = 'customer'")
wait_until $db "SELECT state = 'queued' FROM helpdesk.session WHERE id = $s1" 10 ||
	fail "the unanswered chat was not unassigned: $(state $s1), runs: $(run_actions reassign)"
lat=$(q $db "SELECT (extract(epoch FROM r.at - ('$t1'::timestamptz + interval '3 seconds')) * 1000)::int
             FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id WHERE u.name = 'reassign'")
[ "$lat" -ge 0 ] && [ "$lat" -lt 1000 ] || fail "reassign fired $lat ms after its due time"
[ "$(run_actions reassign | jq -r '[.[] | .done // ("ERROR " + .error)] | join(" / ")')" = \
	"unassign on session $s1: back to queue $main (agent $ana excluded) / send_message on session $s1" ] ||
	fail "reassign audit: $(run_actions reassign)"
[ "$(q $db "SELECT end_reason FROM helpdesk.session_assignment WHERE session_id = $s1 AND agent_id = $ana")" = transferred ] ||
	fail "ana's assignment did not end as a transfer"
[ "$(q $db "SELECT $ana = ANY (excluded_agents) FROM helpdesk.session WHERE id = $s1")" = t ] || fail "ana is not excluded"
sleep 1.5   # bob is at capacity, ana excluded: nobody may get it
[ "$(state $s1)" = "queued:-" ] || fail "the chat went to an agent at capacity or to the excluded one: $(state $s1)"
[ "$(over_capacity)" = 0 ] || fail "an agent is over capacity"
q $db "SELECT helpdesk.set_agent_status(1, $cid, 'online')" >/dev/null
take $cid $s1
[ "$(state $s1)" = "active:$cid" ] || fail "cid did not get the chat: $(state $s1)"
[ "$(q $db "SELECT count(*) FROM helpdesk.message WHERE session_id = $s1 AND body = 'a colleague will take over'")" = 1 ] ||
	fail "the rule's message was not sent once"
note "#13515: unanswered 3 s -> unassigned $lat ms after due, ana excluded, bob (full) skipped, cid got it"
q $db "SELECT helpdesk.delete_rule(1, 'reassign')" >/dev/null

# --- 2. assign to an agent at capacity: it waits for that agent
rule to_bob message.created '{"all": [{"field": "message.sender_kind", "op": "equal", "value": "customer"},
	{"field": "message.body", "op": "equal", "value": "bob please"}]}' '[{"type": "assign", "agent_id": '"$bob"'}]'
sleep 0.5
q $db "SELECT helpdesk.post_message(1, $s1, 'customer', $(id customer c1), 'bob please')" >/dev/null
wait_until $db "SELECT state = 'queued' AND target_agent_id = $bob FROM helpdesk.session WHERE id = $s1" 5 ||
	fail "assign to bob: $(state $s1), $(run_actions to_bob)"
sleep 1.5
[ "$(state $s1)" = "queued:-" ] || fail "a chat assigned to bob (at capacity) went elsewhere: $(state $s1)"
[ "$(over_capacity)" = 0 ] || fail "an agent is over capacity"
q $db "SELECT helpdesk.close_session(1, $s2, 'resolved', 'agent', $bob)" >/dev/null
take $bob $s1
[ "$(over_capacity)" = 0 ] || fail "an agent is over capacity"
note "assign: waited while bob was full (nobody else offered it), offered to bob once he had a free slot"

# --- 3. transfer to a queue, priority and issue type of a queued chat
q $db "SELECT helpdesk.set_agent_status(1, a, 'away') FROM unnest(ARRAY[$ana, $cid]) a" >/dev/null
rule to_vip message.created '{"field": "message.body", "op": "equal", "value": "vip please"}' \
	'[{"type": "transfer", "queue_id": '"$vip"'}, {"type": "set_priority", "priority": "urgent"}, {"type": "set_issue_type", "issue_type": "billing"}]'
sleep 0.5
s3=$(q $db "SELECT session_id FROM helpdesk.start_session(1, $(id customer c3))")
wait_until $db "SELECT state = 'queued' FROM helpdesk.session WHERE id = $s3" 5 || fail "s3 not queued"
q $db "SELECT helpdesk.post_message(1, $s3, 'customer', $(id customer c3), 'vip please')" >/dev/null
wait_until $db "SELECT queue_id = $vip AND priority = 900 AND issue_type = 'billing' FROM helpdesk.session WHERE id = $s3" 5 ||
	fail "transfer/priority/issue type: $(q $db "SELECT queue_id, priority, issue_type FROM helpdesk.session WHERE id = $s3"): $(run_actions to_vip)"
[ "$(q $db "SELECT boost_seconds >= 900 AND rank_at <= queued_at - interval '800 seconds' FROM helpdesk.session WHERE id = $s3")" = t ] ||
	fail "the boost did not move: $(q $db "SELECT boost_seconds, queued_at, rank_at FROM helpdesk.session WHERE id = $s3")"
[ "$(run_actions to_vip | jq '[.[] | select(.error)] | length')" = 0 ] || fail "to_vip errors: $(run_actions to_vip)"
note "transfer to queue vip, priority urgent (900 s head start, rank moved), issue type billing"

# --- 4. tickets: set_queue, set_issue_type, pending, ask_csat; then a refused ask and a resolve
q $db "SELECT helpdesk.set_csat(1, 'on')" >/dev/null
rule route_ticket ticket.created '{"field": "ticket.subject", "op": "contains", "value": "route me"}' \
	'[{"type": "set_queue", "queue_id": '"$vip"'}, {"type": "set_issue_type", "issue_type": "billing"}, {"type": "pending"}, {"type": "ask_csat"}]'
rule again ticket.updated '{"all": [{"field": "ticket.subject", "op": "contains", "value": "route me"},
	{"field": "event.payload.change", "op": "equal", "value": "priority"}]}' '[{"type": "ask_csat"}, {"type": "resolve"}]'
sleep 0.5
tid=$(q $db "SELECT ticket_id FROM helpdesk.create_ticket(1, $(id customer c4), 'please route me', 'body')")
wait_until $db "SELECT queue_id = $vip AND issue_type = 'billing' AND status = 'pending' FROM helpdesk.ticket WHERE id = $tid" 5 ||
	fail "ticket actions: $(q $db "SELECT queue_id, issue_type, status FROM helpdesk.ticket WHERE id = $tid"): $(run_actions route_ticket)"
wait_until $db "SELECT count(*) = 1 FROM helpdesk.csat WHERE ticket_id = $tid" 5 || fail "no ticket survey: $(run_actions route_ticket)"
[ "$(q $db "SELECT count(*) FROM helpdesk.ticket_message WHERE ticket_id = $tid AND type = 'csat'")" = 1 ] ||
	fail "the survey is not in the ticket's thread"
q $db "SELECT helpdesk.set_ticket_priority(1, $tid, 'high', 'system')" >/dev/null
wait_until $db "SELECT status = 'resolved' FROM helpdesk.ticket WHERE id = $tid" 5 || fail "resolve: $(run_actions again)"
[ "$(run_actions again | jq -r '(.[0].error | test("asked already")) and (.[1].done | startswith("resolve on ticket"))')" = true ] ||
	fail "refused ask_csat, then resolve: $(run_actions again)"
sleep 0.5
[ "$(q $db "SELECT count(*) FROM helpdesk.csat WHERE ticket_id = $tid")" = 1 ] || fail "the resolve asked again"
note "ticket: queue, issue type, pending, survey in its thread; a second ask refused (audited), the resolve done and not asking again"

# --- 5. a rule whose action logs its own event (assign requeues: session.queued) runs once
rule pingpong session.queued '{"field": "customer.external_id", "op": "equal", "value": "c5"}' \
	'[{"type": "assign", "agent_id": '"$ana"'}]'
sleep 0.5
s5=$(q $db "SELECT session_id FROM helpdesk.start_session(1, $(id customer c5))")
wait_until $db "SELECT target_agent_id = $ana FROM helpdesk.session WHERE id = $s5" 5 || fail "pingpong did not assign: $(run_actions pingpong)"
sleep 2
[ "$(q $db "SELECT count(*) FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id WHERE u.name = 'pingpong'")" = 1 ] ||
	fail "a rule reacting to its own requeue ran $(q $db "SELECT count(*) FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id WHERE u.name = 'pingpong'") times"
[ "$(q $db "SELECT count(*) FROM helpdesk.dispatch_audit WHERE session_id = $s5 AND action = 'transfer'")" = 1 ] || fail "the session was requeued more than once"
note "loop guard: an assign that requeues (session.queued) did not trigger its rule again"

# --- 6. failing actions at run time: each audited with its error, the rest go on
dee=$(q $db "SELECT helpdesk.upsert_agent(1, 'dee', 'Dee', enabled => false)")
rule failing message.created '{"field": "message.body", "op": "equal", "value": "break things"}' \
	'[{"type": "transfer", "queue_id": 999999}, {"type": "assign", "agent_id": 999999}, {"type": "assign", "agent_id": '"$dee"'},
	  {"type": "pending"}, {"type": "ask_csat", "target": "ticket"}, {"type": "set_priority", "priority": "high"}]'
sleep 0.5
q $db "SELECT helpdesk.post_message(1, $s5, 'customer', $(id customer c5), 'break things')" >/dev/null
wait_until $db "SELECT EXISTS (SELECT 1 FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id WHERE u.name = 'failing')" 5 ||
	fail "the failing rule did not run"
got=$(run_actions failing | jq -r '[.[] | .done // ("ERROR " + .error)] | join(" / ")')
want="ERROR queue 999999 does not exist in tenant 1 / ERROR agent 999999 does not exist in tenant 1 / ERROR agent $dee is disabled"
want="$want / ERROR a pending action needs a ticket, and this event has none / ERROR a ask_csat action needs a ticket, and this event has none"
want="$want / set_priority on session $s5: 300, boost 300 s in queue"
[ "$got" = "$want" ] || fail "failing actions: $got"
[ "$(q $db "SELECT errors FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id WHERE u.name = 'failing'")" = 5 ] ||
	fail "the audit does not count 5 errors"
[ "$(q $db "SELECT state || ' ' || priority || ' ' || target_agent_id FROM helpdesk.session WHERE id = $s5")" = "queued 300 $ana" ] ||
	fail "the failed moves changed the session: $(q $db "SELECT state, priority, target_agent_id FROM helpdesk.session WHERE id = $s5")"
note "failing actions (unknown queue, unknown agent, disabled agent, no ticket twice) audited, the set_priority after them done"
echo "automation_rule_actions: ok"
