#!/usr/bin/env bash
# One tenant's data must never stop the others. Tenants b1..b6 are poisoned by
# direct UPDATEs that bypass the API's checks (values a restore or a DBA can
# write): intervals that overflow every arithmetic on them, skill levels that
# overflow int4, infinite timestamps, NULLs in arrays, a VIP table indexed
# from 0; b6's agents cannot be set offline (a DBA's trigger raises), which
# fails the presence statement for every tenant unless it is retried tenant by
# tenant. The healthy tenants g and p keep being routed within one pass, and
# their offer timeouts, presence expiry and idle closes keep firing on time;
# each bad row is marked once, and fixing it brings it back.
source "$(dirname "$0")/common.sh"
db=e2e_poison
fresh_db $db
# each database with the extension holds two worker slots: give them back
trap 'psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
log=$HD_CLUSTER/postgres.log
logstart=$(stat -c %s "$log")
# this database's dispatcher's log lines (other databases' workers share the file)
newlog() { tail -c +$((logstart + 1)) "$log" | grep -F "[$pid] "; }
dpid() { q $db "SELECT coalesce((SELECT pid FROM helpdesk.worker_status() WHERE kind = 'dispatcher'), 0)"; }
tid() { q $db "SELECT id FROM helpdesk.tenant WHERE slug = '$1'"; }
BIG="'2000000000 mons -129143135:26:45.995904'"

q $db "
SELECT helpdesk.upsert_tenant(s, s, heartbeat_interval => '1 hour')
FROM unnest('{g,b1,b2,b3,b4,b5}'::text[]) s;
SELECT helpdesk.upsert_tenant(s, 'presence', heartbeat_interval => '1 second', heartbeat_misses => 2)
FROM unnest('{p,b6}'::text[]) s;
SELECT helpdesk.upsert_queue(t.id, 'q', 'Q', offer_timeout => '2 seconds', is_default => true) FROM helpdesk.tenant t;
SELECT helpdesk.upsert_agent(t.id, 'a' || g, 'A', '{\"x\": 5}', max_sessions => 3)
FROM helpdesk.tenant t, generate_series(1, 2) g;
SELECT helpdesk.upsert_customer(t.id, 'c' || g) FROM helpdesk.tenant t, generate_series(1, 6) g;
SELECT helpdesk.set_agent_status(a.tenant_id, a.id, 'online') FROM helpdesk.agent a
WHERE a.tenant_id IN (SELECT id FROM helpdesk.tenant WHERE slug = 'g');
" >/dev/null 2>&1
G=$(tid g) P=$(tid p) B1=$(tid b1) B2=$(tid b2) B3=$(tid b3) B4=$(tid b4) B5=$(tid b5) B6=$(tid b6)
wait_until $db "SELECT $(dpid) > 0" || fail "no dispatcher"
pid=$(dpid)
start() { q $db "SELECT session_id FROM helpdesk.start_session($1, (SELECT id FROM helpdesk.customer WHERE tenant_id = $1 AND external_id = '$2'))"; }
state() { q $db "SELECT state FROM helpdesk.session WHERE id = $1"; }

# each bad tenant gets a waiting session before (its agents are offline) and after its poison
for t in $B1 $B2 $B3 $B4 $B5; do start "$t" c1 >/dev/null; done

# the poisons (nothing here goes through the API)
q $db "
-- b1: tenant intervals that overflow (presence, grace, idle), VIP table from 0
UPDATE helpdesk.tenant SET heartbeat_interval = $BIG, presence_grace = $BIG,
       idle_warn_after = $BIG, idle_close_after = $BIG,
       vip_boost_seconds = '[0:10]={0,30,60,120,180,300,420,600,900,1200,1800}' WHERE id = $B1;
-- b2: a heartbeat that only overflows once multiplied by the misses
UPDATE helpdesk.tenant SET heartbeat_interval = '9223372036854 seconds', heartbeat_misses = 100 WHERE id = $B2;
-- b3: queue intervals that overflow
UPDATE helpdesk.queue SET offer_timeout = $BIG, sticky_window = $BIG, max_wait = $BIG,
       idle_warn_after = $BIG, idle_close_after = $BIG, strategy = 'sticky' WHERE tenant_id = $B3;
