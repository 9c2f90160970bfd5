#!/usr/bin/env bash
# Moving a tenant between nodes mid-traffic (issue 22, scripts/move-tenant,
# docs/scale-out-move.md): a proxy (HD_TEST_PORT + 91) and two nodes (+92,
# +93), clusters of their own. Tenants A and B live on node 0; a client posts
# into a session of each through the proxy, retrying calls refused with
# 55000, while A moves to node 1:
#  - every acknowledged message of A is on node 1 exactly once, none is left
#    on node 0; every post of B succeeded without a refusal and is on node 0;
#  - A's calls were refused (the fence worked) and for how long is printed;
#  - afterwards node 1's dispatcher routes A's new session, node 0 refuses
#    A's calls with 55000 "moved", and the directory names node 1;
#  - A's customer, connected to node 0's bridge, gets tenant.moved after all
#    of A's events there and follows it to node 1's bridge from the position
#    it names: every acknowledged post reaches it once, none is missed;
#  - a move that is called off (--abort) leaves the tenant served by its node,
#    and while it was fenced its timers waited (the workers leave it alone);
#  - a move with --no-catch-up (the fenced copy) moves B;
#  - set_tenant_fence's refusals (pgTAP covers them too: test/pgtap/tenant_fence.sql).
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$HD_ROOT"
: "${HD_CLUSTER:?HD_CLUSTER (the cluster scripts/test started) is not set}"
base=${HD_TEST_PORT:-55432}
pport=$((base + 91)) n0port=$((base + 92)) n1port=$((base + 93))
work=$HD_CLUSTER/scale-move
rm -rf "$work"; mkdir -p "$work"
source test/scale/clusters.sh
poster= client= offline= bridges=()
trap '[ -n "$poster" ] && kill "$poster" 2>/dev/null; [ -n "$client" ] && kill "$client" 2>/dev/null;
	[ -n "$offline" ] && kill "$offline" 2>/dev/null;
	for p in "${bridges[@]}"; do kill "$p" 2>/dev/null || true; done; scale_stop' EXIT
export SCALE_BRIDGE_OFFSET=2	# bridges on +94, +95
scale_start "$pport" "$n0port" "$n1port"
hd_node_modules
make -s -C bridge >/dev/null || fail "cannot build the bridge"
scale_bridge "$n0port" "$work/bridge0.log"; bridges+=($!)
scale_bridge "$n1port" "$work/bridge1.log"; bridges+=($!)

# A and B on node 0, each with an online agent, a direct queue and an active session
setup() { # slug -> "tenant session customer agent"
	local t q a c s
	t=$(P -c "SELECT helpdesk_proxy.upsert_tenant_on(0, '$1', 'Tenant $1')")
	q=$(P -c "SELECT helpdesk.upsert_queue($t, 'main', 'Main', is_default => true)")
	P -c "SELECT helpdesk.set_queue_routing($t, $q, 'direct')" >/dev/null
	a=$(P -c "SELECT helpdesk.upsert_agent($t, 'agent-1', 'Agent', max_sessions => 5)")
	P -c "SELECT helpdesk.set_agent_status($t, $a, 'online')" >/dev/null
	c=$(P -c "SELECT helpdesk.upsert_customer($t, 'player-1', 'Player')")
	s=$(P -c "SELECT session_id FROM helpdesk.start_session($t, $c, first_message => 'hello')")
	P -c "SELECT helpdesk.create_ticket($t, $c, 'ticket of $1', 'body')" >/dev/null
	echo "$t $s $c $a"
}
read -r ta sa ca aa < <(setup game-a)
read -r tb sb cb ab < <(setup game-b)
wait_active() { # port tenant session
	local i
	for i in $(seq 1 100); do
		[ "$(scale_at "$1" -c "SELECT state FROM helpdesk.session WHERE tenant_id = $2 AND id = $3")" = active ] && return 0
		sleep 0.1
	done
	return 1
}
wait_active "$n0port" "$ta" "$sa" || fail "node 0's dispatcher did not assign A's session"
# what the copy names of node 0's log: a rule's message (idempotent by the
# event position that fired it) and the agent's status history (ordered by
# the event ids that started each interval)
P -c "SELECT helpdesk.upsert_rule($ta, 'ruled', 'message.created', '{\"field\": \"message.body\", \"op\": \"equal\", \"value\": \"rule me\"}', '[{\"type\": \"send_message\", \"message\": \"ruled\"}]')" >/dev/null
P -c "SELECT helpdesk.post_message($ta, $sa, 'customer', $ca, 'rule me')" >/dev/null
P -c "SELECT helpdesk.upsert_webhook($ta, 'hook', 'http://127.0.0.1:9/hook', '{message.created}', enabled => false)" >/dev/null
P -c "SELECT helpdesk.set_agent_status($ta, $aa, 'away')" >/dev/null
P -c "SELECT helpdesk.set_agent_status($ta, $aa, 'online')" >/dev/null
for _ in $(seq 1 100); do
	[ "$(N0 -c "SELECT count(*) FROM helpdesk.message WHERE tenant_id = $ta AND body = 'ruled'")" = 1 ] &&
		[ "$(N0 -c "SELECT count(*) FROM helpdesk.agent_status_interval WHERE tenant_id = $ta")" -ge 3 ] && break
	sleep 0.1
