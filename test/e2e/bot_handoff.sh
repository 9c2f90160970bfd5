#!/usr/bin/env bash
# The bot hand-off end to end: the real HTTP worker calls a fake Dify server
# of the test (test/e2e/bot_fake_dify.js, node's http module, on 127.0.0.1)
# and a webhook bot; the real dispatcher offers handed-off sessions to an
# online agent. Checked:
#   - the bot answers and the answer is posted; the request is Dify's shape
#     (Bearer key, query, inputs with VIP level / attributes / issue type,
#     user = customer external id, response_mode blocking) and the second
#     call carries the conversation_id the first answer gave;
#   - 转人工 hands off in the customer's own transaction, the session lands
#     in the queue and is offered to the online agent; the message is not
#     sent to the bot;
#   - 转人工 while a bot call is in flight: handed off at once, and the late
#     answer is not posted (its job says it was dropped, the log says so);
#   - a bot that hangs times out (2 s) and hands off, on time;
#   - the marker text hands off (the marker is cut from the posted answer),
#     the metadata flag hands off and sets issue type and urgency;
#   - options become a menu message; an HTTP 500 hands off; a 6 KB answer is
#     posted whole;
#   - after max_turns answers the next message hands off without a call;
#   - a webhook bot gets our signed payload (signature checked here with
#     openssl) and answers with bot_reply; one that does not answer within
#     its timeout hands off;
#   - kill -9 of the HTTP worker with a call in flight: the call is sent
#     again after the restart and its answer posted once.
source "$(dirname "$0")/common.sh"
here=$(cd "$(dirname "$0")" && pwd)
db=e2e_bot
dify_port=$((${HD_TEST_PORT:-55432} + 71))
work=$(mktemp -d /tmp/hd-bot-e2e.XXXXXX)
chmod 755 "$work"

