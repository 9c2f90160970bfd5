#!/usr/bin/env bash
# Routing invariants under load: 64 connections create, accept, decline,
# close and abandon sessions while agents flap presence, status and capacity.
# A sampler checks live snapshots; post-hoc checks read the audit and the
# assignment history. Exits non-zero on any violation:
#   1. no agent over capacity (audit: load after every decision <= capacity;
#      live: held sessions <= max_sessions unless capacity was lowered after
#      the newest assignment; agent.load always equals what it holds)
#   2. no session assigned twice (one open assignment per session; one
#      placement event per assignment row)
#   3. no session left waiting while an eligible agent has a free slot for
#      longer than one dispatcher pass (1 s slack, seen in two samples); an
#      agent who declined or missed the session is eligible again after the
#      cool-down or a status change
#   4. every timer fires within 1 s of its due time
# Size: ROUTING_AGENTS (500) ROUTING_SESSIONS (20000) ROUTING_CLIENTS (64)
# ROUTING_SECONDS (60) ROUTING_RATE (1500 transactions/s over all connections:
# a busy helpdesk, not a saturated CPU: the 1 s bounds are about correctness,
# and on 2 cores 64 unthrottled clients starve every other process);
# scripts/test runs a smaller size that fits CI.
# ROUTING_CALIBRATE=1 (scripts/test sets it) first runs the same mix at 200
# tx/s for 5 s, measures the CPU time the cluster's processes spend per
# transaction (fixed costs included, so it errs high) and then runs at most
# 80% of the rate the machine's CPUs would sustain at that cost. On one 2-core
# machine 600 tx/s used 89% of the CPU; on the CI machine it saturated it
# (589 tx/s achieved) and timers ran 1.07 s late. The rate used is printed.
# Under saturation the session calls wait for the dispatcher (backpressure,
# extension/core/backpressure.c): at full size the test passes at 600, 1,500
# and unthrottled (bench/routing_stress.md); the waits are printed.
source "$(dirname "$0")/common.sh"
db=e2e_routing
agents=${ROUTING_AGENTS:-500}
sessions=${ROUTING_SESSIONS:-20000}
clients=${ROUTING_CLIENTS:-64}
secs=${ROUTING_SECONDS:-60}
rate=${ROUTING_RATE:-1500}
work=$HD_CLUSTER/routing_stress; rm -rf "$work"; mkdir -p "$work"; chmod 777 "$work"
logstart=$(stat -c %s "$HD_CLUSTER/postgres.log")
fresh_db $db

q $db "
SELECT helpdesk.upsert_tenant('rs', 'Routing stress', heartbeat_interval => '1 second', heartbeat_misses => 2);
SELECT helpdesk.set_routing(1, presence_grace => '1 second', max_missed_offers => 3,
                            idle_warn_after => '2 seconds', idle_close_after => '1 second');
SELECT helpdesk.upsert_queue(1, 'q1', 'Least loaded', required_skills => '{s1}', offer_timeout => '1 second', is_default => true);
SELECT helpdesk.upsert_queue(1, 'q2', 'Round robin', required_skills => '{s2}', strategy => 'round_robin');
SELECT helpdesk.upsert_queue(1, 'q3', 'Longest idle', required_skills => '{s3}', required_languages => '{es}',
                             strategy => 'longest_idle', offer_timeout => '2 seconds', max_wait => '3 seconds');
SELECT helpdesk.upsert_queue(1, 'q4', 'Sticky', required_skills => '{s1,s4}', strategy => 'sticky',
                             max_wait => '2 seconds', overflow_queue_id => 1);
SELECT helpdesk.set_queue_routing(1, id, offer_mode => 'direct') FROM helpdesk.queue WHERE external_id IN ('q2', 'q4');
SELECT helpdesk.upsert_agent(1, 'a' || g, 'Agent ' || g,
         skills => (SELECT jsonb_object_agg('s' || k, 1 + (g * k) % 10) FROM generate_series(1, 4) k
                    WHERE (g + k) % 3 <> 0 OR k = 1),
         languages => CASE WHEN g % 2 = 0 THEN '{en,es}'::text[] ELSE '{en}' END,
         max_sessions => 1 + g % 4) FROM generate_series(1, $agents) g;
SELECT helpdesk.set_agent_status(1, id, 'online') FROM helpdesk.agent;
SELECT helpdesk.upsert_customer(1, 'c' || g, vip_level => g % 11) FROM generate_series(1, $sessions) g;
CREATE SEQUENCE public.rs_next;
CREATE TABLE public.rs_silent (agent_id bigint PRIMARY KEY);
CREATE TABLE public.rs_violation (at timestamptz DEFAULT clock_timestamp(), what text);
" >/dev/null

