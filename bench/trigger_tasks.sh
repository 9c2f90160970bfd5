#!/usr/bin/env bash
# Benchmark: what matching trigger tasks costs a customer's message.
#   1. post_message with BENCH_TASKS (10,000) waiting keyword tasks in the
#      tenant against post_message with none and a plain INSERT of the same
#      row, interleaved in one run (pgbench -M prepared, as bench/post_message.sh),
#      plus the peer: the seed's own matching in PL/pgSQL (bench/peers/
#      plpgsql_task_match.sql: every waiting task looked at per message)
#      with the same tasks, and BENCH_RULES (100) automation rules on
#      message.created in the tenant (evaluated by the rules worker after
#      commit). Messages match no task and no rule (the common case).
#   2. trigger-to-action latency at BENCH_RATE (100) triggers/s, BENCH_LATENCY_ROUNDS (3)
#      rounds of BENCH_LATENCY_SECONDS (20), with the tasks and rules still in the
#      tenant: each message fires one task (unique keyword), the dispatcher runs its
#      action (a message into the chat) while the rules worker evaluates the 100 rules
#      on each message; latency = the action's completion minus the firing message's
#      created_at (its transaction's start), p50/p99 per round.
# Prints a Markdown table; writes it to bench/results/.
#   BENCH_SECONDS (10)  BENCH_ROUNDS (3)  BENCH_CLIENTS ("1 16")  HD_BENCH_PORT (HD_TEST_PORT + 80)
source "$(dirname "$0")/../scripts/lib.sh"
cd "$HD_ROOT"
secs=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-3}
clients_list=${BENCH_CLIENTS:-"1 16"}
ntasks=${BENCH_TASKS:-10000}
nrules=${BENCH_RULES:-100}
rate=${BENCH_RATE:-100}
lat_secs=${BENCH_LATENCY_SECONDS:-20}
port=${HD_BENCH_PORT:-$((${HD_TEST_PORT:-55432} + 80))}

hd_install_packages
hd_build_install
dir=$(hd_cluster_dir "$HD_ROOT/.bench-cluster-tasks")
hd_cluster_start "$dir" "$port"
trap 'hd_cluster_stop' EXIT
work=$dir/bench; mkdir -p "$work"; chmod 777 "$work"

psql -qX -d postgres -c 'CREATE DATABASE helpdesk_bench' >/dev/null
db=helpdesk_bench
psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
CREATE EXTENSION pg_helpdesk;
SELECT helpdesk.upsert_tenant('bench', 'Bench');          -- tenant 1: no tasks
SELECT helpdesk.upsert_tenant('bench-tasks', 'Tasks');    -- tenant 2: $ntasks waiting tasks
SELECT helpdesk.upsert_queue(t, 'main', 'Main', is_default => true) FROM generate_series(1, 2) t;
SELECT helpdesk.upsert_customer(t, 'c' || g) FROM generate_series(1, 2) t, generate_series(1, 16) g;
SELECT helpdesk.start_session(tenant_id, id) FROM helpdesk.customer ORDER BY tenant_id, id;
CREATE TABLE bench_plain (LIKE helpdesk.message INCLUDING ALL);
ALTER TABLE bench_plain ADD FOREIGN KEY (tenant_id, session_id) REFERENCES helpdesk.session (tenant_id, id);
-- the tasks: contains (70 %), exact (10 %), any of 3 (10 %), a specified customer not posting (10 %);
-- Chinese and English keywords that the benchmark's message does not contain
SELECT count(helpdesk.receive_task(2, jsonb_build_object('task_id', 'T' || g, 'type', 'bench',
	'customer', jsonb_build_object('id', 'other-' || g),
	'trigger', CASE g % 10
		WHEN 0 THEN jsonb_build_object('type', 'customer_reply', 'keyword', '确认' || g, 'exact_match', true)
		WHEN 1 THEN jsonb_build_object('type', 'customer_keyword', 'keywords', jsonb_build_array('好的' || g, 'ok-' || g, '可以' || g))
		WHEN 2 THEN jsonb_build_object('type', 'specified_customer_reply', 'customer_id', 'other-' || g, 'keyword', '好的')
		ELSE jsonb_build_object('type', 'customer_reply', 'keyword', CASE g % 2 WHEN 0 THEN '订单' || g || '号' ELSE 'order-' || g END) END,
	'action', jsonb_build_object('type', 'send_message', 'message', 'done ' || g))))
FROM generate_series(1, $ntasks) g;
SQL
# and $nrules automation rules on message.created in the same tenant (evaluated by the
# rules worker from the event log, after commit; none matches the benchmark's message)
psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
SELECT count(helpdesk.upsert_rule(2, 'rule-' || g, 'message.created',
	jsonb_build_object('all', jsonb_build_array(
		jsonb_build_object('field', 'message.sender_kind', 'op', 'equal', 'value', 'customer'),
		jsonb_build_object('any', jsonb_build_array(
			jsonb_build_object('field', 'message.body', 'op', 'contains', 'value', '投诉' || g),
			jsonb_build_object('field', 'customer.vip_level', 'op', 'gt', 'value', 5))))),
	'[{"type": "send_message", "message": "rule"}]', g))
