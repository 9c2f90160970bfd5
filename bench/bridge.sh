#!/usr/bin/env bash
# Benchmark: helpdesk-bridge ("ours", C + libwebsockets) against a Node relay
# written with ws + pg (bench/peers/node_relay.js, "peer"), one after the other
# in one run, on one throwaway cluster (port 55436), the same clients and the
# same SQL-generated events. Each system runs alone: start it, then
#
#  1. idle + latency: LAT_CONNS customers connect (each with an open session);
#     server RSS before and after -> bytes per connection; then pgbench posts
#     LAT_RATE messages/s (helpdesk.post_message) into random sessions of those
#     customers for LAT_SECONDS; each customer's client records, for every event,
#     its receive time; minus the commit of the event's transaction
#     (track_commit_timestamp), minus its created_at ("at": the transaction's
#     start) and minus its batch's published_at (helpdesk.event_batch) ->
#     p50/p99/max.
#  2. idle at scale: IDLE_CONNS customers in all (the LAT_CONNS stay) -> RSS per
#     connection again; then everyone disconnects.
#  3. fan-out: FAN_CONNS supervisor sockets (each sees every event of the
#     tenant); one transaction posts FAN_EVENTS messages; time from its commit
#     to the last socket having every event -> deliveries/s and frames/s, plus
#     the server's CPU time for them.
# The server's peak RSS (VmHWM, reset through /proc/PID/clear_refs first) is
# read over the latency run and over step 3: the memory the throughput costs.
#
# Clients: C processes (bench/bridge/wsload.c, one epoll loop each), at most
# PER_PROC sockets each, every process from its own 127.0.N.1-250 source
# addresses.
# Prints a Markdown table and writes it with the raw numbers to bench/results/.
#
#   BENCH_SYSTEMS ("ours poll peer") order of the runs; poll = helpdesk-bridge --event-loop poll
#   LAT_CONNS (10000) LAT_RATE (1000) LAT_SECONDS (20)
#   IDLE_CONNS (50000)            total customers connected in step 2 (0: skip); needs an
#                                 open files limit above it (the script raises it to 200000
#                                 when it may: root with CAP_SYS_RESOURCE)
#   FAN_CONNS (1000) FAN_EVENTS (20000)
#   PER_PROC (5000)               sockets per load-generator process
#   BRIDGE_WRAPPER ("")           command line to run the bridge under (e.g. valgrind --tool=massif)
#   BRIDGE_ARGS ("")              more helpdesk-bridge flags (ours and poll)
#   BENCH_PG_CONF ("")            one more postgresql.conf line for the cluster
#   BENCH_NO_BUILD (0)            1: use the installed pg_helpdesk and bridge/helpdesk-bridge
#   BENCH_TRACE (1)               ours and poll run with --trace-events: the latency run's time per
#                                 hop (commit -> publisher pass -> its commit -> NOTIFY at the
#                                 bridge -> read sent -> rows in -> socket write -> client), and the
#                                 loop's pass lengths from /metrics
#   HD_BENCH_PORT (55436) OURS_PORT (55437) PEER_PORT (55438)
source "$(dirname "$0")/../scripts/lib.sh"
cd "$HD_ROOT"
systems=${BENCH_SYSTEMS:-"ours poll peer"}
lat_conns=${LAT_CONNS:-10000}
lat_rate=${LAT_RATE:-1000}
lat_secs=${LAT_SECONDS:-20}
idle_conns=${IDLE_CONNS:-50000}
fan_conns=${FAN_CONNS:-1000}
fan_events=${FAN_EVENTS:-20000}
per_proc=${PER_PROC:-5000}
port=${HD_BENCH_PORT:-55436}
ours_port=${OURS_PORT:-55437}
peer_port=${PEER_PORT:-55438}
db=helpdesk_bridge
customers=$((idle_conns > lat_conns ? idle_conns : lat_conns))

for s in $systems; do
	case $s in ours|poll|peer) ;; *) echo "BENCH_SYSTEMS: unknown system '$s'" >&2; exit 1 ;; esac
done
# 50,000 sockets need more than 50,000 descriptors in the server process
nofile=200000
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt $nofile ]; then
	ulimit -Hn $nofile 2>/dev/null || { hd_log "open files hard limit is $hard and cannot be raised (no CAP_SYS_RESOURCE): using $hard"; nofile=$hard; }
