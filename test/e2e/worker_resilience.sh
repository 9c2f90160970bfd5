#!/usr/bin/env bash
# The publisher survives what happens to real databases: it is killed, it
# meets a row it cannot publish, the extension is dropped and created again,
# the database is dropped under it, or the extension was never created.
source "$(dirname "$0")/common.sh"
db=e2e_worker
log=$HD_CLUSTER/postgres.log
fresh_db $db
seed_sessions $db 4
post() { q $db "SELECT helpdesk.post_message(tenant_id, session_id, 'customer', customer_id, '$1') FROM public.e2e_session WHERE n = 1" >/dev/null; }
all_published() { wait_until $db "SELECT NOT EXISTS (SELECT 1 FROM helpdesk.event WHERE pos IS NULL AND id NOT IN (SELECT event_id FROM helpdesk.event_quarantine))" "${1:-10}"; }
gap_free() { [ "$(q $db "SELECT count(*) = coalesce(max(pos), 0) FROM helpdesk.event WHERE pos IS NOT NULL")" = t ]; }

wait_until $db "SELECT pid IS NOT NULL FROM helpdesk.worker_status()" || fail "no publisher after CREATE EXTENSION"
all_published || fail "publisher did not publish the seed events"

# 1. terminated (pg_terminate_backend): restarted, nothing lost
pid=$(publisher_pid $db)
q $db "SELECT pg_terminate_backend($pid)" >/dev/null
post "while the publisher is down"
wait_until $db "SELECT coalesce((SELECT pid FROM helpdesk.worker_status()), 0) NOT IN (0, $pid)" 15 || fail "publisher not restarted after SIGTERM"
all_published || fail "event posted while the publisher was down was not published"
gap_free || fail "positions have gaps after restart"
note "SIGTERM: restarted as $(publisher_pid $db)"

# 2. killed with SIGKILL: the postmaster restarts every process; the launcher brings the publisher back
pid=$(publisher_pid $db)
kill -9 "$pid"
sleep 1
wait_until $db "SELECT true" 30 || fail "server did not come back after crash restart"
post "after the crash"
wait_until $db "SELECT coalesce((SELECT pid FROM helpdesk.worker_status()), 0) NOT IN (0, $pid)" 30 || fail "publisher not back after SIGKILL"
all_published 20 || fail "events not published after SIGKILL"
gap_free || fail "positions have gaps after crash"
note "SIGKILL: back as $(publisher_pid $db)"

# 3. a row that cannot be published (a DBA's trigger rejects it): quarantined, the rest flows
pid=$(publisher_pid $db)
q $db "CREATE FUNCTION public.reject_poison() RETURNS trigger LANGUAGE plpgsql AS \$\$
	BEGIN IF NEW.payload ? 'poison' THEN RAISE EXCEPTION 'poisoned event %', NEW.id; END IF; RETURN NEW; END \$\$;
	CREATE TRIGGER reject_poison BEFORE UPDATE ON helpdesk.event FOR EACH ROW EXECUTE FUNCTION public.reject_poison();"
q $db "INSERT INTO helpdesk.event (tenant_id, audience, type, payload) SELECT tenant_id, 'tenant', 'test.poison', '{\"poison\": true}' FROM public.e2e_session WHERE n = 1"
post "after the poison"
post "and one more"
all_published 20 || fail "good events behind a bad row were not published"
[ "$(q $db "SELECT count(*) FROM helpdesk.event_quarantine q JOIN helpdesk.event e ON e.id = q.event_id WHERE e.type = 'test.poison' AND q.error LIKE 'poisoned event%'")" = 1 ] || fail "bad row not quarantined with its error"
[ "$(publisher_pid $db)" = "$pid" ] || fail "publisher restarted instead of handling the bad row"
gap_free || fail "positions have gaps after quarantine"
grep -q "event [0-9]* quarantined: poisoned event" "$log" || fail "quarantine not logged"
q $db "DROP TRIGGER reject_poison ON helpdesk.event" >/dev/null
note "bad row quarantined, publisher $pid kept running"

# 4. DROP EXTENSION: the worker leaves quietly; CREATE EXTENSION starts it again at once
q $db "DROP EXTENSION pg_helpdesk CASCADE" >/dev/null 2>&1
wait_until $db "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pg_helpdesk publisher' AND datname = current_database()" 15 \
	|| fail "publisher still running after DROP EXTENSION"
q $db "CREATE EXTENSION pg_helpdesk" >/dev/null
wait_until $db "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_helpdesk publisher' AND datname = current_database()" 5 \
	|| fail "publisher not started after CREATE EXTENSION"
note "DROP/CREATE EXTENSION: worker stopped and started"

# 5. DROP DATABASE while the publisher is connected: not blocked, no errors afterwards
before=$(wc -l <"$log")
start=$(date +%s%N)
psql -qX -d postgres -c "DROP DATABASE $db" || fail "DROP DATABASE was blocked by the worker"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
note "DROP DATABASE took ${ms} ms"
[ "$ms" -lt 5000 ] || fail "DROP DATABASE waited ${ms} ms"

# 6. a database without the extension gets no worker and no log noise
psql -qX -d postgres -c "DROP DATABASE IF EXISTS e2e_plain" -c "CREATE DATABASE e2e_plain" >/dev/null
q e2e_plain "CREATE TABLE t (x int); INSERT INTO t VALUES (1)" >/dev/null
sleep 7   # longer than helpdesk.launcher_naptime in the test cluster
[ "$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_helpdesk publisher' AND datname = 'e2e_plain'")" = 0 ] \
	|| fail "a worker runs in a database without the extension"
noise=$(tail -n +"$((before + 1))" "$log" | grep -E 'pg_helpdesk|publisher' | grep -vE 'exited with exit code 0|duration' || true)
[ -z "$noise" ] || { echo "$noise"; fail "log noise after DROP DATABASE / in a database without the extension"; }
psql -qX -d postgres -c "DROP DATABASE e2e_plain" >/dev/null
echo "worker resilience: ok"