done
[ "$(N0 -c "SELECT count(*) FROM helpdesk.message WHERE tenant_id = $ta AND body = 'ruled' AND client_msg_id LIKE 'rule:%'")" = 1 ] || fail "the rule did not answer on node 0"
intervals_sql="SELECT string_agg(status || ' ' || started_at, ',' ORDER BY event_id) FROM helpdesk.agent_status_interval WHERE tenant_id = $ta AND agent_id = $aa"
intervals0=$(N0 -c "$intervals_sql")
[ "$(N0 -c "SELECT count(*) FROM helpdesk.agent_status_interval WHERE tenant_id = $ta AND agent_id = $aa")" -ge 3 ] || fail "node 0's rollup worker recorded no status history: $intervals0"

note "a client posts into A and B through the proxy while A moves to node 1; A's customer follows on a bridge"
export STOP_FILE=$work/stop MOVED_FILE=$work/moved OFFLINE_AFTER_MS=2000 SCALE_PROXY="$(scale_conninfo "$pport") user=postgres"
ctok=$(P -c "SELECT helpdesk.issue_token($ta, 'customer', $ca, '1 hour')")
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$((n0port + 2))/healthz" >/dev/null 2>&1 && curl -fsS "http://127.0.0.1:$((n1port + 2))/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
(cd test/bridge && node scale_move_client.js $((n0port + 2)) "$ctok" "$sa") >"$work/client.json" 2>"$work/client.err" &
client=$!
# a second socket of the customer goes away before the move and comes back
# to node 1's bridge after it, with its position of node 0's log
(cd test/bridge && node scale_move_offline.js $((n0port + 2)) $((n1port + 2)) "$ctok" "$sa") >"$work/offline.json" 2>"$work/offline.err" &
offline=$!
sleep 1
(cd test/bridge && node scale_move_poster.js "$ta" "$sa" "$ca" "$tb" "$sb" "$cb") >"$work/poster.json" 2>"$work/poster.err" &
poster=$!
sleep 1.5
PGUSER=postgres scripts/move-tenant --tenant "$ta" --source "$(scale_conninfo "$n0port") user=postgres" \
	--target "$(scale_conninfo "$n1port") user=postgres" --proxy "$(scale_conninfo "$pport") user=postgres" --target-part 1 \
	>"$work/move.out" 2>"$work/move.err" || { cat "$work/move.err"; fail "move-tenant failed"; }
