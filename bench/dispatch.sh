#!/usr/bin/env bash
# Benchmark: pg_helpdesk's dispatcher ("ours") against a PL/pgSQL router
# written with FOR UPDATE SKIP LOCKED (bench/peers/plpgsql_router.sql, "peer"),
# interleaved in one run on one throwaway cluster. 1,000 agents (BENCH_AGENTS) over 20 skills,
# 20 queues (direct assignment, least_loaded). For each offered load (pgbench
# --rate, and unthrottled for "max") the enqueuers run BENCH_SECONDS; then a
# short drain. A last run per system preloads a backlog with every agent
# offline, brings them all online in one transaction and times the drain.
#
# Measured from commit timestamps (track_commit_timestamp = on) of rows the
# routers never update: a session's enqueue event and its assignment
# (pg_helpdesk: the session.state events to "queued" and to "active"; the
# peer: its session_event row and its assignment row). So latency is
# enqueue-commit to assignment-commit, and assignments/s counts assignments
# committed between the first and the last enqueue commit of the run.
# Consistency of both routers is checked after every run; any violation
# fails the script. Prints a Markdown table; writes it to bench/results/.
#
#   BENCH_SECONDS (10)        length of each load run
#   BENCH_LOADS ("100 1000 max batch")  offered enqueues/s; max = unthrottled;
#                             batch = unthrottled, BENCH_BATCH sessions per enqueue
#                             transaction (what it takes to offer more than the
#                             enqueuers' ~3k transactions/s on 2 cores)
#   BENCH_WARMUP (2)          seconds at the start of each load run left out of the
#                             window and the latency percentiles (each run starts on
#                             emptied tables: plans are rebuilt as they grow); the
#                             p99 with the warm-up is reported beside
#   BENCH_BATCH (10)          sessions per transaction for the batch load
#   BENCH_BACKLOG (20000)     sessions for the drain run (0: skip it)
#   BENCH_ROUNDS (1)          rounds; the table shows medians
#   BENCH_SYSTEMS ("ours peer")
#   BENCH_ENQ_CLIENTS (4)     pgbench clients that enqueue
#   BENCH_DRAIN (5)           seconds to wait for the queue to empty after a load run
#   BENCH_DRAIN_MAX (120)     the same for the backlog run
#   BENCH_CUSTOMERS (200000)  customers (each enqueue needs a fresh one)
#   BENCH_AGENTS (1000)       agents online (issue 21's 10,000-agents row: 10000)
#   BENCH_NO_BUILD (0)        1: use the installed pg_helpdesk, do not build
#   PEER_WORKERS (2) PEER_BATCH (10) PEER_IDLE_US (1000)
#                             peer worker connections, sessions per assign_batch
#                             transaction, sleep when a pass found nothing.
#                             Tried 1-4 workers, batch 1-200, sleep 0-1000 us: 2 x 10
#                             drained a backlog fastest (batch 1: ~2.4k/s, 200: ~3.6k/s,
#                             4 workers: ~4.6k/s vs ~5-6.5k/s); the sleep made no steady
#                             difference to p99 at 1000/s and 0 busy-polls a core.
#   HD_BENCH_PORT (55434)
source "$(dirname "$0")/../scripts/lib.sh"
cd "$HD_ROOT"
secs=${BENCH_SECONDS:-10}
loads=${BENCH_LOADS-"100 1000 max batch"}
batch=${BENCH_BATCH:-10}
warmup=${BENCH_WARMUP:-2}
backlog=${BENCH_BACKLOG:-20000}
rounds=${BENCH_ROUNDS:-1}
systems=${BENCH_SYSTEMS:-"ours peer"}
enq_clients=${BENCH_ENQ_CLIENTS:-4}
drain=${BENCH_DRAIN:-5}
drain_max=${BENCH_DRAIN_MAX:-120}
customers=${BENCH_CUSTOMERS:-200000}
agents=${BENCH_AGENTS:-1000}
peer_workers=${PEER_WORKERS:-2}
peer_batch=${PEER_BATCH:-10}
peer_idle_us=${PEER_IDLE_US:-1000}
port=${HD_BENCH_PORT:-55434}
sqldir=$HD_ROOT/bench/dispatch
db=helpdesk_dispatch