-- b4: skill levels beyond int4 and beyond numeric's int range, NULL languages
UPDATE helpdesk.agent SET skills = '{\"x\": 4294967297}', languages = '{NULL,en}' WHERE tenant_id = $B4 AND external_id = 'a1';
UPDATE helpdesk.agent SET skills = '{\"x\": 1e300}' WHERE tenant_id = $B4 AND external_id = 'a2';
-- b6: a trigger no check can foresee makes presence expiry fail for this tenant only
CREATE FUNCTION public.no_offline() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	IF NEW.status = 'offline' AND NEW.tenant_id = $B6 THEN RAISE EXCEPTION 'b6 agents never go offline'; END IF;
	RETURN NEW;
END \$\$;
CREATE TRIGGER no_offline BEFORE UPDATE ON helpdesk.agent FOR EACH ROW EXECUTE FUNCTION public.no_offline();
-- p's and b6's agents come online only now, with the trigger in place: their
-- presence (2 s) expires in one statement, which b6's trigger fails
SELECT helpdesk.set_agent_status(a.tenant_id, a.id, 'online') FROM helpdesk.agent a
WHERE a.tenant_id IN ($P, $B6);
-- b5: infinite times and NULLs in the session's own data
UPDATE helpdesk.session SET queued_at = '-infinity', excluded_agents = '{NULL}' WHERE tenant_id = $B5;
" >/dev/null
q $db "SELECT helpdesk.set_agent_status(a.tenant_id, a.id, 'online') FROM helpdesk.agent a WHERE a.tenant_id IN ($B1, $B2, $B3, $B4, $B5)" >/dev/null
for t in $B1 $B2 $B3 $B4 $B5; do start "$t" c2 >/dev/null || note "start_session failed in poisoned tenant $t"; done

# 1. the healthy tenant is routed within one pass, next to all of that
t0=$(date +%s%N)
s1=$(start $G c1)
wait_until $db "SELECT state = 'offered' FROM helpdesk.session WHERE id = $s1" 3 || fail "healthy tenant not routed next to poisoned ones (the dispatcher is stuck)"
note "healthy session offered after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
s2=$(start $G c2)
wait_until $db "SELECT state = 'offered' FROM helpdesk.session WHERE id = $s2" 3 || fail "second healthy session not routed"
grep -q "stage failed" < <(newlog) && { newlog | grep "stage failed" | head -3; fail "a dispatcher stage failed on poisoned data"; }

# 2. its timers fire on time: offer timeout (2 s), idle warning and close, presence expiry
wait_until $db "SELECT EXISTS (SELECT 1 FROM helpdesk.dispatch_audit WHERE session_id = $s1 AND action = 'timeout')" 6 \
	|| fail "offer timeout of the healthy tenant did not fire"
late=$(q $db "SELECT max(extract(epoch FROM at - due_at)) FROM helpdesk.dispatch_audit WHERE tenant_id = $G AND action = 'timeout'")
awk -v l="$late" 'BEGIN { exit !(l < 1.0) }' || fail "offer timeout fired ${late}s late"
q $db "SELECT helpdesk.set_queue_routing($G, (SELECT id FROM helpdesk.queue WHERE tenant_id = $G), offer_mode => 'direct',
              idle_warn_after => '1 second', idle_close_after => '1 second')" >/dev/null