# Actors. Expected refusals (the race was lost) are caught; anything else
# aborts the pgbench client and fails the test.
q $db "
CREATE FUNCTION public.rs_start() RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE n bigint := nextval('public.rs_next'); cid bigint;
BEGIN
	IF n > $sessions THEN PERFORM pg_sleep(0.01); RETURN; END IF;
	SELECT id INTO cid FROM helpdesk.customer WHERE tenant_id = 1 AND external_id = 'c' || n;
	PERFORM helpdesk.start_session(1, cid, queue_id => (SELECT id FROM helpdesk.queue WHERE external_id = 'q' || (1 + n % 4)),
	        first_message => CASE WHEN n % 7 = 0 THEN 'URGENT refund' ELSE 'hello' END);
END \$\$;
CREATE FUNCTION public.rs_agent() RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE s record; r float8 := random();
BEGIN
	SELECT * INTO s FROM helpdesk.session WHERE tenant_id = 1 AND state IN ('offered', 'active')
	  AND id >= (SELECT (random() * max(id))::bigint FROM helpdesk.session) ORDER BY id LIMIT 1;
	IF NOT FOUND THEN RETURN; END IF;
	IF s.state = 'offered' AND r < 0.6 THEN PERFORM helpdesk.accept_offer(1, s.agent_id, s.id);
	ELSIF s.state = 'offered' AND r < 0.75 THEN PERFORM helpdesk.decline_offer(1, s.agent_id, s.id);
	ELSIF s.state = 'active' AND r < 0.5 THEN PERFORM helpdesk.close_session(1, s.id, NULL, 'agent', s.agent_id);
	ELSIF s.state = 'active' AND r < 0.6 THEN PERFORM helpdesk.post_message(1, s.id, 'agent', s.agent_id, 'how can I help?');
	ELSIF s.state = 'active' AND r < 0.65 THEN
		PERFORM helpdesk.transfer_session(1, s.id, s.agent_id, to_queue_id => (SELECT id FROM helpdesk.queue WHERE external_id = 'q1'));
	END IF;
EXCEPTION WHEN SQLSTATE '55000' OR SQLSTATE 'HD410' OR SQLSTATE 'HD422' OR SQLSTATE '42501' OR SQLSTATE 'HD404' THEN
	NULL;	-- lost a race against the dispatcher or another actor
END \$\$;
CREATE FUNCTION public.rs_leave() RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE s record;
BEGIN
	SELECT * INTO s FROM helpdesk.session WHERE tenant_id = 1 AND state <> 'closed'
	  AND id >= (SELECT (random() * max(id))::bigint FROM helpdesk.session) ORDER BY id LIMIT 1;
	IF FOUND THEN PERFORM helpdesk.close_session(1, s.id, NULL, 'customer', s.customer_id); END IF;
EXCEPTION WHEN SQLSTATE 'HD422' OR SQLSTATE 'HD410' THEN NULL;
END \$\$;
CREATE FUNCTION public.rs_flap() RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE a bigint := 1 + (random() * ($agents - 1))::bigint; r float8 := random();
BEGIN
	SELECT id INTO a FROM helpdesk.agent WHERE tenant_id = 1 AND external_id = 'a' || a;
	IF r < 0.3 THEN PERFORM helpdesk.upsert_agent(1, 'a' || a, 'Agent', max_sessions => (random() * 5)::int);
	ELSIF r < 0.45 THEN INSERT INTO public.rs_silent VALUES (a) ON CONFLICT DO NOTHING;   -- stops heartbeating
	ELSIF r < 0.6 THEN DELETE FROM public.rs_silent WHERE agent_id = a;                  -- reconnects
	ELSIF r < 0.7 THEN PERFORM helpdesk.set_agent_status(1, a, 'away');
	ELSIF r < 0.75 THEN PERFORM helpdesk.set_agent_status(1, a, 'offline');
	ELSE PERFORM helpdesk.set_agent_status(1, a, 'online');
	END IF;
END \$\$;
" >/dev/null
echo 'SELECT public.rs_start();' >"$work/start.sql"
echo 'SELECT public.rs_agent();' >"$work/agent.sql"
echo 'SELECT public.rs_leave();' >"$work/leave.sql"
echo 'SELECT public.rs_flap();' >"$work/flap.sql"

# Heartbeats: one call for every agent that is not silenced, twice a second.
( while [ ! -f "$work/stop" ]; do
	q $db "SELECT helpdesk.agent_heartbeat(1, array(SELECT id FROM helpdesk.agent WHERE id NOT IN (SELECT agent_id FROM public.rs_silent)))" >/dev/null 2>&1 || true
	sleep 0.5
done ) &
beater=$!