[ "$backlog" -le "$customers" ] || { echo "BENCH_BACKLOG must not exceed BENCH_CUSTOMERS" >&2; exit 1; }
for s in $systems; do
	case $s in ours|peer) ;; *) echo "BENCH_SYSTEMS: unknown system '$s'" >&2; exit 1 ;; esac
done

hd_install_packages
[ "${BENCH_NO_BUILD:-0}" = 1 ] || hd_build_install
dir=$(hd_cluster_dir "$HD_ROOT/.bench-dispatch-cluster")
hd_cluster_start "$dir" "$port" "track_commit_timestamp = on"
wpid=
trap '[ -n "$wpid" ] && kill "$wpid" 2>/dev/null; hd_cluster_stop' EXIT
work=$dir/bench; mkdir -p "$work"

psql -qX -d postgres -c "CREATE DATABASE $db" >/dev/null
q() { PGOPTIONS='-c client_min_messages=warning' psql -XAtq -v ON_ERROR_STOP=1 -d $db "$@"; }
q -c 'CREATE EXTENSION pg_helpdesk'
if [[ " $systems " == *" ours "* ]] && [ "$(q -c "SELECT to_regproc('helpdesk.set_queue_routing') IS NOT NULL")" != t ]; then
	echo "the installed pg_helpdesk has no helpdesk.set_queue_routing (no dispatcher yet);" \
		"build it, or run only the peer: BENCH_SYSTEMS=peer" >&2
	exit 1
fi

