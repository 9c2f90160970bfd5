#!/usr/bin/env bash
# Benchmark: helpdesk.post_message against a plain INSERT of the same row
# (same table shape, indexes and foreign key) and against an INSERT that
# NOTIFYs in its own transaction, at 1, 4 and 16 clients, interleaved in one
# run on one throwaway cluster, with a LISTEN connection consuming the
# publisher's notifications. Prints a Markdown table; writes it to
# bench/results/.
#   BENCH_SECONDS (10)  BENCH_ROUNDS (3)  BENCH_CLIENTS ("1 4 16")  HD_BENCH_PORT (55433)
# post_message runs twice: as the superuser, and as a non-superuser role of
# helpdesk_api bound to the tenant with grant_tenant (the tenant access
# check's bound path: a per-backend cached lookup).
#   BENCH_VARIANTS ("plain notify api api_bound")
#   BENCH_WEBHOOKS (0): that many webhook endpoints subscribed to message.created,
#   served by a local sink (bench/sink_lean.js); the HTTP worker delivers
#   during the runs (it reads the event log after commit, nothing is added to
#   post_message's transaction). Before each TRUNCATE the endpoints are
#   disabled and the harness waits until the sink gets nothing more, so no
#   delivery of one run is sent or recorded in the next; they are enabled
#   again after it.
source "$(dirname "$0")/../scripts/lib.sh"
cd "$HD_ROOT"
secs=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-3}
clients_list=${BENCH_CLIENTS:-"1 4 16"}
port=${HD_BENCH_PORT:-55433}
hooks=${BENCH_WEBHOOKS:-0}
variants=${BENCH_VARIANTS:-"plain notify api api_bound"}

hd_install_packages
hd_build_install
dir=$(hd_cluster_dir "$HD_ROOT/.bench-cluster")
hd_cluster_start "$dir" "$port" "helpdesk.http_allowed_hosts = '127.0.0.1/32'"
listener= sink=
trap '[ -n "$listener" ] && kill $listener 2>/dev/null; [ -n "$sink" ] && kill $sink 2>/dev/null; hd_cluster_stop' EXIT
work=$dir/bench; mkdir -p "$work"; chmod 777 "$work"

psql -qX -d postgres -c 'CREATE DATABASE helpdesk_bench' >/dev/null
db=helpdesk_bench
psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION pg_helpdesk;
SELECT helpdesk.upsert_tenant('bench', 'Bench');
SELECT helpdesk.upsert_queue(1, 'main', 'Main', is_default => true);
SELECT helpdesk.upsert_customer(1, 'c' || g) FROM generate_series(1, 16) g;
SELECT helpdesk.start_session(1, id) FROM helpdesk.customer ORDER BY id;
-- the baseline tables: the message table's shape, indexes and foreign key
-- (one per variant, so each grows with its own rows only, as message does)
CREATE TABLE bench_plain (LIKE helpdesk.message INCLUDING ALL);
ALTER TABLE bench_plain ADD FOREIGN KEY (tenant_id, session_id) REFERENCES helpdesk.session (tenant_id, id);
CREATE TABLE bench_notify (LIKE helpdesk.message INCLUDING ALL);
ALTER TABLE bench_notify ADD FOREIGN KEY (tenant_id, session_id) REFERENCES helpdesk.session (tenant_id, id);
-- the bound role (a version without tenant bindings: the api_bound variant
-- is left out)
SET client_min_messages = warning;
DROP ROLE IF EXISTS bench_api;
DO $$ BEGIN
	IF pg_catalog.to_regproc('helpdesk.grant_tenant') IS NOT NULL THEN
		CREATE ROLE bench_api LOGIN IN ROLE helpdesk_api;
		PERFORM helpdesk.grant_tenant('bench_api', 1);
	END IF;
END $$;
SQL
if [ "$hooks" -gt 0 ]; then
	node bench/sink_lean.js $((port + 1)) >/dev/null 2>&1 &
	sink=$!
	until curl -fsS "http://127.0.0.1:$((port + 1))/_stats" >/dev/null 2>&1; do sleep 0.05; done
	psql -qXAt -d $db -c "SELECT helpdesk.upsert_webhook(1, 'hook' || g, 'http://127.0.0.1:$((port + 1))/ok', '{message.created}') FROM generate_series(1, $hooks) g" >/dev/null
fi
read -r sbase cbase span < <(psql -XAt -d $db -c "SELECT min(id), min(customer_id), max(id) - min(id) FROM helpdesk.session" | tr '|' ' ')
[ "$span" = 15 ] && [ "$(psql -XAt -d $db -c "SELECT count(*) FROM helpdesk.session WHERE customer_id - $cbase = id - $sbase")" = 16 ] \
	|| { echo "sessions are not numbered contiguously; cannot map clients to sessions" >&2; exit 1; }

body="hello, I need help with my order #12345"
cat >"$work/plain.sql" <<EOF2
\set sid :sbase + :client_id % 16
\set cid :cbase + :client_id % 16
INSERT INTO bench_plain (tenant_id, session_id, customer_id, sender_kind, sender_id, type, body)
VALUES (1, :sid, :cid, 'customer', :cid, 'text', '$body');
EOF2
cat >"$work/api.sql" <<EOF2
\set sid :sbase + :client_id % 16
\set cid :cbase + :client_id % 16
SELECT helpdesk.post_message(1, :sid, 'customer', :cid, '$body');
EOF2
cat >"$work/notify.sql" <<EOF2
\set sid :sbase + :client_id % 16
\set cid :cbase + :client_id % 16
BEGIN;
INSERT INTO bench_notify (tenant_id, session_id, customer_id, sender_kind, sender_id, type, body)
VALUES (1, :sid, :cid, 'customer', :cid, 'text', '$body');
SELECT pg_notify('bench', 'x');
COMMIT;
EOF2

