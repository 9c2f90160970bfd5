#!/usr/bin/env bash
# The bridge end-to-end suite (bridge_e2e.sh) against helpdesk-bridge built
# with AddressSanitizer and UBSan: any sanitizer report in the bridge's log
# fails, and so does a leak at the final SIGTERM exit (the kill -9 in the
# resilience scenario skips the leak check of that one process); then
# test/bridge/auth.js, test/bridge/tickets.js and test/bridge/http_api.js
# (the HTTP routes) the same way.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$HD_ROOT"
: "${HD_CLUSTER:?HD_CLUSTER (the cluster scripts/test started) is not set}"

make -s -C bridge asan >/dev/null || fail "cannot build bridge/helpdesk-bridge-asan"
export BRIDGE_BIN=bridge/helpdesk-bridge-asan
export BRIDGE_DB=e2e_bridge_asan
export BRIDGE_PORT=${BRIDGE_PORT:-$((${HD_TEST_PORT:-55432} + 30))}
export BRIDGE_LOG=$HD_CLUSTER/bridge-asan.log
export BRIDGE_E2E_SLOW=${BRIDGE_E2E_SLOW:-3}
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

rc=0
bash test/e2e/bridge_e2e.sh || rc=$?
# and the access-control scenarios (test/bridge/auth.js), in their own database and log
auth_log=$HD_CLUSTER/bridge-asan-auth.log
BRIDGE_SCRIPT=auth.js BRIDGE_DB=e2e_bridge_asan_auth BRIDGE_LOG=$auth_log bash test/e2e/bridge_e2e.sh || rc=$?
# and the ticket frames and relay (test/bridge/tickets.js)
tickets_log=$HD_CLUSTER/bridge-asan-tickets.log
BRIDGE_SCRIPT=tickets.js BRIDGE_DB=e2e_bridge_asan_tickets BRIDGE_LOG=$tickets_log bash test/e2e/bridge_e2e.sh || rc=$?
# and the HTTP routes (test/bridge/http_api.js: two bridges, ports +0..+2 of its own)
http_log=$HD_CLUSTER/bridge-asan-http.log
BRIDGE_SCRIPT=http_api.js BRIDGE_DB=e2e_bridge_asan_http BRIDGE_LOG=$http_log \
	BRIDGE_PORT=$((${HD_TEST_PORT:-55432} + 58)) bash test/e2e/bridge_e2e.sh || rc=$?
for log in "$BRIDGE_LOG" "$auth_log" "$tickets_log" "$http_log"; do
	if grep -nE 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer|AddressSanitizer|LeakSanitizer' "$log" >/dev/null; then
		grep -nE -A 30 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" | head -n 120
		fail "sanitizer report in $log"
	fi
done
[ "$rc" -eq 0 ] || fail "bridge end-to-end checks failed under ASan/UBSan"
echo "bridge asan: ok"
