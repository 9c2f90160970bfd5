#!/usr/bin/env bash
# helpdesk-bridge under valgrind memcheck: a customer starts a session and
# sends messages, a forged token and a malformed frame are refused, the
# database connection is killed and comes back, then SIGTERM. Any invalid
# read/write, use of uninitialised memory or definite leak fails the suite.
source "$(dirname "$0")/common.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/scripts/lib.sh"
hd_install_packages valgrind
hd_node_modules
db=bridge_vg
fresh_db $db
tmp=$(mktemp -d)
port=${BRIDGE_VG_PORT:-$((${HD_TEST_PORT:-55432} + 20))}
bridge_pid=
cleanup() { [ -n "$bridge_pid" ] && kill -9 "$bridge_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

tenant=$(q $db "SELECT helpdesk.upsert_tenant('vg', 'Valgrind')")
q $db "SELECT helpdesk.upsert_queue($tenant, 'main', 'Main', is_default => true)" >/dev/null
customer=$(q $db "SELECT helpdesk.upsert_customer($tenant, 'c1')")
token=$(q $db "SELECT helpdesk.issue_token($tenant, 'customer', $customer)")

valgrind --quiet --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite \
	--show-leak-kinds=definite --track-origins=yes \
	"$root/bridge/helpdesk-bridge" --port "$port" --heartbeat-ms 200 \
	--db "host=$PGHOST port=$PGPORT dbname=$db user=$PGUSER" >"$tmp/bridge.log" 2>&1 &
bridge_pid=$!
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$tmp/bridge.log"; fail "bridge under valgrind did not come up"; }

run_client() {
	(cd "$root/test/bridge" && URL="ws://127.0.0.1:$port/ws?token=$1" timeout 60 node -e '
const WebSocket = require("ws");
const w = new WebSocket(process.env.URL);
const acks = new Set(); let events = 0, session = 0;
w.on("message", (m) => {
  const f = JSON.parse(m);
  if (f.type === "hello") w.send(JSON.stringify({ type: "start", ref: "s", text: "hi", client_msg_id: "vg-0" }));
  if (f.type === "ack" && f.ref === "s") {
    session = f.result.session_id;
    for (let i = 1; i <= 5; i++)
      w.send(JSON.stringify({ type: "message", ref: "m" + i, session_id: session, text: "m" + i, client_msg_id: "vg-" + i }));
    w.send("{not json");
  }
  if (f.type === "ack") acks.add(f.ref);
  if (f.type === "events") events += f.events.length;
  if (acks.size === 6 && events >= 6) { console.log("acks 6 events " + events); w.close(1000); }
});
w.on("close", (c) => process.exit(acks.size === 6 ? 0 : 1));
w.on("error", (e) => { console.log("error " + e.message); process.exit(1); });
')
}
out=$(run_client "$token") || { cat "$tmp/bridge.log"; fail "client run: $out"; }
note "$out"
forged=$(cd "$root/test/bridge" && URL="ws://127.0.0.1:$port/ws?token=${token%??}xx" timeout 30 node -e '
const w = new (require("ws"))(process.env.URL);
w.on("message", () => { console.log("data!"); process.exit(1); });
w.on("close", (c) => { console.log(c); process.exit(0); });')
[ "$forged" = 4002 ] || fail "forged token: expected close 4002, got $forged"

# the database drops the bridge's connections; it must reconnect and serve again
q $db "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$db' AND pid <> pg_backend_pid()" >/dev/null
for _ in $(seq 100); do
	[ "$(curl -s "http://127.0.0.1:$port/metrics" | sed -n 's/^helpdesk_bridge_db_reconnects_total //p')" -ge 3 ] 2>/dev/null && break
	sleep 0.2
done
q $db "SELECT helpdesk.close_session($tenant, s.id, 'done') FROM helpdesk.session s WHERE s.state <> 'closed'" >/dev/null
out=$(run_client "$(q $db "SELECT helpdesk.issue_token($tenant, 'customer', $customer)")") || { cat "$tmp/bridge.log"; fail "client after reconnect: $out"; }

kill -TERM "$bridge_pid"
rc=0; wait "$bridge_pid" || rc=$?
bridge_pid=
if [ "$rc" -ne 0 ] || grep -qE 'Invalid (read|write)|uninitialised|definitely lost' "$tmp/bridge.log"; then
	cat "$tmp/bridge.log"
	fail "valgrind reported errors (exit $rc)"
fi
note "valgrind clean (exit 0); $(grep -c "back up" "$tmp/bridge.log") connections came back"
