#!/usr/bin/env bash
# Backpressure (extension/core/backpressure.c): while the dispatcher is
# behind (here: stopped with SIGSTOP after a wake it has not taken), session
# calls wait, longer the later it is; a waiting call returns as soon as the
# dispatcher has caught up; once it has, nothing waits. A session a client
# keeps locked past its offer timeout (the timer cannot fire) makes nobody
# wait, and helpdesk.dispatch_backpressure_after = 0 turns the waits off.
source "$(dirname "$0")/common.sh"
db=e2e_backpressure
fresh_db $db
dpid() { q $db "SELECT coalesce((SELECT pid FROM helpdesk.worker_status() WHERE kind = 'dispatcher'), 0)"; }
waits() { q $db "SELECT value::bigint FROM helpdesk.metrics() WHERE metric = 'helpdesk_dispatcher_backpressure_waits_total'"; }
cust() { q $db "SELECT id FROM helpdesk.customer WHERE external_id = 'c$1'"; }
# ms SQL: how long the statement took, psql's start included
ms() { local t0; t0=$(date +%s%N); q $db "$1" >/dev/null; echo $((($(date +%s%N) - t0) / 1000000)); }
start() { ms "SELECT helpdesk.start_session(1, $(cust "$1"))"; }

q $db "
SELECT helpdesk.upsert_tenant('bp', 'Backpressure', heartbeat_interval => '1 hour');
SELECT helpdesk.upsert_queue(1, 'q', 'Q', offer_timeout => '1 second', is_default => true);
SELECT helpdesk.upsert_agent(1, 'a1', 'A', max_sessions => 20);
SELECT helpdesk.set_agent_status(1, id, 'online') FROM helpdesk.agent;
SELECT helpdesk.upsert_customer(1, 'c' || g) FROM generate_series(1, 20) g;
" >/dev/null
wait_until $db "SELECT $(dpid) > 0" || fail "no dispatcher"
pid=$(dpid)
trap 'kill -CONT $pid 2>/dev/null || true' EXIT

# 1. on time: nothing waits
t=$(start 1)
wait_until $db "SELECT state = 'offered' FROM helpdesk.session WHERE customer_id = $(cust 1)" 10 || fail "c1 not offered"
[ "$(waits)" = 0 ] || fail "a call waited for a dispatcher that was on time"
note "on time: start_session ${t} ms, no wait"

# 2. a client keeps the offered session locked past its offer timeout: the
#    timer cannot fire (it is retried every 20 ms), and that is no reason for
#    anybody else to wait
s1=$(q $db "SELECT id FROM helpdesk.session WHERE customer_id = $(cust 1)")
psql -qXAt -d $db -c "BEGIN" -c "SELECT 1 FROM helpdesk.session WHERE tenant_id = 1 AND id = $s1 FOR UPDATE" \
	-c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null &
holder=$!
sleep 2
[ "$(q $db "SELECT state FROM helpdesk.session WHERE id = $s1")" = offered ] || fail "the locked session's offer timer fired"
t=$(start 2)
[ "$t" -lt 200 ] || fail "start_session took $t ms while only a locked row's timer was due"
[ "$(waits)" = 0 ] || fail "a call waited because a client held a session locked"
wait $holder
wait_until $db "SELECT EXISTS (SELECT 1 FROM helpdesk.dispatch_audit WHERE session_id = $s1 AND action = 'timeout')" 10 \
	|| fail "the offer timer did not fire once the row was free"
note "a locked row's timer: no wait (start_session ${t} ms), fired once the lock went"

# 3. the dispatcher stops after a wake it has not taken: calls wait
kill -STOP "$pid"
q $db "SELECT helpdesk.start_session(1, $(cust 3))" >/dev/null	# wakes it: nobody takes the wake
sleep 0.7
t=$(start 4)
w=$(waits)
[ "$w" -ge 1 ] || fail "no call waited for a stopped dispatcher"
[ "$t" -ge 300 ] || fail "start_session took only $t ms with the dispatcher 700 ms behind"
[ "$t" -lt 2500 ] || fail "start_session waited $t ms: more than helpdesk.dispatch_backpressure_max_wait"
note "dispatcher stopped 700 ms after a wake: start_session waited ${t} ms"

# 4. a call waiting while the dispatcher comes back returns once it caught up
(sleep 0.3; kill -CONT "$pid") &
t=$(start 5)
wait
[ "$t" -ge 250 ] || fail "start_session took only $t ms: it did not wait for the stopped dispatcher"
[ "$t" -lt 900 ] || fail "start_session took $t ms: it kept waiting after the dispatcher caught up (~300 ms)"
note "dispatcher resumed after 300 ms: the waiting call returned after ${t} ms"

# 5. caught up: nothing waits
wait_until $db "SELECT count(*) = 0 FROM helpdesk.session WHERE state = 'queued' AND customer_id IN ($(cust 3), $(cust 4), $(cust 5))" 10 \
	|| fail "sessions not placed after the dispatcher resumed"
w=$(waits)
t=$(start 6)
[ "$(waits)" = "$w" ] || fail "a call waited after the dispatcher caught up"
[ "$t" -lt 200 ] || fail "start_session took $t ms after the dispatcher caught up"

# 6. helpdesk.dispatch_backpressure_after = 0: no waits even when behind
q postgres "ALTER SYSTEM SET helpdesk.dispatch_backpressure_after = 0" >/dev/null
q postgres "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
kill -STOP "$pid"
q $db "SELECT helpdesk.start_session(1, $(cust 7))" >/dev/null
sleep 0.7
w=$(waits)
t=$(start 8)
kill -CONT "$pid"
q postgres "ALTER SYSTEM RESET helpdesk.dispatch_backpressure_after" >/dev/null
q postgres "SELECT pg_reload_conf()" >/dev/null
[ "$(waits)" = "$w" ] || fail "a call waited with helpdesk.dispatch_backpressure_after = 0"
[ "$t" -lt 200 ] || fail "start_session took $t ms with backpressure off"
[ "$(dpid)" = "$pid" ] || fail "the dispatcher restarted"
note "ok: waits while behind, none when on time, locked, caught up or turned off"
