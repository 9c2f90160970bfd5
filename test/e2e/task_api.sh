#!/usr/bin/env bash
# Seed 003's task API end to end: helpdesk-bridge's /api/task/* routes with
# the seed's own curl examples (as written, plus the signature headers of
# the signed-request scheme, made by openssl: test/automation/sign.sh), the
# seed's envelope and error codes, a task fired by a customer's message and
# its action in the chat, the callback to a real HTTP server on 127.0.0.1
# (test/webhooks/sink.js) retried (500, 500, 200) with one webhook-id and
# verified by node crypto (verify.js), and the timers' punctuality:
# time_reach and expiry within 1 s of their due time.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../webhooks/lib.sh"
source "$(dirname "$0")/../automation/sign.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
db=e2e_task_api
sport=$((HD_TEST_PORT + 73))
bport=$((HD_TEST_PORT + 74))
sinklog=$HD_CLUSTER/task_sink.jsonl
blog=$HD_CLUSTER/task_bridge.log
sink=http://127.0.0.1:$sport
B=http://127.0.0.1:$bport
BRIDGE_PID=
trap 'sink_stop; reset_http; [ -n "$BRIDGE_PID" ] && kill "$BRIDGE_PID" 2>/dev/null; wait 2>/dev/null || true' EXIT
set_http http_allowed_hosts '127.0.0.1/32'
sink_start "$sport" "$sinklog"
hd_node_modules >/dev/null 2>&1 || true
fresh_db $db
# BRIDGE_BIN: another build (bridge_asan.sh's helpdesk-bridge-asan)
if [ -z "${BRIDGE_BIN:-}" ]; then
	make -s -C "$root/bridge" >/dev/null || fail "cannot build the bridge"
	BRIDGE_BIN=$root/bridge/helpdesk-bridge
fi

tenant=$(q $db "SELECT helpdesk.upsert_tenant('e2e-task', 'E2E tasks')")
q $db "SELECT helpdesk.upsert_queue($tenant, 'main', 'Main', is_default => true)" >/dev/null
cust=$(q $db "SELECT helpdesk.upsert_customer($tenant, 'customer_123', '小明')")
sess=$(q $db "SELECT session_id FROM helpdesk.start_session($tenant, $cust)")
export APP_ID=e2e-scheduler
APP_SECRET=$(q $db "SELECT helpdesk.upsert_app($tenant, '$APP_ID', 'Scheduler')")
export APP_SECRET
cb_secret=$(q $db "SELECT helpdesk.task_callback_secret($tenant)")
wait_until $db "SELECT count(*) = 2 FROM helpdesk.worker_status() WHERE kind IN ('dispatcher', 'http') AND pid IS NOT NULL" 30 ||
	fail "no dispatcher and http worker"

"$BRIDGE_BIN" --port "$bport" --token-secret "$(q $db "SHOW helpdesk.token_secret")" \
	--db "host=$PGHOST port=$PGPORT dbname=$db user=${PGUSER:-postgres}" >"$blog" 2>&1 &
BRIDGE_PID=$!
for ((i = 0; i < 100; i++)); do curl -fsS "$B/api/health" >/dev/null 2>&1 && break; sleep 0.1; done
# check NAME ANSWER JQ-FILTER: the answer (body + "HTTP nnn") passes the filter
check() {
	local name=$1 answer=$2 filter=$3 body status
	status=$(printf '%s\n' "$answer" | tail -1)
	body=$(printf '%s\n' "$answer" | sed '$d')
	echo "$body" | jq -e --arg status "$status" "$filter" >/dev/null 2>&1 ||
		{ echo "$answer" >&2; tail -5 "$blog" >&2; fail "$name"; }
	note "$name: $status $(echo "$body" | jq -c '{code, message}')"
}

