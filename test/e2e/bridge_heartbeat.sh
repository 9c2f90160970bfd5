#!/usr/bin/env bash
# A tenant whose heartbeat_interval x heartbeat_misses is shorter than the
# bridge's heartbeat period (test/bridge/heartbeat.js): upsert_tenant warns,
# the bridge follows the tenant (batches every third of its timeout, and
# says so in its log), and a connected agent never flaps offline. Before,
# every connected agent of such a tenant went offline and online again with
# every 5 s batch. Bridge port: BRIDGE_PORT (default HD_TEST_PORT + 33).
export BRIDGE_SCRIPT=heartbeat.js
export BRIDGE_DB=${BRIDGE_DB:-e2e_bridge_heartbeat}
export BRIDGE_PORT=${BRIDGE_PORT:-$((${HD_TEST_PORT:-55432} + 33))}
export BRIDGE_LOG=${BRIDGE_LOG:-${HD_CLUSTER:?HD_CLUSTER is not set}/bridge-heartbeat.log}
rc=0
bash "$(dirname "$0")/bridge_e2e.sh" || rc=$?
# each database with the extension holds two worker slots: give them back
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $BRIDGE_DB WITH (FORCE)" >/dev/null 2>&1 || true
exit $rc
