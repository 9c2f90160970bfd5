#!/usr/bin/env bash
# Ticket assignment under concurrency: TICKETS_CLIENTS (32) pgbench
# connections create tickets in two automatic queues (round_robin,
# least_loaded) and a manual one, take them, give and unassign them as a
# supervisor, resolve them, flap their agents' status and disable and enable
# agents (whose open tickets the dispatcher gives back), while the dispatcher
# assigns. Exits non-zero on any violation:
#   1. no agent ever over max_open_tickets: live (a sampler, every 100 ms,
#      one snapshot) and post hoc (every assign/take/auto audit row's load
#      after the decision <= the capacity read in the same transaction)
#   2. agent.open_tickets always equals the agent's open assigned tickets
#      (live and at the end), and every ticket counts against its assignee
#      exactly while it is open, disabled agents included
#   3. no deadlock and no other unexpected error in any actor
#   4. afterwards, within 5 s, no ticket waits unassigned in an automatic
#      queue while an online agent serving it has a free slot
# Size: TICKETS_AGENTS (30) TICKETS_SECONDS (15) TICKETS_RATE (400 tx/s).
source "$(dirname "$0")/common.sh"
db=e2e_ticket_assign
agents=${TICKETS_AGENTS:-30}
clients=${TICKETS_CLIENTS:-32}
secs=${TICKETS_SECONDS:-15}
rate=${TICKETS_RATE:-400}
work=$HD_CLUSTER/ticket_assign_stress; rm -rf "$work"; mkdir -p "$work"; chmod 777 "$work"
fresh_db $db

q $db "
SELECT helpdesk.upsert_tenant('tas', 'Ticket assignment stress');
SELECT helpdesk.upsert_queue(1, 'qa', 'Round robin', strategy => 'manual');
SELECT helpdesk.upsert_queue(1, 'qb', 'Least loaded', required_skills => '{b}', strategy => 'manual');
SELECT helpdesk.upsert_queue(1, 'qm', 'Manual', strategy => 'manual');
SELECT helpdesk.set_queue_ticket_strategy(1, id, CASE external_id WHEN 'qa' THEN 'round_robin' ELSE 'least_loaded' END)
	FROM helpdesk.queue WHERE external_id IN ('qa', 'qb');
SELECT helpdesk.upsert_agent(1, 'a' || g, 'Agent ' || g,
	skills => CASE WHEN g % 2 = 0 THEN '{\"b\": 3}'::jsonb ELSE '{}' END) FROM generate_series(1, $agents) g;
SELECT helpdesk.set_agent_ticket_capacity(1, id, 1 + id::int % 3) FROM helpdesk.agent;
SELECT helpdesk.set_agent_status(1, id, 'online') FROM helpdesk.agent;
SELECT helpdesk.upsert_customer(1, 'c' || g) FROM generate_series(1, 500) g;
CREATE TABLE public.tas_unexpected (at timestamptz DEFAULT clock_timestamp(), actor text, sqlstate text, message text);
CREATE TABLE public.tas_violation (at timestamptz DEFAULT clock_timestamp(), what text);
" >/dev/null

# Actors. Refusals that a lost race explains are expected and ignored;
# anything else (a deadlock above all) is recorded and fails the test.
q $db "
CREATE FUNCTION public.tas_fail(actor text, state text, msg text) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
	IF state NOT IN ('HD429', 'HD409', 'HD410', '55000', '42501', 'HD422') THEN
		INSERT INTO public.tas_unexpected (actor, sqlstate, message) VALUES (actor, state, msg);
	END IF;
END \$\$;
CREATE FUNCTION public.tas_create() RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE q bigint; c bigint;
BEGIN
	SELECT id INTO q FROM helpdesk.queue WHERE tenant_id = 1 ORDER BY random() LIMIT 1;
	SELECT id INTO c FROM helpdesk.customer WHERE tenant_id = 1 ORDER BY random() LIMIT 1;
	PERFORM helpdesk.create_ticket(1, c, 'stress', 'help', 'normal', NULL, q);
EXCEPTION WHEN OTHERS THEN PERFORM public.tas_fail('create', SQLSTATE, SQLERRM);
END \$\$;
CREATE FUNCTION public.tas_take() RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE a bigint; k bigint;
BEGIN
	SELECT id INTO a FROM helpdesk.agent WHERE tenant_id = 1 ORDER BY random() LIMIT 1;
	SELECT id INTO k FROM helpdesk.ticket WHERE tenant_id = 1 AND assignee_id IS NULL
		AND status IN ('new', 'open', 'pending') ORDER BY random() LIMIT 1;
	IF k IS NOT NULL THEN
		PERFORM helpdesk.take_ticket(1, a, k);
	END IF;
