#!/usr/bin/env bash
# helpdesk-bridge end to end (test/bridge/e2e.js): authentication close codes,
# a customer/agent conversation with receipts, typing and a transfer, frame
# and rate limits, kill -9 of the bridge and a PostgreSQL restart
# mid-conversation, /healthz and /metrics, SIGTERM.
# The bridge binary: BRIDGE_BIN (default bridge/helpdesk-bridge); its port:
# BRIDGE_PORT (default HD_TEST_PORT + 29); its log: BRIDGE_LOG. BRIDGE_SCRIPT
# runs another node script of test/bridge/ the same way (bridge_multi.sh).
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$HD_ROOT"

: "${HD_CLUSTER:?HD_CLUSTER (the cluster scripts/test started) is not set}"
db=${BRIDGE_DB:-e2e_bridge}
export BRIDGE_DB=$db
if [ -z "${BRIDGE_BIN:-}" ]; then
	make -s -C bridge >/dev/null || fail "cannot build the bridge"
	BRIDGE_BIN=bridge/helpdesk-bridge
fi
export BRIDGE_BIN
export BRIDGE_PORT=${BRIDGE_PORT:-$((${HD_TEST_PORT:-55432} + 29))}
export BRIDGE_LOG=${BRIDGE_LOG:-$HD_CLUSTER/bridge-e2e.log}
hd_node_modules

fresh_db "$db"
# the bridge must use the server's secret, whoever exported what
HELPDESK_TOKEN_SECRET=$(q "$db" "SHOW helpdesk.token_secret")
export HELPDESK_TOKEN_SECRET HD_CLUSTER
wait_until "$db" "SELECT count(*) = 2 FROM helpdesk.worker_status() WHERE kind IN ('publisher', 'dispatcher') AND pid IS NOT NULL" 30 \
	|| fail "no publisher and dispatcher in $db"

: >"$BRIDGE_LOG"
note "bridge $BRIDGE_BIN on port $BRIDGE_PORT, log $BRIDGE_LOG"
rc=0
node "test/bridge/${BRIDGE_SCRIPT:-e2e.js}" || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "---- last lines of $BRIDGE_LOG"
	tail -n 40 "$BRIDGE_LOG"
	fail "bridge checks of ${BRIDGE_SCRIPT:-e2e.js} failed"
fi
echo "bridge ${BRIDGE_SCRIPT:-e2e.js}: ok"