fi
ulimit -n $nofile
if [ $((idle_conns + 200)) -gt "$nofile" ]; then
	echo "IDLE_CONNS=$idle_conns needs more than the $nofile open files this process may have; use IDLE_CONNS=$((nofile - 1000)) or less" >&2
	exit 1
fi

hd_install_packages
hd_node_modules
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then hd_build_install; fi
[ -x bridge/helpdesk-bridge ] || make -s -C bridge
dir=$(hd_cluster_dir "$HD_ROOT/.bench-bridge-cluster")
# commit timestamps: latency is measured from each event's commit
hd_cluster_start "$dir" "$port" "track_commit_timestamp = on" ${BENCH_PG_CONF:+"$BENCH_PG_CONF"}
spid=
lgpids=()
stop_clients() {
	local p
	for p in "${lgpids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${lgpids[@]}"; do wait "$p" 2>/dev/null || true; done
	lgpids=()
}
stop_server() {
	if [ -n "$spid" ]; then kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; spid=; fi
}
trap 'stop_clients; stop_server; hd_cluster_stop' EXIT
work=$dir/bench; rm -rf "$work"; mkdir -p "$work"; chmod 777 "$work"
cc -O2 -Wall -Wextra -Werror -o "$work/wsload" bench/bridge/wsload.c

psql -qX -d postgres -c "CREATE DATABASE $db" >/dev/null
export PGDATABASE=$db
q() { PGOPTIONS='-c client_min_messages=warning' psql -XAtq -v ON_ERROR_STOP=1 "$@"; }
q -c 'CREATE EXTENSION pg_helpdesk'
hd_log "setting up: $customers customers, $lat_conns open sessions, tokens"
tenant=$(q -c "SELECT helpdesk.upsert_tenant('bench', 'Bench', heartbeat_interval => '1 hour')")
q -c "SELECT helpdesk.upsert_queue($tenant, 'main', 'Main', is_default => true)" >/dev/null
agent=$(q -c "SELECT helpdesk.upsert_agent($tenant, 'sup', 'Supervisor')")
q -c "SELECT count(helpdesk.upsert_customer($tenant, 'c' || g)) FROM generate_series(1, $customers) g" >/dev/null
q -c "SELECT count(helpdesk.start_session($tenant, id)) FROM (SELECT id FROM helpdesk.customer
      WHERE tenant_id = $tenant ORDER BY id LIMIT $lat_conns) c" >/dev/null
read -r cbase sbase < <(q -c "SELECT min(customer_id), min(id) FROM helpdesk.session WHERE tenant_id = $tenant" | tr '|' ' ')
[ "$(q -c "SELECT count(*) FROM helpdesk.session WHERE tenant_id = $tenant AND customer_id - $cbase = id - $sbase
          AND customer_id - $cbase BETWEEN 0 AND $lat_conns - 1")" = "$lat_conns" ] &&
[ "$(q -c "SELECT count(*) FROM helpdesk.customer WHERE tenant_id = $tenant AND id - $cbase BETWEEN 0 AND $customers - 1")" = "$customers" ] ||
	{ echo "customers or sessions are not numbered contiguously" >&2; exit 1; }
q -c "SELECT helpdesk.issue_token($tenant, 'customer', id, '12 hours') FROM helpdesk.customer
      WHERE tenant_id = $tenant ORDER BY id" >"$work/customers.tok"
q -c "SELECT helpdesk.issue_token($tenant, 'supervisor', $agent, '12 hours') FROM generate_series(1, $fan_conns)" >"$work/supervisors.tok"
cat >"$work/post.sql" <<'SQL'
\set k random(0, :n - 1)
\set sid :sbase + :k
\set cid :cbase + :k
SELECT helpdesk.post_message(:tenant, :sid, 'customer', :cid, 'bench message');
SQL
# the latency table: one row per (event, receiving client)
q -c "CREATE TABLE bench_lat (sys text, pos bigint, at_us bigint, recv_us bigint)"
q -c "CREATE TABLE bench_floor (sys text, hwm bigint, recv_us bigint)"
# the bridge's own timings per event (--trace-events, bridge/trace.c)
q -c "CREATE TABLE bench_trace (sys text, pos bigint, created_us bigint, notify_us bigint, sent_us bigint,
      read_us bigint, w1_us bigint, w2_us bigint, writes int)"