# A LISTEN connection that keeps reading notifications, like a bridge.
( echo 'LISTEN helpdesk; LISTEN bench;'; while sleep 0.2; do echo 'SELECT 1;'; done ) |
	psql -qX -d $db >"$work/listener.out" 2>&1 &
listener=$!

# until the sink got nothing for a second and nothing is being sent (the
# HTTP worker has delivered everything of the last run)
quiesce() {
	[ "$hooks" -gt 0 ] || return 0
	local last=-1 now i
	for ((i = 0; i < 600; i++)); do
		now=$(curl -fsS "http://127.0.0.1:$((port + 1))/_stats" | jq .requests)
		[ "$now" = "$last" ] && [ "$(psql -XAt -d $db -c "SELECT count(*) FROM helpdesk.webhook_delivery WHERE state = 'sending'")" = 0 ] && break
		last=$now
		sleep 1
	done
}

tps() { # variant clients
	local j=$(( $2 < 2 ? 1 : 2 )) f=$1 user=postgres
	[ "$1" = api_bound ] && { f=api; user=bench_api; }
	# every run starts with the publisher caught up (and the webhook worker
	# idle: quiesce) and a clean checkpoint. Nothing is truncated: a TRUNCATE of the
	# event log under the running publisher and HTTP worker waited for them
	# and reset the log they follow; each variant's table grows with its own
	# rows instead, message with post_message's, bench_plain with the
	# INSERTs'.
	for _ in $(seq 600); do
		[ "$(psql -XAt -d $db -c "SELECT helpdesk.publisher_lag() = 0 ")" = t ] && break
		sleep 0.1
	done
	quiesce
	psql -qX -d $db -c 'CHECKPOINT' >/dev/null
	pgbench -n -M prepared -U "$user" -c "$2" -j "$j" -T "$secs" -D sbase="$sbase" -D cbase="$cbase" \
		-f "$work/$f.sql" $db >"$work/pgbench.out" 2>&1 || { cat "$work/pgbench.out" >&2; return 1; }
	sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$work/pgbench.out"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

declare -A results
for r in $(seq 1 "$rounds"); do
	for c in $clients_list; do
		for v in $variants; do
			t=$(tps $v "$c")
			results[$v.$c]+="$t "
			echo "round $r, $c clients, $v: $t tps" >&2
		done
	done
done

sleep 1
deliveries=$(psql -XAt -d $db -c "SELECT count(*) FILTER (WHERE state = 'delivered') || ' delivered of ' || count(*) FROM helpdesk.webhook_delivery")
# append-to-publish latency of the last post_message run: event created_at
# (transaction start of the posting transaction) to its batch's published_at
latency=$(psql -XAt -d $db -c "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) || ' ms p50, ' ||
	round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2) || ' ms p99'
	FROM (SELECT extract(epoch FROM p.published_at - e.created_at) * 1000 AS ms
	      FROM helpdesk.event_positions p JOIN helpdesk.event e ON e.id = p.event_id) t")
published=$(psql -XAt -d $db -c "SELECT (SELECT count(*) FROM helpdesk.event_positions) || ' of ' || (SELECT count(*) FROM helpdesk.event) || ' events of the last run'")
warnings=$(grep -c 'WARNING' "$dir/postgres.log" || true)
notifications=$(grep -c 'Asynchronous notification "helpdesk"' "$work/listener.out" || true)
mkdir -p bench/results
out=bench/results/post_message-$(date -u +%Y%m%dT%H%M%SZ).md
{
	echo "post_message vs plain INSERT: median TPS of $rounds interleaved rounds of ${secs}s, pgbench -M prepared, synchronous_commit on"
	echo
	echo "| clients | plain INSERT | post_message | ratio | post_message, bound role | ratio | INSERT + pg_notify | ratio |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
	for c in $clients_list; do
		p=$(echo "${results[plain.$c]}" | tr ' ' '\n' | grep . | median)
		a=$(echo "${results[api.$c]}" | tr ' ' '\n' | grep . | median)
		b=$(echo "${results[api_bound.$c]:-0}" | tr ' ' '\n' | grep . | median)
		n=$(echo "${results[notify.$c]:-0}" | tr ' ' '\n' | grep . | median)
		printf '| %s | %.0f | %.0f | %.2fx | %.0f | %.2fx | %.0f | %.2fx |\n' "$c" "$p" "$a" "$(awk "BEGIN {print $a / $p}")" \
			"$b" "$(awk "BEGIN {print $b / $p}")" "$n" "$(awk "BEGIN {print $n / $p}")"
	done
	echo
	echo "append-to-publish latency at ${clients_list##* } clients (publisher_min_interval 2 ms): $latency"
	[ "$hooks" -gt 0 ] && echo "webhook endpoints subscribed to message.created: $hooks; deliveries of the last run (a second after it): $deliveries"
	echo "server log warnings during the run: $warnings"
	echo "published: $published; NOTIFY batches received by the listener on channel helpdesk: $notifications"
	echo "rounds (tps): $(for k in "${!results[@]}"; do echo "$k: ${results[$k]}"; done | sort | tr '\n' ';')"
	echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(psql -XAt -d $db -c 'SELECT version()' | cut -d, -f1)"
} | tee "$out"