touch "$MOVED_FILE"
sleep 1.5
touch "$STOP_FILE"
wait "$poster" || { cat "$work/poster.err"; fail "the posting client failed"; }
poster=
wait "$client" || { cat "$work/client.err"; tail -5 "$work"/bridge*.log; fail "the WebSocket client failed"; }
client=
wait "$offline" || { cat "$work/offline.err"; tail -5 "$work"/bridge*.log; fail "the offline WebSocket client failed"; }
offline=
refused=$(sed -n 's/^refused_seconds=//p' "$work/move.out")
[ "$(sed -n 's/^catch_up=//p' "$work/move.out")" = 1 ] || fail "the move did not catch up by logical replication: $(cat "$work/move.err")"
[ "$(sed -n 's/^verified=//p' "$work/move.out")" = 1 ] || fail "the source and the target's copy differ after the move: $(cat "$work/move.err")"
[ "$(N0 -c "SELECT count(*) FROM pg_publication") $(N1 -c "SELECT count(*) FROM pg_subscription") $(N0 -c "SELECT count(*) FROM pg_replication_slots")" = "0 0 0" ] ||
	fail "the move left its publication, subscription or slot behind"
j() { node -e "const r = JSON.parse(require('fs').readFileSync('$work/poster.json')); console.log($1)"; }
[ "$(j 'r.moving.errors.length + r.staying.errors.length')" = 0 ] || fail "posts failed: $(j 'JSON.stringify([r.moving.errors, r.staying.errors])')"
[ "$(j 'r.moving.refused > 0')" = true ] || fail "no post of A was refused: the move did not fence it (or the client posted too slowly)"
[ "$(j 'r.staying.refused')" = 0 ] || fail "posts of B were refused while A moved"
n_a=$(j 'r.moving.acked.length') n_b=$(j 'r.staying.acked.length')
note "A: $n_a posts acknowledged, $(j 'r.moving.refused') refusals retried, the longest post took $(j 'r.moving.longestMs') ms; B: $n_b posts, none refused"
note "the move refused A's calls for $refused s ($(sed -n 's/^rows_copied=//p' "$work/move.out") rows caught up; $(grep -c 'catch-up' "$work/move.err") catch-up steps)"
[ "$n_a" -gt 10 ] && [ "$n_b" -gt 10 ] || fail "too few posts to say anything ($n_a, $n_b)"
# B posted on while A's posts waited for the fence: it made more of them
[ "$n_b" -gt "$n_a" ] || fail "B made no more posts than A ($n_b, $n_a): its posts were held up during A's move"

note "every acknowledged message of A is on node 1 once; B's are on node 0"
j "r.moving.acked.join('\n')" | sort >"$work/acked.a"
N1 -c "SELECT client_msg_id FROM helpdesk.message WHERE tenant_id = $ta AND client_msg_id LIKE 'move-%'" | sort >"$work/node1.a"
diff "$work/acked.a" "$work/node1.a" >"$work/a.diff" || { head "$work/a.diff"; fail "A's messages on node 1 are not exactly the acknowledged ones"; }
[ "$(N1 -c "SELECT count(*) - count(DISTINCT client_msg_id) FROM helpdesk.message WHERE tenant_id = $ta AND client_msg_id LIKE 'move-%'")" = 0 ] || fail "a message of A is twice on node 1"
[ "$(N0 -c "SELECT count(*) FROM helpdesk.message WHERE tenant_id = $ta")" = 0 ] || fail "A's messages are still on node 0 after the purge"
[ "$(N0 -c "SELECT count(*) FROM helpdesk.message WHERE tenant_id = $tb AND client_msg_id LIKE 'stay-%'")" = "$n_b" ] || fail "B's messages on node 0 are not its acknowledged posts"
[ "$(N1 -c "SELECT count(*) FROM helpdesk.ticket WHERE tenant_id = $ta")" = 1 ] || fail "A's ticket did not move"

