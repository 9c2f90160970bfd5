#!/usr/bin/env bash
# Message retention run by pg_cron: tenant r1 keeps 7 days, r2 has no
# setting (forever). Old and recent chat and ticket messages of both,
# keyed for search. A pg_cron job (cron.schedule_in_database, in the
# cluster's cron database) CALLs run_retention(50) every minute: the test
# waits for pg_cron to fire it, then checks that r1's expired messages, their
# search keys and the message text of its old ticket events are gone, in
# more than ten batches (each a transaction), its recent messages stay, and
# r2's rows are untouched. Then, with 20,000 expired messages, a direct run
# in batches of 500 goes on while another connection posts messages into
# the same tenant: no post waits longer than 1 s.
source "$(dirname "$0")/common.sh"
db=e2e_retention
cron_db=$(q postgres "SHOW cron.database_name")
fresh_db "$db"
job=
cleanup() {
	[ -n "$job" ] && q "$cron_db" "SELECT cron.unschedule('$job')" >/dev/null 2>&1
	psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

q "$db" "
SELECT helpdesk.upsert_tenant('r1', 'R1'), helpdesk.upsert_tenant('r2', 'R2');
SELECT helpdesk.upsert_queue(t, 'main', 'Main', is_default => true) FROM (VALUES (1), (2)) v(t);
SELECT helpdesk.upsert_customer(t, 'c') FROM (VALUES (1), (2)) v(t);
SELECT helpdesk.start_session(c.tenant_id, c.id) FROM helpdesk.customer c ORDER BY c.id;
SELECT count(helpdesk.post_message(s.tenant_id, s.id, 'customer', s.customer_id, '旧消息 old ' || g))
	FROM helpdesk.session s, generate_series(1, 600) g;
SELECT count(*) FROM (SELECT helpdesk.create_ticket(c.tenant_id, c.id, 'old ticket', '旧工单 old ticket ' || g)
	FROM helpdesk.customer c, generate_series(1, 30) g) x;
UPDATE helpdesk.message SET created_at = now() - interval '10 days';
UPDATE helpdesk.ticket_message SET created_at = now() - interval '10 days';
UPDATE helpdesk.event SET created_at = now() - interval '10 days';
SELECT count(helpdesk.post_message(s.tenant_id, s.id, 'customer', s.customer_id, '新消息 recent ' || g))
	FROM helpdesk.session s, generate_series(1, 20) g;
SELECT helpdesk.set_message_retention(1, '7 days');
" >/dev/null
wait_until "$db" "SELECT helpdesk.publisher_lag() = 0" 30 || fail "publisher"
q "$db" "SELECT helpdesk.index_messages()" >/dev/null
before_r2=$(q "$db" "SELECT (SELECT count(*) FROM helpdesk.message WHERE tenant_id = 2) || '/' ||
	(SELECT count(*) FROM helpdesk.ticket_message WHERE tenant_id = 2) || '/' ||
	(SELECT count(*) FROM helpdesk.message_search WHERE tenant_id = 2) || '/' ||
	(SELECT count(*) FROM helpdesk.event WHERE tenant_id = 2 AND payload ? 'message')")
[ "$before_r2" = "620/30/650/60" ] || fail "r2 before the run: $before_r2 (want 620 messages, 30 ticket messages, 650 search rows, 60 ticket events with their message)"
old_events=$(q "$db" "SELECT count(*) FROM helpdesk.event WHERE tenant_id = 1 AND payload ? 'message'")
[ "$old_events" -ge 30 ] || fail "r1 has only $old_events ticket events carrying a message"

psql -qXAt -d "$cron_db" -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS pg_cron" >/dev/null
job="hd-retention-$db"
q "$cron_db" "SELECT cron.schedule_in_database('$job', '* * * * *', 'CALL helpdesk.run_retention(50)', '$db')" >/dev/null
note "pg_cron job $job scheduled in $cron_db; waiting for it to fire (up to 90 s)"
wait_until "$db" "SELECT EXISTS (SELECT 1 FROM helpdesk.retention_run WHERE tenant_id = 1)" 90 \
	|| { q "$cron_db" "SELECT status, return_message FROM cron.job_run_details ORDER BY runid DESC LIMIT 3"; fail "pg_cron never ran the retention"; }
q "$cron_db" "SELECT cron.unschedule('$job')" >/dev/null; job=
[ "$(q "$cron_db" "SELECT status FROM cron.job_run_details WHERE command LIKE '%run_retention(50)%' ORDER BY runid DESC LIMIT 1")" = succeeded ] \
	|| fail "the cron run did not succeed"
read -r batches chat ticket events complete < <(q "$db" "SELECT batches, chat_messages, ticket_messages, events, complete
	FROM helpdesk.retention_run WHERE tenant_id = 1 ORDER BY id LIMIT 1" | tr '|' ' ')
note "pg_cron run: $batches batches, $chat chat + $ticket ticket messages, $events events stripped, complete=$complete"
[ "$chat" = 600 ] && [ "$ticket" = 30 ] && [ "$complete" = t ] || fail "the run deleted $chat/$ticket (want 600/30)"
[ "$batches" -gt 10 ] || fail "only $batches batches for 600 messages in batches of 50"
[ "$(q "$db" "SELECT count(*) FROM helpdesk.message WHERE tenant_id = 1")" = 20 ] || fail "r1's recent messages"
[ "$(q "$db" "SELECT count(*) FROM helpdesk.message WHERE tenant_id = 1 AND body LIKE '旧%'")" = 0 ] || fail "old r1 messages left"
[ "$(q "$db" "SELECT count(*) FROM helpdesk.message_search WHERE tenant_id = 1")" = 20 ] || fail "r1's search keys"
[ "$(q "$db" "SELECT count(*) FROM helpdesk.search_messages(1, '旧消息')")" = 0 ] || fail "pruned messages still found"
[ "$(q "$db" "SELECT count(*) FROM helpdesk.event WHERE tenant_id = 1 AND payload ? 'message' AND created_at < now() - interval '7 days'")" = 0 ] \
	|| fail "old ticket events of r1 still carry their message"
after_r2=$(q "$db" "SELECT (SELECT count(*) FROM helpdesk.message WHERE tenant_id = 2) || '/' ||
	(SELECT count(*) FROM helpdesk.ticket_message WHERE tenant_id = 2) || '/' ||
	(SELECT count(*) FROM helpdesk.message_search WHERE tenant_id = 2) || '/' ||
	(SELECT count(*) FROM helpdesk.event WHERE tenant_id = 2 AND payload ? 'message')")
[ "$after_r2" = "$before_r2" ] || fail "r2 (no retention) changed: $before_r2 -> $after_r2"

# no long lock: posts into the same tenant while a run deletes 20,000 messages
q "$db" "SELECT count(helpdesk.post_message(s.tenant_id, s.id, 'customer', s.customer_id, 'bulk ' || g))
	FROM helpdesk.session s, generate_series(1, 20000) g WHERE s.tenant_id = 1;
	UPDATE helpdesk.message SET created_at = now() - interval '9 days' WHERE tenant_id = 1 AND body LIKE 'bulk%'" >/dev/null
psql -qXAt -d "$db" -c "CALL helpdesk.run_retention(500)" &
runner=$!
max=$(q "$db" "
CREATE TEMP TABLE lat (ms float8);
DO \$\$
DECLARE t0 timestamptz; s record;
BEGIN
  SELECT * INTO s FROM helpdesk.session WHERE tenant_id = 1;
  FOR i IN 1..300 LOOP
    t0 := clock_timestamp();
    PERFORM helpdesk.post_message(1, s.id, 'customer', s.customer_id, 'during ' || i);
    INSERT INTO lat VALUES (extract(epoch FROM clock_timestamp() - t0) * 1000);
    PERFORM pg_sleep(0.005);
  END LOOP;
END \$\$;
SELECT round(max(ms)::numeric, 1) FROM lat")
wait $runner || fail "the direct run failed"
read -r batches chat < <(q "$db" "SELECT batches, chat_messages FROM helpdesk.retention_run WHERE tenant_id = 1 ORDER BY id DESC LIMIT 1" | tr '|' ' ')
[ "$chat" = 20000 ] || fail "the direct run deleted $chat of 20000"
note "20,000 messages in $batches batches while posting: slowest post_message $max ms"
awk -v m="$max" 'BEGIN { exit !(m < 1000) }' || fail "a post_message waited $max ms during retention"
echo "retention: ok"