# --- the seed's examples, in its order (API 接口文档 1-5)
receive_body='{
"task_id": "TASK_20260227_001",
"type": "send_file_after_reply",
"customer": {"id": "customer_123", "name": "小明"},
"trigger": {
"type": "specified_customer_reply",
"customer_id": "customer_123",
"customer_name": "小明",
"keyword": "好的",
"exact_match": false
},
"action": {"type": "send_message", "message": "这是您要的文件"},
"priority": "normal",
"timeout_hours": 24,
"created_by": "设计师 lz"
}'
a=$(scurl POST "$B/api/task/receive" "$receive_body")
check "1. receive (seed example)" "$a" \
	'. == {"code": 200, "message": "任务接收成功", "data": {"task_id": "TASK_20260227_001", "status": "pending"}} and $status == "HTTP 200"'
a=$(scurl POST "$B/api/task/receive" "$receive_body")
check "1b. the same body again" "$a" '.code == 200 and .data.task_id == "TASK_20260227_001"'
a=$(scurl GET "$B/api/task/status/TASK_20260227_001")
check "2. status (seed example)" "$a" '.code == 200 and .data.task_id == "TASK_20260227_001" and (.data.status | IN("pending", "waiting")) and .data.trigger.keyword == "好的"'
a=$(scurl POST "$B/api/task/cancel" '{"task_id": "TASK_20260227_001", "reason": "客户取消订单"}')
check "3. cancel (seed example)" "$a" '.code == 200 and .data.status == "cancelled" and .data.cancel_reason == "客户取消订单"'
a=$(scurl GET "$B/api/task/list?status=pending&page=1&page_size=10")
check "4. list (seed example)" "$a" '.code == 200 and .data.page == 1 and .data.page_size == 10 and .data.total == 0'
a=$(scurl GET "$B/api/task/list?status=cancelled&page=1&page_size=10")
check "4b. list cancelled" "$a" '.code == 200 and .data.total == 1 and .data.tasks[0].task_id == "TASK_20260227_001"'
a=$(curl -sS "$B/api/health" -w '\nHTTP %{http_code}\n')
check "5. health (seed example, unsigned)" "$a" '.code == 200 and .message == "OK" and .data.database == "ok"'

# --- error codes
a=$(curl -sS -X POST "$B/api/task/receive" -H "Content-Type: application/json" -d "$receive_body" -w '\nHTTP %{http_code}\n')
check "unsigned: 401" "$a" '.code == 401 and .data.reason == "malformed_request" and $status == "HTTP 401"'
a=$(APP_SECRET=wrong-secret-wrong-secret-wrong-secret scurl GET "$B/api/task/status/TASK_20260227_001")
check "wrong secret: 401 bad_signature" "$a" '.code == 401 and .data.reason == "bad_signature"'
mapfile -t h < <(sig_headers GET /api/task/status/TASK_20260227_001 "")
curl -sS "$B/api/task/status/TASK_20260227_001" "${h[@]}" >/dev/null
a=$(curl -sS "$B/api/task/status/TASK_20260227_001" "${h[@]}" -w '\nHTTP %{http_code}\n')
check "replayed nonce: 401" "$a" '.code == 401 and .data.reason == "replayed_nonce"'
a=$(scurl GET "$B/api/task/status/TASK_nope")
check "unknown task: 404" "$a" '.code == 404 and $status == "HTTP 404"'
a=$(scurl POST "$B/api/task/receive" "${receive_body/normal/high}")
check "another body under the same task_id: 409" "$a" '.code == 409 and .data.reason == "conflict"'
a=$(scurl POST "$B/api/task/receive" '{"task_id": "T-bad", "type": "x", "trigger": {"type": "customer_reply"}, "action": {"type": "send_message", "message": "m"}}')
check "invalid task: 400" "$a" '.code == 400 and (.message | test("keyword"))'
a=$(scurl POST "$B/api/task/cancel" '{"reason": "no id"}')
check "cancel without task_id: 400" "$a" '.code == 400'
a=$(scurl GET "$B/api/task/list?page=0")
check "list page 0: 400" "$a" '.code == 400'

