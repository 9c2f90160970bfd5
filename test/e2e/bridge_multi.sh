#!/usr/bin/env bash
# Two helpdesk-bridge processes on one database and a slow consumer
# (test/bridge/multi.js): a conversation across bridges, a customer resuming
# on the other bridge after kill -9, 4008 for a client that stops reading.
# Bridge A listens on BRIDGE_PORT (default HD_TEST_PORT + 31), bridge B on
# the next port; the rest as in bridge_e2e.sh.
export BRIDGE_SCRIPT=multi.js
export BRIDGE_DB=${BRIDGE_DB:-e2e_bridge_multi}
export BRIDGE_PORT=${BRIDGE_PORT:-$((${HD_TEST_PORT:-55432} + 31))}
export BRIDGE_LOG=${BRIDGE_LOG:-${HD_CLUSTER:?HD_CLUSTER is not set}/bridge-multi.log}
exec bash "$(dirname "$0")/bridge_e2e.sh"