note "A's customer, following tenant.moved from node 0's bridge to node 1's, got every acknowledged post once"
c() { node -e "const r = JSON.parse(require('fs').readFileSync('$work/client.json')); console.log($1)"; }
[ "$(c 'r.moved !== null')" = true ] || fail "the client got no tenant.moved"
[ "$(c 'r.moved.bridge_url')" = "ws://127.0.0.1:$((n1port + 2))/ws" ] || fail "tenant.moved names $(c 'r.moved.bridge_url')"
[ "$(c 'r.moved.position')" = "$(sed -n 's/^target_position=//p' "$work/move.out")" ] || fail "tenant.moved names another position than the move's"
[ "$(c 'r.posErrors.length')" = 0 ] || fail "positions repeated or went back: $(c 'JSON.stringify(r.posErrors)')"
c "r.ids.filter((x) => x.startsWith('move-')).join('\\n')" >"$work/client.a"
[ "$(sort "$work/client.a" | uniq -d | wc -l)" = 0 ] || fail "the client got a message twice: $(sort "$work/client.a" | uniq -d | head -3)"
# every acknowledged post, but the first ones the client may have missed while connecting
first=$(head -1 "$work/client.a")
awk -v f="$first" 'found || $0 == f {found = 1; print}' <(j "r.moving.acked.join('\\n')") >"$work/acked.after"
diff <(sort "$work/acked.after") <(sort "$work/client.a") >"$work/client.diff" ||
	{ head "$work/client.diff"; fail "the client's messages are not every acknowledged post from its first one"; }
note "the client got $(wc -l <"$work/client.a") posts over both bridges, none twice, none missing, positions increasing on each"
[ "$(P -c "SELECT part || ' ' || state FROM helpdesk_proxy.tenant_directory WHERE tenant_id = $ta")" = "1 active" ] || fail "the directory does not name node 1 for A"

note "A's customer, offline during the move, resumed on node 1's bridge from its position of node 0's log"
o() { node -e "const r = JSON.parse(require('fs').readFileSync('$work/offline.json')); console.log($1)"; }
log0=$(N0 -c "SELECT helpdesk.event_log_id()") log1=$(N1 -c "SELECT helpdesk.event_log_id()")
moved_events=$(sed -n 's/^moved_events=//p' "$work/move.out")
[ -n "$moved_events" ] && [ "$moved_events" -gt 0 ] || fail "the move copied no events of node 0's log: $(cat "$work/move.err")"
[ "$(N1 -c "SELECT count(*) FROM helpdesk.moved_event WHERE tenant_id = $ta AND log_id = '$log0'")" = "$moved_events" ] || fail "node 1 does not hold the copied events"
[ "$(o 'r.left.log')" = "$log0" ] || fail "the offline client's position was not of node 0's log: $(o 'JSON.stringify(r.left)')"
[ "$(o 'r.refused.type + " " + r.refused.code')" = "closed 4010" ] || fail "a position of an unknown log was not refused with 4010: $(o 'JSON.stringify(r.refused)')"
[ "$(o 'r.hello.log_id')" = "$log0" ] || fail "node 1's hello for a replay names log $(o 'r.hello.log_id')"
[ "$(o 'r.logFrames.length')" = 1 ] || fail "log frames: $(o 'JSON.stringify(r.logFrames)')"
[ "$(o 'r.logFrames[0].log_id + " " + r.logFrames[0].position')" = "$log1 $(sed -n 's/^target_position=//p' "$work/move.out")" ] ||
	fail "the log frame names $(o 'JSON.stringify(r.logFrames[0])')"
[ "$(o 'r.posErrors.length')" = 0 ] || fail "offline client: positions repeated or went back: $(o 'JSON.stringify(r.posErrors)')"
o "r.ids.filter((x) => x.startsWith('move-')).join('\\n')" >"$work/offline.a"
[ "$(sort "$work/offline.a" | uniq -d | wc -l)" = 0 ] || fail "the offline client got a message twice"
first=$(head -1 "$work/offline.a")
awk -v f="$first" 'found || $0 == f {found = 1; print}' <(j "r.moving.acked.join('\\n')") >"$work/acked.offline"
diff <(sort "$work/acked.offline") <(sort "$work/offline.a") >"$work/offline.diff" ||
	{ head "$work/offline.diff"; fail "the offline client's messages are not every acknowledged post from its first one"; }
note "it got $(wc -l <"$work/offline.a") posts: before it left, then node 0's log replayed from node 1's copy ($moved_events events), then node 1's log; none twice, none missing"

