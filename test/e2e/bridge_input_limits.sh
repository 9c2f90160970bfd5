#!/usr/bin/env bash
# Refused input over the bridge (test/bridge/input_limits.js): the error
# frame carries a bounded, valid UTF-8 message and the socket stays open.
# The bridge listens on BRIDGE_PORT (default HD_TEST_PORT + 33); the rest as
# in bridge_e2e.sh.
export BRIDGE_SCRIPT=input_limits.js
export BRIDGE_DB=${BRIDGE_DB:-e2e_bridge_limits}
export BRIDGE_PORT=${BRIDGE_PORT:-$((${HD_TEST_PORT:-55432} + 33))}
export BRIDGE_LOG=${BRIDGE_LOG:-${HD_CLUSTER:?HD_CLUSTER is not set}/bridge-limits.log}
exec bash "$(dirname "$0")/bridge_e2e.sh"
