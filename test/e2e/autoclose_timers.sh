#!/usr/bin/env bash
# Auto-close with the real dispatcher: many tickets on short rules (pending
# 3 s with a warning 1 s before, replied 4 s, resolved 2 s), created in
# waves so their due times spread over a few seconds. Every warning, resolve
# and close must fire within 1 s of its due time (never before it), each
# exactly once, with its thread entry. Then the dispatcher is SIGKILLed
# while more tickets are due: after the restart every one of them still
# fires, exactly once (late is allowed there, lost or twice is not).
source "$(dirname "$0")/common.sh"
db=e2e_autoclose
fresh_db $db
trap 'psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
n_pending=${AUTOCLOSE_PENDING:-600}
n_replied=${AUTOCLOSE_REPLIED:-300}
waves=10

q $db "
SELECT helpdesk.upsert_tenant('ac', 'Auto-close');
SELECT helpdesk.upsert_agent(1, 'ana', 'Ana');
SELECT helpdesk.set_autoclose(1, 'pending', true, '3 seconds', '1 second');
SELECT helpdesk.set_autoclose(1, 'replied', true, '4 seconds');
SELECT helpdesk.set_autoclose(1, 'resolved', true, '2 seconds');
SELECT helpdesk.set_tenant_language(1, 'en');
SELECT helpdesk.upsert_customer(1, 'c' || g) FROM generate_series(1, $n_pending + $n_replied) g;
CREATE TABLE public.wave_ticket (ticket_id bigint PRIMARY KEY, rule text NOT NULL, phase int NOT NULL);
" >/dev/null
agent=$(q $db "SELECT id FROM helpdesk.agent WHERE external_id = 'ana'")

# make_wave PHASE FROM TO: tickets for customers FROM..TO; the first share pending, the rest replied
make_wave() {
	q $db "
	WITH c AS (SELECT id, row_number() OVER (ORDER BY id) AS r FROM helpdesk.customer
	           WHERE external_id IN (SELECT 'c' || g FROM generate_series($2, $3) g)),
	     k AS (SELECT c.r, (helpdesk.create_ticket(1, c.id, 'wave ' || $1, 'help')).ticket_id AS id FROM c)
	INSERT INTO public.wave_ticket
	SELECT k.id, CASE WHEN k.r % 3 = 0 THEN 'replied' ELSE 'pending' END, $1 FROM k;
	SELECT count(helpdesk.reply_ticket(1, w.ticket_id, 'agent', $agent, 'try this',
		new_status => CASE WHEN w.rule = 'pending' THEN 'pending' END))
	FROM public.wave_ticket w WHERE w.phase = $1 AND NOT EXISTS (
		SELECT 1 FROM helpdesk.ticket_message m WHERE m.ticket_id = w.ticket_id AND m.sender_kind = 'agent');" >/dev/null
}

total=$((n_pending + n_replied))
per=$((total / (waves + 1)))
for ((w = 1; w <= waves; w++)); do
	make_wave 1 $(((w - 1) * per + 1)) $((w * per))
	sleep 0.3
done
n1=$(q $db "SELECT count(*) FROM public.wave_ticket WHERE phase = 1")
note "phase 1: $n1 tickets in $waves waves"

# every ticket closed: warning (pending only), resolved, closed
wait_until $db "SELECT count(*) = 0 FROM helpdesk.ticket t JOIN public.wave_ticket w ON w.ticket_id = t.id
                WHERE w.phase = 1 AND t.status <> 'closed'" 40 \
	|| fail "not all closed: $(q $db "SELECT string_agg(status || '=' || n, ' ') FROM (SELECT status, count(*) n FROM helpdesk.ticket GROUP BY 1) x")"

# firings per ticket and action, with the lag behind the due time
q $db "
CREATE TABLE public.firing AS
SELECT (e.payload ->> 'ticket_id')::bigint AS ticket_id, e.payload ->> 'rule' AS rule, e.payload ->> 'action' AS action,
       e.created_at, (e.payload ->> 'due_at')::timestamptz
         - CASE WHEN e.payload ->> 'action' = 'warning' THEN interval '1 second' ELSE interval '0' END AS due
