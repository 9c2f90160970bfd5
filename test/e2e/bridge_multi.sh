#!/usr/bin/env bash
# Two helpdesk-bridge processes on one database and a slow consumer
# (test/bridge/multi.js): a conversation across bridges, a customer resuming
# on the other bridge after kill -9, 4008 for a client that stops reading.
# BRIDGE_BIN, BRIDGE_PORT (bridge B: BRIDGE_PORT + 1), BRIDGE_LOG as in
# bridge_e2e.sh.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$HD_ROOT"

: "${HD_CLUSTER:?HD_CLUSTER (the cluster scripts/test started) is not set}"
db=${BRIDGE_DB:-e2e_bridge_multi}
export BRIDGE_DB=$db
if [ -z "${BRIDGE_BIN:-}" ]; then
	make -s -C bridge >/dev/null || fail "cannot build the bridge"
	BRIDGE_BIN=bridge/helpdesk-bridge
fi
export BRIDGE_BIN
export BRIDGE_PORT=${BRIDGE_PORT:-$((${HD_TEST_PORT:-55432} + 31))}
export BRIDGE_LOG=${BRIDGE_LOG:-$HD_CLUSTER/bridge-multi.log}
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
node test/bridge/multi.js || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "---- last lines of $BRIDGE_LOG"
	tail -n 40 "$BRIDGE_LOG"
	fail "two-bridge and slow-consumer checks failed"
fi
echo "bridge multi: ok"
