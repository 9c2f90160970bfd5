#!/usr/bin/env bash
# Many connections post the same client message ids into the same sessions
# at once (a bridge retrying, two tabs of one customer): every id is stored
# once, every call gets that message's id without an error, and each stored
# message has exactly one event.
source "$(dirname "$0")/common.sh"
db=e2e_idem
clients=${IDEM_CLIENTS:-16}
secs=${IDEM_SECONDS:-6}
fresh_db $db
seed_sessions $db 4

cat >"$HD_CLUSTER/e2e_idem.pgbench" <<'EOF2'
\set n random(1, 4)
\set k random(1, 300)
SELECT helpdesk.post_message(tenant_id, session_id, 'customer', customer_id, 'message ' || :k,
                             client_msg_id => 'k' || :k) FROM public.e2e_session WHERE n = :n;
EOF2
note "pgbench: $clients clients for ${secs}s posting 4 x 300 client message ids"
pgbench -n -c "$clients" -j 2 -T "$secs" -d $db -f "$HD_CLUSTER/e2e_idem.pgbench" \
	>"$HD_CLUSTER/e2e_idem.out" 2>&1 || { cat "$HD_CLUSTER/e2e_idem.out"; fail "pgbench failed"; }
grep -q "number of failed transactions: 0" "$HD_CLUSTER/e2e_idem.out" ||
	{ cat "$HD_CLUSTER/e2e_idem.out"; fail "some posts failed"; }
calls=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$HD_CLUSTER/e2e_idem.out")
read -r stored distinct wrong events < <(q $db "
	SELECT count(*), count(DISTINCT (session_id, client_msg_id)),
	       count(*) FILTER (WHERE body <> 'message ' || substr(client_msg_id, 2)),
	       (SELECT count(*) FROM helpdesk.event e JOIN helpdesk.message m2
	          ON m2.tenant_id = e.tenant_id AND m2.id = e.message_id)
	FROM helpdesk.message m" | tr '|' ' ')
note "calls: $calls, messages stored: $stored, distinct ids: $distinct, events: $events"
[ "$calls" -gt 2000 ] || fail "too few calls ($calls) for a meaningful check"
[ "$stored" -eq "$distinct" ] || fail "$stored messages stored for $distinct client message ids"
[ "$stored" -le 1200 ] || fail "more messages ($stored) than client message ids (1200)"
[ "$wrong" -eq 0 ] || fail "$wrong messages stored with the wrong body"
[ "$events" -eq "$stored" ] || fail "$stored messages but $events message.created events"
echo "ok: $calls posts of 1200 ids stored $stored messages, each once, each with one event"