note "what the copy named of node 0's log is renamed on node 1"
log0_rule=$(N1 -c "SELECT client_msg_id FROM helpdesk.message WHERE tenant_id = $ta AND body = 'ruled'")
case $log0_rule in rule:*"@$log0") ;; *) fail "the rule's message on node 1 has client_msg_id $log0_rule" ;; esac
[ "$(N1 -c "$intervals_sql")" = "$intervals0" ] || fail "the status history on node 1 is not node 0's in order: $(N1 -c "$intervals_sql")"
[ "$(N1 -c "SELECT max(event_id) FROM helpdesk.agent_status_interval WHERE tenant_id = $ta")" = -1 ] || fail "the copied intervals were not renumbered below node 1's event ids"
P -c "SELECT helpdesk.set_agent_status($ta, $aa, 'busy')" >/dev/null
for _ in $(seq 1 100); do
	[ "$(N1 -c "SELECT status FROM helpdesk.agent_status_interval WHERE tenant_id = $ta AND agent_id = $aa ORDER BY event_id DESC LIMIT 1")" = busy ] && break
	sleep 0.1
done
[ "$(N1 -c "SELECT string_agg(status, ' ' ORDER BY event_id) FROM (SELECT * FROM helpdesk.agent_status_interval WHERE tenant_id = $ta AND agent_id = $aa ORDER BY event_id DESC LIMIT 2) x")" = "online busy" ] ||
	fail "node 1 did not continue the agent's history after the copied intervals: $(N1 -c "$intervals_sql")"
[ "$(N1 -c "SELECT count(*) FROM helpdesk.agent_status_interval WHERE tenant_id = $ta AND agent_id = $aa AND ended_at IS NULL")" = 1 ] ||
	fail "node 1 left more than one status interval of the agent open"
[ "$(N1 -c "SELECT from_position FROM helpdesk.webhook WHERE tenant_id = $ta")" = "$(sed -n 's/^target_position=//p' "$work/move.out")" ] ||
	fail "A's webhook on node 1 starts after $(N1 -c "SELECT from_position FROM helpdesk.webhook WHERE tenant_id = $ta"), a position of node 0's log"
note "the rule's message carries node 0's log id, the status history is renumbered in order and node 1 continues it, the webhook starts at the move's position"
P -c "SELECT helpdesk.set_agent_status($ta, $aa, 'online')" >/dev/null

note "after the move: node 1 serves A, node 0 refuses it"
c2=$(P -c "SELECT helpdesk.upsert_customer($ta, 'player-2', 'Second')")
s2=$(P -c "SELECT session_id FROM helpdesk.start_session($ta, $c2, first_message => 'after the move')")
wait_active "$n1port" "$ta" "$s2" || fail "node 1's dispatcher did not assign A's new session"
[ "$(N1 -c "SELECT agent_id FROM helpdesk.session WHERE tenant_id = $ta AND id = $s2")" = "$aa" ] || fail "A's new session went to another agent"
[ "$(N0 -c "SELECT count(*) FROM helpdesk.session WHERE tenant_id = $ta")" = 0 ] || fail "node 0 still has sessions of A"
err=$(N0 -c "SELECT helpdesk.post_message($ta, $sa, 'customer', $ca, 'direct to the old node')" 2>&1) && fail "node 0 accepted a call of A"
case $err in *"has moved to another node"*) ;; *) fail "node 0 on a call of A: $err" ;; esac
N0 -c "SELECT helpdesk.post_message($tb, $sb, 'customer', $cb, 'B still works')" >/dev/null