# --- a task fired by the customer's reply, its action, its callback retried and signed
body2=$(jq -c --arg cb "$sink/flaky?n=2" '.task_id = "TASK_CB" | .callback_url = $cb' <<<"$receive_body")
a=$(scurl POST "$B/api/task/receive" "$body2")
check "receive with callback_url" "$a" '.code == 200'
wait_until $db "SELECT status = 'waiting' FROM helpdesk.trigger_task WHERE task_id = 'TASK_CB'" 5 || fail "TASK_CB not armed"
q $db "SELECT helpdesk.post_message($tenant, $sess, 'customer', $cust, '好的，谢谢！')" >/dev/null
wait_until $db "SELECT status = 'completed' FROM helpdesk.trigger_task WHERE task_id = 'TASK_CB'" 5 ||
	fail "TASK_CB: $(q $db "SELECT status, error_message FROM helpdesk.trigger_task WHERE task_id = 'TASK_CB'")"
[ "$(q $db "SELECT body FROM helpdesk.message WHERE tenant_id = $tenant AND sender_kind = 'system' ORDER BY id DESC LIMIT 1")" = 这是您要的文件 ] ||
	fail "the action's message is not in the chat"
lat=$(q $db "SELECT round(extract(epoch FROM completed_at - m.created_at) * 1000) FROM helpdesk.trigger_task t
	JOIN helpdesk.message m ON m.tenant_id = t.tenant_id AND m.id = t.message_id WHERE t.task_id = 'TASK_CB'")
note "fired by the reply; message to action done: ${lat} ms"
wait_until $db "SELECT callback_state = 'sent' FROM helpdesk.trigger_task WHERE task_id = 'TASK_CB'" 15 ||
	fail "callback: $(q $db "SELECT callback_state, callback_attempts, callback_error FROM helpdesk.trigger_task WHERE task_id = 'TASK_CB'")"
node "$WH_DIR/verify.js" "$sinklog" "$cb_secret" | jq -c 'select(.path == "/flaky")' >"$HD_CLUSTER/task_cb.jsonl"
[ "$(jq -s 'length' "$HD_CLUSTER/task_cb.jsonl")" = 3 ] || fail "callback: $(jq -s length "$HD_CLUSTER/task_cb.jsonl") requests, want 3 (500, 500, 200)"
[ "$(jq -s 'all(.ok) and (map(.id) | unique | length) == 1' "$HD_CLUSTER/task_cb.jsonl")" = true ] ||
	fail "callback signatures or webhook-id: $(cat "$HD_CLUSTER/task_cb.jsonl")"
jq -r 'select(.path == "/flaky") | .body' "$sinklog" | tail -1 | jq -e '.task_id == "TASK_CB" and .status == "completed" and .result.message_id != null' >/dev/null ||
	fail "callback body: $(jq -r 'select(.path == "/flaky") | .body' "$sinklog" | tail -1)"
gaps=$(jq -s -r 'map(.at) | [.[1] - .[0], .[2] - .[1]] | map(tostring) | join(",")' "$HD_CLUSTER/task_cb.jsonl")
note "callback: 3 attempts (500, 500, 200), one webhook-id, signatures verified by node, gaps $gaps ms"
jq -sr 'map(.at) | (.[1] - .[0]) >= 900 and (.[2] - .[1]) >= 1800' "$HD_CLUSTER/task_cb.jsonl" | grep -c true >/dev/null || fail "callback backoff (1 s, 2 s): $gaps"
a=$(scurl POST "$B/api/task/cancel" '{"task_id": "TASK_CB"}')
check "cancel a completed task: 409" "$a" '.code == 409 and .data.reason == "illegal_transition"'

# --- a failing callback is given up after its attempts
body3=$(jq -c --arg cb "$sink/fail" '.task_id = "TASK_CB_FAIL" | .callback_url = $cb | .trigger.keyword = "收到"' <<<"$receive_body")
scurl POST "$B/api/task/receive" "$body3" >/dev/null
wait_until $db "SELECT status = 'waiting' FROM helpdesk.trigger_task WHERE task_id = 'TASK_CB_FAIL'" 5 || fail "TASK_CB_FAIL not armed"
q $db "SELECT helpdesk.post_message($tenant, $sess, 'customer', $cust, '收到')" >/dev/null
wait_until $db "SELECT callback_state = 'failed' AND callback_attempts = 5 FROM helpdesk.trigger_task WHERE task_id = 'TASK_CB_FAIL'" 30 ||
	fail "failing callback: $(q $db "SELECT callback_state, callback_attempts, callback_error FROM helpdesk.trigger_task WHERE task_id = 'TASK_CB_FAIL'")"
note "a callback answered 500 five times: callback_state failed, error $(q $db "SELECT callback_error FROM helpdesk.trigger_task WHERE task_id = 'TASK_CB_FAIL'")"

# --- timers: time_reach and expiry fire within 1 s of their due time (5 of each)
q $db "SELECT helpdesk.set_task_settings($tenant, time_zone => 'Asia/Shanghai')" >/dev/null
for i in 1 2 3 4 5; do
	at=$(q $db "SELECT to_char((now() + interval '$((i + 1)) seconds') AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS')")
	b=$(jq -c --arg t "$at" --arg id "TIME_$i" '.task_id = $id | .trigger = {"type": "time_reach", "time": $t}' <<<"$receive_body")
	scurl POST "$B/api/task/receive" "$b" | tail -1 | grep -c 'HTTP 200' >/dev/null || fail "time_reach task $i"
	q $db "SELECT helpdesk.receive_task($tenant, jsonb_build_object('task_id', 'EXP_$i', 'type', 'x',
		'trigger', jsonb_build_object('type', 'customer_reply', 'keyword', '永不'),
		'action', jsonb_build_object('type', 'send_message', 'message', 'm'), 'timeout_hours', 1))" >/dev/null
	wait_until $db "SELECT status = 'waiting' FROM helpdesk.trigger_task WHERE task_id = 'EXP_$i'" 5 || fail "EXP_$i not armed"
	q $db "UPDATE helpdesk.trigger_task SET expires_at = now() + interval '$i seconds', due_at = now() + interval '$i seconds'
		WHERE task_id = 'EXP_$i'; NOTIFY x" >/dev/null
	q $db "SELECT helpdesk.post_message($tenant, $sess, 'customer', $cust, 'tick $i')" >/dev/null   # wakes the dispatcher
