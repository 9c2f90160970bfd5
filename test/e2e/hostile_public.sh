#!/usr/bin/env bash
# A hostile public schema: an unprivileged login role that may CREATE in
# public (the default before PostgreSQL 15, or a DBA's grant) defines
# functions and operators there that would stand in for the built-ins the
# background workers and helpdesk-bridge use (a more specific signature beats
# pg_catalog's polymorphic or cast-needing one), plus look-alikes of
# helpdesk functions. Each records its call. Then the dispatcher routes and
# times out offers, the publisher publishes, timers fire, and a bridge relays
# and takes messages. Nothing hostile may have run, as anyone.
# Bridge port: HOSTILE_BRIDGE_PORT (default HD_TEST_PORT + 48).
source "$(dirname "$0")/common.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/scripts/lib.sh"
: "${HD_CLUSTER:?HD_CLUSTER (the cluster scripts/test started) is not set}"
hd_node_modules
db=hostile_public
port=${HOSTILE_BRIDGE_PORT:-$((${HD_TEST_PORT:-55432} + 48))}
bin=${BRIDGE_BIN:-$root/bridge/helpdesk-bridge}
[ -n "${BRIDGE_BIN:-}" ] || make -s -C "$root/bridge" >/dev/null || fail "cannot build the bridge"
log=$HD_CLUSTER/bridge-hostile.log
bridge_pid=
cleanup() { [ -n "$bridge_pid" ] && kill "$bridge_pid" 2>/dev/null; wait 2>/dev/null; true; }
trap cleanup EXIT

fresh_db $db
q $db "SET client_min_messages = warning; DROP ROLE IF EXISTS mallory; CREATE ROLE mallory LOGIN; GRANT CREATE ON SCHEMA public TO mallory" >/dev/null

# mallory's traps: each logs who called it, then does what the real one does
psql -qX -v ON_ERROR_STOP=1 -U mallory -d $db >/dev/null <<'SQL'
CREATE TABLE public.hostile_calls (what text, called_by name, backend text, at timestamptz DEFAULT pg_catalog.clock_timestamp());
GRANT INSERT ON public.hostile_calls TO PUBLIC;
CREATE FUNCTION public.hostile_log(what text) RETURNS void LANGUAGE sql SET search_path = pg_catalog AS $$
	INSERT INTO public.hostile_calls (what, called_by, backend)
	SELECT what, current_user, (SELECT backend_type FROM pg_stat_activity WHERE pid = pg_backend_pid())
$$;

-- operators the workers and the bridge would pick over pg_catalog's
CREATE FUNCTION public.h_mul(numeric, integer) RETURNS numeric LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM public.hostile_log('*(numeric, integer)'); RETURN $1 OPERATOR(pg_catalog.*) $2::numeric; END $$;
CREATE OPERATOR public.* (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = public.h_mul);
CREATE FUNCTION public.h_contains(int8multirange, bigint) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM public.hostile_log('@>(int8multirange, bigint)'); RETURN $1 OPERATOR(pg_catalog.@>) $2; END $$;
CREATE OPERATOR public.@> (LEFTARG = int8multirange, RIGHTARG = bigint, FUNCTION = public.h_contains);
CREATE FUNCTION public.h_eq(text, character varying) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM public.hostile_log('=(text, varchar)'); RETURN $1 OPERATOR(pg_catalog.=) $2::text; END $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = character varying, FUNCTION = public.h_eq);

