#!/usr/bin/env bash
# Who may see and do what over helpdesk-bridge (test/bridge/auth.js): forged
# typing notifications, an agent resuming from an old position (sessions
# transferred away or only offered), 4003 at token expiry, 4004 when an agent
# is disabled (its session back in the queue), the per-subject socket cap
# (4029) and rate limit. Bridge port: BRIDGE_PORT (default HD_TEST_PORT + 45);
# the rest as in bridge_e2e.sh.
export BRIDGE_SCRIPT=auth.js
export BRIDGE_DB=${BRIDGE_DB:-e2e_bridge_auth}
export BRIDGE_PORT=${BRIDGE_PORT:-$((${HD_TEST_PORT:-55432} + 45))}
export BRIDGE_LOG=${BRIDGE_LOG:-${HD_CLUSTER:?HD_CLUSTER is not set}/bridge-auth.log}
exec bash "$(dirname "$0")/bridge_e2e.sh"
