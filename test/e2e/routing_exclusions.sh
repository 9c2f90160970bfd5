#!/usr/bin/env bash
# Who a declined, missed or transferred session goes to next, with the real
# dispatcher and its timers (the rule is in README "Routing"):
#   - an agent who declined or missed an offer, or transferred the session to
#     a queue, is not offered that session again while another capable agent
#     with a free slot has not had it;
#   - once every capable agent with a free slot has declined or missed it,
#     the exclusions lapse when the session has waited the queue's
#     offer_timeout since it came back (checked for punctuality: within 1 s);
#   - an excluded agent whose status changes (offline and back, away and
#     back) is a candidate again at once.
# So no session waits for good next to a free, capable, idle agent (before,
# a single agent who missed an offer stranded the session forever).
source "$(dirname "$0")/common.sh"
db=e2e_exclusions
fresh_db $db
# each database with the extension holds two worker slots: give them back
trap 'psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT

q $db "
SELECT helpdesk.upsert_tenant('ex', 'Exclusions', heartbeat_interval => '1 hour');
SELECT helpdesk.upsert_queue(1, 'fast', 'Fast', offer_timeout => '2 seconds', is_default => true);
SELECT helpdesk.upsert_queue(1, 'slow', 'Slow', offer_timeout => '8 seconds');
SELECT helpdesk.upsert_agent(1, n, n, max_sessions => 5) FROM unnest('{ana,bob}'::text[]) n;
SELECT helpdesk.upsert_customer(1, 'c' || g) FROM generate_series(1, 10) g;
" >/dev/null
ana=$(q $db "SELECT id FROM helpdesk.agent WHERE external_id = 'ana'")
bob=$(q $db "SELECT id FROM helpdesk.agent WHERE external_id = 'bob'")
fast=$(q $db "SELECT id FROM helpdesk.queue WHERE external_id = 'fast'")
slow=$(q $db "SELECT id FROM helpdesk.queue WHERE external_id = 'slow'")
start() { q $db "SELECT session_id FROM helpdesk.start_session(1, (SELECT id FROM helpdesk.customer WHERE external_id = '$1'), queue_id => $2)"; }
status() { q $db "SELECT helpdesk.set_agent_status(1, $1, '$2')" >/dev/null; }
offered_to() { q $db "SELECT CASE WHEN state = 'offered' THEN agent_id END FROM helpdesk.session WHERE id = $1"; }
# seconds between the last audit rows of two actions of a session
gap() { q $db "SELECT extract(epoch FROM (SELECT max(at) FROM helpdesk.dispatch_audit WHERE session_id = $1 AND action = '$3')
                                       - (SELECT max(at) FROM helpdesk.dispatch_audit WHERE session_id = $1 AND action = '$2'))"; }
within() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x >= lo && x <= hi) }'; }

# 1. the issue's case: the only agent misses the offer; the session is not stranded
status $ana online
s1=$(start c1 $fast)
wait_until $db "SELECT state = 'offered' FROM helpdesk.session WHERE id = $s1" 5 || fail "not offered"
wait_until $db "SELECT EXISTS (SELECT 1 FROM helpdesk.dispatch_audit WHERE session_id = $s1 AND action = 'timeout')" 5 \
	|| fail "the offer did not time out"
wait_until $db "SELECT reason LIKE 'every capable agent with a free slot declined or missed it%' FROM helpdesk.waiting_why WHERE session_id = $s1" 2 \
	|| fail "waiting_why does not say why: $(q $db "SELECT reason FROM helpdesk.waiting_why WHERE session_id = $s1")"
wait_until $db "SELECT state = 'offered' AND agent_id = $ana FROM helpdesk.session WHERE id = $s1" 5 \
	|| fail "stranded: the session waits next to a free agent who missed it ($(q $db "SELECT reason FROM helpdesk.waiting_why WHERE session_id = $s1"))"
g=$(gap $s1 timeout offer)
within "$g" 1.9 3.0 || fail "offered again ${g}s after the timeout; the cool-down is the queue's offer_timeout (2 s), within 1 s"
note "missed by the only agent: offered to her again ${g}s later (cool-down 2 s)"

# 2. an agent who changes status is a candidate again at once (slow queue: 8 s cool-down)
q $db "SELECT helpdesk.decline_offer(1, $ana, $s1)" >/dev/null
s2=$(start c2 $slow)
wait_until $db "SELECT state = 'offered' AND agent_id = $ana FROM helpdesk.session WHERE id = $s2" 5 || fail "slow queue: not offered"
q $db "SELECT helpdesk.decline_offer(1, $ana, $s2)" >/dev/null
sleep 1
[ "$(q $db "SELECT state FROM helpdesk.session WHERE id = $s2")" = queued ] || fail "offered again to the agent who just declined, within the cool-down"
status $ana offline
status $ana online
t0=$(date +%s%N)
wait_until $db "SELECT state = 'offered' AND agent_id = $ana FROM helpdesk.session WHERE id = $s2" 3 \
	|| fail "an excluded agent who went offline and online again is not offered the session"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 1500 ] || fail "offered ${ms} ms after the agent came back, expected at once"
