#!/usr/bin/env bash
# Benchmark: webhook delivery by the HTTP worker against a Node outbox poller
# (bench/peers/node_outbox.js: pg + keep-alive HTTP, SKIP LOCKED batches)
# doing the same job, in one run on one throwaway cluster, to one local sink
# (bench/sink_lean.js answering 200 at once), interleaved per round:
#   throughput  BENCH_EVENTS messages committed at once, one endpoint:
#               deliveries/s from the commit to the last delivery recorded
#   latency     pgbench posting at BENCH_RATE/s for BENCH_SECONDS: commit
#               (the event's timestamp) -> received by the sink, p50/p99
# Prints a Markdown table; writes it to bench/results/.
#   BENCH_EVENTS (10000) BENCH_ROUNDS (3) BENCH_RATE (1000) BENCH_SECONDS (15) HD_BENCH_PORT (55433)
source "$(dirname "$0")/../scripts/lib.sh"
cd "$HD_ROOT"
N=${BENCH_EVENTS:-10000}
rounds=${BENCH_ROUNDS:-3}
rate=${BENCH_RATE:-1000}
secs=${BENCH_SECONDS:-15}
port=${HD_BENCH_PORT:-55433}
sport=$((port + 1))

hd_install_packages
hd_node_modules
hd_build_install
dir=$(hd_cluster_dir "$HD_ROOT/.bench-cluster")
hd_cluster_start "$dir" "$port" "helpdesk.http_allowed_hosts = '127.0.0.1/32'"
sink= peer=
trap '[ -s "$work/sink.pid" ] && kill "$(cat "$work/sink.pid")" 2>/dev/null; [ -n "$peer" ] && kill $peer 2>/dev/null; hd_cluster_stop' EXIT
work=$dir/bench; mkdir -p "$work"; chmod 777 "$work"
rm -f "$work/sink.pid"
db=helpdesk_bench
psql -qX -d postgres -c "CREATE DATABASE $db" >/dev/null
psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
CREATE EXTENSION pg_helpdesk;
SELECT helpdesk.upsert_tenant('bench', 'Bench');
SELECT helpdesk.upsert_queue(1, 'main', 'Main', is_default => true);
SELECT helpdesk.upsert_customer(1, 'c' || g) FROM generate_series(1, 16) g;
SELECT helpdesk.start_session(1, id) FROM helpdesk.customer ORDER BY id;
SELECT helpdesk.upsert_webhook(1, 'bench', 'http://127.0.0.1:$sport/ok', '{message.created}', max_in_flight => 64);
-- the peer's outbox and its attempt log
CREATE TABLE bench_outbox (id bigserial PRIMARY KEY, msg_id text NOT NULL, body text NOT NULL,
	state text NOT NULL DEFAULT 'pending', attempts int NOT NULL DEFAULT 0,
	next_at timestamptz DEFAULT now(), delivered_at timestamptz);
CREATE INDEX bench_outbox_due ON bench_outbox (next_at, id) WHERE state = 'pending';
CREATE TABLE bench_outbox_attempt (outbox_id bigint, at timestamptz DEFAULT now(), status int,
	latency_us bigint, error text, response text);
SQL
secret=$(psql -XAt -d $db -c "SELECT helpdesk.webhook_secret(1, 1)")
read -r sbase cbase < <(psql -XAt -d $db -c "SELECT min(id), min(customer_id) FROM helpdesk.session" | tr '|' ' ')
body="hello, I need help with my order #12345"