restore_settings() {
	psql -qX -d postgres -c "ALTER SYSTEM RESET helpdesk.http_allowed_hosts" \
		-c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
	if [ -n "${set_key:-}" ]; then
		psql -qX -d postgres -c "ALTER SYSTEM RESET helpdesk.encryption_key_file" \
			-c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
	fi
}
cleanup() {
	[ -n "${fake_pid:-}" ] && kill "$fake_pid" 2>/dev/null
	restore_settings
	[ -n "${BOT_E2E_KEEP:-}" ] ||
		psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

# The worker may reach 127.0.0.1 (the SSRF guard refuses loopback otherwise);
# secrets need a key file unless the cluster already has one.
if [ -z "$(psql -qXAt -d postgres -c 'SHOW helpdesk.encryption_key_file')" ]; then
	openssl rand -hex 32 >"$work/key"
	chmod 644 "$work/key"
	set_key=1
	psql -qX -d postgres -c "ALTER SYSTEM SET helpdesk.encryption_key_file = '$work/key'" >/dev/null
fi
psql -qX -d postgres -c "ALTER SYSTEM SET helpdesk.http_allowed_hosts = '127.0.0.1'" \
	-c "SELECT pg_reload_conf()" >/dev/null

node "$here/bot_fake_dify.js" "$dify_port" app-test-key >"$work/fake.log" 2>&1 &
fake_pid=$!
for _ in $(seq 1 100); do grep -q listening "$work/fake.log" && break; sleep 0.05; done
grep -q listening "$work/fake.log" || fail "the fake Dify server did not start: $(cat "$work/fake.log")"

fresh_db $db
requests() { curl -s "http://127.0.0.1:$dify_port/requests"; }

q $db "
SELECT helpdesk.upsert_tenant('game', 'Game', bot_enabled => true, heartbeat_interval => '1 hour');
SELECT helpdesk.upsert_queue(1, 'main', 'Main', is_default => true);
SELECT helpdesk.upsert_agent(1, 'ana', 'Ana', max_sessions => 50);
SELECT helpdesk.set_agent_status(1, (SELECT id FROM helpdesk.agent WHERE external_id = 'ana'), 'online');
SELECT helpdesk.upsert_customer(1, 'c' || g, vip_level => 3, attributes => '{\"server\": \"eu-1\"}')
FROM generate_series(1, 20) g;
SELECT helpdesk.upsert_bot(1, 'dify', 'dify', 'http://127.0.0.1:$dify_port/v1/', 'app-test-key',
       timeout => '6 s', max_turns => 3, handoff_marker => '[[handoff]]');
" >/dev/null
ana=$(q $db "SELECT id FROM helpdesk.agent WHERE external_id = 'ana'")
cust() { q $db "SELECT id FROM helpdesk.customer WHERE tenant_id = ${2:-1} AND external_id = '$1'"; }
start() { q $db "SELECT session_id FROM helpdesk.start_session(${3:-1}, $(cust "$1" "${3:-1}"), 'web', first_message => \$m\$$2\$m\$)"; }
say() { q $db "SELECT helpdesk.post_message(${4:-1}, $1, 'customer', $(cust "$2" "${4:-1}"), \$m\$$3\$m\$)" >/dev/null; }
bot_says() { wait_until $db "SELECT EXISTS (SELECT FROM helpdesk.message WHERE session_id = $1 AND sender_kind = 'bot' AND body = \$m\$$2\$m\$)" "${3:-10}"; }
state() { q $db "SELECT state FROM helpdesk.session WHERE id = $1"; }
reason() { q $db "SELECT bot_handoff_reason FROM helpdesk.session WHERE id = $1"; }
bot_messages() { q $db "SELECT count(*) FROM helpdesk.message WHERE session_id = $1 AND sender_kind = 'bot'"; }

# 1. the bot answers; the request has Dify's shape; the conversation goes on
s1=$(start c1 'hello bot')
bot_says "$s1" 'echo: hello bot' || fail "no bot answer in session $s1: $(q $db "SELECT state, error FROM helpdesk.bot_job WHERE session_id = $s1")"
[ "$(state "$s1")" = bot ] || fail "session $s1 left the bot after one answer"
requests | node -e '
const r = JSON.parse(require("fs").readFileSync(0, "utf8")).filter((x) => x.body.user === "c1");
const a = r[0];
if (!a) throw new Error("no request for c1");
if (a.url !== "/v1/chat-messages" || a.method !== "POST") throw new Error("url " + a.method + " " + a.url);
if (a.headers.authorization !== "Bearer app-test-key") throw new Error("authorization " + a.headers.authorization);
if (!/^application\/json/.test(a.headers["content-type"])) throw new Error("content-type " + a.headers["content-type"]);
const b = a.body;
if (b.query !== "hello bot" || b.response_mode !== "blocking" || b.conversation_id !== "") throw new Error("body " + a.raw);
if (b.inputs.vip_level !== 3 || b.inputs.attributes.server !== "eu-1" || !("issue_type" in b.inputs)) throw new Error("inputs " + a.raw);
' || fail "the first Dify request is not as expected"
say "$s1" c1 'second question'
bot_says "$s1" 'echo: second question' || fail "no second answer"
requests | node -e '
const r = JSON.parse(require("fs").readFileSync(0, "utf8")).filter((x) => x.body.user === "c1");
if (r.length !== 2 || r[1].body.conversation_id !== "conv-c1") throw new Error(JSON.stringify(r.map((x) => x.body)));
' || fail "the second call did not carry the conversation id"
[ "$(q $db "SELECT conversation_id || ' ' || turns FROM helpdesk.bot_status(1, $s1)")" = "conv-c1 2" ] ||
	fail "conversation id / turns not kept on session $s1"
note "bot answered twice, conversation id kept"

# 2. 转人工: handed off in the customer's transaction, offered to ana
s2=$(start c2 'hi')
bot_says "$s2" 'echo: hi' || fail "no answer in session $s2"
say "$s2" c2 '我要转人工'
[ "$(state "$s2")" != bot ] || fail "session $s2 still with the bot after 转人工"
[ "$(reason "$s2")" = keyword ] || fail "hand-off reason $(reason "$s2")"
wait_until $db "SELECT state IN ('offered', 'active') AND agent_id = $ana FROM helpdesk.session WHERE id = $s2" 10 ||
	fail "session $s2 was not offered to the online agent: $(q $db "SELECT state, agent_id, wait_reason FROM helpdesk.session WHERE id = $s2")"
sleep 0.5
[ "$(requests | node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(r.filter((x) => String(x.body.query).includes("转人工")).length)')" = 0 ] ||
	fail "转人工 was sent to the bot"
[ -n "$(q $db "SELECT bot_handoff_at FROM helpdesk.session WHERE id = $s2")" ] || fail "no bot_handoff_at"
note "转人工 -> queued -> offered to the online agent"

# 3. 转人工 while a call is in flight; the late answer is dropped
s3=$(start c3 'late 3000 where is my order')
wait_until $db "SELECT EXISTS (SELECT FROM helpdesk.bot_job WHERE session_id = $s3 AND state = 'sending')" 5 || fail "no call in flight"
say "$s3" c3 '人工客服'
[ "$(state "$s3")" != bot ] || fail "session $s3 not handed off while the call was in flight"
wait_until $db "SELECT error LIKE '%late answer dropped%' FROM helpdesk.bot_job WHERE session_id = $s3" 6 ||
	fail "late answer not noted: $(q $db "SELECT state, error FROM helpdesk.bot_job WHERE session_id = $s3")"
[ "$(bot_messages "$s3")" = 0 ] || fail "the late answer was posted in session $s3"
[ "$(q $db "SELECT state FROM helpdesk.bot_job WHERE session_id = $s3")" = dropped ] || fail "job not dropped"
note "late answer after 人工客服 dropped, not posted"

# 4. a hanging bot times out (2 s) and hands off, on time
q $db "SELECT helpdesk.upsert_bot(1, 'dify', timeout => '2 s')" >/dev/null
s4=$(start c4 'hang forever')
wait_until $db "SELECT state <> 'bot' FROM helpdesk.session WHERE id = $s4" 8 || fail "hanging bot did not hand off"
[ "$(reason "$s4")" = timeout ] || fail "reason $(reason "$s4") for the hanging bot"
lag=$(q $db "SELECT extract(epoch FROM s.bot_handoff_at - m.created_at) FROM helpdesk.session s
             JOIN helpdesk.message m ON m.session_id = s.id AND m.sender_kind = 'customer' WHERE s.id = $s4")
awk -v x="$lag" 'BEGIN { exit !(x >= 1.9 && x <= 3.5) }' || fail "timeout hand-off after ${lag}s, expected ~2 s"
note "hanging bot handed off after ${lag}s (timeout 2 s)"
q $db "SELECT helpdesk.upsert_bot(1, 'dify', timeout => '6 s')" >/dev/null

# 5. marker text; metadata flag with issue type and urgency; menu; HTTP 500
s5=$(start c5 'marker please')
wait_until $db "SELECT state <> 'bot' FROM helpdesk.session WHERE id = $s5" 8 || fail "marker did not hand off"
[ "$(reason "$s5")" = marker ] || fail "reason $(reason "$s5") for the marker"
[ "$(q $db "SELECT body FROM helpdesk.message WHERE session_id = $s5 AND sender_kind = 'bot'")" = 'Let me get a colleague for you.' ] ||
	fail "the marker was not cut from the answer"
s6=$(start c6 'flag me')
wait_until $db "SELECT state <> 'bot' FROM helpdesk.session WHERE id = $s6" 8 || fail "metadata flag did not hand off"
[ "$(q $db "SELECT bot_handoff_reason || ' ' || issue_type || ' ' || priority FROM helpdesk.session WHERE id = $s6")" = 'metadata refund 300' ] ||
	fail "metadata hand-off: $(q $db "SELECT bot_handoff_reason, issue_type, priority FROM helpdesk.session WHERE id = $s6")"
s7=$(start c7 'menu please')
wait_until $db "SELECT EXISTS (SELECT FROM helpdesk.message WHERE session_id = $s7 AND sender_kind = 'bot' AND type = 'menu')" 8 || fail "no menu"
[ "$(q $db "SELECT options::text FROM helpdesk.message WHERE session_id = $s7 AND type = 'menu'")" = '[{"id": "1", "label": "Recharge"}, {"id": "refund", "label": "Refund"}]' ] ||
	fail "menu options: $(q $db "SELECT options FROM helpdesk.message WHERE session_id = $s7")"
s8=$(start c8 'fail now')
wait_until $db "SELECT state <> 'bot' FROM helpdesk.session WHERE id = $s8" 8 || fail "HTTP 500 did not hand off"
[ "$(reason "$s8")" = failure ] || fail "reason $(reason "$s8") for HTTP 500"
[ "$(q $db "SELECT http_status FROM helpdesk.bot_job WHERE session_id = $s8")" = 500 ] || fail "status not logged"
s13=$(start c13 'long answer please')
wait_until $db "SELECT EXISTS (SELECT FROM helpdesk.message WHERE session_id = $s13 AND sender_kind = 'bot')" 8 ||
	fail "no long answer: $(q $db "SELECT state, error FROM helpdesk.bot_job WHERE session_id = $s13")"
[ "$(q $db "SELECT length(body) || ' ' || octet_length(body) FROM helpdesk.message WHERE session_id = $s13 AND sender_kind = 'bot'")" = '2000 6000' ] ||
	fail "the long answer was cut"
note "marker, metadata flag (issue type refund, priority 300), menu, HTTP 500, a 6 KB answer"

# 6. max_turns 3: the fourth message hands off without a call
s9=$(start c9 'one')
bot_says "$s9" 'echo: one' || fail "turn 1"
say "$s9" c9 'two'; bot_says "$s9" 'echo: two' || fail "turn 2"
say "$s9" c9 'three'; bot_says "$s9" 'echo: three' || fail "turn 3"
say "$s9" c9 'four'
[ "$(reason "$s9")" = max_turns ] || fail "no max_turns hand-off: $(reason "$s9")"
sleep 0.3
[ "$(bot_messages "$s9")" = 3 ] || fail "bot messages after max turns: $(bot_messages "$s9")"
[ "$(q $db "SELECT count(*) FROM helpdesk.bot_job WHERE session_id = $s9")" = 3 ] || fail "a fourth call was made"
note "max_turns 3: the fourth message handed off"

# 7. one call in flight per session, in order
s10=$(start c10 'late 400 first')
say "$s10" c10 'second'
say "$s10" c10 'third'
bot_says "$s10" 'echo: third' 10 || fail "the queued messages were not answered"
[ "$(q $db "SELECT string_agg(body, '|' ORDER BY id) FROM helpdesk.message WHERE session_id = $s10 AND sender_kind = 'bot'")" = 'echo: late 400 first|echo: second|echo: third' ] ||
	fail "answers out of order"
requests | node -e '
const r = JSON.parse(require("fs").readFileSync(0, "utf8")).filter((x) => x.body.user === "c10");
if (r.map((x) => x.body.query).join("|") !== "late 400 first|second|third") throw new Error("order " + r.map((x) => x.body.query));
if (!(r[1].at >= r[0].at + 390)) throw new Error("the second call went out while the first was in flight");
' || fail "calls of one session overlapped or were out of order"
note "three messages: one call at a time, in order"

# 7b. the customer leaves while a call is in flight: the answer is dropped
s12=$(start c12 'late 2500 bye')
wait_until $db "SELECT EXISTS (SELECT FROM helpdesk.bot_job WHERE session_id = $s12 AND state = 'sending')" 5 || fail "no call in flight"
q $db "SELECT helpdesk.close_session(1, $s12, closed_by => 'customer', actor_id => $(cust c12))" >/dev/null
wait_until $db "SELECT error LIKE 'late answer dropped%' FROM helpdesk.bot_job WHERE session_id = $s12" 8 ||
	fail "answer to a closed session not dropped: $(q $db "SELECT state, error FROM helpdesk.bot_job WHERE session_id = $s12")"
[ "$(bot_messages "$s12")" = 0 ] || fail "an answer was posted into a closed session"
note "closed while a call was in flight: answer dropped"

# 8. kill -9 of the HTTP worker mid-flight: sent again, posted once
s11=$(start c11 'late 2500 survive')
wait_until $db "SELECT EXISTS (SELECT FROM helpdesk.bot_job WHERE session_id = $s11 AND state = 'sending')" 5 || fail "no call in flight"
pid=$(q $db "SELECT pid FROM helpdesk.worker_status() WHERE kind = 'http'")
kill -9 "$pid"
bot_says "$s11" 'echo: late 2500 survive' 20 || fail "the call in flight at kill -9 was not sent again: $(q $db "SELECT state, attempts, error FROM helpdesk.bot_job WHERE session_id = $s11")"
sleep 3
[ "$(bot_messages "$s11")" = 1 ] || fail "answer posted $(bot_messages "$s11") times"
# the worker commits asynchronously, so the crash restart may take back the
# claim that counted the first attempt: 1 or 2 attempts, one answer either way
case "$(q $db "SELECT attempts FROM helpdesk.bot_job WHERE session_id = $s11")" in
1 | 2) ;;
*) fail "not retried once: $(q $db "SELECT attempts, state, error FROM helpdesk.bot_job WHERE session_id = $s11")" ;;
esac
[ "$(requests | node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(r.filter((x) => x.body.query === "late 2500 survive").length)')" = 2 ] ||
	fail "the fake server did not get the call twice"
