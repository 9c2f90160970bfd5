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
all_published() { wait_until $db "SELECT helpdesk.publisher_lag() = 0" "${1:-10}"; }
gap_free() { [ "$(q $db "SELECT count(*) = coalesce(max(pos), 0) AND count(DISTINCT event_id) = count(*) AND count(*) = (SELECT count(*) FROM helpdesk.event) FROM helpdesk.event_positions")" = t ]; }

wait_until $db "SELECT pid IS NOT NULL FROM helpdesk.worker_status() WHERE kind = 'publisher'" || fail "no publisher after CREATE EXTENSION"
all_published || fail "publisher did not publish the seed events"

# 1. terminated (pg_terminate_backend): restarted, nothing lost
pid=$(publisher_pid $db)
q $db "SELECT pg_terminate_backend($pid)" >/dev/null
post "while the publisher is down"
wait_until $db "SELECT coalesce((SELECT pid FROM helpdesk.worker_status() WHERE kind = 'publisher'), 0) NOT IN (0, $pid)" 15 || fail "publisher not restarted after SIGTERM"
all_published || fail "event posted while the publisher was down was not published"
gap_free || fail "positions have gaps after restart"
note "SIGTERM: restarted as $(publisher_pid $db)"

# 2. killed with SIGKILL: the postmaster restarts every process; the launcher brings the publisher back
pid=$(publisher_pid $db)
kill -9 "$pid"
sleep 1
wait_until $db "SELECT true" 30 || fail "server did not come back after crash restart"
post "after the crash"
wait_until $db "SELECT coalesce((SELECT pid FROM helpdesk.worker_status() WHERE kind = 'publisher'), 0) NOT IN (0, $pid)" 30 || fail "publisher not back after SIGKILL"
all_published 20 || fail "events not published after SIGKILL"
gap_free || fail "positions have gaps after crash"
note "SIGKILL: back as $(publisher_pid $db)"

# 2b. a transaction that took an event id long ago commits after newer events
#     were published AND after the publisher restarted: published once, late
fifo=$HD_CLUSTER/e2e_late.fifo; rm -f "$fifo"; mkfifo "$fifo"
psql -qXAt -d $db <"$fifo" >/dev/null 2>&1 &
late=$!
exec 3>"$fifo"
echo "BEGIN; SELECT helpdesk.post_message(tenant_id, session_id, 'customer', customer_id, 'late committer') FROM public.e2e_session WHERE n = 2;" >&3
sleep 0.5
post "published before the late one"
all_published || fail "events behind an open transaction were not published"
pid=$(publisher_pid $db)
q $db "SELECT pg_terminate_backend($pid)" >/dev/null
wait_until $db "SELECT coalesce((SELECT pid FROM helpdesk.worker_status() WHERE kind = 'publisher'), 0) NOT IN (0, $pid)" 15 || fail "publisher not restarted"
post "after the restart"
all_published || fail "events after the restart were not published"
echo "COMMIT;" >&3
exec 3>&-
wait $late || true
all_published || fail "the late committer was never published"
gap_free || fail "an event was skipped or published twice around the restart"
[ "$(q $db "SELECT count(*) FROM helpdesk.event_positions p JOIN helpdesk.event e ON e.id = p.event_id JOIN helpdesk.message m ON m.id = e.message_id WHERE m.body = 'late committer'")" = 1 ] \
	|| fail "the late committer's event is not published exactly once"
[ "$(q $db "SELECT (SELECT p.pos FROM helpdesk.event_positions p JOIN helpdesk.event e ON e.id = p.event_id JOIN helpdesk.message m ON m.id = e.message_id WHERE m.body = 'late committer')
          > (SELECT p.pos FROM helpdesk.event_positions p JOIN helpdesk.event e ON e.id = p.event_id JOIN helpdesk.message m ON m.id = e.message_id WHERE m.body = 'after the restart')")" = t ] \
	|| fail "the late committer was not placed after what committed before it"
note "late committer across a publisher restart: published once, after the earlier commits"

# 3. publishing fails for a while (here a DBA's trigger rejects every batch):
#    the publisher logs, backs off, keeps running, and catches up afterwards
pid=$(publisher_pid $db)
logstart=$(wc -l <"$log")
q $db "CREATE FUNCTION public.reject_batch() RETURNS trigger LANGUAGE plpgsql AS \$\$
	BEGIN RAISE EXCEPTION 'batches are refused today'; END \$\$;
	CREATE TRIGGER reject_batch BEFORE INSERT ON helpdesk.event_batch FOR EACH ROW EXECUTE FUNCTION public.reject_batch();"
