#!/usr/bin/env bash
# Heavy concurrent appends lose and duplicate nothing, and a reader that
# follows events_since while they run sees every event exactly once, in
# position order with no gaps.
source "$(dirname "$0")/common.sh"
db=e2e_stress
clients=${STRESS_CLIENTS:-16}
secs=${STRESS_SECONDS:-8}
fresh_db $db
seed_sessions $db 64
wait_until $db "SELECT helpdesk.publisher_lag() = 0" || fail "publisher did not catch up after seeding"
start=$(q $db "SELECT helpdesk.event_position()")

# The reader: one connection, read committed, follows positions until it sees END.
psql -qXAt -v ON_ERROR_STOP=1 -d $db >"$HD_CLUSTER/e2e_reader.out" 2>&1 <<SQL &
DO \$\$
DECLARE
	last bigint := $start;
	seen bigint := 0;
	r record;
	done boolean := false;
	deadline timestamptz := clock_timestamp() + interval '120 seconds';
BEGIN
	WHILE NOT done LOOP
		IF clock_timestamp() > deadline THEN RAISE EXCEPTION 'reader timed out at pos %', last; END IF;
		FOR r IN SELECT * FROM helpdesk.events_since(last, 5000) LOOP
			IF r.pos <> last + 1 THEN
				RAISE EXCEPTION 'gap: expected position %, got %', last + 1, r.pos;
			END IF;
			last := r.pos;
			seen := seen + 1;
			IF r.message->>'body' = 'END' THEN done := true; END IF;
		END LOOP;
		PERFORM pg_sleep(0.005);
	END LOOP;
	RAISE NOTICE 'reader saw % events up to %', seen, last;
END \$\$;
SQL
reader=$!
trap 'kill $reader 2>/dev/null || true' EXIT

cat >"$HD_CLUSTER/e2e_stress.pgbench" <<'EOF2'
\set n random(1, 64)
SELECT helpdesk.post_message(tenant_id, session_id, 'customer', customer_id, 'stress message') FROM public.e2e_session WHERE n = :n;
EOF2
cat >"$HD_CLUSTER/e2e_rollback.pgbench" <<'EOF2'
\set n random(1, 64)
BEGIN;
SELECT helpdesk.post_message(tenant_id, session_id, 'customer', customer_id, 'rolled back') FROM public.e2e_session WHERE n = :n;
ROLLBACK;
EOF2
note "pgbench: $clients clients for ${secs}s (1 in 10 transactions rolled back, the publisher terminated halfway)"
pgbench -n -c "$clients" -j 2 -T "$secs" -d $db \
	-f "$HD_CLUSTER/e2e_stress.pgbench@9" -f "$HD_CLUSTER/e2e_rollback.pgbench@1" >"$HD_CLUSTER/e2e_pgbench.out" 2>&1 &
bench=$!
# halfway through, the publisher is terminated; the launcher restarts it
sleep $((secs / 2))
q $db "SELECT pg_terminate_backend(pid) FROM helpdesk.worker_status() WHERE kind = 'publisher' AND pid IS NOT NULL" >/dev/null
wait $bench || { cat "$HD_CLUSTER/e2e_pgbench.out"; fail "pgbench failed"; }
q $db "SELECT helpdesk.post_message(tenant_id, session_id, 'customer', customer_id, 'END') FROM public.e2e_session WHERE n = 1" >/dev/null
wait $reader || { cat "$HD_CLUSTER/e2e_reader.out"; fail "reader failed"; }
seen=$(sed -n 's/.*reader saw \([0-9]*\) events.*/\1/p' "$HD_CLUSTER/e2e_reader.out")

wait_until $db "SELECT helpdesk.publisher_lag() = 0" || fail "publisher did not catch up"
read -r total events distinct_pos maxpos messages rolled < <(q $db "
	SELECT (SELECT count(*) FROM helpdesk.event_positions WHERE pos > $start),
	       (SELECT count(*) FROM helpdesk.event_positions p JOIN helpdesk.event e ON e.id = p.event_id
	         WHERE p.pos > $start AND e.type = 'message.created'),
	       (SELECT count(DISTINCT event_id) FROM helpdesk.event_positions WHERE pos > $start),
	       (SELECT max(pos) FROM helpdesk.event_positions),
	       (SELECT count(*) FROM helpdesk.message WHERE body IN ('stress message', 'END')),
	       (SELECT count(*) FROM helpdesk.message WHERE body = 'rolled back')" | tr '|' ' ')
note "messages stored: $messages, events after start: $total, reader saw: $seen"
[ "$messages" -gt 1000 ] || fail "too few messages ($messages) for a meaningful check"
[ "$rolled" -eq 0 ] || fail "$rolled rolled-back messages were stored"
[ "$events" -eq "$messages" ] || fail "$messages messages but $events message.created events"
[ "$distinct_pos" -eq "$total" ] || fail "an event got two positions: $total positions, $distinct_pos events"
[ "$maxpos" -eq $((start + total)) ] || fail "positions have a gap: max $maxpos, expected $((start + total))"
unpublished=$(q $db "SELECT count(*) FROM helpdesk.event e WHERE NOT EXISTS (SELECT 1 FROM helpdesk.event_positions p WHERE p.event_id = e.id)")
[ "$unpublished" -eq 0 ] || fail "$unpublished committed events never got a position"
[ "$seen" -eq "$total" ] || fail "reader saw $seen events, $total were published"
echo "event log stress: ok"
