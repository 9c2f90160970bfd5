#!/usr/bin/env bash
# Benchmark of the agent console in Debian's chromium (bench/console/bench.js):
# first-load bytes and time on loopback (served by helpdesk-bridge, and by the
# peer bench/peers/node_static.js from the same files), time to interactive
# with 300 open conversations, the list's render time, and a 2,000-message
# conversation: open, scroll pages, a render of all of it. Prints a Markdown
# table and writes it to bench/results/console-*.md.
#   BENCH_ROUNDS (3)   rounds; medians with min-max
#   BENCH_NO_BUILD (0) 1: use the installed pg_helpdesk
#   HD_BENCH_PORT      the cluster (default HD_TEST_PORT + 85); the bridge +1, the peer +2
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$HD_ROOT"
port=${HD_BENCH_PORT:-$(( ${HD_TEST_PORT:-55400} + 85 ))}
[ "${BENCH_NO_BUILD:-0}" = 1 ] || hd_build_install
make -s -C bridge >/dev/null
[ -d test/console/node_modules/playwright-core ] || (cd test/console && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
work=$(mktemp -d /tmp/hd-console-bench.XXXXXX)
dir=$(hd_cluster_dir "$HD_ROOT/.bench-console-cluster")
hd_cluster_start "$dir" "$port"
peer_pid=
trap '[ -n "$peer_pid" ] && kill $peer_pid; hd_cluster_stop; rm -rf "$work"' EXIT
db=bench_console
psql -qX -d postgres -c "CREATE DATABASE $db" >/dev/null
psql -qX -d $db -c 'CREATE EXTENSION pg_helpdesk' >/dev/null
q() { psql -qXAt -v ON_ERROR_STOP=1 -d $db -c "$@"; }
q "
SELECT helpdesk.upsert_tenant('bench', 'Bench', heartbeat_interval => '1 hour');
SELECT helpdesk.upsert_queue(1, 'main', 'Main', is_default => true, strategy => 'manual');
SELECT helpdesk.upsert_agent(1, 'ana', 'Ana', max_sessions => 1000);
SELECT helpdesk.upsert_customer(1, 'c' || g, 'Customer ' || g, (g % 7)::smallint) FROM generate_series(1, 300) g;
SELECT helpdesk.start_session(1, c.id, first_message => '第一条消息 ' || c.external_id) FROM helpdesk.customer c;
SELECT helpdesk.set_agent_status(1, 1, 'online');
SELECT helpdesk.claim_session(1, 1, s.id) FROM helpdesk.session s ORDER BY s.id;
SELECT helpdesk.post_message(1, s.id, 'agent', 1, '您好，请问有什么可以帮您？') FROM helpdesk.session s;
SELECT helpdesk.post_message(1, 1, CASE WHEN g % 2 = 0 THEN 'customer' ELSE 'agent' END, CASE WHEN g % 2 = 0 THEN 1 ELSE 1 END,
	'消息 ' || g || ' — a line of text of about the length a real chat message has')
FROM generate_series(3, 2000) g;
" >/dev/null
[ "$(q "SELECT count(*) FROM helpdesk.session WHERE state = 'active'")" = 300 ] || { echo "setup: not 300 active sessions" >&2; exit 1; }
[ "$(q "SELECT count(*) FROM helpdesk.message WHERE session_id = 1")" = 2000 ] || { echo "setup: not 2000 messages" >&2; exit 1; }
bash bridge/web/install.sh "$work/web"
HELPDESK_TOKEN_SECRET=$(q "SHOW helpdesk.token_secret")
export HELPDESK_TOKEN_SECRET
bridge/helpdesk-bridge --port $((port + 1)) --web-root "$work/web" --db "host=$PGHOST port=$port dbname=$db user=postgres" >"$dir/bridge.log" 2>&1 &
bridge_pid=$!
trap '[ -n "$peer_pid" ] && kill $peer_pid; kill $bridge_pid; hd_cluster_stop; rm -rf "$work"' EXIT
node bench/peers/node_static.js $((port + 2)) "$work/web" >"$work/peer.log" 2>&1 &
peer_pid=$!
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$((port + 1))/healthz" >/dev/null 2>&1 && grep -q listening "$work/peer.log" && break; sleep 0.1; done
mkdir -p bench/results
out=bench/results/console-$(date -u +%Y%m%dT%H%M%SZ).md
TOKEN=$(q "SELECT helpdesk.issue_token(1, 'agent', 1, '1 hour')") BRIDGE_PORT=$((port + 1)) PEER_PORT=$((port + 2)) \
	BENCH_ROUNDS=${BENCH_ROUNDS:-3} node bench/console/bench.js | tee "$out"
echo "written: $out (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