FROM generate_series(1, $nrules) g;
SQL
psql -qX -v ON_ERROR_STOP=1 -d $db -f bench/peers/plpgsql_task_match.sql >/dev/null
psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
INSERT INTO peer_task (task_id, tenant_id, trigger_type, specified_customer_id, trigger_keyword, trigger_keywords, exact_match)
SELECT task_id, tenant_id, trigger_type, trigger_customer_id,
       CASE WHEN cardinality(keywords) = 1 THEN keywords[1] END, CASE WHEN cardinality(keywords) > 1 THEN keywords END,
       exact_match
FROM helpdesk.trigger_task WHERE tenant_id = 2;
SQL
# the dispatcher arms the tasks (pending -> waiting, 200 a pass): wait for all, so that no
# arming runs during the measured rounds
for ((i = 0; i < 600; i++)); do
	armed=$(psql -XAt -d $db -c "SELECT count(*) FROM helpdesk.trigger_task WHERE status = 'waiting'")
	[ "$armed" -ge "$ntasks" ] && break
	sleep 0.2
done

read -r sbase1 cbase1 < <(psql -XAt -d $db -c "SELECT min(id), min(customer_id) FROM helpdesk.session WHERE tenant_id = 1" | tr '|' ' ')
read -r sbase2 cbase2 < <(psql -XAt -d $db -c "SELECT min(id), min(customer_id) FROM helpdesk.session WHERE tenant_id = 2" | tr '|' ' ')
body="hello, I need help with my order #12345, 谢谢"
for v in plain none tasks peer; do
	case $v in
	plain) stmt="INSERT INTO bench_plain (tenant_id, session_id, customer_id, sender_kind, sender_id, type, body) VALUES (2, :sid2, :cid2, 'customer', :cid2, 'text', '$body');" ;;
	none) stmt="SELECT helpdesk.post_message(1, :sid1, 'customer', :cid1, '$body');" ;;
	tasks) stmt="SELECT helpdesk.post_message(2, :sid2, 'customer', :cid2, '$body');" ;;
	peer) stmt="SELECT peer_post(2, :sid2, :cid2, 'c' || (:client_id % 16 + 1), '$body');" ;;
	esac
	cat >"$work/$v.sql" <<EOF2
\set sid1 $sbase1 + :client_id % 16
\set cid1 $cbase1 + :client_id % 16
\set sid2 $sbase2 + :client_id % 16
\set cid2 $cbase2 + :client_id % 16
$stmt
EOF2
done

tps() { # variant clients
	local j=$(( $2 < 2 ? 1 : 2 )) s=$secs
	[ "$1" = peer ] && s=$(( secs / 2 > 3 ? secs / 2 : 3 ))
	psql -qX -d $db -c 'TRUNCATE bench_plain, helpdesk.message, helpdesk.event, helpdesk.event_batch CASCADE' -c 'CHECKPOINT' >/dev/null
	pgbench -n -M prepared -c "$2" -j "$j" -T "$s" -f "$work/$1.sql" $db >"$work/pgbench.out" 2>&1 || { cat "$work/pgbench.out" >&2; return 1; }
	sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$work/pgbench.out"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
spread() { sort -n | awk '{a[NR]=$1} END {printf "%.0f-%.0f", a[1], a[NR]}'; }

declare -A results
load_start=$(cut -d' ' -f1 /proc/loadavg)
for r in $(seq 1 "$rounds"); do
	for c in $clients_list; do
		for v in plain none tasks peer; do
			t=$(tps $v "$c")
			results[$v.$c]+="$t "
			echo "round $r, $c clients, $v: $t tps" >&2
		done
	done
done
fired=$(psql -XAt -d $db -c "SELECT count(*) FROM helpdesk.trigger_task WHERE status <> 'waiting'")

# --- trigger-to-action latency at $rate triggers/s, BENCH_LATENCY_ROUNDS rounds (the 100 rules and
# 10,000 tasks still in the tenant: each firing message is a message.created event the rules worker
# evaluates against the 100 rules while the dispatcher runs the task's action)
n=$(( rate * lat_secs * 12 / 10 ))
psql -qX -v ON_ERROR_STOP=1 -d $db -c 'CREATE SEQUENCE bench_fire' >/dev/null
lat_rounds=${BENCH_LATENCY_ROUNDS:-3}
latency="" p99s=""
for ((r = 1; r <= lat_rounds; r++)); do
	psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
TRUNCATE helpdesk.message, helpdesk.event, helpdesk.event_batch CASCADE;
SELECT setval('bench_fire', 1, false);
SELECT count(helpdesk.receive_task(2, jsonb_build_object('task_id', 'F${r}_' || g, 'type', 'bench',
	'trigger', jsonb_build_object('type', 'customer_reply', 'keyword', '<fire-${r}-' || g || '>'),
	'action', jsonb_build_object('type', 'send_message', 'message', 'fired ' || g))))
FROM generate_series(1, $n) g;
SQL
	for ((i = 0; i < 600; i++)); do
		[ "$(psql -XAt -d $db -c "SELECT count(*) FROM helpdesk.trigger_task WHERE status = 'pending'")" = 0 ] && break
		sleep 0.2
	done
	cat >"$work/fire.sql" <<EOF2
\set sid2 $sbase2 + :client_id % 16
\set cid2 $cbase2 + :client_id % 16
SELECT helpdesk.post_message(2, :sid2, 'customer', :cid2, 'ok <fire-${r}-' || nextval('bench_fire') || '> thanks');
EOF2
	lload=$(cut -d' ' -f1 /proc/loadavg)
	pgbench -n -M prepared -c 4 -j 2 -R "$rate" -T "$lat_secs" -f "$work/fire.sql" $db >"$work/pgbench_fire.out" 2>&1 || cat "$work/pgbench_fire.out" >&2
	sleep 2
	read -r p99 line < <(psql -XAt -F' ' -d $db -c "SELECT round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1),
		count(*) || ' fired, ' ||
		round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) || ' ms p50, ' ||
		round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1) || ' ms p99, ' ||
		round(max(ms)::numeric, 1) || ' ms max; ' || count(*) FILTER (WHERE status <> 'completed') || ' not completed'
		FROM (SELECT t.status, extract(epoch FROM t.completed_at - m.created_at) * 1000 AS ms
		      FROM helpdesk.trigger_task t JOIN helpdesk.message m ON m.tenant_id = t.tenant_id AND m.id = t.message_id
		      WHERE t.task_id LIKE 'F${r}\\_%') x")
	rlag=$(psql -XAt -d $db -c 'SELECT helpdesk.event_position() - position FROM helpdesk.automation_rule_cursor')
	echo "latency round $r: $line (load $lload; rules worker $rlag events behind)" >&2
	latency+="round $r: $line (load average $lload at its start; rules worker $rlag events behind at its end)"$'\n'
	p99s+="$p99 "
