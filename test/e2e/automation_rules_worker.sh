#!/usr/bin/env bash
# The rules worker (automation/rule_worker.c), a background worker of its own:
# started by the launcher and listed by worker_status; a rule fires without a
# poll (the publisher wakes it); SIGTERM while it waits for a lock another
# transaction holds ends it within 1 s, the launcher restarts it (counted in
# metrics()), and what was logged meanwhile is evaluated after the restart; an
# event whose evaluation fails (its audit refused) is skipped with a warning
# and the events after it go on; an event that makes the whole batch read
# fail is stepped to and skipped after a few retries, in the same process
# (no crash loop), and the events after it are evaluated.
source "$(dirname "$0")/common.sh"
db=e2e_rules_worker
fresh_db $db
seed_sessions $db 3
tenant=$(q $db "SELECT id FROM helpdesk.tenant WHERE slug = 'e2e'")
read -r s1 c1 < <(q $db "SELECT session_id, customer_id FROM public.e2e_session WHERE n = 1" | tr '|' ' ')
read -r s2 c2 < <(q $db "SELECT session_id, customer_id FROM public.e2e_session WHERE n = 2" | tr '|' ' ')
rpid() { q $db "SELECT coalesce((SELECT pid FROM helpdesk.worker_status() WHERE kind = 'rules'), 0)"; }
restarts() { q $db "SELECT value::bigint FROM helpdesk.metrics() WHERE metric = 'helpdesk_worker_restarts_total' AND labels->>'kind' = 'rules'"; }
wait_until $db "SELECT pid IS NOT NULL FROM helpdesk.worker_status() WHERE kind = 'rules'" 30 || fail "no rules worker"
[ "$(q $db "SELECT count(*) FROM helpdesk.metrics() WHERE metric = 'helpdesk_worker_up' AND labels->>'kind' = 'rules' AND value = 1")" = 1 ] ||
	fail "metrics() has no helpdesk_worker_up for the rules worker"

q $db "SELECT helpdesk.upsert_rule($tenant, 'answer', 'message.created',
	'{\"all\": [{\"field\": \"message.sender_kind\", \"op\": \"equal\", \"value\": \"customer\"}, {\"field\": \"message.body\", \"op\": \"starts_with\", \"value\": \"ping\"}]}',
	'[{\"type\": \"send_message\", \"message\": \"pong\"}]')" >/dev/null
sleep 0.5   # the worker starts its cursor at the log's head when it first sees rules
pongs() { q $db "SELECT count(*) FROM helpdesk.message WHERE session_id = $1 AND sender_kind = 'system' AND body = 'pong'"; }
q $db "SELECT helpdesk.post_message($tenant, $s1, 'customer', $c1, 'ping 1')" >/dev/null
wait_until $db "SELECT count(*) = 1 FROM helpdesk.message WHERE session_id = $s1 AND body = 'pong'" 5 || fail "the rule did not answer"
lat=$(q $db "SELECT round(extract(epoch FROM max(m.created_at) FILTER (WHERE m.body = 'pong') - max(m.created_at) FILTER (WHERE m.body = 'ping 1')) * 1000)
	FROM helpdesk.message m WHERE m.session_id = $s1")
note "rules worker $(rpid) answered in $lat ms"

# SIGTERM while it waits for a lock: the cursor's table held by another transaction
pid=$(rpid); before=$(restarts)
psql -qX -d $db -c "BEGIN" -c "LOCK TABLE helpdesk.automation_rule_cursor IN EXCLUSIVE MODE" -c "SELECT pg_sleep(8)" -c "COMMIT" >/dev/null 2>&1 &
holder=$!
wait_until $db "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE relation = 'helpdesk.automation_rule_cursor'::regclass AND mode = 'ExclusiveLock' AND granted)" 5 ||
	fail "the holder did not lock the cursor"
q $db "SELECT helpdesk.post_message($tenant, $s1, 'customer', $c1, 'ping 2')" >/dev/null
wait_until $db "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $pid" 5 || fail "the rules worker is not waiting for the lock"
t0=$(date +%s%N)
q $db "SELECT pg_terminate_backend($pid, 0)" >/dev/null
wait_until $db "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $pid)" 5 || fail "the rules worker did not exit on SIGTERM"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 1000 ] || fail "the rules worker took $ms ms to exit on SIGTERM in a lock wait"
wait "$holder" || true
wait_until $db "SELECT coalesce((SELECT pid FROM helpdesk.worker_status() WHERE kind = 'rules'), 0) NOT IN (0, $pid)" 15 || fail "the rules worker was not restarted"
wait_until $db "SELECT count(*) = 2 FROM helpdesk.message WHERE session_id = $s1 AND body = 'pong'" 10 || fail "the event logged before the restart was not evaluated"
[ "$(restarts)" -gt "$before" ] || fail "metrics() did not count the restart of the rules worker"
note "SIGTERM in a lock wait: exited in $ms ms, restarted as $(rpid) (restarts $before -> $(restarts)), the waiting event evaluated once"

# an event whose evaluation fails (its audit refused) is skipped; the next ones go on
q $db "CREATE FUNCTION public.refuse_audit() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog AS \$\$
BEGIN IF NEW.session_id = $s2 THEN RAISE EXCEPTION 'e2e: audit refused'; END IF; RETURN NEW; END \$\$;
CREATE TRIGGER refuse_audit BEFORE INSERT ON helpdesk.automation_rule_run FOR EACH ROW EXECUTE FUNCTION public.refuse_audit()"
pid=$(rpid)
q $db "SELECT helpdesk.post_message($tenant, $s2, 'customer', $c2, 'ping 3')" >/dev/null
q $db "SELECT helpdesk.post_message($tenant, $s1, 'customer', $c1, 'ping 4')" >/dev/null
wait_until $db "SELECT count(*) = 3 FROM helpdesk.message WHERE session_id = $s1 AND body = 'pong'" 5 || fail "the event after a failing one was not evaluated"
[ "$(pongs "$s2")" = 0 ] || fail "the failing event's action was kept"
grep -q "rules worker: event .* skipped: e2e: audit refused" "$HD_CLUSTER/postgres.log" || fail "no warning for the skipped event"
[ "$(rpid)" = "$pid" ] || fail "the rules worker restarted on a failing event"
q $db "DROP TRIGGER refuse_audit ON helpdesk.automation_rule_run"
note "an event failing its evaluation: skipped with a warning, its action rolled back, the next event answered, same process"

# an event that fails the batch read as a whole: stepped to, retried, skipped; the events after it go on
q $db "SELECT helpdesk.upsert_rule($tenant, 'tickets', 'ticket.updated', '{\"all\": []}', '[{\"type\": \"add_tags\", \"tags\": [\"seen\"]}]')" >/dev/null
q $db "INSERT INTO helpdesk.event (tenant_id, audience, audience_id, type, payload)
	VALUES ($tenant, 'tenant', $tenant, 'ticket.updated', '{\"ticket_id\": \"not a number\"}')"
q $db "SELECT helpdesk.post_message($tenant, $s1, 'customer', $c1, 'ping 5')" >/dev/null
wait_until $db "SELECT count(*) = 4 FROM helpdesk.message WHERE session_id = $s1 AND body = 'pong'" 30 ||
	fail "the event after one that fails the batch read was not evaluated"
grep -q "rules worker: the event at position .* is skipped after" "$HD_CLUSTER/postgres.log" || fail "no warning for the skipped position"
[ "$(rpid)" = "$pid" ] || fail "the rules worker restarted on a bad event"
note "an event failing the batch read: skipped after retries with backoff, the next event answered, same process"
echo "automation_rules_worker: ok"