# The sampler: live invariants in one snapshot each, every 200 ms.
( prev=""
while [ ! -f "$work/stop" ]; do
	out=$(psql -qXAt -d $db 2>/dev/null <<'SQL'
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT 'capacity: agent ' || a.id || ' holds ' || h.n || ' of ' || a.max_sessions
FROM helpdesk.agent a
JOIN LATERAL (SELECT count(*) AS n, max(x.started_at) AS newest FROM helpdesk.session s
              JOIN helpdesk.session_assignment x ON x.tenant_id = s.tenant_id AND x.session_id = s.id AND x.ended_at IS NULL
              WHERE s.tenant_id = a.tenant_id AND s.agent_id = a.id AND s.state IN ('offered', 'active')) h ON true
WHERE h.n > a.max_sessions AND h.newest > a.capacity_changed_at;
SELECT 'load: agent ' || a.id || ' load ' || a.load || ' holds ' || count(s.id)
FROM helpdesk.agent a LEFT JOIN helpdesk.session s ON s.tenant_id = a.tenant_id AND s.agent_id = a.id
  AND s.state IN ('offered', 'active')
GROUP BY a.id, a.load HAVING a.load <> count(s.id);
SELECT 'waiting: session ' || s.id
FROM helpdesk.session s JOIN helpdesk.queue q ON q.tenant_id = s.tenant_id AND q.id = s.queue_id
JOIN helpdesk.tenant t ON t.id = s.tenant_id
WHERE s.state = 'queued' AND q.strategy <> 'manual' AND s.target_agent_id IS NULL
  AND s.queued_at < now() - interval '1 second'
  AND EXISTS (SELECT 1 FROM helpdesk.agent a
      WHERE a.tenant_id = s.tenant_id AND a.status = 'online' AND a.enabled
        AND a.last_seen_at > now() - t.heartbeat_interval * t.heartbeat_misses + interval '1 second'
        AND a.load < a.max_sessions AND a.skills ?& q.required_skills
        AND (cardinality(q.required_languages) = 0 OR a.languages && q.required_languages)
        -- an agent who declined or missed it counts once the cool-down (the
        -- queue's offer_timeout since the session came back) passed, or once
        -- its status changed since then (README: Routing)
        AND (NOT a.id = ANY (s.excluded_agents)
             OR s.queued_at + q.offer_timeout < now() - interval '1 second'
             OR a.status_changed_at > s.queued_at + interval '1 second')
        AND a.status_changed_at < now() - interval '1 second'
        AND a.capacity_changed_at < now() - interval '1 second'
        AND coalesce(a.last_activity_at, '-infinity') < now() - interval '1 second');
COMMIT;
SQL
)
	# a waiting session counts only when two samples in a row show it
	now_wait=$(grep '^waiting' <<<"$out" | sort || true)
	if [ -n "$now_wait" ] && [ -n "$prev" ]; then
		comm -12 <(echo "$prev") <(echo "$now_wait") | sed 's/^/still /' >>"$work/violations"
	fi
	prev=$now_wait
	grep -v '^waiting' <<<"$out" | grep . >>"$work/violations" || true
	sleep 0.2
done ) &
sampler=$!
trap 'touch "$work/stop"; kill $beater $sampler 2>/dev/null || true' EXIT

j=$(( clients < 2 ? 1 : 2 ))
# CPU jiffies the cluster used so far: the postmaster with its reaped
# children (ended backends) and its live children (workers, backends); other
# processes on the machine do not count
pm=$(head -1 "$(q postgres "SHOW data_directory")/postmaster.pid")
cluster_jiffies() {
	local total c
	total=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat")
	for c in $(ps -o pid= --ppid "$pm"); do
		total=$((total + $(awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || echo 0)))
	done
	echo "$total"
}
if [ "${ROUTING_CALIBRATE:-0}" = 1 ]; then
	busy0=$(cluster_jiffies)
	pgbench -n -c "$clients" -j $j -T 5 -R 200 -f "$work/start.sql@10" -f "$work/agent.sql@12" \
		-f "$work/leave.sql@1" -f "$work/flap.sql@2" $db >"$work/calibrate.out" 2>&1 \
		|| { cat "$work/calibrate.out" >&2; fail "a calibration client failed with an unexpected error"; }
	sleep 0.3	# the calibration's backends ended: their time is the postmaster's
	busy1=$(cluster_jiffies)
	txs=$(awk '/^number of transactions actually processed/{print $NF}' "$work/calibrate.out" | cut -d/ -f1)
	[ "${txs:-0}" -gt 0 ] || { cat "$work/calibrate.out" >&2; fail "calibration processed no transactions"; }
	hz=$(getconf CLK_TCK); ncpu=$(nproc)
	sustained=$(awk -v t="$txs" -v b=$((busy1 - busy0)) -v hz="$hz" -v n="$ncpu" 'BEGIN{b = b < 1 ? 1 : b; printf "%d", t * hz * n / b}')
	cal=$(( sustained * 4 / 5 ))
	note "calibration: $txs transactions at 200 tx/s, $(awk -v t="$txs" -v b=$((busy1 - busy0)) -v hz="$hz" 'BEGIN{printf "%.2f", 1000 * b / hz / t}') ms of CPU each: ${ncpu} CPUs sustain ~${sustained} tx/s"
	[ "$cal" -lt "$rate" ] && rate=$cal
	[ "$rate" -ge 100 ] || fail "this machine sustains only ~$sustained tx/s of the mix: too slow for the stress test"
fi
note "routing stress: $clients connections, $agents agents, $sessions sessions, ${secs}s at $rate tx/s"
pgbench -n -c "$clients" -j $j -T "$secs" -R "$rate" -f "$work/start.sql@10" -f "$work/agent.sql@12" \
	-f "$work/leave.sql@1" -f "$work/flap.sql@2" $db >"$work/pgbench.out" 2>&1 \
	|| { cat "$work/pgbench.out" >&2; fail "a stress client failed with an unexpected error"; }
grep -q "number of failed transactions: 0" "$work/pgbench.out" || grep -q "^number of transactions actually processed" "$work/pgbench.out" \
	|| { cat "$work/pgbench.out" >&2; fail "pgbench did not finish"; }
touch "$work/stop"; wait $beater $sampler 2>/dev/null || true

created=$(q $db "SELECT count(*) FROM helpdesk.session")
assigned=$(q $db "SELECT count(*) FROM helpdesk.session_assignment")
note "sessions created: $created, offers/assignments: $assigned, $(grep -o 'tps = [0-9.]*' "$work/pgbench.out" | head -1)"
[ "$created" -ge 100 ] || fail "only $created sessions were created"

# post-hoc checks
q $db "
SELECT 'audit: ' || action || ' of session ' || session_id || ' left agent ' || agent_id || ' at ' || agent_load || ' of ' || agent_capacity
FROM helpdesk.dispatch_audit WHERE agent_load > agent_capacity;
SELECT 'twice: session ' || a.session_id FROM helpdesk.session_assignment a JOIN helpdesk.session_assignment b
  ON b.tenant_id = a.tenant_id AND b.session_id = a.session_id AND b.id > a.id
  AND b.started_at < coalesce(a.ended_at, 'infinity');
SELECT 'events: session ' || x.session_id || ' has ' || x.n || ' assignments and ' || coalesce(e.n, 0) || ' placement events'
FROM (SELECT session_id, count(*) n FROM helpdesk.session_assignment WHERE kind <> 'claim' GROUP BY 1) x
LEFT JOIN (SELECT session_id, count(*) n FROM helpdesk.event WHERE audience = 'session' AND type = 'session.state'
           AND payload->>'from' = 'queued' AND payload->>'to' IN ('offered', 'active') GROUP BY 1) e USING (session_id)
WHERE x.n <> coalesce(e.n, 0);
SELECT 'timer: ' || action || ' for ' || coalesce('session ' || session_id, 'agent ' || agent_id) || ' fired ' || (at - due_at) || ' late'
FROM helpdesk.dispatch_audit WHERE due_at IS NOT NULL AND at - due_at > interval '1 second';
" >>"$work/violations"
timers=$(q $db "SELECT string_agg(action || ' ' || n || ' (p99 ' || round(p99 * 1000) || ', max ' || round(late * 1000) || ' ms late)', ', ') FROM (
  SELECT action, count(*) n, max(extract(epoch FROM at - due_at)) late,
         percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM at - due_at)) p99
  FROM helpdesk.dispatch_audit WHERE due_at IS NOT NULL GROUP BY action ORDER BY action) x")
note "timers fired: ${timers:-none}"
bp=$(q $db "SELECT string_agg(replace(metric, 'helpdesk_dispatcher_', '') || ' ' || round(value::numeric, 1), ', ')
  FROM helpdesk.metrics() WHERE metric LIKE 'helpdesk_dispatcher_backpressure%'")
note "backpressure: $bp"
for a in timeout presence_offline requeue; do
	[ "$(q $db "SELECT count(*) > 0 FROM helpdesk.dispatch_audit WHERE action = '$a'")" = t ] || fail "no $a timer fired: the test did not exercise it"
done
if [ -s "$work/violations" ]; then
	head -20 "$work/violations" >&2
	fail "$(wc -l <"$work/violations") invariant violations"
fi
tail -c +$((logstart + 1)) "$HD_CLUSTER/postgres.log" >"$work/postgres.log"
errors=$(grep -c "pg_helpdesk dispatcher.*\(WARNING\|ERROR\)" "$work/postgres.log" || true)
[ "$errors" = 0 ] || { grep "pg_helpdesk dispatcher" "$work/postgres.log" | head -5 >&2; fail "dispatcher logged $errors failures"; }
note "ok: no over-capacity, no double assignment, no idle eligible agent, timers within 1 s"