note "kill -9 mid-flight: resent after restart, posted once"

# 9. a webhook bot: signed payload, answer through bot_reply; silence times out
t2=$(q $db "SELECT helpdesk.upsert_tenant('shop', 'Shop', bot_enabled => true, heartbeat_interval => '1 hour')")
q $db "
SELECT helpdesk.upsert_queue($t2, 'main', 'Main', is_default => true);
SELECT helpdesk.upsert_customer($t2, 'w' || g) FROM generate_series(1, 3) g;
SELECT helpdesk.upsert_bot($t2, 'hook', 'webhook', 'http://127.0.0.1:$dify_port/hook',
       'whsec_c2VjcmV0LXNpZ25pbmcta2V5LWZvci10aGUtdGVzdA==', timeout => '5 s');
" >/dev/null
w1=$(start w1 'webhook hello' "$t2")
wait_until $db "SELECT http_status = 200 FROM helpdesk.bot_job WHERE session_id = $w1" 5 || fail "webhook not delivered"
requests | node -e '
const crypto = require("crypto");
const r = JSON.parse(require("fs").readFileSync(0, "utf8")).filter((x) => x.url === "/hook");
const a = r[r.length - 1];
const key = Buffer.from("c2VjcmV0LXNpZ25pbmcta2V5LWZvci10aGUtdGVzdA==", "base64");
const id = a.headers["webhook-id"], ts = a.headers["webhook-timestamp"];
const want = "v1," + crypto.createHmac("sha256", key).update(id + "." + ts + "." + a.raw).digest("base64");
if (a.headers["webhook-signature"] !== want) throw new Error("signature " + a.headers["webhook-signature"] + " != " + want);
if (Math.abs(Date.now() / 1000 - Number(ts)) > 30) throw new Error("timestamp " + ts);
if (a.body.type !== "bot.message" || a.body.data.message.body !== "webhook hello" || a.body.data.customer.external_id !== "w1")
	throw new Error("payload " + a.raw);
