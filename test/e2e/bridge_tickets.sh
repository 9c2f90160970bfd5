#!/usr/bin/env bash
# Tickets over helpdesk-bridge (test/bridge/tickets.js): a customer, two
# agents of the ticket's queue, an agent of no queue, a supervisor and
# another customer on real WebSocket clients; take, reply, note (never seen
# by the customer), status, priority, assign (old and new assignee told),
# receipts, history, the errors of each frame, and an automatic assignment
# by the dispatcher reaching its assignee. Bridge port: BRIDGE_PORT (default
# HD_TEST_PORT + 63); the rest as in bridge_e2e.sh.
export BRIDGE_SCRIPT=tickets.js
export BRIDGE_DB=${BRIDGE_DB:-e2e_bridge_tickets}
export BRIDGE_PORT=${BRIDGE_PORT:-$((${HD_TEST_PORT:-55432} + 63))}
export BRIDGE_LOG=${BRIDGE_LOG:-${HD_CLUSTER:?HD_CLUSTER is not set}/bridge-tickets.log}
exec bash "$(dirname "$0")/bridge_e2e.sh"