-- functions: built-ins with a more specific signature, and one with pg_catalog's own
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM public.hostile_log('now()'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION public.to_jsonb(bigint) RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM public.hostile_log('to_jsonb(bigint)'); RETURN pg_catalog.to_jsonb($1); END $$;
CREATE FUNCTION public.to_jsonb(text) RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM public.hostile_log('to_jsonb(text)'); RETURN pg_catalog.to_jsonb($1); END $$;
CREATE FUNCTION public.jsonb_build_object(text, bigint) RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM public.hostile_log('jsonb_build_object(text, bigint)'); RETURN pg_catalog.jsonb_build_object($1, $2); END $$;
CREATE FUNCTION public.unnest(bigint[]) RETURNS SETOF bigint LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM public.hostile_log('unnest(bigint[])'); RETURN QUERY SELECT pg_catalog.unnest($1); END $$;
CREATE FUNCTION public.cardinality(text[]) RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM public.hostile_log('cardinality(text[])'); RETURN pg_catalog.cardinality($1); END $$;
CREATE FUNCTION public.lower(int8range) RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM public.hostile_log('lower(int8range)'); RETURN pg_catalog.lower($1); END $$;
CREATE FUNCTION public.upper(int8range) RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM public.hostile_log('upper(int8range)'); RETURN pg_catalog.upper($1); END $$;

-- look-alikes of helpdesk functions
CREATE FUNCTION public.event_position() RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM public.hostile_log('event_position()'); RETURN 0; END $$;
CREATE FUNCTION public.bridge_events(bigint, integer, bigint) RETURNS SETOF record LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM public.hostile_log('bridge_events()'); END $$;
CREATE FUNCTION public.agent_heartbeat(bigint, bigint[]) RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM public.hostile_log('agent_heartbeat()'); RETURN 0; END $$;
SQL

# the traps work: an ordinary session with the default search_path falls in
q $db "SELECT extract(epoch FROM interval '1 second') * 1000000, to_jsonb(1::bigint)" >/dev/null
[ "$(q $db "SELECT count(DISTINCT what) FROM public.hostile_calls")" = 2 ] ||
	fail "the hostile operator and function do not shadow pg_catalog's in a default session"
q $db "TRUNCATE public.hostile_calls"

wait_until $db "SELECT count(*) = 2 FROM helpdesk.worker_status() WHERE kind IN ('publisher', 'dispatcher') AND pid IS NOT NULL" 30 \
	|| fail "no publisher and dispatcher in $db"
HELPDESK_TOKEN_SECRET=$(q $db "SHOW helpdesk.token_secret")
export HELPDESK_TOKEN_SECRET

tenant=$(q $db "SELECT helpdesk.upsert_tenant('hostile', 'Hostile', heartbeat_interval => '1 second', heartbeat_misses => 2)")
queue=$(q $db "SELECT helpdesk.upsert_queue($tenant, 'main', 'Main', '{general}', offer_timeout => '1 second', is_default => true)")
agent=$(q $db "SELECT helpdesk.upsert_agent($tenant, 'ana', 'Ana', '{\"general\": 5}', '{en}', 3)")
agent2=$(q $db "SELECT helpdesk.upsert_agent($tenant, 'bo', 'Bo', '{\"general\": 5}', '{en}', 3)")
customer=$(q $db "SELECT helpdesk.upsert_customer($tenant, 'c1')")
customer2=$(q $db "SELECT helpdesk.upsert_customer($tenant, 'c2')")
token=$(q $db "SELECT helpdesk.issue_token($tenant, 'customer', $customer)")
note "tenant $tenant queue $queue agents $agent $agent2"

: >"$log"
"$bin" --port "$port" --heartbeat-ms 300 \
	--db "host=$PGHOST port=$PGPORT dbname=$db user=$PGUSER" >>"$log" 2>&1 &
bridge_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$log"; fail "the bridge did not come up"; }

# dispatcher: an offer that times out (timer), goes to the other agent, is accepted
q $db "SELECT helpdesk.set_agent_status($tenant, $agent, 'online')" >/dev/null
s1=$(q $db "SELECT session_id FROM helpdesk.start_session($tenant, $customer2, first_message => 'hello from c2')")
wait_until $db "SELECT count(*) > 0 FROM helpdesk.session WHERE id = $s1 AND state = 'offered'" 15 || fail "session $s1 never offered"
q $db "SELECT helpdesk.set_agent_status($tenant, $agent2, 'online')" >/dev/null
wait_until $db "SELECT EXISTS (SELECT 1 FROM helpdesk.session_assignment WHERE session_id = $s1 AND end_reason = 'timeout')" 15 ||
	note "no offer timeout seen (the dispatcher may have routed otherwise)"
owner=$(q $db "SELECT agent_id FROM helpdesk.session_assignment WHERE session_id = $s1 ORDER BY id DESC LIMIT 1")
q $db "SELECT helpdesk.accept_offer($tenant, $owner, $s1)" >/dev/null 2>&1 || true
q $db "SELECT helpdesk.post_message($tenant, $s1, 'agent', $owner, 'hi, how can I help?')" >/dev/null 2>&1 || true

# the bridge: a customer starts a session, posts, reads its history, gets the events
(cd "$root/test/bridge" && URL="ws://127.0.0.1:$port/ws?token=$token" timeout 30 node -e '
const WebSocket = require("ws");
const w = new WebSocket(process.env.URL);
const acks = new Set(); let events = 0, session = 0, done = false;
w.on("message", (m) => {
  const f = JSON.parse(m);
  if (done) return;
  if (f.type === "hello") w.send(JSON.stringify({ type: "start", ref: "s", text: "hi", client_msg_id: "h-0" }));
  if (f.type === "ack" && f.ref === "s") {
    session = f.result.session_id;
    w.send(JSON.stringify({ type: "message", ref: "m1", session_id: session, text: "m1", client_msg_id: "h-1" }));
    w.send(JSON.stringify({ type: "read", ref: "r1", session_id: session, up_to: 1 }));
    w.send(JSON.stringify({ type: "history", ref: "h1", session_id: session }));
  }
  if (f.type === "ack" || f.type === "error") acks.add(f.ref);
  if (f.type === "events") events += f.events.length;
  if (acks.size >= 4 && events >= 2) { done = true; console.log("   bridge: " + acks.size + " answers, " + events + " events"); w.close(1000); }
});
w.on("close", () => process.exit(acks.size >= 4 && events >= 2 ? 0 : 1));
w.on("error", (e) => { console.log("error " + e.message); process.exit(1); });
') || { tail -n 20 "$log"; fail "the bridge client did not get its answers and events"; }

# presence timers: agents stop heartbeating and go offline; idle sessions
wait_until $db "SELECT count(*) = 2 FROM helpdesk.agent WHERE tenant_id = $tenant AND status = 'offline'" 15 ||
	note "agents did not time out to offline"
wait_until $db "SELECT helpdesk.publisher_lag() = 0" 10 || fail "the publisher did not catch up"
sleep 2

calls=$(q $db "SELECT count(*) FROM public.hostile_calls")
if [ "$calls" != 0 ]; then
	q $db "SELECT what, called_by, backend, count(*) FROM public.hostile_calls GROUP BY 1, 2, 3 ORDER BY 1" >&2
	fail "$calls calls of mallory's functions and operators (above: what, as whom, in which process)"
fi
events=$(q $db "SELECT count(*) FROM helpdesk.event WHERE tenant_id = $tenant")
note "$events events, none of mallory's objects called"
kill "$bridge_pid"; wait "$bridge_pid" 2>/dev/null || true; bridge_pid=
echo "hostile public: ok"