EXCEPTION WHEN OTHERS THEN PERFORM public.tas_fail('take', SQLSTATE, SQLERRM);
END \$\$;
CREATE FUNCTION public.tas_give() RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE a bigint; k bigint;
BEGIN
	SELECT id INTO a FROM helpdesk.agent WHERE tenant_id = 1 ORDER BY random() LIMIT 1;
	SELECT id INTO k FROM helpdesk.ticket WHERE tenant_id = 1 AND status IN ('new', 'open', 'pending')
		ORDER BY random() LIMIT 1;
	IF k IS NOT NULL THEN
		-- a third of the time: unassign
		PERFORM helpdesk.assign_ticket(1, k, CASE WHEN random() < 0.33 THEN NULL ELSE a END, 'supervisor', 1);
	END IF;
EXCEPTION WHEN OTHERS THEN PERFORM public.tas_fail('give', SQLSTATE, SQLERRM);
END \$\$;
CREATE FUNCTION public.tas_resolve() RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE k bigint;
BEGIN
	SELECT id INTO k FROM helpdesk.ticket WHERE tenant_id = 1 AND assignee_id IS NOT NULL
		AND status IN ('new', 'open', 'pending') ORDER BY random() LIMIT 1;
	IF k IS NOT NULL THEN
		PERFORM helpdesk.set_ticket_status(1, k, CASE WHEN random() < 0.2 THEN 'pending' ELSE 'resolved' END, 'api');
	END IF;
EXCEPTION WHEN OTHERS THEN PERFORM public.tas_fail('resolve', SQLSTATE, SQLERRM);
END \$\$;
CREATE FUNCTION public.tas_enable() RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE e text;
BEGIN
	SELECT external_id INTO e FROM helpdesk.agent WHERE tenant_id = 1 AND id > 1 ORDER BY random() LIMIT 1;
	PERFORM helpdesk.upsert_agent(1, e, 'Agent', enabled => random() < 0.7);
EXCEPTION WHEN OTHERS THEN PERFORM public.tas_fail('enable', SQLSTATE, SQLERRM);
END \$\$;
CREATE FUNCTION public.tas_flap() RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE a bigint;
BEGIN
	SELECT id INTO a FROM helpdesk.agent WHERE tenant_id = 1 ORDER BY random() LIMIT 1;
	PERFORM helpdesk.set_agent_status(1, a, CASE WHEN random() < 0.6 THEN 'online' ELSE 'away' END);
EXCEPTION WHEN OTHERS THEN PERFORM public.tas_fail('flap', SQLSTATE, SQLERRM);
END \$\$;
" >/dev/null

for f in create take give resolve flap enable; do echo "SELECT public.tas_$f();" >"$work/$f.sql"; done

# live sampler: one statement, one snapshot of agents and tickets
sampler() {
	local end=$(($(date +%s) + secs + 2))
	while [ "$(date +%s)" -lt "$end" ]; do
		q $db "
		INSERT INTO public.tas_violation (what)
		SELECT 'agent ' || a.id || ': open_tickets ' || a.open_tickets || ', max ' || a.max_open_tickets ||
		       ', counted ' || n.c
		FROM helpdesk.agent a,
		     LATERAL (SELECT count(*) AS c FROM helpdesk.ticket t WHERE t.tenant_id = a.tenant_id
		              AND t.assignee_id = a.id AND t.status IN ('new', 'open', 'pending')) n
		WHERE a.tenant_id = 1 AND (a.open_tickets > a.max_open_tickets OR a.open_tickets <> n.c)" >/dev/null || true
		sleep 0.1
	done
}
sampler &
sampler_pid=$!

note "pgbench: $clients clients, $secs s, $rate tx/s, $agents agents"
pgbench -n -c "$clients" -j 4 -T "$secs" -R "$rate" \
	-f "$work/create.sql@5" -f "$work/take.sql@2" -f "$work/give.sql@2" \
	-f "$work/resolve.sql@3" -f "$work/flap.sql@1" -f "$work/enable.sql@1" "$db" >"$work/pgbench.out" 2>&1 ||
	{ cat "$work/pgbench.out"; kill "$sampler_pid" 2>/dev/null; fail "pgbench failed"; }