# keep committing meanwhile: every commit wakes the publisher, backoff must hold
echo "SELECT helpdesk.post_message(tenant_id, session_id, 'customer', customer_id, 'load') FROM public.e2e_session WHERE n = 3;" >"$HD_CLUSTER/e2e_load.pgbench"
pgbench -n -c 4 -j 2 -T 3 -f "$HD_CLUSTER/e2e_load.pgbench" $db >/dev/null 2>&1 || fail "load during the failure failed"
[ "$(q $db "SELECT helpdesk.publisher_lag()")" -ge 1 ] || fail "event published despite the failing trigger?"
[ "$(publisher_pid $db)" = "$pid" ] || fail "publisher restarted instead of retrying"
warnings=$(tail -n +"$((logstart + 1))" "$log" | grep -c "pg_helpdesk publisher: batches are refused today" || true)
[ "$warnings" -ge 1 ] || fail "failure not logged"
[ "$warnings" -le 8 ] || fail "failure logged $warnings times in 3 s: no backoff"
q $db "DROP TRIGGER reject_batch ON helpdesk.event_batch" >/dev/null
post "after the failure"
all_published 40 || fail "publisher did not catch up after the failure ended"
gap_free || fail "positions have gaps after the failure"
note "failing batches: $warnings warnings with backoff, publisher $pid kept running and caught up"

# 3b. a sequence with CACHE > 1 would let ids commit out of the publisher's
#     view: refused loudly, and publishing resumes once it is fixed
logstart=$(wc -l <"$log")
q $db "ALTER SEQUENCE helpdesk.event_id_seq CACHE 20" >/dev/null
post "with a cached sequence"
sleep 1.5
grep -q "helpdesk.event_id_seq has CACHE 20; the publisher needs CACHE 1" < <(tail -n +"$((logstart + 1))" "$log") || fail "CACHE > 1 not reported"
[ "$(q $db "SELECT helpdesk.publisher_lag()")" -ge 1 ] || fail "published despite CACHE > 1"
q $db "ALTER SEQUENCE helpdesk.event_id_seq CACHE 1" >/dev/null
post "after fixing the sequence"
all_published 40 || fail "publisher did not resume after CACHE 1"
gap_free || fail "positions have gaps after the sequence fix"
note "CACHE 20 refused with a clear message; resumed after CACHE 1"

# 3c. someone who may not drop the database cannot stop its workers either
pid=$(publisher_pid $db)
q postgres "SET client_min_messages = warning; DROP ROLE IF EXISTS e2e_nobody; CREATE ROLE e2e_nobody LOGIN" >/dev/null
psql -qX -U e2e_nobody -d postgres -c "DROP DATABASE $db" >/dev/null 2>&1 && fail "non-owner dropped the database?"
sleep 0.5
[ "$(publisher_pid $db)" = "$pid" ] || fail "a failed DROP DATABASE by a non-owner stopped the publisher"
q postgres "DROP ROLE e2e_nobody" >/dev/null
note "non-owner DROP DATABASE left the publisher alone"

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
psql -qX -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS e2e_plain" -c "CREATE DATABASE e2e_plain" >/dev/null
q e2e_plain "CREATE TABLE t (x int); INSERT INTO t VALUES (1)" >/dev/null
sleep 7   # longer than helpdesk.launcher_naptime in the test cluster
[ "$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_helpdesk publisher' AND datname = 'e2e_plain'")" = 0 ] \
	|| fail "a worker runs in a database without the extension"
# A worker that DROP DATABASE's SIGTERM catches inside a statement stops with
# PostgreSQL's own FATAL "terminating background worker ... due to
# administrator command" (by design: SIGTERM is honoured within a second
# even in a lock wait): that worker's lines are the shutdown, not noise.
noise=$(tail -n +"$((before + 1))" "$log" | awk '
	/terminating background worker .* due to administrator command/ {
		if (match($0, /\[[0-9]+\]/)) gone[substr($0, RSTART + 1, RLENGTH - 2)] = 1
	}
	{ lines[NR] = $0 }
	END {
		for (i = 1; i <= NR; i++) {
			skip = 0
			for (p in gone) if (index(lines[i], "[" p "]") || index(lines[i], "(PID " p ")")) skip = 1
			if (!skip) print lines[i]
		}
	}' | grep -E 'pg_helpdesk|publisher' | grep -vE 'exited with exit code 0|duration' || true)
[ -z "$noise" ] || { echo "$noise"; fail "log noise after DROP DATABASE / in a database without the extension"; }
psql -qX -d postgres -c "DROP DATABASE e2e_plain" >/dev/null
echo "worker resilience: ok"
