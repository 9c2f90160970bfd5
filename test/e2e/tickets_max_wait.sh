#!/usr/bin/env bash
# A queue's max_wait_action with the real dispatcher: 'ticket' turns a
# session that waited too long into a ticket of the queue (channel chat,
# linked to the session, which closes as escalated; audit action 'ticket'),
# within 1 s of its due time; 'close' abandons it even with an overflow queue
# set; the default 'overflow' still moves it to the overflow queue.
source "$(dirname "$0")/common.sh"
db=e2e_tickets_max_wait
fresh_db $db
trap 'psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT

q $db "
SELECT helpdesk.upsert_tenant('mw', 'Max wait');
SELECT helpdesk.upsert_queue(1, 'spill', 'Spill');
SELECT helpdesk.upsert_queue(1, 'tk', 'To ticket', max_wait => '2 seconds');
SELECT helpdesk.upsert_queue(1, 'cl', 'To close', max_wait => '2 seconds',
	overflow_queue_id => (SELECT id FROM helpdesk.queue WHERE external_id = 'spill'));
SELECT helpdesk.upsert_queue(1, 'ov', 'To overflow', max_wait => '2 seconds',
	overflow_queue_id => (SELECT id FROM helpdesk.queue WHERE external_id = 'spill'));
SELECT helpdesk.set_queue_max_wait_action(1, (SELECT id FROM helpdesk.queue WHERE external_id = 'tk'), 'ticket');
SELECT helpdesk.set_queue_max_wait_action(1, (SELECT id FROM helpdesk.queue WHERE external_id = 'cl'), 'close');
SELECT helpdesk.upsert_customer(1, 'c' || g) FROM generate_series(1, 6) g;
" >/dev/null
qid() { q $db "SELECT id FROM helpdesk.queue WHERE external_id = '$1'"; }
start() { q $db "SELECT session_id FROM helpdesk.start_session(1, (SELECT id FROM helpdesk.customer WHERE external_id = '$1'), queue_id => $2, first_message => '$3')"; }
tk=$(qid tk) cl=$(qid cl) ov=$(qid ov) spill=$(qid spill)
s1=$(start c1 "$tk" 'My purchase never arrived')
s2=$(start c2 "$tk" 'Second waiting customer')
s3=$(start c3 "$cl" 'Will be closed')
s4=$(start c4 "$ov" 'Will overflow')

wait_until $db "SELECT count(*) = 2 FROM helpdesk.ticket" 8 || fail "no tickets within 8 s of the max wait"
wait_until $db "SELECT (SELECT state FROM helpdesk.session WHERE id = $s3) = 'closed'
                   AND (SELECT queue_id FROM helpdesk.session WHERE id = $s4) = $spill" 8 ||
	fail "close/overflow actions did not fire"

row=$(q $db "SELECT t.channel, t.queue_id = $tk, t.subject, t.status, s.state, s.close_reason, s.closed_by
             FROM helpdesk.ticket t JOIN helpdesk.session s ON s.tenant_id = t.tenant_id AND s.id = t.session_id
             WHERE t.session_id = $s1")
[ "$row" = "chat|t|My purchase never arrived|new|closed|escalated|system" ] || fail "ticket from max wait: $row"
note "max_wait_action ticket: $row"
[ "$(q $db "SELECT count(*) FROM helpdesk.ticket WHERE session_id IN ($s1, $s2)")" = 2 ] || fail "one ticket per waiting session"
[ "$(q $db "SELECT count(*) FROM helpdesk.dispatch_audit WHERE action = 'ticket' AND session_id IN ($s1, $s2)")" = 2 ] ||
	fail "audit rows for the tickets"
# punctual: the ticket within 1 s of the due time the audit row carries
late=$(q $db "SELECT max(extract(epoch FROM t.created_at - a.due_at)) FROM helpdesk.dispatch_audit a
              JOIN helpdesk.ticket t ON t.session_id = a.session_id WHERE a.action = 'ticket'")
awk -v x="$late" 'BEGIN { exit !(x >= 0 && x <= 1.0) }' || fail "tickets made ${late}s after due"
note "tickets made at most ${late}s after their due time"
[ "$(q $db "SELECT count(*) FROM helpdesk.event WHERE type = 'session.escalated' AND session_id = $s1")" = 1 ] ||
	fail "the chat heard of its ticket"
[ "$(q $db "SELECT count(*) FROM helpdesk.event WHERE type = 'ticket.created' AND audience = 'queue' AND audience_id = $tk")" = 2 ] ||
	fail "the queue heard of the tickets"

row=$(q $db "SELECT state, close_reason, (SELECT action FROM helpdesk.dispatch_audit a WHERE a.session_id = s.id ORDER BY id DESC LIMIT 1)
             FROM helpdesk.session s WHERE id = $s3")
[ "$row" = "closed|abandoned|abandon" ] || fail "max_wait_action close: $row"
note "max_wait_action close (overflow queue set): $row"
[ "$(q $db "SELECT count(*) FROM helpdesk.ticket WHERE session_id IN ($s3, $s4)")" = 0 ] || fail "close/overflow made tickets"
row=$(q $db "SELECT state, queue_id = $spill FROM helpdesk.session WHERE id = $s4")
[ "$row" = "queued|t" ] || fail "default overflow: $row"
note "default max_wait_action overflow: moved to the overflow queue"
echo "tickets_max_wait: ok"
