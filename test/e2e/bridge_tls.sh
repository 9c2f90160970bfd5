#!/usr/bin/env bash
# helpdesk-bridge with --tls-cert/--tls-key: /healthz over https and a
# customer's hello over wss; a plain ws:// client gets nothing.
source "$(dirname "$0")/common.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/scripts/lib.sh"
hd_node_modules
db=bridge_tls
fresh_db $db
tmp=$(mktemp -d)
port=${BRIDGE_TLS_PORT:-$((${HD_TEST_PORT:-55432} + 19))}
bridge_pid=
cleanup() { [ -n "$bridge_pid" ] && kill "$bridge_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
	-days 1 -subj /CN=localhost >/dev/null 2>&1 || fail "openssl could not make a certificate"
tenant=$(q $db "SELECT helpdesk.upsert_tenant('tls', 'TLS')")
customer=$(q $db "SELECT helpdesk.upsert_customer($tenant, 'c1')")
token=$(q $db "SELECT helpdesk.issue_token($tenant, 'customer', $customer)")

"$root/bridge/helpdesk-bridge" --port "$port" --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem" \
	--db "host=$PGHOST port=$PGPORT dbname=$db user=$PGUSER" >"$tmp/bridge.log" 2>&1 &
bridge_pid=$!
for _ in $(seq 50); do curl -ksf "https://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
[ "$(curl -ksf "https://127.0.0.1:$port/healthz")" = ok ] || { cat "$tmp/bridge.log"; fail "no https /healthz"; }
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && fail "plain http answered on a TLS port"

out=$(cd "$root/test/bridge" && URL="wss://127.0.0.1:$port/ws?token=$token" timeout 20 node -e '
const WebSocket = require("ws");
const w = new WebSocket(process.env.URL, { rejectUnauthorized: false });
w.on("message", (m) => { console.log(String(m)); process.exit(0); });
w.on("error", (e) => { console.log("error " + e.message); process.exit(1); });
setTimeout(() => { console.log("timeout"); process.exit(1); }, 10000);
') || fail "wss client: $out"
case "$out" in *'"type":"hello"'*'"kind":"customer"'*) note "wss hello: $out" ;; *) fail "unexpected first frame: $out" ;; esac
kill -TERM "$bridge_pid"; wait "$bridge_pid" || fail "bridge did not exit cleanly on SIGTERM"
bridge_pid=