FROM helpdesk.event e WHERE e.type = 'ticket.autoclose' AND e.audience = 'tenant';" >/dev/null
dups=$(q $db "SELECT count(*) FROM (SELECT ticket_id, rule, action FROM public.firing GROUP BY 1, 2, 3 HAVING count(*) > 1) d")
[ "$dups" = 0 ] || fail "$dups firings happened more than once"
want=$(q $db "SELECT count(*) FILTER (WHERE rule = 'pending') * 3 + count(*) FILTER (WHERE rule = 'replied') * 2 FROM public.wave_ticket WHERE phase = 1")
got=$(q $db "SELECT count(*) FROM public.firing f JOIN public.wave_ticket w USING (ticket_id) WHERE w.phase = 1")
[ "$got" = "$want" ] || fail "$got firings, want $want (pending: warning, resolve, close; replied: resolve, close)"
read -r early late p50 p99 max <<<"$(q $db "
SELECT count(*) FILTER (WHERE created_at < due), count(*) FILTER (WHERE created_at > due + interval '1 second'),
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM created_at - due))::numeric * 1000),
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM created_at - due))::numeric * 1000),
       round(max(extract(epoch FROM created_at - due))::numeric * 1000)
FROM public.firing f JOIN public.wave_ticket w USING (ticket_id) WHERE w.phase = 1" | tr '|' ' ')"
[ "$early" = 0 ] || fail "$early firings came before their due time"
[ "$late" = 0 ] || fail "$late firings came more than 1 s after their due time (p50 ${p50} ms, p99 ${p99} ms, max ${max} ms)"
note "$got firings, each once, lag behind due: p50 ${p50} ms, p99 ${p99} ms, max ${max} ms"

# thread entries: one per firing, in English
entries=$(q $db "SELECT count(*) FROM helpdesk.ticket_message m JOIN public.wave_ticket w ON w.ticket_id = m.ticket_id
                 WHERE w.phase = 1 AND m.sender_kind = 'system'")
[ "$entries" = "$got" ] || fail "$entries system entries for $got firings"
[ "$(q $db "SELECT count(*) FROM helpdesk.ticket WHERE autoclose_error IS NOT NULL")" = 0 ] || fail "firings failed: $(q $db "SELECT autoclose_error FROM helpdesk.ticket WHERE autoclose_error IS NOT NULL LIMIT 1")"
[ "$(q $db "SELECT count(*) FROM helpdesk.ticket WHERE autoclose_at IS NOT NULL")" = 0 ] || fail "closed tickets still scheduled"

# phase 2: SIGKILL the dispatcher while tickets are due
dpid() { q $db "SELECT coalesce((SELECT pid FROM helpdesk.worker_status() WHERE kind = 'dispatcher'), 0)"; }
pid=$(dpid)
[ "$pid" != 0 ] || fail "no dispatcher"
make_wave 2 $((waves * per + 1)) $total
n2=$(q $db "SELECT count(*) FROM public.wave_ticket WHERE phase = 2")
sleep 2.5
kill -9 "$pid"
sleep 1
wait_until $db "SELECT true" 30 || fail "server did not come back after the crash restart"
wait_until $db "SELECT coalesce((SELECT pid FROM helpdesk.worker_status() WHERE kind = 'dispatcher'), 0) NOT IN (0, $pid)" 30 \
	|| fail "dispatcher not back after SIGKILL"
wait_until $db "SELECT count(*) = 0 FROM helpdesk.ticket t JOIN public.wave_ticket w ON w.ticket_id = t.id
                WHERE w.phase = 2 AND t.status <> 'closed'" 40 || fail "phase 2: not all closed after the restart"
read -r want2 got2 dups2 <<<"$(q $db "
WITH f AS (SELECT (e.payload ->> 'ticket_id')::bigint AS ticket_id, e.payload ->> 'action' AS action
           FROM helpdesk.event e WHERE e.type = 'ticket.autoclose' AND e.audience = 'tenant')
SELECT (SELECT count(*) FILTER (WHERE rule = 'pending') * 3 + count(*) FILTER (WHERE rule = 'replied') * 2
        FROM public.wave_ticket WHERE phase = 2),
       (SELECT count(*) FROM f JOIN public.wave_ticket w USING (ticket_id) WHERE w.phase = 2),
       (SELECT count(*) FROM (SELECT 1 FROM f GROUP BY ticket_id, action HAVING count(*) > 1) d)" | tr '|' ' ')"
[ "$dups2" = 0 ] || fail "phase 2: $dups2 firings twice"
[ "$got2" = "$want2" ] || fail "phase 2: $got2 firings, want $want2"
note "SIGKILL with $n2 tickets due: all $got2 firings after the restart, each once"