done
load_end=$(cut -d' ' -f1 /proc/loadavg)

mkdir -p bench/results
out=bench/results/trigger_tasks-$(date -u +%Y%m%dT%H%M%SZ).md
{
	echo "post_message with $armed waiting trigger tasks vs none: median TPS (range) of $rounds interleaved rounds of ${secs}s (the peer ${secs}/2 s), pgbench -M prepared"
	echo
	echo "| clients | plain INSERT | post_message, no tasks | post_message, $ntasks tasks | ratio to no tasks | ratio to INSERT | peer (PL/pgSQL, seed's scan) | peer ratio to INSERT |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
	for c in $clients_list; do
		p=$(echo "${results[plain.$c]}" | tr ' ' '\n' | grep . | median); ps=$(echo "${results[plain.$c]}" | tr ' ' '\n' | grep . | spread)
		a=$(echo "${results[none.$c]}" | tr ' ' '\n' | grep . | median); as=$(echo "${results[none.$c]}" | tr ' ' '\n' | grep . | spread)
		t=$(echo "${results[tasks.$c]}" | tr ' ' '\n' | grep . | median); ts=$(echo "${results[tasks.$c]}" | tr ' ' '\n' | grep . | spread)
		e=$(echo "${results[peer.$c]}" | tr ' ' '\n' | grep . | median); es=$(echo "${results[peer.$c]}" | tr ' ' '\n' | grep . | spread)
		printf '| %s | %.0f (%s) | %.0f (%s) | %.0f (%s) | %.2fx | %.2fx | %.0f (%s) | %.3fx |\n' "$c" "$p" "$ps" "$a" "$as" "$t" "$ts" \
			"$(awk "BEGIN {print $t / $a}")" "$(awk "BEGIN {print $t / $p}")" "$e" "$es" "$(awk "BEGIN {print $e / $p}")"
	done
	echo
	echo "tasks fired by the measured messages (must be 0: the message matches none): $fired; automation rules in the tenant: $nrules (message.created; rule firings: $(psql -XAt -d $db -c 'SELECT count(*) FROM helpdesk.automation_rule_run'), events the rules had not reached at the end: $(psql -XAt -d $db -c 'SELECT helpdesk.event_position() - position FROM helpdesk.automation_rule_cursor'))"
	echo "trigger-to-action at $rate triggers/s for ${lat_secs}s (4 clients, pgbench -R; action = a message into the chat by the dispatcher), $lat_rounds rounds, p99 median $(echo "$p99s" | tr ' ' '\n' | grep . | median) ms (range $(echo "$p99s" | tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {printf "%s-%s", a[1], a[NR]}') ms):"
	printf '%s' "$latency" | sed 's/^/- /'
	echo "load average (1 min) at start / end: $load_start / $load_end; machine: $(nproc) cores, $(psql -XAt -d $db -c 'SELECT version()' | cut -d, -f1)"
} | tee "$out"