sink_up() { # fresh log per measurement (called in $(...) subshells: the pid goes through a file)
	[ -s "$work/sink.pid" ] && kill "$(cat "$work/sink.pid")" 2>/dev/null
	while curl -fsS "http://127.0.0.1:$sport/_stats" >/dev/null 2>&1; do sleep 0.05; done
	: >"$work/sink.jsonl"
	node bench/sink_lean.js $sport "$work/sink.jsonl" >/dev/null 2>&1 &
	echo $! >"$work/sink.pid"
	until curl -fsS "http://127.0.0.1:$sport/_stats" >/dev/null 2>&1; do sleep 0.05; done
}
peer_up() { PGHOST=$PGHOST PGPORT=$PGPORT PGDATABASE=$db node bench/peers/node_outbox.js "http://127.0.0.1:$sport/ok" "$secret" 64 5 & peer=$!; sleep 0.5; }
peer_down() { [ -n "$peer" ] && kill $peer 2>/dev/null; wait $peer 2>/dev/null || true; peer=; }
ours() { psql -qXAt -d $db -c "SELECT helpdesk.upsert_webhook(1, 'bench', 'http://127.0.0.1:$sport/ok', '{message.created}', enabled => $1)" >/dev/null; }
reset_tables() { # endpoint disabled first: what the worker still holds (queued, in flight) is dropped, not sent into the next measurement
	ours false; sleep 0.5
	psql -qX -d $db -c 'TRUNCATE helpdesk.message, helpdesk.event, helpdesk.event_batch, helpdesk.webhook_delivery CASCADE' \
		-c 'TRUNCATE bench_outbox, bench_outbox_attempt' -c 'CHECKPOINT' >/dev/null
}
now_s() { psql -XAt -d $db -c "SELECT extract(epoch FROM clock_timestamp())"; }
wait_sql() { local i; for ((i = 0; i < 1200; i++)); do [ "$(psql -XAt -d $db -c "$1")" = t ] && return 0; sleep 0.1; done; echo "timed out: $1" >&2; return 1; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
lat() { # p50 p99 of receive - event timestamp, ms (sink_lean.js lines: at webhook-id timestamp)
	jq -R 'split(" ") | (.[0] | tonumber) - ((.[2] | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601) * 1000 + (((.[2] | capture("\\.(?<f>[0-9]+)Z$").f) // "0" | (. + "000000")[0:6] | tonumber) / 1000))' "$work/sink.jsonl" |
		sort -n | awk '{a[NR]=$1} END {printf "%.1f %.1f %d\n", a[int(NR*0.5)+1], a[int(NR*0.99)+1], NR}'
}

# throughput: ours
tput_ours() {
	reset_tables; ours true; sink_up
	psql -qXAt -d $db -c "SELECT count(helpdesk.post_message(1, $sbase + g % 16, 'customer', $cbase + g % 16, '$body')) FROM generate_series(1, $N) g" >/dev/null
	local t0; t0=$(now_s)
	wait_sql "SELECT count(*) = $N FROM helpdesk.webhook_delivery WHERE state = 'delivered'" || return 1
	psql -XAt -d $db -c "SELECT round($N / extract(epoch FROM max(at) - to_timestamp($t0)))::int FROM helpdesk.webhook_attempt"
}
# throughput: the peer, on the same payloads (copied from our last run)
tput_peer() {
	psql -qX -d $db -c "DROP TABLE IF EXISTS bench_payload" -c "CREATE TABLE bench_payload AS SELECT msg_id, body FROM helpdesk.webhook_delivery ORDER BY id" >/dev/null
	reset_tables; ours false; sink_up; peer_up
	psql -qX -d $db -c "INSERT INTO bench_outbox (msg_id, body) SELECT msg_id, body FROM bench_payload" >/dev/null
	local t0; t0=$(now_s)
	wait_sql "SELECT count(*) = $N FROM bench_outbox WHERE state = 'delivered'" || return 1
	psql -XAt -d $db -c "SELECT round($N / extract(epoch FROM max(delivered_at) - to_timestamp($t0)))::int FROM bench_outbox"
	peer_down
}
cat >"$work/ours.sql" <<EOF2
\set sid $sbase + random(0, 15)
\set cid :sid - $sbase + $cbase
SELECT helpdesk.post_message(1, :sid, 'customer', :cid, '$body');
EOF2
# (no colon inside a literal: pgbench would take it for a variable)
# the peer's producer writes its outbox row in the same transaction (the outbox pattern),
# a payload of the same shape and size as ours
cat >"$work/peer.sql" <<EOF2
\set sid $sbase + random(0, 15)
\set cid :sid - $sbase + $cbase
BEGIN;
INSERT INTO bench_outbox (msg_id, body)
SELECT 'msg_' || m, (SELECT body FROM bench_payload LIMIT 1)::jsonb || jsonb_build_object('timestamp',
	(to_json(now() AT TIME ZONE 'UTC') #>> '{}') || 'Z')
FROM helpdesk.post_message(1, (:sid)::bigint, 'customer', (:cid)::bigint, '$body') m;
COMMIT;
EOF2
latency() { # ours|peer
	reset_tables; sink_up
	if [ "$1" = ours ]; then ours true; else ours false; peer_up; fi
	pgbench -n -M prepared -c 4 -j 2 -R "$rate" -T "$secs" -f "$work/$1.sql" $db >"$work/pgbench.out" 2>&1 || { cat "$work/pgbench.out" >&2; return 1; }
	sleep 2
	[ "$1" = peer ] && peer_down
	lat
}

declare -A res
for r in $(seq 1 "$rounds"); do
	t=$(tput_ours); res[tput.ours]+="$t "; echo "round $r: ours $t deliveries/s" >&2
	t=$(tput_peer); res[tput.peer]+="$t "; echo "round $r: peer $t deliveries/s" >&2
	read -r p50 p99 n < <(latency ours); res[p50.ours]+="$p50 "; res[p99.ours]+="$p99 "; echo "round $r: ours p50 $p50 p99 $p99 ms ($n received)" >&2
	read -r p50 p99 n < <(latency peer); res[p50.peer]+="$p50 "; res[p99.peer]+="$p99 "; echo "round $r: peer p50 $p50 p99 $p99 ms ($n received)" >&2
done
m() { echo "${res[$1]}" | tr ' ' '\n' | grep . | median; }
spread() { echo "${res[$1]}" | tr ' ' '\n' | grep . | sort -n | awk 'NR==1 {lo=$1} {hi=$1} END {print lo "–" hi}'; }
mkdir -p bench/results
out=bench/results/webhooks-$(date -u +%Y%m%dT%H%M%SZ).md
{
	echo "webhooks: HTTP worker vs Node outbox poller, medians of $rounds interleaved rounds (range in brackets), one endpoint, local sink"
	echo
	echo "| measure | HTTP worker | Node outbox poller | ratio |"
	echo "|---|---:|---:|---:|"
	printf '| deliveries/s (%s committed at once) | %s (%s) | %s (%s) | %.2fx |\n' "$N" "$(m tput.ours)" "$(spread tput.ours)" "$(m tput.peer)" "$(spread tput.peer)" "$(awk "BEGIN {print $(m tput.ours) / $(m tput.peer)}")"
	printf '| commit -> delivered p50 at %s/s, ms | %s (%s) | %s (%s) | %.2fx |\n' "$rate" "$(m p50.ours)" "$(spread p50.ours)" "$(m p50.peer)" "$(spread p50.peer)" "$(awk "BEGIN {print $(m p50.peer) / $(m p50.ours)}")"
	printf '| commit -> delivered p99 at %s/s, ms | %s (%s) | %s (%s) | %.2fx |\n' "$rate" "$(m p99.ours)" "$(spread p99.ours)" "$(m p99.peer)" "$(spread p99.peer)" "$(awk "BEGIN {print $(m p99.peer) / $(m p99.ours)}")"
	echo
	echo "latency ratios are peer / ours (higher: ours faster). machine: $(nproc) cores, load average at the end $(cut -d' ' -f1-3 /proc/loadavg), $(psql -XAt -d $db -c 'SELECT version()' | cut -d, -f1)"
} | tee "$out"