s3=$(start $G c3)
wait_until $db "SELECT state = 'active' FROM helpdesk.session WHERE id = $s3" 3 || fail "direct assignment of the healthy tenant"
q $db "SELECT helpdesk.post_message($G, $s3, 'agent', agent_id, 'hello') FROM helpdesk.session WHERE id = $s3" >/dev/null
wait_until $db "SELECT state = 'closed' AND close_reason = 'idle' FROM helpdesk.session WHERE id = $s3" 6 || fail "idle close of the healthy tenant did not fire"
late=$(q $db "SELECT max(extract(epoch FROM at - due_at)) FROM helpdesk.dispatch_audit WHERE session_id = $s3 AND action IN ('idle_warn', 'idle_close')")
awk -v l="$late" 'BEGIN { exit !(l < 1.0) }' || fail "idle timers fired ${late}s late"
wait_until $db "SELECT count(*) = 2 FROM helpdesk.agent WHERE tenant_id = $P AND status = 'offline'" 6 || fail "presence expiry of the healthy tenant did not fire"
late=$(q $db "SELECT max(extract(epoch FROM at - due_at)) FROM helpdesk.dispatch_audit WHERE tenant_id = $P AND action = 'presence_offline'")
awk -v l="$late" 'BEGIN { exit !(l < 1.0) }' || fail "presence expiry fired ${late}s late"
note "healthy tenants' offer timeout, idle close and presence expiry on time"

# 3. what is skipped is marked, and logged once however many passes skip it
want="tenant $B1 settings: heartbeat_interval
tenant $B2 settings: heartbeat_interval
queue $B3 settings: offer_timeout
agent $B4 settings: skill \"x\" has level 4294967297
agent $B4 settings: skill \"x\" has level 10000000000
tenant $B6 presence: b6 agents never go offline"
got=$(q $db "SELECT kind || ' ' || tenant_id || ' ' || error FROM helpdesk.dispatch_errors ORDER BY tenant_id, kind, error")
while IFS= read -r line; do
	grep -qF -- "$line" <<<"$got" || { echo "$got"; fail "not marked: $line"; }
done <<<"$want"
for t in $B1 $B2 $B3 $B4; do
	[ "$(q $db "SELECT count(*) FROM helpdesk.session WHERE tenant_id = $t AND state = 'queued'")" = 2 ] \
		|| fail "tenant $t: its sessions should wait, unrouted but not lost"
done
# b5's sessions are routed: bad times in a session's own row only cost it its rank
wait_until $db "SELECT count(*) = 0 FROM helpdesk.session WHERE tenant_id = $B5 AND state = 'queued'" 5 \
	|| fail "tenant $B5: sessions with infinite times not routed"
sleep 2
for what in "skipping tenant $B1:" "skipping tenant $B2:" "skipping queue" "skill \"x\" has level 4294967297" "has level 10000000000" "skipping tenant $B6: presence: b6 agents never go offline"; do
	n=$(newlog | grep -cF -- "$what" || true)
	[ "$n" = 1 ] || fail "'$what' logged $n times, expected once"
done
[ "$(dpid)" = "$pid" ] || fail "dispatcher restarted"
note "bad rows marked and logged once; dispatcher $pid kept running"

# 4. fixing the data brings the row back, and clears its mark
q $db "UPDATE helpdesk.queue SET offer_timeout = '30 s', sticky_window = '1 day', max_wait = NULL,
         idle_warn_after = NULL, idle_close_after = NULL WHERE tenant_id = $B3;
       UPDATE helpdesk.agent SET skills = '{\"x\": 3}' WHERE tenant_id = $B4;
       UPDATE helpdesk.tenant SET heartbeat_misses = 3, heartbeat_interval = '1 hour' WHERE id = $B2" >/dev/null
for t in $B2 $B3 $B4; do
	wait_until $db "SELECT count(*) = 0 FROM helpdesk.session WHERE tenant_id = $t AND state = 'queued'" 5 \
		|| fail "tenant $t not routed after its data was fixed"
done
wait_until $db "SELECT NOT EXISTS (SELECT 1 FROM helpdesk.dispatch_errors WHERE tenant_id IN ($B2, $B3, $B4))" 5 \
	|| fail "marks not cleared after the fix: $(q $db "SELECT * FROM helpdesk.dispatch_errors")"
grep -q "works again" < <(newlog) || fail "recovery not logged"
note "fixed rows routed again, marks cleared"
