#!/usr/bin/env bash
# A webhook bot answering through helpdesk-bridge with a bot token
# (test/bridge/bot.js): the real HTTP worker posts the signed bot.message
# payload to the test's bot server on 127.0.0.1 (BOT_HOOK_PORT, default
# HD_TEST_PORT + 82), which verifies it and answers over the bridge; the
# customer's WebSocket sees the answer. Refusals: other frames, another
# tenant's session, another bot's session, a handed-off session (dropped),
# after revoke_bot_tokens, an expired token. Bridge port: BRIDGE_PORT
# (default HD_TEST_PORT + 81); the rest as in bridge_e2e.sh.
source "$(dirname "$0")/common.sh"
export BRIDGE_SCRIPT=bot.js
export BRIDGE_DB=${BRIDGE_DB:-e2e_bridge_bot}
export BRIDGE_PORT=${BRIDGE_PORT:-$((${HD_TEST_PORT:-55432} + 81))}
export BOT_HOOK_PORT=${BOT_HOOK_PORT:-$((${HD_TEST_PORT:-55432} + 82))}
export BRIDGE_LOG=${BRIDGE_LOG:-${HD_CLUSTER:?HD_CLUSTER is not set}/bridge-bot.log}
# the HTTP worker may call the test's bot server on 127.0.0.1 (the SSRF guard refuses loopback otherwise)
trap 'psql -qX -d postgres -c "ALTER SYSTEM RESET helpdesk.http_allowed_hosts" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true' EXIT
psql -qX -d postgres -c "ALTER SYSTEM SET helpdesk.http_allowed_hosts = '127.0.0.1'" -c "SELECT pg_reload_conf()" >/dev/null
bash "$(dirname "$0")/bridge_e2e.sh"
