#!/usr/bin/env bash
# Reports keep their rollups after message retention, and retention takes
# uploads with their messages. A random history over 40 days (test/reports/
# history.sql, one tenant in New York) is rolled up by the rollup worker;
# every report's figures of the 30 days before the 7-day retention cutoff
# are kept in a table. Then run_retention (the procedure pg_cron CALLs,
# batches of 50, one transaction each) prunes the messages older than 7
# days: the tenant's rollup horizon moves to the cutoff rounded up to a
# quarter hour. Late events reach the pruned period (surveys answered for
# old sessions, old tickets reopened and resolved again: without the
# horizon their buckets would be recomputed from what is left and lose
# first response and reply times); rebuild_rollups over a range before the
# horizon is refused (55000), from the horizon on it works; the 30 days'
# figures, every report by hour, day and total under every grouping, are
# unchanged, while the raw twin of the same reports has changed (the test
# would catch a recompute). After the horizon rollups still equal the raw
# truth. Uploads: one named only by an old message goes with it, one also
# named by a recent message stays, one of a tenant without retention stays.
source "$(dirname "$0")/common.sh"
DB=e2e_retention_rollups
fresh_db "$DB"
HERE=$(cd "$(dirname "$0")/.." && pwd)
psql -qX -v ON_ERROR_STOP=1 -d "$DB" -f "$HERE/reports/history.sql" >/dev/null
cleanup() {
	psql -qX -d "$DB" -c "ALTER SYSTEM RESET helpdesk.rollup_enabled" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
	psql -qX -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
set_worker() {   # on|off
	psql -qX -d "$DB" -c "ALTER SYSTEM SET helpdesk.rollup_enabled = $1" -c "SELECT pg_reload_conf()" >/dev/null
}
caught_up() {
	wait_until "$DB" "SELECT (SELECT position FROM helpdesk.rollup_cursor) = helpdesk.event_position() AND helpdesk.event_position() > 0" "${1:-120}"
}

set_worker off; sleep 1
q "$DB" "
DO \$\$
DECLARE t bigint; q2 bigint; cal bigint;
BEGIN
	t := helpdesk.upsert_tenant('rr', 'Retention and rollups');
	PERFORM helpdesk.set_report_settings(t, 'America/New_York');
	INSERT INTO public.rh_tenant VALUES (t, 'America/New_York', false);
	PERFORM helpdesk.upsert_queue(t, 'manual', 'Manual', strategy => 'manual', is_default => true);
	q2 := helpdesk.upsert_queue(t, 'auto', 'Auto', offer_timeout => '1 second');
	PERFORM helpdesk.upsert_agent(t, 'a' || g, 'Agent ' || g, max_sessions => 50) FROM generate_series(1, 3) g;
	PERFORM helpdesk.set_agent_status(t, a.id, 'online') FROM helpdesk.agent a WHERE a.tenant_id = t;
	PERFORM helpdesk.set_csat(t, 'on');
	cal := helpdesk.upsert_calendar(t, 'office', 'Office', 'America/New_York',
		'{\"mon\": [[\"00:00\",\"23:00\"]], \"tue\": [[\"00:00\",\"23:00\"]], \"wed\": [[\"00:00\",\"23:00\"]], \"thu\": [[\"00:00\",\"23:00\"]], \"fri\": [[\"00:00\",\"23:00\"]], \"sat\": [[\"00:00\",\"23:00\"]], \"sun\": [[\"00:00\",\"23:00\"]]}');
	PERFORM helpdesk.upsert_sla_policy(t, 'urgent', 1, first_response => '1 second', resolution => '2 hours',
		calendar_id => cal, priorities => '{urgent,high}');
	PERFORM helpdesk.upsert_sla_policy(t, 'rest', 2, first_response => '1 hour', resolution => '30 days');
	-- a second tenant without retention (its upload stays)
	t := helpdesk.upsert_tenant('keep', 'Keeps everything');
	PERFORM helpdesk.upsert_queue(t, 'main', 'Main', is_default => true);
END \$\$;
UPDATE helpdesk.tenant SET heartbeat_interval = '1 hour'" >/dev/null
t=$(q "$DB" "SELECT tenant_id FROM public.rh_tenant")
t2=$(q "$DB" "SELECT id FROM helpdesk.tenant WHERE slug = 'keep'")
psql -qX -v ON_ERROR_STOP=1 -d "$DB" -c "CALL public.reports_status_history($t, 12, 0.31, true)" >/dev/null
psql -qX -v ON_ERROR_STOP=1 -d "$DB" -c "CALL public.reports_history($t, ${HD_REPORTS_N:-60}, 20, 0.31, true)" >/dev/null

# uploads: u1 named by an old message only, u2 by an old and a recent one,
# u3 by an old message of the tenant that keeps everything
q "$DB" "
CREATE TABLE public.rr_upload (k text PRIMARY KEY, tenant_id bigint, id bigint, session_id bigint, customer_id bigint);
INSERT INTO public.rr_upload (k, tenant_id, customer_id)
VALUES ('u1', $t, helpdesk.upsert_customer($t, 'up-1')), ('u2', $t, helpdesk.upsert_customer($t, 'up-2')),
       ('u3', $t2, helpdesk.upsert_customer($t2, 'up-3'));
UPDATE public.rr_upload u SET session_id = (SELECT session_id FROM helpdesk.start_session(u.tenant_id, u.customer_id)),
	id = (SELECT upload_id FROM helpdesk.store_upload(u.tenant_id, 'customer', u.customer_id, u.k || '.png', 'image/png',
	      decode('89504e470d0a1a0a', 'hex') || convert_to(repeat(u.k, 100), 'UTF8')));
SELECT count(helpdesk.post_message(u.tenant_id, u.session_id, 'customer', u.customer_id, '', 'image', NULL,
	jsonb_build_object('upload_id', u.id, 'url', 'https://h.example/u', 'name', 'n.png', 'mime', 'image/png', 'size', 1)))
FROM public.rr_upload u;
UPDATE helpdesk.message m SET created_at = now() - interval '10 days' FROM public.rr_upload u
WHERE m.tenant_id = u.tenant_id AND m.session_id = u.session_id;
SELECT helpdesk.post_message(u.tenant_id, u.session_id, 'customer', u.customer_id, '', 'image', NULL,
	jsonb_build_object('upload_id', u.id, 'url', 'https://h.example/u', 'name', 'n.png', 'mime', 'image/png', 'size', 1))
FROM public.rr_upload u WHERE u.k = 'u2'" >/dev/null

set_worker on
caught_up 180 || fail "the rollup worker did not catch up"
[ "$(q "$DB" "SELECT count(*) FROM public.rollup_diff() WHERE n > 0")" = 0 ] || fail "rollups differ from the raw truth before retention"

# the 30 days before the cutoff, rounded down to a quarter hour (the horizon
# is the cutoff rounded up: this range is all before it)
r0=$(q "$DB" "SELECT helpdesk._bucket(now() - interval '7 days') - interval '30 days'")
r1=$(q "$DB" "SELECT helpdesk._bucket(now() - interval '7 days')")
# snapshot(table, source): every report of the 30 days, by hour, day and total, every grouping
snapshot() {
	q "$DB" "
	CREATE TABLE public.$1 (report text, grouping text, bucket text, line text);
	DO \$\$
	DECLARE b text; rep text;
	BEGIN
		FOREACH b IN ARRAY ARRAY['hour', 'day', 'total'] LOOP
			FOREACH rep IN ARRAY ARRAY['report_sessions:{queue,agent,issue_type,channel}', 'report_sessions:{}',
			                           'report_agents:{agent,queue}', 'report_agents:{agent}', 'report_agents:{}',
			                           'report_tickets:{queue,agent,issue_type,channel}', 'report_tickets:{}',
			                           'report_agents:{agent,queue,issue_type,channel}',
			                           'report_sla:{policy,target,queue,agent,issue_type,channel}',
			                           'report_csat:{target,queue,agent,issue_type,channel}',
			                           'report_funnel:{queue,issue_type,channel}', 'report_funnel:{}'] LOOP
				EXECUTE format('INSERT INTO public.$1 SELECT %L, %L, %L, r::text FROM helpdesk.%I(%s, %L, %L, %L, %L, %L) r',
				               split_part(rep, ':', 1), split_part(rep, ':', 2), b, split_part(rep, ':', 1),
				               $t, '$r0', '$r1', split_part(rep, ':', 2), b, '$2');
			END LOOP;
		END LOOP;
	END \$\$"
}
differ() {   # two snapshot tables: rows in one and not the other
	q "$DB" "SELECT count(*) FROM ((SELECT * FROM public.$1 EXCEPT ALL SELECT * FROM public.$2)
	                               UNION ALL (SELECT * FROM public.$2 EXCEPT ALL SELECT * FROM public.$1)) x"
}
snapshot rr_before rollup
snapshot rr_raw_before raw
[ "$(differ rr_before rr_raw_before)" = 0 ] || fail "before retention, the rollup reports differ from the raw ones"
lines=$(q "$DB" "SELECT count(*) FROM public.rr_before")
old=$(q "$DB" "SELECT count(*) FROM helpdesk.message WHERE tenant_id = $t AND created_at < now() - interval '7 days'")
frt=$(q "$DB" "SELECT sum(first_response_count) || '/' || sum(reply_count) FROM helpdesk.report_sessions($t, '$r0', '$r1', '{}', 'total')")
note "history: $lines report lines over [$r0, $r1); $old messages older than 7 days; first responses/replies $frt"
[ "$old" -gt 100 ] || fail "the history has only $old messages older than 7 days"