note "declined, then offline and online again: offered after ${ms} ms (cool-down was 8 s)"
q $db "SELECT helpdesk.accept_offer(1, $ana, $s2)" >/dev/null
wait_until $db "SELECT state = 'offered' FROM helpdesk.session WHERE id = $s1" 5 || fail "s1 not offered after the status change"
q $db "SELECT helpdesk.accept_offer(1, $ana, $s1)" >/dev/null

# 3. every other capable agent gets it first; then the cool-down (slow queue, 8 s)
status $bob online
s3=$(start c3 $slow)
wait_until $db "SELECT state = 'offered' FROM helpdesk.session WHERE id = $s3" 5 || fail "s3 not offered"
first=$(offered_to $s3)
other=$([ "$first" = "$ana" ] && echo $bob || echo $ana)
q $db "SELECT helpdesk.decline_offer(1, $first, $s3)" >/dev/null
wait_until $db "SELECT state = 'offered' AND agent_id = $other FROM helpdesk.session WHERE id = $s3" 3 \
	|| fail "after a decline the session did not go to the other free agent"
q $db "SELECT helpdesk.decline_offer(1, $other, $s3)" >/dev/null
sleep 3
[ "$(q $db "SELECT state FROM helpdesk.session WHERE id = $s3")" = queued ] \
	|| fail "offered again 3 s after both agents declined; the cool-down is 8 s"
wait_until $db "SELECT state = 'offered' FROM helpdesk.session WHERE id = $s3" 8 || fail "s3 stranded after both agents declined"
g=$(gap $s3 decline offer)
within "$g" 7.9 9.0 || fail "offered again ${g}s after the last decline, expected the 8 s cool-down within 1 s"
note "declined by both agents: offered again ${g}s after the last decline"
q $db "SELECT helpdesk.decline_offer(1, agent_id, $s3) FROM helpdesk.session WHERE id = $s3" >/dev/null
q $db "SELECT helpdesk.close_session(1, $s3)" >/dev/null

# 4. a transfer to a queue goes to someone else, not back to the transferring agent:
#    bob takes it (ana busy) and ana gets two more sessions, so after the
#    transfer bob is the least loaded (before, the session went straight back to him)
status $bob online
status $ana busy
s4=$(start c4 $fast)
wait_until $db "SELECT state = 'offered' AND agent_id = $bob FROM helpdesk.session WHERE id = $s4" 5 || fail "s4 not offered to bob"
q $db "SELECT helpdesk.accept_offer(1, $bob, $s4)" >/dev/null
status $bob busy
status $ana online
for c in c8 c9; do
	s=$(start $c $fast)
	wait_until $db "SELECT state = 'offered' AND agent_id = $ana FROM helpdesk.session WHERE id = $s" 5 || fail "$c not offered to ana"
	q $db "SELECT helpdesk.accept_offer(1, $ana, $s)" >/dev/null
done
status $bob online
note "before the transfer: ana load $(q $db "SELECT load FROM helpdesk.agent WHERE id = $ana"), bob load $(q $db "SELECT load FROM helpdesk.agent WHERE id = $bob")"
q $db "SELECT helpdesk.transfer_session(1, $s4, $bob, to_queue_id => $fast)" >/dev/null
wait_until $db "SELECT state = 'offered' FROM helpdesk.session WHERE id = $s4" 3 || fail "transferred session not offered"
[ "$(offered_to $s4)" = "$ana" ] || fail "a transfer to a queue was offered straight back to the agent who transferred it"
q $db "SELECT helpdesk.decline_offer(1, $ana, $s4)" >/dev/null
# nobody else can take it now: back to the transferring agent after the cool-down (2 s)
wait_until $db "SELECT state = 'offered' FROM helpdesk.session WHERE id = $s4" 5 || fail "transferred session stranded"
[ "$(offered_to $s4)" = "$bob" ] || fail "expected the transferring agent once nobody else could take it"
g=$(gap $s4 decline offer)
within "$g" 1.9 3.0 || fail "back to the transferring agent after ${g}s, expected the 2 s cool-down"
note "transfer to a queue: offered to the other agent; back to the transferring one ${g}s after the other declined"