wait "$sampler_pid" || true
grep -E "number of transactions actually processed|tps" "$work/pgbench.out" | sed 's/^/   /'

# quiesce: everyone enabled and online, then the dispatcher places what it can
q $db "SELECT helpdesk.upsert_agent(1, external_id, 'Agent', enabled => true) FROM helpdesk.agent" >/dev/null
q $db "SELECT helpdesk.set_agent_status(1, id, 'online') FROM helpdesk.agent" >/dev/null
idle_sql="SELECT NOT EXISTS (
	SELECT 1 FROM helpdesk.ticket t JOIN helpdesk.queue q ON q.tenant_id = t.tenant_id AND q.id = t.queue_id
	WHERE t.tenant_id = 1 AND q.ticket_strategy <> 'manual' AND t.assignee_id IS NULL
	  AND t.status IN ('new', 'open', 'pending')
	  AND EXISTS (SELECT 1 FROM helpdesk.agent a WHERE a.tenant_id = 1 AND a.status = 'online' AND a.enabled
	              AND a.open_tickets < a.max_open_tickets AND a.skills ?& q.required_skills))"
wait_until $db "$idle_sql" 5 || fail "tickets wait in automatic queues next to online agents with a free slot: $(q $db "
	SELECT string_agg(t.id::text, ',') FROM helpdesk.ticket t JOIN helpdesk.queue q ON q.id = t.queue_id
	WHERE q.ticket_strategy <> 'manual' AND t.assignee_id IS NULL AND t.status IN ('new', 'open', 'pending')")"

tickets=$(q $db "SELECT count(*) FROM helpdesk.ticket")
autos=$(q $db "SELECT count(*) FROM helpdesk.ticket_assignment_audit WHERE action = 'auto'")
manual=$(q $db "SELECT count(*) FROM helpdesk.ticket_assignment_audit WHERE action IN ('take', 'assign', 'unassign')")
note "$tickets tickets, $autos automatic assignments, $manual manual changes"
[ "$autos" -ge 100 ] || fail "only $autos automatic assignments: the test did not exercise the dispatcher"
released=$(q $db "SELECT count(*) FROM helpdesk.ticket_assignment_audit WHERE action = 'unassign' AND actor_kind = 'dispatcher'")
note "$released tickets of disabled agents given back by the dispatcher"

unexpected=$(q $db "SELECT count(*) FROM public.tas_unexpected")
[ "$unexpected" -eq 0 ] || fail "unexpected errors: $(q $db "SELECT string_agg(DISTINCT actor || ' ' || sqlstate || ' ' || message, '; ') FROM public.tas_unexpected")"
live=$(q $db "SELECT count(*) FROM public.tas_violation")
[ "$live" -eq 0 ] || fail "live violations: $(q $db "SELECT string_agg(what, '; ') FROM (SELECT what FROM public.tas_violation LIMIT 10) v")"
over=$(q $db "SELECT count(*) FROM helpdesk.ticket_assignment_audit WHERE action IN ('auto', 'take', 'assign')
	AND agent_open_tickets > agent_capacity")
[ "$over" -eq 0 ] || fail "$over assignments left their agent over capacity"
drift=$(q $db "SELECT count(*) FROM helpdesk.agent a WHERE a.open_tickets <> (SELECT count(*) FROM helpdesk.ticket t
	WHERE t.tenant_id = a.tenant_id AND t.assignee_id = a.id AND t.status IN ('new', 'open', 'pending'))")
[ "$drift" -eq 0 ] || fail "$drift agents' open_tickets differ from their open tickets"
miscounted=$(q $db "SELECT count(*) FROM helpdesk.ticket WHERE counted_agent_id IS DISTINCT FROM
	CASE WHEN status IN ('new', 'open', 'pending') THEN assignee_id END")
[ "$miscounted" -eq 0 ] || fail "$miscounted tickets count against the wrong agent"
last=$(q $db "SELECT count(*) FROM helpdesk.ticket t WHERE EXISTS (SELECT 1 FROM helpdesk.ticket_assignment_audit x WHERE x.ticket_id = t.id AND x.action <> 'wait')
	AND t.assignee_id IS DISTINCT FROM (SELECT x.agent_id FROM helpdesk.ticket_assignment_audit x
	                                    WHERE x.ticket_id = t.id AND x.action <> 'wait' ORDER BY x.id DESC LIMIT 1)")
[ "$last" -eq 0 ] || fail "$last tickets whose assignee is not the one their last audit row names"
echo "ticket assignment stress: ok"
