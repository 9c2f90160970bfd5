#!/usr/bin/env bash
# The agent console and the customer widget in Debian's chromium, driven by
# playwright-core (test/console/e2e.js): a whole conversation between an
# agent and a customer in two browser contexts, a transfer, close and CSAT, a
# bot hand-off (the fake Dify server of bot_handoff.sh), a ticket answered,
# the supervisor view, and a kill -9 of the bridge mid-conversation after
# which both pages hold exactly the database's messages. Screenshots of each
# main screen in zh-CN and en: $HD_CLUSTER/console-screens (CONSOLE_SHOTS).
# Ports: the bridge HD_TEST_PORT + 73, the fake Dify HD_TEST_PORT + 74.
# CONSOLE_BRIDGE_BIN runs another bridge binary (e.g. bridge/helpdesk-bridge-asan).
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$HD_ROOT"
: "${HD_CLUSTER:?HD_CLUSTER (the cluster scripts/test started) is not set}"
db=e2e_console
port=$((${HD_TEST_PORT:-55432} + 73))
dify_port=$((${HD_TEST_PORT:-55432} + 74))
work=$(mktemp -d /tmp/hd-console-e2e.XXXXXX)
chmod 755 "$work"
shots=${CONSOLE_SHOTS:-$HD_CLUSTER/console-screens}

restore_settings() {
	psql -qX -d postgres -c "ALTER SYSTEM RESET helpdesk.http_allowed_hosts" \
		-c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
	if [ -n "${set_key:-}" ]; then
		psql -qX -d postgres -c "ALTER SYSTEM RESET helpdesk.encryption_key_file" \
			-c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
	fi
}
cleanup() {
	[ -n "${fake_pid:-}" ] && kill "$fake_pid" 2>/dev/null
	restore_settings
	rm -rf "$work"
}
trap cleanup EXIT

command -v chromium >/dev/null || fail "chromium is not installed (scripts/lib.sh HD_PACKAGES)"
if [ ! -d test/console/node_modules/playwright-core ]; then
	(cd test/console && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || fail "npm ci in test/console failed"
fi
make -s -C bridge >/dev/null || fail "cannot build the bridge"
bash bridge/web/install.sh "$work/web"

# the bot's HTTP calls may reach 127.0.0.1; secrets need a key file
if [ -z "$(psql -qXAt -d postgres -c 'SHOW helpdesk.encryption_key_file')" ]; then
	openssl rand -hex 32 >"$work/key"
	chmod 644 "$work/key"
	set_key=1
	psql -qX -d postgres -c "ALTER SYSTEM SET helpdesk.encryption_key_file = '$work/key'" >/dev/null
fi
psql -qX -d postgres -c "ALTER SYSTEM SET helpdesk.http_allowed_hosts = '127.0.0.1'" \
	-c "SELECT pg_reload_conf()" >/dev/null
node test/e2e/bot_fake_dify.js "$dify_port" app-test-key >"$work/fake.log" 2>&1 &
fake_pid=$!
for _ in $(seq 1 400); do grep -q listening "$work/fake.log" && break; sleep 0.05; done	# up to 20 s: node starts slowly on a loaded machine
grep -q listening "$work/fake.log" || fail "the fake Dify server did not start: $(cat "$work/fake.log")"

fresh_db $db
q $db "
SELECT helpdesk.upsert_tenant('game', 'Game', heartbeat_interval => '1 hour');
SELECT helpdesk.upsert_queue(1, 'main', 'Main', is_default => true);
SELECT helpdesk.upsert_agent(1, 'ana', 'Ana', max_sessions => 10);
SELECT helpdesk.upsert_agent(1, 'ben', 'Ben', max_sessions => 10);
SELECT helpdesk.upsert_agent(1, 'sam', 'Sam', '{\"tech\": 3}', max_sessions => 0);
SELECT helpdesk.set_agent_role(1, (SELECT id FROM helpdesk.agent WHERE external_id = 'sam'), 'supervisor');
SELECT helpdesk.set_agent_password(1, (SELECT id FROM helpdesk.agent WHERE external_id = 'ana'), 'ana-password-1');
SELECT helpdesk.upsert_customer(1, 'c1', 'C One', 3, 'zh', '{\"server\": \"cn-2\", \"level\": 40}');
SELECT helpdesk.upsert_customer(1, 'c2', 'C Two');
SELECT helpdesk.upsert_customer(1, 'c4', 'C Four');
-- tech: only Sam (no capacity; online later, in e2e.js) has the skill, so a bug report waits there
SELECT helpdesk.upsert_queue(1, 'tech', 'Tech', '{tech}');
SELECT helpdesk.upsert_issue_type(1, 'bug', 'Bug', queue_id => (SELECT id FROM helpdesk.queue WHERE external_id = 'tech'));
SELECT helpdesk.set_csat(1, 'on');
SELECT helpdesk.set_ticket_settings(1, offline_tickets => true);
SELECT helpdesk.upsert_quick_reply(1, 'hi', 'Greeting', '您好 {{customer.name}}，我是 {{agent.name}}');
SELECT helpdesk.upsert_tenant('botgame', 'Bot game', bot_enabled => true, heartbeat_interval => '1 hour');
SELECT helpdesk.upsert_queue(2, 'main', 'Main', is_default => true);
SELECT helpdesk.upsert_agent(2, 'zoe', 'Zoe', max_sessions => 10);
SELECT helpdesk.upsert_customer(2, 'b1', 'B One');
SELECT helpdesk.upsert_bot(2, 'dify', 'dify', 'http://127.0.0.1:$dify_port/v1/', 'app-test-key', timeout => '6 s');
" >/dev/null
wait_until "$db" "SELECT count(*) = 2 FROM helpdesk.worker_status() WHERE kind IN ('publisher', 'dispatcher') AND pid IS NOT NULL" 30 \
	|| fail "no publisher and dispatcher in $db"

HELPDESK_TOKEN_SECRET=$(q "$db" "SHOW helpdesk.token_secret")
export HELPDESK_TOKEN_SECRET
export CONSOLE_DB=$db BRIDGE_PORT=$port BRIDGE_BIN=${CONSOLE_BRIDGE_BIN:-$HD_ROOT/bridge/helpdesk-bridge} WEB_ROOT=$work/web \
	BRIDGE_CONNINFO="host=$PGHOST port=$PGPORT dbname=$db user=${PGUSER:-postgres}" \
	BRIDGE_LOG=$HD_CLUSTER/bridge-console.log SHOTS=$shots
: >"$BRIDGE_LOG"
rc=0
# e2e.js, then paths.js: the paths e2e.js does not walk (paged history of
# 2,000 messages, drag and drop and paste uploads, offer sound and
# notification, takeover, ticket CSAT), then flows.js: the controls neither
# presses (status switch, decline, claim from the Queue tab, the list's search
# and filters, the tickets' assignee filter). CONSOLE_TESTS picks some of them.
for t in ${CONSOLE_TESTS:-e2e paths flows}; do
	node "test/console/$t.js" || { rc=$?; break; }
done
if [ "$rc" -ne 0 ]; then
	echo "---- last lines of $BRIDGE_LOG"
	tail -n 30 "$BRIDGE_LOG"
	fail "console browser checks failed"
fi
echo "console_browser: ok (screenshots in $shots)"