q -c 'VACUUM ANALYZE' >/dev/null

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# peak RSS since the last peak_reset (VmHWM; "5" to clear_refs resets it)
peak_reset() { echo 5 >"/proc/$1/clear_refs"; }
peak_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
now_us() { date +%s%6N; }

start_server() { # sys
	local url
	if [ "$1" != peer ]; then
		# "poll": the same bridge on lws's own poll() loop (the baseline of the epoll loop)
		# shellcheck disable=SC2086
		${BRIDGE_WRAPPER:-} bridge/helpdesk-bridge --port "$ours_port" --db "dbname=$db" \
			--event-loop "$([ "$1" = poll ] && echo poll || echo epoll)" \
			--max-sockets-per-subject 0 ${BRIDGE_ARGS:-} \
			$([ "${BENCH_TRACE:-1}" = 1 ] && echo "--trace-events $work/trace-$1") >"$work/$1.log" 2>&1 &
		url=http://127.0.0.1:$ours_port/healthz
	else
		node bench/peers/node_relay.js "$peer_port" >"$work/peer.log" 2>&1 &
		url=http://127.0.0.1:$peer_port/healthz
	fi
	spid=$!
	for _ in $(seq 1 300); do curl -sf "$url" >/dev/null 2>&1 && break; sleep 0.1; done
	curl -sf "$url" >/dev/null || { echo "$1 did not come up:" >&2; cat "$work/$1.log" >&2; exit 1; }
}
server_url() { if [ "$1" != peer ]; then echo "ws://127.0.0.1:$ours_port/ws"; else echo "ws://127.0.0.1:$peer_port/ws"; fi; }

lg_net=0   # source address block counter: each process gets 127.0.N.1-250
lg_outs=()
# start_clients sys mode tokfile first count [expect]: sets lg_outs to this batch's outputs
start_clients() {
	local sys=$1 mode=$2 tok=$3 first=$4 count=$5 expect=${6:-0} off n out
	lg_outs=()
	for ((off = 0; off < count; off += per_proc)); do
		n=$((count - off < per_proc ? count - off : per_proc))
		lg_net=$((lg_net % 250 + 1))
		out=$work/lg-$sys-$mode-$((first + off))
		rm -f "$out".*
		"$work/wsload" "$(server_url "$sys")" "$tok" $((first + off)) "$n" "127.0.$lg_net" \
			"$mode" "$out" "$expect" 2>>"$work/loadgen.err" &
		lgpids+=($!)
		lg_outs+=("$out")
	done
}
# wait until every output in lg_outs has SUFFIX, at most SECONDS
wait_files() { # suffix seconds
	local end=$((SECONDS + $2)) o missing
	while :; do
		missing=0
		for o in "${lg_outs[@]}"; do [ -f "$o.$1" ] || missing=1; done
		[ $missing = 0 ] && return 0
		[ $SECONDS -lt $end ] || return 1
		kill -0 "$spid" 2>/dev/null || { echo "the server died" >&2; return 1; }
		sleep 0.2
	done
}
# sum of a field over lg_outs' SUFFIX files (JSON, one object)
sum_field() { # suffix field
	local o
	for o in "${lg_outs[@]}"; do cat "$o.$1"; done | node -e '
		let s = 0; for (const l of require("fs").readFileSync(0, "utf8").split("\n")) if (l) s += JSON.parse(l)[process.argv[1]] || 0;
		console.log(s)' "$2"
}
max_field() { # suffix field
	local o
	for o in "${lg_outs[@]}"; do cat "$o.$1"; done | node -e '
		let s = 0; for (const l of require("fs").readFileSync(0, "utf8").split("\n")) if (l) s = Math.max(s, JSON.parse(l)[process.argv[1]] || 0);
		console.log(s)' "$2"
}
# connect_batch sys mode tokfile first count [expect]: sets cb_conn cb_fail cb_secs
connect_batch() {
	local t0=$SECONDS
	start_clients "$@"
	wait_files ready 600 || { echo "$1: clients did not all connect within 600 s" >&2; exit 1; }
	cb_conn=$(sum_field ready connected) cb_fail=$(sum_field ready failed) cb_secs=$((SECONDS - t0))
}
signal_clients() { local p; for p in "${lgpids[@]}"; do kill "-$1" "$p" 2>/dev/null || true; done; }
post() { # pgbench options...
	pgbench -n -M prepared -c 4 -j 2 "$@" -D tenant="$tenant" -D sbase="$sbase" -D cbase="$cbase" \
		-D n="$lat_conns" -f "$work/post.sql" $db >"$work/pgbench.out" 2>&1 ||
		{ cat "$work/pgbench.out" >&2; exit 1; }
}

