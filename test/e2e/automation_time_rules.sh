#!/usr/bin/env bash
# Time rules (issue 18) with the real rules worker: each fires within 1 s of
# the moment its condition has held for wait_for (never before), once per
# occurrence, and again on a new occurrence.
# - time.queued: 40 sessions started from 8 connections at once, queued with
#   no agent online; every one fires once, on time.
# - time.no_agent_reply: a customer message unanswered 4 s fires; one the
#   agent answered in time does not; a new unanswered message fires again;
#   after firing it does not fire again on later passes of the rules worker.
# - time.no_customer_reply: an agent message the customer does not answer.
# - time.pending: a ticket pending 4 s gets its tag through the tickets API;
#   a ticket another rule made pending too (what rules do runs no rule, but
#   the time rules follow it).
# - the reply rules on a ticket's own thread: a customer's ticket (its first
#   entry) no agent answered for 3 s, and an agent's reply the customer did
#   not answer; an entry answered in time does not fire; a resolved ticket
#   does not wait.
source "$(dirname "$0")/common.sh"
db=e2e_time_rules
fresh_db $db
trap 'psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
q $db "
SELECT helpdesk.upsert_tenant('tr', 'Time rules');
SELECT helpdesk.upsert_queue(1, 'main', 'Main', is_default => true);
SELECT helpdesk.upsert_agent(1, 'ana', 'Ana', max_sessions => 50);
SELECT helpdesk.upsert_customer(1, 'c' || g) FROM generate_series(1, 60) g;" >/dev/null
wait_until $db "SELECT count(*) = 2 FROM helpdesk.worker_status() WHERE kind IN ('dispatcher', 'rules') AND pid IS NOT NULL" 30 || fail "no dispatcher or rules worker"
ana=$(q $db "SELECT id FROM helpdesk.agent WHERE external_id = 'ana'")
cust() { q $db "SELECT id FROM helpdesk.customer WHERE external_id = '$1'"; }
rule() { q $db "SELECT helpdesk.upsert_rule(1, '$1', '$2', '$3', '$4', wait_for => '$5')" >/dev/null; }
msgs() { q $db "SELECT string_agg(sender_kind || ':' || body || '@' || to_char(created_at, 'HH24:MI:SS.MS'), ', ' ORDER BY id) FROM helpdesk.message WHERE session_id = $s"; }
runs() { q $db "SELECT count(*) FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id
                WHERE u.name = '$1' AND r.session_id IS NOT DISTINCT FROM ${2:-r.session_id}"; }

# 1. queued for 3 s, sessions from many connections
rule queued3 time.queued '{"field": "session.state", "op": "equal", "value": "queued"}' \
	'[{"type": "send_message", "message": "still queued"}]' '3 seconds'
sleep 0.5
for ((k = 1; k <= 8; k++)); do
	(for ((j = 1; j <= 5; j++)); do
		q $db "SELECT session_id FROM helpdesk.start_session(1, $(cust c$(((k - 1) * 5 + j))))" >/dev/null
		sleep 0.$((RANDOM % 4))
	done) &
done
wait
n=$(q $db "SELECT count(*) FROM helpdesk.session WHERE state = 'queued'")
[ "$n" = 40 ] || fail "expected 40 queued sessions, got $n"
wait_until $db "SELECT count(DISTINCT session_id) = 40 FROM helpdesk.automation_rule_run" 15 ||
	fail "queued rule fired for $(q $db "SELECT count(DISTINCT session_id) FROM helpdesk.automation_rule_run") of 40 sessions"
sleep 1.5
read -r fired late early < <(q $db "
SELECT count(*), max(extract(epoch FROM r.at - (s.queued_at + interval '3 seconds')) * 1000)::int,
       count(*) FILTER (WHERE r.at < s.queued_at + interval '3 seconds')
FROM helpdesk.automation_rule_run r JOIN helpdesk.session s ON s.id = r.session_id" | tr '|' ' ')
[ "$fired" = 40 ] || fail "queued rule fired $fired times for 40 sessions (once each expected)"
[ "$early" = 0 ] || fail "$early firings before their due time"
[ "$late" -lt 1000 ] || fail "queued rule fired up to $late ms late"
[ "$(q $db "SELECT count(*) FROM helpdesk.message WHERE body = 'still queued'")" = 40 ] || fail "not 40 messages"
note "time.queued: 40 sessions from 8 connections, each fired once, at most $late ms after its due time"
q $db "SELECT helpdesk.delete_rule(1, 'queued3');
SELECT count(helpdesk.close_session(1, id, 'resolved', 'system')) FROM helpdesk.session WHERE state <> 'closed'" >/dev/null

# an active session with ana
q $db "SELECT helpdesk.set_agent_status(1, $ana, 'online')" >/dev/null
s=$(q $db "SELECT session_id FROM helpdesk.start_session(1, $(cust c50))")
wait_until $db "SELECT state = 'offered' FROM helpdesk.session WHERE id = $s" 10 || fail "session $s not offered"
q $db "SELECT helpdesk.accept_offer(1, $ana, $s)" >/dev/null
c=$(cust c50)

# 2. no agent reply for 4 s (long enough that an answer posted 0.3-0.5 s later commits in
# time even on a loaded machine with slow fsyncs)
rule late_agent time.no_agent_reply '{"all": []}' '[{"type": "send_message", "message": "an agent will answer soon"}]' '4 seconds'
sleep 0.5
q $db "SELECT helpdesk.post_message(1, $s, 'customer', $c, 'hello?')" >/dev/null
t1=$(q $db "SELECT max(created_at) FROM helpdesk.message WHERE session_id = $s AND sender_kind = 'customer'")
wait_until $db "SELECT count(*) = 1 FROM helpdesk.message WHERE session_id = $s AND body = 'an agent will answer soon'" 10 ||
	fail "no_agent_reply did not fire"
lat=$(q $db "SELECT (extract(epoch FROM r.at - ('$t1'::timestamptz + interval '4 seconds')) * 1000)::int
             FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id WHERE u.name = 'late_agent'")
[ "$lat" -ge 0 ] && [ "$lat" -lt 1000 ] || fail "no_agent_reply fired $lat ms after its due time"
q $db "SELECT helpdesk.post_message(1, $s, 'customer', $c, 'anyone?')" >/dev/null
sleep 0.5
q $db "SELECT helpdesk.post_message(1, $s, 'agent', $ana, 'here I am')" >/dev/null
sleep 5
# the second customer message continues the first occurrence (already fired); the answer ends it
[ "$(runs late_agent)" = 1 ] || fail "no_agent_reply fired again for an answered (or already fired) occurrence: $(runs late_agent): $(msgs)"
q $db "SELECT helpdesk.post_message(1, $s, 'customer', $c, 'one more question')" >/dev/null
t2=$(q $db "SELECT max(created_at) FROM helpdesk.message WHERE session_id = $s AND sender_kind = 'customer'")
wait_until $db "SELECT count(*) = 2 FROM helpdesk.message WHERE session_id = $s AND body = 'an agent will answer soon'" 10 ||
	fail "no_agent_reply did not fire for the new unanswered message"
lat2=$(q $db "SELECT (extract(epoch FROM max(r.at) - ('$t2'::timestamptz + interval '4 seconds')) * 1000)::int
              FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id WHERE u.name = 'late_agent'")
[ "$lat2" -ge 0 ] && [ "$lat2" -lt 1000 ] || fail "second no_agent_reply fired $lat2 ms after its due time"
q $db "SELECT helpdesk.post_message(1, $s, 'customer', $c, 'quick')" >/dev/null
sleep 0.3
q $db "SELECT helpdesk.post_message(1, $s, 'agent', $ana, 'answered in time')" >/dev/null
sleep 5
[ "$(runs late_agent)" = 2 ] || fail "no_agent_reply: $(runs late_agent) firings, 2 expected (answered in time must not fire): $(msgs)"
note "time.no_agent_reply: fired $lat ms and $lat2 ms after due; an answered message and a fired occurrence stayed silent"
q $db "SELECT helpdesk.delete_rule(1, 'late_agent')" >/dev/null

# 3. no customer reply for 4 s
rule quiet_customer time.no_customer_reply '{"all": []}' '[{"type": "send_message", "message": "are you still there?"}]' '4 seconds'
sleep 0.5
q $db "SELECT helpdesk.post_message(1, $s, 'agent', $ana, 'does this help?')" >/dev/null
t3=$(q $db "SELECT max(created_at) FROM helpdesk.message WHERE session_id = $s AND sender_kind = 'agent'")
wait_until $db "SELECT count(*) = 1 FROM helpdesk.message WHERE session_id = $s AND body = 'are you still there?'" 10 ||
	fail "no_customer_reply did not fire"
lat3=$(q $db "SELECT (extract(epoch FROM r.at - ('$t3'::timestamptz + interval '4 seconds')) * 1000)::int
              FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id WHERE u.name = 'quiet_customer'")
[ "$lat3" -ge 0 ] && [ "$lat3" -lt 1000 ] || fail "no_customer_reply fired $lat3 ms after its due time"
q $db "SELECT helpdesk.post_message(1, $s, 'agent', $ana, 'try again')" >/dev/null
sleep 0.3
q $db "SELECT helpdesk.post_message(1, $s, 'customer', $c, 'ok thanks')" >/dev/null
sleep 5
[ "$(runs quiet_customer)" = 1 ] || fail "no_customer_reply fired for an answered agent message"
note "time.no_customer_reply: fired $lat3 ms after due; a message the customer answered stayed silent"
q $db "SELECT helpdesk.delete_rule(1, 'quiet_customer')" >/dev/null

# 4. ticket pending for 4 s
rule stale time.pending '{"all": []}' '[{"type": "add_tags", "tags": ["stale"]}]' '4 seconds'
sleep 0.5
tid=$(q $db "SELECT ticket_id FROM helpdesk.create_ticket(1, $(cust c51), 'waiting for logs', 'help')")
t4=$(q $db "SELECT clock_timestamp()")
q $db "SELECT helpdesk.set_ticket_status(1, $tid, 'pending', 'agent', $ana)" >/dev/null
wait_until $db "SELECT tags @> '{stale}' FROM helpdesk.ticket WHERE id = $tid" 10 ||
	fail "pending rule did not tag: $(q $db "SELECT status, tags FROM helpdesk.ticket WHERE id = $tid")"
lat4=$(q $db "SELECT (extract(epoch FROM r.at - ('$t4'::timestamptz + interval '4 seconds')) * 1000)::int
              FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id WHERE u.name = 'stale'")
[ "$lat4" -ge 0 ] && [ "$lat4" -lt 1000 ] || fail "pending rule fired $lat4 ms after its due time"
tid2=$(q $db "SELECT ticket_id FROM helpdesk.create_ticket(1, $(cust c52), 'answered', 'help')")
q $db "SELECT helpdesk.set_ticket_status(1, $tid2, 'pending', 'agent', $ana)" >/dev/null
sleep 0.5
q $db "SELECT helpdesk.set_ticket_status(1, $tid2, 'open', 'agent', $ana)" >/dev/null
sleep 5
[ "$(q $db "SELECT tags @> '{stale}' FROM helpdesk.ticket WHERE id = $tid2")" = f ] || fail "a ticket no longer pending was tagged"
[ "$(q $db "SELECT count(*) FROM helpdesk.automation_rule_due")" = 0 ] || fail "due rows left: $(q $db "SELECT kind, object_id FROM helpdesk.automation_rule_due")"
note "time.pending: tagged $lat4 ms after due; a ticket reopened in time untouched; no due rows left"
# 4b. a ticket a rule made pending (the loop guard runs no rule on the rule's own change, but
# the time rules follow it)
q $db "SELECT helpdesk.upsert_rule(1, 'pend_it', 'ticket.created', '{\"field\": \"ticket.subject\", \"op\": \"equal\", \"value\": \"pend me\"}',
	'[{\"type\": \"pending\"}]')" >/dev/null
sleep 0.5
tid3=$(q $db "SELECT ticket_id FROM helpdesk.create_ticket(1, $(cust c56), 'pend me', 'help')")
wait_until $db "SELECT status = 'pending' FROM helpdesk.ticket WHERE id = $tid3" 5 || fail "pend_it did not make the ticket pending"
wait_until $db "SELECT tags @> '{stale}' FROM helpdesk.ticket WHERE id = $tid3" 10 ||
	fail "time.pending did not follow a rule's pending: $(q $db "SELECT status, tags FROM helpdesk.ticket WHERE id = $tid3")"
lat4b=$(q $db "SELECT (extract(epoch FROM s.at - (p.at + interval '4 seconds')) * 1000)::int
               FROM helpdesk.automation_rule_run s JOIN helpdesk.automation_rule su ON su.id = s.rule_id AND su.name = 'stale',
                    helpdesk.automation_rule_run p JOIN helpdesk.automation_rule pu ON pu.id = p.rule_id AND pu.name = 'pend_it'
               WHERE s.ticket_id = $tid3 AND p.ticket_id = $tid3")
[ "$lat4b" -ge 0 ] && [ "$lat4b" -lt 1000 ] || fail "time.pending after a rule's pending fired $lat4b ms after its due time"
note "time.pending followed a rule's own change: fired $lat4b ms after due"
q $db "SELECT helpdesk.delete_rule(1, 'stale'); SELECT helpdesk.delete_rule(1, 'pend_it')" >/dev/null

# 5. a ticket's own thread: no agent reply for 3 s (the ticket's first entry is the customer's)
rule ticket_late time.no_agent_reply '{"field": "ticket.subject", "op": "starts_with", "value": "thread"}' \
	'[{"type": "add_tags", "tags": ["late"]}]' '3 seconds'
rule ticket_quiet time.no_customer_reply '{"field": "ticket.subject", "op": "starts_with", "value": "thread"}' \
	'[{"type": "add_tags", "tags": ["quiet"]}]' '3 seconds'
sleep 0.5
tt=$(q $db "SELECT ticket_id FROM helpdesk.create_ticket(1, $(cust c53), 'thread one', 'my order is late')")
t5=$(q $db "SELECT min(created_at) FROM helpdesk.ticket_message WHERE ticket_id = $tt")
tt2=$(q $db "SELECT ticket_id FROM helpdesk.create_ticket(1, $(cust c54), 'thread two', 'answered in time')")
tt3=$(q $db "SELECT ticket_id FROM helpdesk.create_ticket(1, $(cust c55), 'thread three', 'resolved in time')")
sleep 0.5
q $db "SELECT helpdesk.reply_ticket(1, $tt2, 'agent', $ana, 'on it')" >/dev/null
t6=$(q $db "SELECT max(created_at) FROM helpdesk.ticket_message WHERE ticket_id = $tt2 AND sender_kind = 'agent'")
q $db "SELECT helpdesk.set_ticket_status(1, $tt3, 'resolved', 'agent', $ana)" >/dev/null
wait_until $db "SELECT tags @> '{late}' FROM helpdesk.ticket WHERE id = $tt" 10 ||
	fail "ticket no_agent_reply did not tag: $(q $db "SELECT status, tags FROM helpdesk.ticket WHERE id = $tt")"
lat5=$(q $db "SELECT (extract(epoch FROM r.at - ('$t5'::timestamptz + interval '3 seconds')) * 1000)::int
              FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id
              WHERE u.name = 'ticket_late' AND r.ticket_id = $tt")
[ "$lat5" -ge 0 ] && [ "$lat5" -lt 1000 ] || fail "ticket no_agent_reply fired $lat5 ms after its due time"
[ "$(q $db "SELECT session_id IS NULL FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id
           WHERE u.name = 'ticket_late' AND r.ticket_id = $tt")" = t ] || fail "a ticket thread's rule ran with a session"
# 6. the agent's reply in thread two, unanswered by the customer
wait_until $db "SELECT tags @> '{quiet}' FROM helpdesk.ticket WHERE id = $tt2" 10 ||
	fail "ticket no_customer_reply did not tag: $(q $db "SELECT status, tags FROM helpdesk.ticket WHERE id = $tt2")"
lat6=$(q $db "SELECT (extract(epoch FROM r.at - ('$t6'::timestamptz + interval '3 seconds')) * 1000)::int
              FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id
              WHERE u.name = 'ticket_quiet' AND r.ticket_id = $tt2")
[ "$lat6" -ge 0 ] && [ "$lat6" -lt 1000 ] || fail "ticket no_customer_reply fired $lat6 ms after its due time"
sleep 1.5
[ "$(q $db "SELECT count(*) FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id
           WHERE u.name = 'ticket_late' AND r.ticket_id IN ($tt2, $tt3)")" = 0 ] ||
	fail "no_agent_reply fired for a ticket answered (or resolved) in time"
# the customer answers thread two within 3 s of a second agent reply: nothing more
q $db "SELECT helpdesk.reply_ticket(1, $tt2, 'agent', $ana, 'any news?')" >/dev/null
sleep 0.3
q $db "SELECT helpdesk.reply_ticket(1, $tt2, 'customer', $(cust c54), 'yes, fixed')" >/dev/null
q $db "SELECT helpdesk.reply_ticket(1, $tt2, 'agent', $ana, 'great')" >/dev/null
q $db "SELECT helpdesk.set_ticket_status(1, a, 'resolved', 'agent', $ana) FROM unnest(ARRAY[$tt, $tt2]) a" >/dev/null
sleep 4
[ "$(q $db "SELECT count(*) FROM helpdesk.automation_rule_run r JOIN helpdesk.automation_rule u ON u.id = r.rule_id
           WHERE u.name = 'ticket_quiet'")" = 1 ] || fail "no_customer_reply fired for an answered (or resolved) reply"
[ "$(q $db "SELECT count(*) FROM helpdesk.automation_rule_due")" = 0 ] || fail "due rows left: $(q $db "SELECT kind, object_kind, object_id FROM helpdesk.automation_rule_due")"
note "ticket threads: no_agent_reply fired $lat5 ms, no_customer_reply $lat6 ms after due; answered or resolved tickets silent"
echo "automation_time_rules: ok"
