#!/usr/bin/env bash
# Benchmark: what the bot costs post_message, in the customer's transaction.
# Customer messages, interleaved variants in one run on one throwaway cluster:
#   plain   a plain INSERT of the same row (bench/post_message.sh's baseline)
#   agent   post_message into sessions that are queued (the hook is one
#           pointer test and one strcmp: what every non-bot session pays)
#   nobot   post_message into sessions in state bot of a tenant with no bot
#           configured (the hook's bot lookup finds none)
#   bot     post_message into sessions in state bot with a Dify bot: the
#           lookup, the keyword scan, one bot_job INSERT + the turn UPDATE
# The HTTP worker is stopped (SIGSTOP) during the runs so that only the
# customer's transaction is measured (its jobs pile up as pending); it is
# resumed at the end. Prints a Markdown table (median tps over rounds, ratio
# to plain, min-max of the ratio) and writes it to bench/results/.
#   BENCH_SECONDS (5)  BENCH_ROUNDS (5)  BENCH_CLIENTS ("1 4")  HD_BENCH_PORT (HD_TEST_PORT+80 or 55480)
source "$(dirname "$0")/../scripts/lib.sh"
cd "$HD_ROOT"
secs=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-5}
clients_list=${BENCH_CLIENTS:-"1 4"}
port=${HD_BENCH_PORT:-$((${HD_TEST_PORT:-55400} + 80))}

hd_install_packages
hd_build_install
dir=$(hd_cluster_dir "$HD_ROOT/.bench-bot-cluster")
# commits without waiting for the WAL flush: the cost of the work in the
# transaction, not of the disk this machine shares with others
hd_cluster_start "$dir" "$port" "synchronous_commit = off"
http_pid=
trap '[ -n "$http_pid" ] && kill -CONT $http_pid 2>/dev/null; hd_cluster_stop' EXIT
work=$dir/bench; mkdir -p "$work"; chmod 777 "$work"

db=helpdesk_bench
psql -qX -d postgres -c "CREATE DATABASE $db" >/dev/null
psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION pg_helpdesk;
SELECT helpdesk.upsert_tenant('agent', 'Agent', heartbeat_interval => '1 hour');
SELECT helpdesk.upsert_tenant('nobot', 'No bot', bot_enabled => true);
SELECT helpdesk.upsert_tenant('bot', 'Bot', bot_enabled => true);
SELECT helpdesk.upsert_queue(t, 'main', 'Main', is_default => true) FROM generate_series(1, 3) t;
SELECT helpdesk.upsert_bot(3, 'dify', 'dify', 'http://127.0.0.1:9/v1', 'app-bench-key', max_turns => 1000);
SELECT helpdesk.upsert_customer(t, 'c' || g) FROM generate_series(1, 3) t, generate_series(1, 160) g;
SELECT helpdesk.start_session(c.tenant_id, c.id) FROM helpdesk.customer c ORDER BY c.id;
CREATE TABLE bench_plain (LIKE helpdesk.message INCLUDING ALL);
ALTER TABLE bench_plain ADD FOREIGN KEY (tenant_id, session_id) REFERENCES helpdesk.session (tenant_id, id);
SQL
http_pid=$(psql -XAt -d $db -c "SELECT pid FROM helpdesk.worker_status() WHERE kind = 'http'")
[ -n "$http_pid" ] || { echo "no HTTP worker" >&2; exit 1; }
kill -STOP "$http_pid"

body="hello, I need help with my order #12345"
for t in 1 2 3; do
	read -r sbase cbase < <(psql -XAt -d $db -c "SELECT min(id), min(customer_id) FROM helpdesk.session WHERE tenant_id = $t" | tr '|' ' ')
	[ "$(psql -XAt -d $db -c "SELECT count(*) FROM helpdesk.session WHERE tenant_id = $t AND id - $sbase = customer_id - $cbase AND id - $sbase BETWEEN 0 AND 159")" = 160 ] ||
		{ echo "sessions of tenant $t are not numbered like their customers" >&2; exit 1; }
	echo "$sbase $cbase" >"$work/base.$t"