declare -A R
run() { # sys
	local sys=$1 r0 r1 r2 r3 c0 c1 fpid t0 t1 last line lg_lat=() files o pb_secs
	hd_log "$sys: starting"
	start_server "$sys"
	sleep 2
	r0=$(rss_kb "$spid")
	R[$sys.rss0]=$r0

	# 1. LAT_CONNS customers with open sessions, then latency at LAT_RATE/s
	connect_batch "$sys" latency "$work/customers.tok" 0 "$lat_conns"
	R[$sys.lat_conn]=$cb_conn R[$sys.lat_fail]=$cb_fail R[$sys.lat_conn_s]=$cb_secs
	lg_lat=("${lg_outs[@]}")
	sleep 5
	r1=$(rss_kb "$spid")
	R[$sys.rss1]=$r1
	hd_log "$sys: ${R[$sys.lat_conn]} connected (${R[$sys.lat_fail]} failed) in ${R[$sys.lat_conn_s]} s; RSS $r0 -> $r1 kB"
	post -R "$lat_rate" -T 3      # warm-up, not measured
	sleep 1
	signal_clients USR2
	sleep 1
	rm -f "$work/floor-$sys" "$work/floor-$sys.ready"
	node bench/bridge/listen_floor.js "$work/floor-$sys" &
	fpid=$!
	for _ in $(seq 1 50); do [ -f "$work/floor-$sys.ready" ] && break; sleep 0.1; done
	c0=$(cpu_ticks "$spid")
	peak_reset "$spid"
	post -R "$lat_rate" -T "$lat_secs"
	R[$sys.lat_peak]=$(peak_kb "$spid")
	cp "$work/pgbench.out" "$work/pgbench.lat"
	R[$sys.lat_tps]=$(awk '/^tps/ {printf "%.0f", $3}' "$work/pgbench.out")
	c1=$(cpu_ticks "$spid")
	R[$sys.lat_cpu]=$(awk -v a="$c0" -v b="$c1" -v s="$lat_secs" 'BEGIN { printf "%.0f", (b - a) / s }')
	R[$sys.lat_ticks]=$((c1 - c0))
	if [ "$sys" != peer ]; then
		# the loop's passes since start (bridge/trace.c): load-independent evidence of stalls
		curl -sf "http://127.0.0.1:$ours_port/metrics" >"$work/metrics-$sys" || true
		R[$sys.slow_passes]=$(awk '$1 == "helpdesk_bridge_loop_slow_passes_total" {print $2}' "$work/metrics-$sys")
		R[$sys.slow_sections]=$(awk '$1 == "helpdesk_bridge_loop_slow_sections_total" {print $2}' "$work/metrics-$sys")
		R[$sys.pass_max]=$(awk '$1 == "helpdesk_bridge_loop_pass_max_seconds" {printf "%.2f", $2 * 1000}' "$work/metrics-$sys")
		R[$sys.pass_us]=$(awk '$1 == "helpdesk_bridge_loop_passes_total" {n = $2} $1 == "helpdesk_bridge_loop_busy_seconds_total" {b = $2 * 1e6}
			END { if (n > 0) printf "%.1f", b / n }' "$work/metrics-$sys")
	fi
	sleep 2
	kill "$fpid"; wait "$fpid" 2>/dev/null || true
	awk -v s="$sys" '{print s "\t" $1 "\t" $2}' "$work/floor-$sys" | q -c "\\copy bench_floor FROM STDIN"
	read -r R[$sys.floor50] R[$sys.floor99] <<<"$(q -F ' ' -c "
		SELECT round((percentile_cont(0.5) WITHIN GROUP (ORDER BY d))::numeric / 1000, 2),
		       round((percentile_cont(0.99) WITHIN GROUP (ORDER BY d))::numeric / 1000, 2)
		FROM (SELECT f.recv_us - (extract(epoch FROM b.published_at) * 1e6)::int8 AS d
		      FROM bench_floor f JOIN helpdesk.event_batch b ON b.last_pos = f.hwm WHERE f.sys = '$sys') x")"
	rm -f "${lg_lat[@]/%/.lat}"
	lg_outs=("${lg_lat[@]}")
	signal_clients USR2
	wait_files lat 30 || { echo "$sys: no latency records" >&2; exit 1; }
	sleep 0.5
	files=(); for o in "${lg_lat[@]}"; do files+=("$o.lat"); done
	cat "${files[@]}" | awk -v s="$sys" '{print s "\t" $1 "\t" $2 "\t" $3}' |
		q -c "\\copy bench_lat FROM STDIN"
	line=$(q -F ' ' -c "
		WITH l AS (SELECT l.pos, l.recv_us - l.at_us AS e2e,
		                  l.recv_us - (extract(epoch FROM b.published_at) * 1e6)::int8 AS hop,
		                  l.recv_us - (extract(epoch FROM pg_xact_commit_timestamp(e.xmin)) * 1e6)::int8 AS com
		           FROM bench_lat l JOIN helpdesk.event_batch b ON l.pos BETWEEN b.first_pos AND b.last_pos
		           JOIN helpdesk.event_positions p ON p.pos = l.pos
		           JOIN helpdesk.event e ON e.id = p.event_id
		           WHERE l.sys = '$sys')
		SELECT count(*), count(DISTINCT pos),
		       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY e2e))::numeric / 1000, 2),
		       round((percentile_cont(0.99) WITHIN GROUP (ORDER BY e2e))::numeric / 1000, 2),
		       round(max(e2e)::numeric / 1000, 2),
		       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY hop))::numeric / 1000, 2),
		       round((percentile_cont(0.99) WITHIN GROUP (ORDER BY hop))::numeric / 1000, 2),
		       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY com))::numeric / 1000, 2),
		       round((percentile_cont(0.99) WITHIN GROUP (ORDER BY com))::numeric / 1000, 2),
		       round(max(com)::numeric / 1000, 2)
		FROM l")
	read -r R[$sys.lat_n] R[$sys.lat_events] R[$sys.p50] R[$sys.p99] R[$sys.pmax] R[$sys.hop50] R[$sys.hop99] \
		R[$sys.com50] R[$sys.com99] R[$sys.commax] <<<"$line"
	R[$sys.lat_sent]=$(awk '/actually processed/ {print $NF}' "$work/pgbench.lat")
	# server CPU per message posted in the measured run (less dependent on the machine's load than latency)
	R[$sys.cpu_msg]=$(awk -v t="${R[$sys.lat_ticks]}" -v n="${R[$sys.lat_sent]}" 'BEGIN { if (n > 0) printf "%.1f", t * 10000 / n; else print "-" }')
	hd_log "$sys: latency: $line (received/distinct events, at->client p50 p99 max, published->client p50 p99, commit->client p50 p99 max ms); server CPU ${R[$sys.lat_cpu]}%"

	# 2. idle at scale
	if [ "$idle_conns" -gt "$lat_conns" ]; then
		sleep 2
		R[$sys.rss15]=$(rss_kb "$spid")
		connect_batch "$sys" idle "$work/customers.tok" "$lat_conns" $((idle_conns - lat_conns))
		R[$sys.idle_added]=$cb_conn
		R[$sys.idle_conn]=$((cb_conn + ${R[$sys.lat_conn]})) R[$sys.idle_fail]=$cb_fail R[$sys.idle_conn_s]=$cb_secs
		sleep 5
		r2=$(rss_kb "$spid")
		R[$sys.rss2]=$r2
		hd_log "$sys: ${R[$sys.idle_conn]} connected in all (${R[$sys.idle_fail]} failed; this batch ${R[$sys.idle_conn_s]} s); RSS $r2 kB"
	fi
	stop_clients
	sleep 3
	R[$sys.rss3]=$(rss_kb "$spid")

	# 3. fan-out
	peak_reset "$spid"
	connect_batch "$sys" fanout "$work/supervisors.tok" 0 "$fan_conns" "$fan_events"
	R[$sys.fan_conn]=$cb_conn R[$sys.fan_fail]=$cb_fail
	sleep 2
	c0=$(cpu_ticks "$spid")
	# all FAN_EVENTS in one transaction: from its commit on, only the relay
	# works (posting them one by one measured pgbench, ~2,000 events/s)
	t0=$(now_us)
	q -c "SELECT count(helpdesk.post_message($tenant, $sbase + k, 'customer', $cbase + k, 'bench message'))
	      FROM (SELECT (random() * ($lat_conns - 1))::int AS k FROM generate_series(1, $fan_events)) g" >/dev/null
	t1=$(now_us)
	pb_secs=$((t1 - t0))
	# from the posting transaction's commit (track_commit_timestamp)
	t0=$(q -c "SELECT (extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1e6)::int8
	           FROM helpdesk.message ORDER BY id DESC LIMIT 1")
	wait_files done 300 || hd_log "$sys: fan-out: not every socket got every event within 300 s"
	c1=$(cpu_ticks "$spid")
	R[$sys.fan_peak]=$(peak_kb "$spid")
	last=$(max_field done last_us)
	signal_clients TERM
	wait_files stats 30 || true
	R[$sys.fan_frames]=$(sum_field stats frames)
	R[$sys.fan_events]=$(sum_field stats events)
	R[$sys.fan_closed]=$(sum_field stats closed)
	stop_clients
	R[$sys.fan_secs]=$(awk -v a="$t0" -v b="$last" 'BEGIN { printf "%.3f", (b - a) / 1e6 }')
	R[$sys.gen_rate]=$(awk -v n="$fan_events" -v u="$pb_secs" 'BEGIN { printf "%.0f", n / (u / 1e6) }')
	R[$sys.fan_rate]=$(awk -v n="${R[$sys.fan_events]}" -v s="${R[$sys.fan_secs]}" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
	R[$sys.frame_rate]=$(awk -v n="${R[$sys.fan_frames]}" -v s="${R[$sys.fan_secs]}" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
	R[$sys.fan_cpu]=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", (b - a) / 100 }')
	hd_log "$sys: fan-out: ${R[$sys.fan_events]} deliveries in ${R[$sys.fan_frames]} frames over ${R[$sys.fan_secs]} s (posting took $((pb_secs / 1000)) ms); server CPU ${R[$sys.fan_cpu]} s"
	stop_server
	if [ -s "$work/trace-$sys" ]; then
		# the latency run's events, hop by hop (bridge/trace.c; the database side from commit timestamps)
		awk -v s="$sys" '{print s "\t" $1 "\t" $2 "\t" $3 "\t" $4 "\t" $5 "\t" $6 "\t" $7 "\t" $8}' "$work/trace-$sys" |
			q -c "\\copy bench_trace FROM STDIN"
		while read -r k v50 v99 vmax; do
			R[$sys.$k.50]=$v50 R[$sys.$k.99]=$v99 R[$sys.$k.max]=$vmax
		done < <(q -F ' ' -c "
			WITH h AS (
			  SELECT (extract(epoch FROM b.published_at) * 1e6)::int8 - (extract(epoch FROM pg_xact_commit_timestamp(e.xmin)) * 1e6)::int8 AS h1,
			         (extract(epoch FROM pg_xact_commit_timestamp(b.xmin)) * 1e6)::int8 - (extract(epoch FROM b.published_at) * 1e6)::int8 AS h2,
			         CASE WHEN t.notify_us > 0 THEN t.notify_us - (extract(epoch FROM pg_xact_commit_timestamp(b.xmin)) * 1e6)::int8 END AS h3,
			         CASE WHEN t.notify_us > 0 THEN t.sent_us - t.notify_us END AS h4,
			         t.read_us - t.sent_us AS h5, t.w1_us - t.read_us AS h6, l.recv_us - t.w1_us AS h7,
			         l.recv_us - (extract(epoch FROM pg_xact_commit_timestamp(e.xmin)) * 1e6)::int8 AS h0
			  FROM bench_lat l JOIN bench_trace t ON t.sys = l.sys AND t.pos = l.pos AND t.writes > 0
			  JOIN LATERAL (SELECT b.first_pos, b.last_pos, b.published_at, b.xmin FROM helpdesk.event_batch b WHERE b.first_pos <= l.pos
			                ORDER BY b.first_pos DESC LIMIT 1) b ON b.last_pos >= l.pos
			  JOIN helpdesk.event_positions p ON p.pos = l.pos
			  JOIN helpdesk.event e ON e.id = p.event_id
			  WHERE l.sys = '$sys'),
			u AS (SELECT k, v FROM h, LATERAL (VALUES ('h0', h0), ('h1', h1), ('h2', h2), ('h3', h3), ('h4', h4),
			                                         ('h5', h5), ('h6', h6), ('h7', h7)) x(k, v) WHERE v IS NOT NULL)
			SELECT k, round((percentile_cont(0.5) WITHIN GROUP (ORDER BY v))::numeric / 1000, 2),
			       round((percentile_cont(0.99) WITHIN GROUP (ORDER BY v))::numeric / 1000, 2),
			       round(max(v)::numeric / 1000, 2)
			FROM u GROUP BY k ORDER BY k")
		hd_log "$sys: hops (p50 p99 max ms): commit->pass ${R[$sys.h1.50]:-} ${R[$sys.h1.99]:-} ${R[$sys.h1.max]:-};" \
			"pass ${R[$sys.h2.50]:-} ${R[$sys.h2.99]:-} ${R[$sys.h2.max]:-}; pass commit->NOTIFY ${R[$sys.h3.50]:-} ${R[$sys.h3.99]:-} ${R[$sys.h3.max]:-};" \
			"NOTIFY->read ${R[$sys.h4.50]:-} ${R[$sys.h4.99]:-} ${R[$sys.h4.max]:-}; read ${R[$sys.h5.50]:-} ${R[$sys.h5.99]:-} ${R[$sys.h5.max]:-};" \
			"rows->write ${R[$sys.h6.50]:-} ${R[$sys.h6.99]:-} ${R[$sys.h6.max]:-}; write->client ${R[$sys.h7.50]:-} ${R[$sys.h7.99]:-} ${R[$sys.h7.max]:-}"
	fi
	sleep 2
}

for s in $systems; do run "$s"; done

kb_per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { if (n > 0 && a != "" && b != "") printf "%.0f", (b - a) * 1024 / n; else print "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && a != "-" && b != "-" && b + 0 != 0) printf "%.2fx", a / b; else print "-" }'; }
for s in $systems; do
	R[$s.b10k]=$(kb_per "${R[$s.rss0]}" "${R[$s.rss1]}" "${R[$s.lat_conn]}")
	R[$s.b50k]=$(kb_per "${R[$s.rss0]}" "${R[$s.rss2]:-}" "${R[$s.idle_conn]:-0}")
	# the sockets added in step 2 alone: the ring filled up in between
	R[$s.badded]=$(kb_per "${R[$s.rss15]:-}" "${R[$s.rss2]:-}" "${R[$s.idle_added]:-0}")
	R[$s.per_cpu]=$(awk -v c="${R[$s.fan_cpu]}" -v n="${R[$s.fan_events]}" 'BEGIN { if (n > 0) printf "%.2f", c * 1e6 / n; else print "-" }')
done
row() { # label key
	local o=${R[ours.$2]:-} l=${R[poll.$2]:-} p=${R[peer.$2]:-}
	printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "${o:--}" "${l:--}" "${p:--}" \
		"$(ratio "$o" "$p")" "$(ratio "$o" "$l")"
}

mkdir -p bench/results
out=bench/results/bridge-$(date -u +%Y%m%dT%H%M%SZ).md
{
	echo "Bridge: helpdesk-bridge (ours: epoll loop; poll: lws's own poll() loop) vs Node ws+pg relay (peer)," \
		"run $(date -u +%Y-%m-%dT%H:%MZ), each alone, order: $systems"
	echo
	echo "| measure | ours | ours, poll loop | peer | ours/peer | ours/poll |"
	echo "|---|---:|---:|---:|---:|---:|"
	row "customers connected (step 1)" lat_conn
	row "server RSS before clients (kB)" rss0
	row "server RSS, $lat_conns connected (kB)" rss1
	row "bytes per connection at $lat_conns" b10k
	row "customers connected (step 2)" idle_conn
	row "server RSS, $idle_conns connected (kB)" rss2
	row "bytes per connection at $idle_conns (ring filled by step 1 included)" b50k
	row "bytes per connection added in step 2 (RSS after - before / added)" badded
	row "server RSS after they left (kB)" rss3
	row "seconds to connect the last $((idle_conns - lat_conns))" idle_conn_s
	row "latency: offered messages/s" lat_tps
	row "latency: messages posted in the measured run" lat_sent
	row "latency: events received (distinct)" lat_events
	row "latency: commit -> client p50 (ms)" com50
	row "latency: commit -> client p99 (ms)" com99
	row "latency: commit -> client max (ms)" commax
	row "latency: at -> client p50 (ms)" p50
	row "latency: at -> client p99 (ms)" p99
	row "latency: at -> client max (ms)" pmax
	row "latency: published -> client p50 (ms)" hop50
	row "latency: published -> client p99 (ms)" hop99
	row "latency: published -> bare LISTEN client p50 (ms)" floor50
	row "latency: published -> bare LISTEN client p99 (ms)" floor99
	row "latency: server CPU at $lat_rate/s (% of a core)" lat_cpu
	row "latency: server CPU per message (us)" cpu_msg
	row "loop: passes of 1 ms or more, start to end of the latency run" slow_passes
	row "loop: timed pieces of 1 ms or more (sweeps, reads, trims)" slow_sections
	row "loop: longest pass (ms)" pass_max
	row "loop: mean pass (us)" pass_us
	row "latency: server peak RSS during the run (kB)" lat_peak
	row "fan-out: supervisor sockets" fan_conn
	row "fan-out: deliveries (events x sockets)" fan_events
	row "fan-out: frames" fan_frames
	row "fan-out: seconds, commit to last delivery" fan_secs
	row "fan-out: posting transaction (events/s)" gen_rate
	row "fan-out: deliveries/s" fan_rate
	row "fan-out: frames/s" frame_rate
	row "fan-out: server CPU (s)" fan_cpu
	row "fan-out: server CPU per delivery (us)" per_cpu
	row "fan-out: server peak RSS, connect to last delivery (kB)" fan_peak
	row "fan-out: sockets closed by the server" fan_closed
	if [ "${BENCH_TRACE:-1}" = 1 ]; then
		echo
		echo "Latency run, hop by hop (ms, p50 / p99 / max over the events received; bridge/trace.c and commit timestamps):"
		echo
		echo "| hop | ours | ours, poll loop |"
		echo "|---|---:|---:|"
		for h in "h1 event commit -> publisher pass starts" "h2 pass starts -> pass commits" \
			"h3 pass commit -> NOTIFY at the bridge (WAL flush, NOTIFY delivery)" "h4 NOTIFY -> read sent" \
			"h5 read sent -> rows in" "h6 rows in -> written to the socket" "h7 written -> client has it" \
			"h0 commit -> client (these events)"; do
			k=${h%% *}
			printf '| %s | %s | %s |\n' "${h#* }" \
				"${R[ours.$k.50]:--} / ${R[ours.$k.99]:--} / ${R[ours.$k.max]:--}" \
				"${R[poll.$k.50]:--} / ${R[poll.$k.99]:--} / ${R[poll.$k.max]:--}"
		done
	fi
	echo
	echo "Raw:"
	echo
	for k in $(printf '%s\n' "${!R[@]}" | sort); do echo "    $k = ${R[$k]}"; done
	echo
	echo "machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, load average before the run: see log;" \
		"$(q -c 'SELECT version()' | cut -d, -f1); node $(node --version)"
	echo "settings: LAT_CONNS=$lat_conns LAT_RATE=$lat_rate LAT_SECONDS=$lat_secs IDLE_CONNS=$idle_conns" \
		"FAN_CONNS=$fan_conns FAN_EVENTS=$fan_events PER_PROC=$per_proc"
} | tee "$out"
cp "$work/ours.log" "${out%.md}-ours.log" 2>/dev/null || true
cp "$work/poll.log" "${out%.md}-poll.log" 2>/dev/null || true
cp "$work/peer.log" "${out%.md}-peer.log" 2>/dev/null || true
