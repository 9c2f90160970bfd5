#!/usr/bin/env bash
# helpdesk-bridge and its event log (test/bridge/eventlog.js): forged NOTIFY
# payloads are only hints (bounded reads, real events still relayed), and a
# log that is re-created (DROP/CREATE EXTENSION) or replaced by an older dump
# resets the bridge's ring and closes its clients with 4010.
# The bridge listens on BRIDGE_PORT (default HD_TEST_PORT + 34); the rest as
# in bridge_e2e.sh.
export BRIDGE_SCRIPT=eventlog.js
export BRIDGE_DB=${BRIDGE_DB:-e2e_bridge_eventlog}
export BRIDGE_PORT=${BRIDGE_PORT:-$((${HD_TEST_PORT:-55432} + 34))}
export BRIDGE_LOG=${BRIDGE_LOG:-${HD_CLUSTER:?HD_CLUSTER is not set}/bridge-eventlog.log}
exec bash "$(dirname "$0")/bridge_e2e.sh"
