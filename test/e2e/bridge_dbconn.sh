#!/usr/bin/env bash
# helpdesk-bridge's database connections (test/bridge/dbconn.js): a database
# that accepts TCP and never answers, at start and on reconnect, and a
# connection that freezes mid-query: /healthz keeps answering (503),
# handshakes close with 1013, the bridge goes healthy once the database
# answers. Ports: DBCONN_PORT (default HD_TEST_PORT + 40) and the next two;
# the rest as in bridge_e2e.sh.
export BRIDGE_SCRIPT=dbconn.js
export BRIDGE_DB=${BRIDGE_DB:-e2e_bridge_dbconn}
export DBCONN_PORT=${DBCONN_PORT:-$((${HD_TEST_PORT:-55432} + 40))}
export BRIDGE_LOG=${BRIDGE_LOG:-${HD_CLUSTER:?HD_CLUSTER is not set}/bridge-dbconn.log}
exec bash "$(dirname "$0")/bridge_e2e.sh"