hd_log "setting up: $agents agents, 20 queues, $customers customers"
q -v customers="$customers" -v agents="$agents" -f "$sqldir/setup.sql" >/dev/null
q -f "$HD_ROOT/bench/peers/plpgsql_router.sql" >/dev/null
q -v customers="$customers" -f "$sqldir/peer_setup.sql" >/dev/null
hd_log "peer set up"
declare -A tenant cbase qbase
tenant[peer]=0; cbase[peer]=1; qbase[peer]=1
if [[ " $systems " == *" ours "* ]]; then
	q -v customers="$customers" -f "$sqldir/ours_setup.sql" >/dev/null
	hd_log "pg_helpdesk set up"
	read -r tenant[ours] cbase[ours] qbase[ours] < <(q -c "SELECT t.id,
		(SELECT min(id) FROM helpdesk.customer WHERE tenant_id = t.id),
		(SELECT min(id) FROM helpdesk.queue WHERE tenant_id = t.id)
		FROM helpdesk.tenant t WHERE slug = 'bench'" | tr '|' ' ')
	[ "$(q -c "SELECT count(*) FROM helpdesk.customer WHERE tenant_id = ${tenant[ours]}
	           AND id - ${cbase[ours]} BETWEEN 0 AND $customers - 1")" = "$customers" ] &&
	[ "$(q -c "SELECT count(*) FROM helpdesk.queue WHERE tenant_id = ${tenant[ours]}
	           AND id - ${qbase[ours]} BETWEEN 0 AND 19 AND offer_mode = 'direct'")" = 20 ] ||
		{ echo "customers or queues are not numbered contiguously; cannot map pgbench variables to them" >&2; exit 1; }
	# the dispatcher must be running before the first run
	for _ in $(seq 1 100); do
		[ "$(q -c "SELECT count(*) FROM helpdesk.worker_status() WHERE kind = 'dispatcher' AND pid IS NOT NULL")" -ge 1 ] && break
		sleep 0.1
	done
	[ "$(q -c "SELECT count(*) FROM helpdesk.worker_status() WHERE kind = 'dispatcher' AND pid IS NOT NULL")" -ge 1 ] ||
		{ echo "no dispatcher worker running:" >&2; q -c 'SELECT * FROM helpdesk.worker_status()' >&2; exit 1; }
fi

session_table() { if [ "$1" = ours ]; then echo helpdesk.session; else echo peer.session; fi; }
queued() { q -c "SELECT count(*) FROM $(session_table "$1") WHERE state = 'queued'"; }

start_peer_workers() {
	pgbench -n -M prepared -c "$peer_workers" -j "$peer_workers" -T 86400 \
		-D batch="$peer_batch" -D idle_us="$peer_idle_us" \
		-f "$sqldir/peer_worker.sql" $db >"$work/peer_workers.out" 2>&1 &
	wpid=$!
	sleep 0.3
	kill -0 "$wpid" 2>/dev/null || { cat "$work/peer_workers.out" >&2; exit 1; }
}
stop_peer_workers() {
	kill -0 "$wpid" 2>/dev/null || { echo "peer workers died:" >&2; cat "$work/peer_workers.out" >&2; exit 1; }
	kill "$wpid"; wait "$wpid" 2>/dev/null || true; wpid=
}

# The TRUNCATE can deadlock with a worker's statement (the rollup worker reads
# event_batch, then session): PostgreSQL picks one to fail; try again.
reset() { # sys
	local try
	for try in 1 2 3 4 5; do
		q -f "$sqldir/$1_reset.sql" >/dev/null 2>"$work/reset.err" && return 0
		grep -q 'deadlock detected' "$work/reset.err" || break
		sleep 0.5
	done
	cat "$work/reset.err" >&2
	return 1
}

# wait until nothing is queued, at most $2 seconds
wait_drain() { # sys seconds
	local end=$((SECONDS + $2))
	while [ "$(queued "$1")" != 0 ] && [ $SECONDS -lt $end ]; do sleep 0.1; done
}

check() { # sys what
	local out
	if [ "$1" = ours ]; then
		out=$(q -F ': ' -f "$sqldir/ours_check.sql")
	else
		out=$(q -F ': ' -c 'ANALYZE peer.agent, peer.session, peer.assignment' -c 'SELECT * FROM peer.check_consistency()')
	fi
	if [ -n "$out" ]; then
		echo "CONSISTENCY VIOLATED ($1, $2):" >&2
		echo "$out" >&2
		exit 1
	fi
}

enqueue() { # sys script [pgbench options]
	local sys=$1 script=$2; shift 2
	pgbench -n -M prepared -c "$enq_clients" -j $((enq_clients < 2 ? 1 : 2)) -T "$secs" "$@" \
		-D tenant="${tenant[$sys]}" -D cbase="${cbase[$sys]}" -D qbase="${qbase[$sys]}" \
		-D nclients="$enq_clients" -D k=0 -D batch="$batch" \
		-f "$sqldir/$script" $db >"$work/enqueue.out" 2>&1 ||
		{ cat "$work/enqueue.out" >&2; echo "enqueuers failed (out of customers? BENCH_CUSTOMERS)" >&2; exit 1; }
}

# The router's own CPU time (user + system, /proc), per 1,000 sessions it
# assigned: the dispatcher process for ours, the worker connections'
# backends for the peer. Unlike latency it hardly moves with what else the
# machine runs, so it compares builds measured on a busy machine.
router_pids() { # sys
	if [ "$1" = ours ]; then
		q -c "SELECT pid FROM helpdesk.worker_status() WHERE kind = 'dispatcher' AND pid IS NOT NULL"
	else
		q -c "SELECT pid FROM pg_stat_activity WHERE datname = '$db' AND query LIKE '%peer.assign_batch%' AND pid <> pg_backend_pid()"
	fi
}
cpu_ticks() { # pids...
	local t=0 p v
	for p in "$@"; do
		v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || v=0
		t=$((t + ${v:-0}))
	done
	echo "$t"
}
hz=$(getconf CLK_TCK)
declare -A cpu

# one load run: sets line to bench.stats' line
run_load() { # sys load
	local sys=$1 load=$2 rate=() cutoff script=enqueue_$1.sql pids t0 done_n
	case $load in
		max) ;;
		batch) script=enqueue_$1_batch.sql ;;
		*) rate=(-R "$load") ;;
	esac
	reset "$sys"
	if [ "$sys" = peer ]; then start_peer_workers; sleep 0.2; fi
	pids=$(router_pids "$sys")
	t0=$(cpu_ticks $pids)
	enqueue "$sys" "$script" "${rate[@]}"
	wait_drain "$sys" "$drain"
	cutoff=$(q -c 'SELECT clock_timestamp()')
	t0=$(( $(cpu_ticks $pids) - t0 ))
	if [ "$sys" = peer ]; then stop_peer_workers; fi
	line=$(q -c "SELECT bench.stats('$sys', 'load', '$cutoff', '$warmup s')")
	done_n=$(( $(echo "$line" | cut -d'|' -f1) - $(echo "$line" | cut -d'|' -f7) ))
	cpu[$sys.$load]+="$(awk -v t="$t0" -v hz="$hz" -v n="$done_n" 'BEGIN { if (n > 0) printf "%.1f", t * 1000 / hz * 1000 / n; else print "-" }') "
	check "$sys" "load $load"
	[ "${line%%|*}" -lt $((customers - enq_clients)) ] ||
		{ echo "used every customer; raise BENCH_CUSTOMERS" >&2; exit 1; }
}