done
write() { # name tenant statement
	read -r sbase cbase <"$work/base.$2"
	printf '\\set k random(0, 159)\n\\set sid %s + :k\n\\set cid %s + :k\n%s\n' "$sbase" "$cbase" "$3" >"$work/$1.sql"
}
write plain 1 "INSERT INTO bench_plain (tenant_id, session_id, customer_id, sender_kind, sender_id, type, body) VALUES (1, :sid, :cid, 'customer', :cid, 'text', '$body');"
write agent 1 "SELECT helpdesk.post_message(1, :sid, 'customer', :cid, '$body');"
write nobot 2 "SELECT helpdesk.post_message(2, :sid, 'customer', :cid, '$body');"
write bot 3 "SELECT helpdesk.post_message(3, :sid, 'customer', :cid, '$body');"
[ "$(psql -XAt -d $db -c "SELECT string_agg(DISTINCT tenant_id || ':' || state, ',' ORDER BY tenant_id || ':' || state) FROM helpdesk.session")" = "1:queued,2:bot,3:bot" ] ||
	{ echo "unexpected session states" >&2; exit 1; }

tps() { # variant clients
	local j=$(( $2 < 2 ? 1 : 2 ))
	psql -qX -d $db -c 'TRUNCATE bench_plain, helpdesk.bot_job, helpdesk.message, helpdesk.event, helpdesk.event_batch' \
		-c 'CHECKPOINT' >/dev/null
	pgbench -n -M prepared -c "$2" -j "$j" -T "$secs" -f "$work/$1.sql" $db >"$work/pgbench.out" 2>&1 ||
		{ cat "$work/pgbench.out" >&2; return 1; }
	# the bot's sessions must still be with the bot (160 sessions: far below
	# max_turns 1000 each), and every message must have made a job
	if [ "$1" = bot ]; then
		[ "$(psql -XAt -d $db -c "SELECT count(*) FROM helpdesk.session WHERE tenant_id = 3 AND state = 'bot'")" = 160 ] ||
			{ echo "bot sessions left the bot during the run" >&2; return 1; }
		[ "$(psql -XAt -d $db -c "SELECT (SELECT count(*) FROM helpdesk.bot_job) = (SELECT count(*) FROM helpdesk.message WHERE tenant_id = 3)")" = t ] ||
			{ echo "not every bot message made a job" >&2; return 1; }
	fi
	sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$work/pgbench.out"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

declare -A res
for r in $(seq 1 "$rounds"); do
	for c in $clients_list; do
		for v in plain agent nobot bot; do
			res[$v,$c,$r]=$(tps $v "$c")
			echo "round $r clients $c $v ${res[$v,$c,$r]}" >&2
		done
	done
done
jobs=$(psql -XAt -d $db -c "SELECT count(*) FROM helpdesk.bot_job")

out=bench/results/bot_intake-$(date -u +%Y%m%dT%H%M%SZ).md
mkdir -p bench/results
{
	echo "| clients | variant | median tps | x plain | min-max x plain |"
	echo "|---|---|---|---|---|"
	for c in $clients_list; do
		for v in plain agent nobot bot; do
			m=$(for r in $(seq 1 "$rounds"); do echo "${res[$v,$c,$r]}"; done | median)
			ratios=$(for r in $(seq 1 "$rounds"); do awk -v a="${res[$v,$c,$r]}" -v b="${res[plain,$c,$r]}" 'BEGIN { printf "%.3f\n", a / b }'; done | sort -n)
			mr=$(echo "$ratios" | median)
			echo "| $c | $v | $m | $(printf '%.2f' "$mr") | $(echo "$ratios" | head -1)-$(echo "$ratios" | tail -1) |"
		done
	done
	echo
	echo "$secs s per run, $rounds rounds interleaved; the last bot run left $jobs pending jobs (HTTP worker stopped)."
} | tee "$out"
