#!/usr/bin/env bash
# Ticket numbers under load: 16 connections create tickets in two tenants at
# once (pgbench), a quarter of the transactions rolling back after their
# creation, others creating two tickets in one transaction, while customers
# reply to and agents change existing tickets. Afterwards each tenant's
# numbers are exactly 1001..1000+N (unique, no gap), the counter row says
# 1001+N, two tickets made in one transaction have consecutive numbers (the
# counter row is held to the end), every committed creation has its ticket.created events and no
# rolled-back one left a ticket, message or event.
source "$(dirname "$0")/common.sh"
db=e2e_tickets_numbering
fresh_db $db
trap 'psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
work=$(mktemp -d)
clients=${TICKETS_CLIENTS:-16}
txns=${TICKETS_TXNS:-150}

q $db "
SELECT helpdesk.upsert_tenant('n1', 'Numbers 1'), helpdesk.upsert_tenant('n2', 'Numbers 2');
SELECT helpdesk.upsert_customer(t, 'c' || g) FROM generate_series(1, 50) g, (VALUES (1), (2)) v(t);
SELECT helpdesk.upsert_agent(t, 'a' || g, 'A' || g) FROM generate_series(1, 5) g, (VALUES (1), (2)) v(t);
CREATE TABLE public.rolled_back (subject text PRIMARY KEY);
" >/dev/null

cat >"$work/create.sql" <<'SQL'
\set t random(1, 2)
\set c random(1, 50)
\set k random(1, 1000000000)
BEGIN;
SELECT number FROM helpdesk.create_ticket(:t, (SELECT id FROM helpdesk.customer WHERE tenant_id = :t AND external_id = 'c' || :c),
	'kept ' || :k || ' ' || :client_id, 'help me');
END;
SQL
cat >"$work/create2.sql" <<'SQL'
\set t random(1, 2)
\set c random(1, 50)
\set k random(1, 1000000000)
BEGIN;
SELECT number FROM helpdesk.create_ticket(:t, (SELECT id FROM helpdesk.customer WHERE tenant_id = :t AND external_id = 'c' || :c),
	'pair-a ' || :k || ' ' || :client_id, 'first of two');
SELECT pg_sleep(0.002);
SELECT number FROM helpdesk.create_ticket(:t, (SELECT id FROM helpdesk.customer WHERE tenant_id = :t AND external_id = 'c' || :c),
	'pair-b ' || :k || ' ' || :client_id, 'second of two');
END;
SQL
cat >"$work/rollback.sql" <<'SQL'
\set t random(1, 2)
\set c random(1, 50)
\set k random(1, 1000000000)
BEGIN;
SELECT number FROM helpdesk.create_ticket(:t, (SELECT id FROM helpdesk.customer WHERE tenant_id = :t AND external_id = 'c' || :c),
	'doomed ' || :k || ' ' || :client_id, 'never');
SELECT pg_sleep(0.002);
ROLLBACK;
SQL
cat >"$work/work.sql" <<'SQL'
\set t random(1, 2)
\set a random(1, 5)
SELECT helpdesk.reply_ticket(t.tenant_id, t.id, 'agent', (SELECT id FROM helpdesk.agent WHERE tenant_id = :t AND external_id = 'a' || :a),
	'on it', new_status => CASE WHEN t.status = 'open' THEN 'pending' ELSE NULL END)
FROM helpdesk.ticket t WHERE t.tenant_id = :t AND t.status IN ('new', 'open') ORDER BY random() LIMIT 1;
SELECT helpdesk.reply_ticket(t.tenant_id, t.id, 'customer', t.customer_id, 'still broken')
FROM helpdesk.ticket t WHERE t.tenant_id = :t AND t.status = 'pending' ORDER BY random() LIMIT 1;
SQL

pgbench -n -c "$clients" -j 4 -t "$txns" -f "$work/create.sql@5" -f "$work/create2.sql@2" \
	-f "$work/rollback.sql@3" -f "$work/work.sql@3" $db >"$work/pgbench.out" 2>&1 ||
	{ tail -20 "$work/pgbench.out"; fail "pgbench failed"; }
# a client whose transaction fails aborts, and pgbench exits non-zero (above)

for t in 1 2; do
	row=$(q $db "SELECT count(*), count(DISTINCT number), min(number), max(number),
	                    (SELECT next_number FROM helpdesk.ticket_counter WHERE tenant_id = $t)
	             FROM helpdesk.ticket WHERE tenant_id = $t")
	IFS='|' read -r n distinct lo hi next <<<"$row"
	[ "$n" -gt 100 ] || fail "tenant $t: only $n tickets"
	[ "$distinct" = "$n" ] || fail "tenant $t: $n tickets but $distinct numbers"
	[ "$lo" = 1001 ] && [ "$hi" = $((1000 + n)) ] || fail "tenant $t: numbers $lo..$hi for $n tickets (a gap)"
	[ "$next" = $((1001 + n)) ] || fail "tenant $t: counter at $next after $n tickets"
	note "tenant $t: $n tickets numbered 1001..$hi, counter at $next"
done
[ "$(q $db "SELECT count(*) FROM helpdesk.ticket WHERE subject LIKE 'doomed %'")" = 0 ] || fail "a rolled-back ticket survived"
[ "$(q $db "SELECT count(*) FROM helpdesk.event WHERE type = 'ticket.created' AND payload->>'subject' LIKE 'doomed %'")" = 0 ] ||
	fail "a rolled-back ticket left an event"
missing=$(q $db "SELECT count(*) FROM helpdesk.ticket t WHERE NOT EXISTS (SELECT 1 FROM helpdesk.event e
                 WHERE e.tenant_id = t.tenant_id AND e.type = 'ticket.created' AND e.audience = 'tenant'
                   AND (e.payload->>'ticket_id')::bigint = t.id)")
[ "$missing" = 0 ] || fail "$missing tickets without their ticket.created event"
pairs=$(q $db "SELECT count(*) FROM helpdesk.ticket a JOIN helpdesk.ticket b ON b.tenant_id = a.tenant_id
               AND b.subject = 'pair-b' || substr(a.subject, 7) WHERE a.subject LIKE 'pair-a %' AND b.number <> a.number + 1")
[ "$pairs" = 0 ] || fail "$pairs ticket pairs made in one transaction are not consecutive (the counter row was not held)"
replies=$(q $db "SELECT count(*) FROM helpdesk.ticket_message WHERE sender_kind IN ('agent', 'customer') AND body IN ('on it', 'still broken')")
note "$replies replies and status changes ran alongside; rolled-back creations left nothing"
echo "tickets_numbering: ok"