# the backlog run: sets line to bench.stats' line
run_drain() { # sys
	local sys=$1 cutoff
	reset "$sys"
	if [ "$sys" = ours ]; then
		q -c "SELECT count(helpdesk.set_agent_status(tenant_id, id, 'offline')) FROM helpdesk.agent" >/dev/null
		q -c "SELECT count(helpdesk.start_session(${tenant[ours]}, ${cbase[ours]} + g - 1,
		                   queue_id => ${qbase[ours]} + g % 20))
		      FROM generate_series(1, $backlog) g" >/dev/null
	else
		q -c "SELECT count(peer.set_agent_status(id, 'offline')) FROM peer.agent" >/dev/null
		q -c "SELECT count(peer.enqueue(g, 1 + g % 20)) FROM generate_series(1, $backlog) g" >/dev/null
		start_peer_workers
	fi
	q -c 'VACUUM ANALYZE' >/dev/null
	sleep 1
	[ "$(queued "$sys")" = "$backlog" ] || { echo "$sys: backlog not all queued before the drain" >&2; exit 1; }
	if [ "$sys" = ours ]; then
		q -c 'BEGIN' -c "INSERT INTO bench.mark (what) VALUES ('ours online')" \
			-c "SELECT count(helpdesk.set_agent_status(tenant_id, id, 'online')) FROM helpdesk.agent" -c 'COMMIT' >/dev/null
	else
		q -c 'BEGIN' -c "INSERT INTO bench.mark (what) VALUES ('peer online')" \
			-c "SELECT count(peer.set_agent_status(id, 'online')) FROM peer.agent" -c 'COMMIT' >/dev/null
	fi
	wait_drain "$sys" "$drain_max"
	cutoff=$(q -c 'SELECT clock_timestamp()')
	if [ "$sys" = peer ]; then stop_peer_workers; fi
	line=$(q -c "SELECT bench.stats('$sys', 'drain', '$cutoff')")
	check "$sys" "backlog drain"
}

declare -A results
raw=()
line=
cases=()
for l in $loads; do cases+=("$l"); done
if [ "$backlog" -gt 0 ]; then cases+=(drain); fi
for r in $(seq 1 "$rounds"); do
	# alternate which system goes first, so drift hits both alike
	order=$systems
	if [ $((r % 2)) = 0 ]; then order=$(echo "$systems" | tr ' ' '\n' | tac | tr '\n' ' '); fi
	for c in "${cases[@]}"; do
		for s in $order; do
			if [ "$c" = drain ]; then run_drain "$s"; else run_load "$s" "$c"; fi
			results[$s.$c]+="$line "
			raw+=("round $r, $s, $c: $line")
			hd_log "round $r, $s, $c: $line"
		done
	done
done

# median of field $3 of the lines in results[$1.$2]
field() { # sys case n
	local v=${results[$1.$2]:-}
	[ -n "$v" ] || { echo NA; return; }
	echo "$v" | tr ' ' '\n' | grep . | cut -d'|' -f"$3" | sort -g | awk '{a[NR]=$1} END {
		m = int((NR + 1) / 2)
		if (NR % 2 || a[m] == "-") print a[m]
		else if (a[m + 1] == "Infinity") print "Infinity"
		else print (a[m] + a[m + 1]) / 2 }'
}
median_of() { # space-separated numbers (or "-")
	local v; v=$(echo "$1" | tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -g)
	[ -n "$v" ] || { echo -; return; }
	echo "$v" | awk '{a[NR]=$1} END { m = int((NR + 1) / 2); if (NR % 2) print a[m]; else print (a[m] + a[m + 1]) / 2 }'
}
fmt_rate() { case $1 in NA) echo n/a ;; *) printf '%.0f' "$1" ;; esac; }
fmt_ms() { case $1 in NA) echo n/a ;; -) echo - ;; Infinity) echo "unassigned" ;; *) printf '%.2f' "$1" ;; esac; }
ratio() { # a b
	case "$1$2" in *NA*|*-*|*Infinity*) echo - ; return ;; esac
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'
}
label() { case $1 in max) echo "max (unthrottled, $enq_clients enqueuers)" ;;
	batch) echo "max, $batch sessions per enqueue transaction" ;; drain) echo "backlog of $backlog" ;; *) echo "$1/s" ;; esac; }