note "a move called off leaves the tenant where it was; while fenced, its timers wait (the workers leave it alone)"
# a session of B whose idle warning is due 3 s after the agent's reply and
# its close 1 s later: fenced at once, neither fires until the fence is lifted
q4=$(P -c "SELECT helpdesk.upsert_queue($tb, 'idle', 'Idle')")
P -c "SELECT helpdesk.set_queue_routing($tb, $q4, 'direct', idle_warn_after => '3 seconds', idle_close_after => '1 second')" >/dev/null
c4=$(P -c "SELECT helpdesk.upsert_customer($tb, 'player-4', 'Idle')")
s4=$(P -c "SELECT session_id FROM helpdesk.start_session($tb, $c4, queue_id => $q4, first_message => 'hi')")
wait_active "$n0port" "$tb" "$s4" || fail "node 0's dispatcher did not assign B's idle session"
P -c "SELECT helpdesk.post_message($tb, $s4, 'agent', $ab, 'hello')" >/dev/null
N0 -c "SELECT helpdesk.set_tenant_fence($tb, 'fenced')" >/dev/null
sleep 5.5
[ "$(N0 -c "SELECT state || ' ' || (SELECT count(*) FROM helpdesk.dispatch_audit a WHERE a.tenant_id = $tb AND a.session_id = $s4 AND a.action IN ('idle_warn', 'idle_close')) FROM helpdesk.session WHERE tenant_id = $tb AND id = $s4")" = "active 0" ] ||
	fail "a worker acted on the fenced tenant: $(N0 -c "SELECT state, close_reason FROM helpdesk.session WHERE tenant_id = $tb AND id = $s4")"
err=$(P -c "SELECT helpdesk.post_message($tb, $sb, 'customer', $cb, 'while fenced')" 2>&1) && fail "a fenced tenant's call was served"
case $err in *55000*|*"is being moved"*) ;; *) fail "fenced call: $err" ;; esac
scripts/move-tenant --abort --tenant "$tb" --source "$(scale_conninfo "$n0port") user=postgres" --proxy "$(scale_conninfo "$pport") user=postgres" 2>"$work/abort.err" || { cat "$work/abort.err"; fail "move-tenant --abort failed"; }
P -c "SELECT helpdesk.post_message($tb, $sb, 'customer', $cb, 'after the abort')" >/dev/null || fail "B is not served after the abort"
for _ in $(seq 1 100); do
	[ "$(N0 -c "SELECT state || ' ' || close_reason FROM helpdesk.session WHERE tenant_id = $tb AND id = $s4")" = "closed idle" ] && break
	sleep 0.1
done
[ "$(N0 -c "SELECT state || ' ' || close_reason FROM helpdesk.session WHERE tenant_id = $tb AND id = $s4")" = "closed idle" ] ||
	fail "B's idle session did not close once the fence was lifted: $(N0 -c "SELECT state, close_reason FROM helpdesk.session WHERE tenant_id = $tb AND id = $s4")"
note "B's idle timers waited while it was fenced and fired once the move was called off"

note "a move without catch-up (--no-catch-up): B is copied while fenced"
PGUSER=postgres scripts/move-tenant --tenant "$tb" --no-catch-up --source "$(scale_conninfo "$n0port") user=postgres" \
	--target "$(scale_conninfo "$n1port") user=postgres" --proxy "$(scale_conninfo "$pport") user=postgres" --target-part 1 \
	>"$work/move_b.out" 2>"$work/move_b.err" || { cat "$work/move_b.err"; fail "move-tenant --no-catch-up failed"; }
[ "$(sed -n 's/^catch_up=//p' "$work/move_b.out")" = 0 ] || fail "--no-catch-up caught up"
[ "$(N1 -c "SELECT count(*) FROM helpdesk.message WHERE tenant_id = $tb AND client_msg_id LIKE 'stay-%'")" = "$n_b" ] || fail "B's messages did not all reach node 1"
[ "$(N0 -c "SELECT count(*) FROM helpdesk.message WHERE tenant_id = $tb")" = 0 ] || fail "B's messages are still on node 0"
P -c "SELECT helpdesk.post_message($tb, $sb, 'customer', $cb, 'B on node 1')" >/dev/null || fail "B is not served on node 1"
note "B moved with a fenced copy: its calls refused for $(sed -n 's/^refused_seconds=//p' "$work/move_b.out") s, $(sed -n 's/^rows_copied=//p' "$work/move_b.out") rows"
echo "scale_move: ok (A's calls refused for $refused s)"