done
wait_until $db "SELECT count(*) = 10 FROM helpdesk.trigger_task WHERE (task_id LIKE 'TIME_%' AND status = 'completed') OR (task_id LIKE 'EXP_%' AND status = 'expired')" 20 ||
	fail "timers: $(q $db "SELECT string_agg(task_id || ' ' || status, ', ') FROM helpdesk.trigger_task WHERE task_id ~ '^(TIME|EXP)_'")"
late=$(q $db "SELECT max(extract(epoch FROM coalesce(triggered_at, completed_at) - coalesce(trigger_at, expires_at)))
	FROM helpdesk.trigger_task WHERE task_id ~ '^(TIME|EXP)_'")
early=$(q $db "SELECT min(extract(epoch FROM coalesce(triggered_at, completed_at) - coalesce(trigger_at, expires_at)))
	FROM helpdesk.trigger_task WHERE task_id ~ '^(TIME|EXP)_'")
awk -v l="$late" -v e="$early" 'BEGIN { exit !(l < 1.0 && e >= 0) }' || fail "timers: fired between $early s and $late s from their due time"
note "5 time_reach and 5 expiries punctual: $(printf '%.3f' "$early") .. $(printf '%.3f' "$late") s after due"
kill "$BRIDGE_PID"; wait "$BRIDGE_PID" 2>/dev/null || true; BRIDGE_PID=
! grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$blog" || { tail -40 "$blog"; fail "sanitizer report in $blog"; }
echo "task_api: ok"