mkdir -p bench/results
out=bench/results/dispatch-$(date -u +%Y%m%dT%H%M%SZ).md
{
	echo "Dispatch: pg_helpdesk's dispatcher (ours) vs PL/pgSQL FOR UPDATE SKIP LOCKED (peer), $rounds round(s) of ${secs}s per load, interleaved; medians"
	echo
	echo "| offered load | ours asg/s | ours p50 / p99 ms | peer asg/s | peer p50 / p99 ms | asg/s ours/peer | p99 peer/ours | p99 with warm-up, ours / peer | router CPU ms per 1k assigned, ours / peer |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for c in "${cases[@]}"; do
		oa=$(field ours "$c" 5); pa=$(field peer "$c" 5)
		o50=$(field ours "$c" 8); o99=$(field ours "$c" 9); p50=$(field peer "$c" 8); p99=$(field peer "$c" 9)
		printf '| %s | %s | %s / %s | %s | %s / %s | %s | %s | %s / %s | %s / %s |\n' "$(label "$c")" \
			"$(fmt_rate "$oa")" "$(fmt_ms "$o50")" "$(fmt_ms "$o99")" \
			"$(fmt_rate "$pa")" "$(fmt_ms "$p50")" "$(fmt_ms "$p99")" \
			"$(ratio "$oa" "$pa")" "$(ratio "$p99" "$o99")" \
			"$(fmt_ms "$(field ours "$c" 11)")" "$(fmt_ms "$(field peer "$c" 11)")" \
			"$(median_of "${cpu[ours.$c]:-}")" "$(median_of "${cpu[peer.$c]:-}")"
	done
	echo
	echo "Details (medians): enqueued sessions, enqueue rate, assignments committed in the window and per second,"
	echo "backlog when the enqueuers stopped, sessions still queued after the drain, latency p50 / p99 / max (ms)"
	echo "in the window, and p99 over the whole run including the ${warmup} s warm-up."
	echo
	echo "| system | load | enqueued | enq/s | assigned in window | asg/s | backlog at end | left | p50 | p99 | max | p99 with warm-up |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for c in "${cases[@]}"; do
		for s in $systems; do
			printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$s" "$(label "$c")" \
				"$(field "$s" "$c" 1)" "$(fmt_rate "$(field "$s" "$c" 3)")" "$(field "$s" "$c" 4)" \
				"$(fmt_rate "$(field "$s" "$c" 5)")" "$(field "$s" "$c" 6)" "$(field "$s" "$c" 7)" \
				"$(fmt_ms "$(field "$s" "$c" 8)")" "$(fmt_ms "$(field "$s" "$c" 9)")" "$(fmt_ms "$(field "$s" "$c" 10)")" \
				"$(fmt_ms "$(field "$s" "$c" 11)")"
		done
	done
	echo
	echo "Window: first enqueue commit + ${warmup} s to the last enqueue commit (load runs); for the backlog run, from the commit that brought"
	echo "all agents online to the last assignment commit. Latency: enqueue commit to assignment commit;"
	echo "a session still unassigned after the drain counts as infinite (\"unassigned\")."
	echo "peer: $peer_workers workers (pgbench clients looping SELECT peer.assign_batch($peer_batch)," \
		"sleeping ${peer_idle_us} us after a pass that found nothing); enqueuers: $enq_clients pgbench clients, -M prepared."
	echo "router CPU: user + system time of the dispatcher process (ours) or the peer workers' backends (/proc), over the run and its drain, per 1,000 sessions assigned."
	for c in "${cases[@]}"; do [ "$c" = drain ] || echo "router CPU ms per 1k assigned, $c: ours ${cpu[ours.$c]:-none}/ peer ${cpu[peer.$c]:-none}"; done
	echo "consistency checks passed after every run (capacity, one open assignment per session, load = held sessions, eligibility)."
	echo
	echo "Raw lines (round, system, load: enqueued|window_s|enq/s|assigned in window|asg/s|backlog at end|left|p50|p99|max|p99 with warm-up):"
	echo
	for r in "${raw[@]}"; do echo "    $r"; done
	echo
	echo "machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(q -c 'SELECT version()' | cut -d, -f1)"
} | tee "$out"