console.log(a.body.data.job_id);
' >"$work/job" || fail "webhook payload or signature wrong"
job=$(cat "$work/job")
mid=$(q $db "SELECT helpdesk.bot_reply($t2, $job, '{\"answer\": \"hello from the hook\", \"conversation_id\": \"h-1\"}')")
[ -n "$mid" ] || fail "bot_reply posted nothing: $(q $db "SELECT state, attempts, error FROM helpdesk.bot_job WHERE id = $job")"
bot_says "$w1" 'hello from the hook' 1 || fail "webhook answer not posted"
[ "$(state "$w1")" = bot ] || fail "webhook session left the bot"
say "$w1" w1 'nobody answers this' "$t2"
wait_until $db "SELECT state <> 'bot' FROM helpdesk.session WHERE id = $w1" 12 || fail "silent webhook bot did not hand off"
[ "$(reason "$w1")" = timeout ] || fail "silent webhook bot: reason $(reason "$w1")"
late=$(q $db "SELECT id FROM helpdesk.bot_job WHERE session_id = $w1 ORDER BY id DESC LIMIT 1")
[ -z "$(q $db "SELECT helpdesk.bot_reply($t2, $late, '{\"answer\": \"too late\"}')")" ] || fail "late bot_reply was posted"
[ "$(bot_messages "$w1")" = 1 ] || fail "late webhook answer shown"
note "webhook bot: signed payload verified, bot_reply posted, silence -> timeout hand-off, late reply dropped"

grep -q "dropped" "$HD_CLUSTER/postgres.log" 2>/dev/null || note "(log not readable here; the job rows carry the drop)"
echo "bot_handoff: ok"