note "retention: 7 days, run_retention(50)"
q "$DB" "SELECT helpdesk.set_message_retention($t, '7 days')" >/dev/null
psql -qXAt -v ON_ERROR_STOP=1 -d "$DB" -c "CALL helpdesk.run_retention(50)" >/dev/null
read -r batches chat uploads complete < <(q "$DB" "SELECT batches, chat_messages, uploads, complete
	FROM helpdesk.retention_run WHERE tenant_id = $t ORDER BY id DESC LIMIT 1" | tr '|' ' ')
note "run: $batches batches, $chat chat messages, $uploads uploads, complete=$complete"
[ "$complete" = t ] && [ "$chat" -ge "$old" ] && [ "$batches" -gt 2 ] || fail "retention run: $batches batches, $chat of $old messages, complete=$complete"
[ "$(q "$DB" "SELECT count(*) FROM helpdesk.message WHERE tenant_id = $t AND created_at < now() - interval '7 days'")" = 0 ] \
	|| fail "old messages left"
[ "$(q "$DB" "SELECT horizon = helpdesk._bucket(c - interval '1 microsecond') + interval '15 minutes'
	FROM helpdesk.rollup_horizon, (SELECT cutoff AS c FROM helpdesk.retention_run WHERE tenant_id = $t ORDER BY id DESC LIMIT 1) r
	WHERE tenant_id = $t")" = t ] || fail "the horizon is not the last run's cutoff rounded up"
[ "$(q "$DB" "SELECT count(*) FROM helpdesk.rollup_horizon WHERE tenant_id = $t2")" = 0 ] || fail "a tenant without retention has a horizon"
horizon=$(q "$DB" "SELECT horizon FROM helpdesk.rollup_horizon WHERE tenant_id = $t")

# uploads
[ "$uploads" = 1 ] || fail "the run deleted $uploads uploads (want 1: u1)"
left=$(q "$DB" "SELECT string_agg(u.k, ',' ORDER BY u.k) FROM public.rr_upload u
	JOIN helpdesk.upload x ON x.tenant_id = u.tenant_id AND x.id = u.id")
[ "$left" = "u2,u3" ] || fail "uploads left after retention: $left (want u2,u3)"
note "uploads: u1 went with its message; u2 (named by a recent message) and u3 (no retention) stay"

# late events into the pruned period: surveys answered, tickets reopened and resolved
late=$(q "$DB" "
UPDATE helpdesk.csat SET expires_at = now() + interval '1 day'
WHERE tenant_id = $t AND target = 'session' AND score IS NULL AND requested_at < '$horizon';
SELECT count(*) FROM (
	SELECT helpdesk.submit_csat(c.tenant_id, c.target, coalesce(c.session_id, c.ticket_id), c.customer_id, 5)
	FROM helpdesk.csat c WHERE c.tenant_id = $t AND c.target = 'session' AND c.score IS NULL AND c.requested_at < '$horizon') x")
reopened=$(q "$DB" "
SELECT count(*) FROM (
	SELECT helpdesk.set_ticket_status(tk.tenant_id, tk.id, 'open', 'agent', tk.assignee_id),
	       helpdesk.set_ticket_status(tk.tenant_id, tk.id, 'resolved', 'agent', tk.assignee_id)
	FROM helpdesk.ticket tk WHERE tk.tenant_id = $t AND tk.status = 'resolved' AND tk.assignee_id IS NOT NULL
	  AND tk.created_at < '$horizon') x")
note "late events: $late surveys answered, $reopened tickets reopened and resolved"
[ "$late" -gt 0 ] && [ "$reopened" -gt 0 ] || fail "no late event reached the pruned period"
caught_up 120 || fail "the rollup worker did not catch up after the late events"

# rebuild_rollups: refused before the horizon, fine after it
err=$(psql -qXAt -d "$DB" -c "SELECT helpdesk.rebuild_rollups($t, '$r0', now())" 2>&1 || true)
case "$err" in *"cannot be rebuilt"*) ;; *) fail "rebuild_rollups before the horizon: $err" ;; esac
code=$(psql -qXAt -d "$DB" -c "\\set VERBOSITY sqlstate" -c "SELECT helpdesk.rebuild_rollups($t, '$r0', now())" 2>&1 || true)
[ "$code" = "ERROR:  55000" ] || fail "rebuild_rollups before the horizon: SQLSTATE $code (want 55000)"
q "$DB" "SELECT helpdesk.rebuild_rollups($t, '$horizon', now() + interval '1 hour')" >/dev/null \
	|| fail "rebuild_rollups from the horizon on failed"

snapshot rr_after rollup
snapshot rr_raw_after raw
d=$(differ rr_before rr_after)
[ "$d" = 0 ] || fail "$d report lines of the 30 days before the horizon changed after retention, late events and rebuild"
d=$(differ rr_raw_before rr_raw_after)
[ "$d" -gt 0 ] || fail "the raw reports did not change: the test proves nothing"
note "the 30 days' $lines report lines are unchanged (their raw twins differ in $d lines)"

# after the horizon, the rollups still equal the raw truth
d=$(q "$DB" "
WITH h AS (SELECT '$horizon'::timestamptz AS b0, now() + interval '2 days' AS b1)
SELECT (SELECT count(*) FROM ((SELECT r.* FROM helpdesk.rollup_session r, h WHERE r.tenant_id = $t AND r.bucket >= h.b0
                                EXCEPT ALL SELECT f.* FROM h, helpdesk._fact_session($t, h.b0, h.b1) f)
                               UNION ALL (SELECT f.* FROM h, helpdesk._fact_session($t, h.b0, h.b1) f
                                EXCEPT ALL SELECT r.* FROM helpdesk.rollup_session r, h WHERE r.tenant_id = $t AND r.bucket >= h.b0)) x)
     + (SELECT count(*) FROM ((SELECT r.* FROM helpdesk.rollup_ticket r, h WHERE r.tenant_id = $t AND r.bucket >= h.b0
                                EXCEPT ALL SELECT f.* FROM h, helpdesk._fact_ticket($t, h.b0, h.b1) f)
                               UNION ALL (SELECT f.* FROM h, helpdesk._fact_ticket($t, h.b0, h.b1) f
                                EXCEPT ALL SELECT r.* FROM helpdesk.rollup_ticket r, h WHERE r.tenant_id = $t AND r.bucket >= h.b0)) x)
     + (SELECT count(*) FROM ((SELECT r.* FROM helpdesk.rollup_csat r, h WHERE r.tenant_id = $t AND r.bucket >= h.b0
                                EXCEPT ALL SELECT f.* FROM h, helpdesk._fact_csat($t, h.b0, h.b1) f)
                               UNION ALL (SELECT f.* FROM h, helpdesk._fact_csat($t, h.b0, h.b1) f
                                EXCEPT ALL SELECT r.* FROM helpdesk.rollup_csat r, h WHERE r.tenant_id = $t AND r.bucket >= h.b0)) x)")
[ "$d" = 0 ] || fail "$d rollup rows after the horizon differ from the raw truth"
echo "ok retention_rollups"
