#!/usr/bin/env bash
# The bridge's HTTP routes (test/bridge/http_api.js): the signed player API
# against an independent signer (node crypto) through two bridges on one
# database, agent login and lockout, revoked tokens closing sockets, uploads
# (types, sizes, signed URLs, ranges), CORS per tenant, rate limits, slow
# clients, /metrics behind a token or on its own address. Bridge ports:
# BRIDGE_PORT (default HD_TEST_PORT + 55) .. +2; the rest as in bridge_e2e.sh.
export BRIDGE_SCRIPT=http_api.js
export BRIDGE_DB=${BRIDGE_DB:-e2e_bridge_http}
export BRIDGE_PORT=${BRIDGE_PORT:-$((${HD_TEST_PORT:-55432} + 55))}
export BRIDGE_LOG=${BRIDGE_LOG:-${HD_CLUSTER:?HD_CLUSTER is not set}/bridge-http.log}
exec bash "$(dirname "$0")/bridge_e2e.sh"
