#!/usr/bin/env bash
# Benchmark of scale-out (issue 22, docs/scale-out.md): a pg_helpdesk_proxy
# database in front of four pg_helpdesk nodes, each its own cluster on this
# machine (HD_BENCH_PORT, default 55450: the proxy; +1..+4 the nodes).
#
#  1. overhead: post_message called directly on node 0 against the same call
#     through the proxy, for the same tenants and sessions, interleaved rounds.
#  2. aggregate: post_message through the proxy into tenants spread over 1, 2
#     and 4 nodes (8 tenants each time, placed by upsert_tenant on the
#     partitions that accept tenants), interleaved rounds.
#  3. a move: one tenant with MOVE_SESSIONS sessions of 10 messages each is
#     moved between nodes 0 and 1 (scripts/move-tenant), twice per round, back
#     and forth, once with catch-up (logical replication: the nodes run
#     wal_level = logical) and once without (--no-catch-up, the fenced copy,
#     its peer), the order alternating: the seconds its calls were refused,
#     and the whole move's time.
# Both ways run the same SQL (a lookup of the session by the client's number,
# then post_message), pgbench -M prepared. The peer of the proxy is the direct
# call; on 2 cores four nodes share the same CPU, so expect the proxy's hop
# to cost throughput and no linear scaling: the table says what it is.
#
#   BENCH_SECONDS (10) BENCH_ROUNDS (3) BENCH_CLIENTS (8) HD_BENCH_PORT (55450)
#   MOVE_SESSIONS (500)  BENCH_MOVE_ONLY (0: 1 skips parts 1 and 2)
#   BENCH_NO_BUILD (0)
source "$(dirname "$0")/../scripts/lib.sh"
cd "$HD_ROOT"
secs=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-3}
clients=${BENCH_CLIENTS:-8}
base=${HD_BENCH_PORT:-55450}

hd_install_packages
[ "${BENCH_NO_BUILD:-0}" = 1 ] || hd_build_install
work=$(hd_cluster_dir "$HD_ROOT/.bench-scale-cluster")
mkdir -p "$work"
stop_all() {
	local d
	for d in proxy node0 node1 node2 node3; do
		[ -f "$work/$d/data/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$work/$d/data" -m fast -w stop >/dev/null 2>&1 || true
	done
}
trap stop_all EXIT
(hd_cluster_start "$work/proxy" "$base")
for k in 0 1 2 3; do (hd_cluster_start "$work/node$k" $((base + 1 + k)) "wal_level = logical"); done
at() { local p=$1; shift; PGHOST=/tmp/hd-sock-$p PGPORT=$p PGUSER=postgres psql -qXAt -v ON_ERROR_STOP=1 -d helpdesk "$@"; }
P() { at "$base" "$@"; }
for k in 0 1 2 3; do
	at $((base + 1 + k)) -c 'CREATE EXTENSION pg_helpdesk' \
		-c "ALTER SEQUENCE helpdesk.tenant_id_seq INCREMENT BY 1024 START WITH $((k + 1)) RESTART"
done
P -c 'CREATE EXTENSION plproxy' -c 'CREATE EXTENSION pg_helpdesk_proxy'
for k in 0 1 2 3; do
	P -c "SELECT helpdesk_proxy.set_partition($k, 'host=/tmp/hd-sock-$((base + 1 + k)) port=$((base + 1 + k)) dbname=helpdesk')" >/dev/null
done

# 8 tenants round robin on the first N partitions, each with 4 open sessions; the
# targets table (on the proxy, and for the direct runs on node 0) maps a
# client's number to one session.
P -c 'CREATE TABLE bench_target (config int, k int, tenant_id bigint, session_id bigint, customer_id bigint, PRIMARY KEY (config, k))'
at $((base + 1)) -c 'CREATE TABLE bench_target (config int, k int, tenant_id bigint, session_id bigint, customer_id bigint, PRIMARY KEY (config, k))'
setup() { # config nparts
	local i j t s c n=0
	for i in $(seq 1 8); do
		t=$(P -c "SELECT helpdesk_proxy.upsert_tenant_on($(((i - 1) % $2)), '$1-$i', 'Bench $1 $i')")
		P -c "SELECT helpdesk.upsert_queue($t, 'main', 'Main', is_default => true)" >/dev/null
		for j in 1 2 3 4; do
			c=$(P -c "SELECT helpdesk.upsert_customer($t, 'c$j')")
			s=$(P -c "SELECT session_id FROM helpdesk.start_session($t, $c)")
			P -c "INSERT INTO bench_target VALUES ($2, $n, $t, $s, $c)"
			[ "$2" = 1 ] && at $((base + 1)) -c "INSERT INTO bench_target VALUES ($2, $n, $t, $s, $c)"
			n=$((n + 1))
		done
	done
}
hd_log "placing tenants: 8 on node 0, 8 over 2 nodes, 8 over 4 nodes"
setup n1 1
setup n2 2
setup n4 4
placed=$(P -c "SELECT string_agg(c || ': ' || parts, '; ' ORDER BY c) FROM (SELECT split_part(slug, '-', 1) c, string_agg(DISTINCT 'p' || part, ' ') parts FROM helpdesk_proxy.tenant_directory GROUP BY 1) x")

cat >"$work/post.sql" <<'EOF'
\set k random(0, 31)
SELECT helpdesk.post_message(t.tenant_id, t.session_id, 'customer', t.customer_id, 'hello, my order #12345 did not arrive')
FROM bench_target t WHERE t.config = :config AND t.k = :k;
EOF
tps() { # port config (the number of nodes)
	at "$1" -c 'CHECKPOINT' >/dev/null 2>&1 || true
	PGHOST=/tmp/hd-sock-$1 PGPORT=$1 PGUSER=postgres pgbench -n -M prepared -c "$clients" -j 2 -T "$secs" \
		-D config="$2" -f "$work/post.sql" helpdesk >"$work/pgbench.out" 2>&1 || { cat "$work/pgbench.out" >&2; return 1; }
	sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$work/pgbench.out"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
range() { sort -n | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.0f-%.0f", lo, hi}'; }
declare -A r
for round in $(seq 1 "$rounds"); do
	[ "${BENCH_MOVE_ONLY:-0}" = 1 ] && break
	for v in direct proxy n2 n4; do
		case $v in
			direct) x=$(tps $((base + 1)) 1) ;;
			proxy) x=$(tps "$base" 1) ;;
			*) x=$(tps "$base" "${v#n}") ;;
		esac
		r[$v]+="$x "
		hd_log "round $round: $v $x tps"
	done
done
# the move: a tenant of MOVE_SESSIONS sessions x 10 messages on node 0
msessions=${MOVE_SESSIONS:-500}
mt=$(P -c "SELECT helpdesk_proxy.upsert_tenant_on(0, 'mover', 'Mover')")
P -c "SELECT helpdesk.upsert_queue($mt, 'main', 'Main', is_default => true)" >/dev/null
for i in $(seq 1 "$msessions"); do
	echo "SELECT helpdesk.post_message($mt, s.session_id, 'customer', c.id, 'message ' || g, client_msg_id => 'm-$i-' || g)
	      FROM (SELECT helpdesk.upsert_customer($mt, 'c$i') AS id) c, helpdesk.start_session($mt, c.id) s, generate_series(1, 10) g;"
done | P >/dev/null
conn() { echo "host=/tmp/hd-sock-$((base + 1 + $1)) port=$((base + 1 + $1)) dbname=helpdesk user=postgres"; }
from=0
for round in $(seq 1 "$rounds"); do
	for mode in $([ $((round % 2)) = 1 ] && echo "catchup copy" || echo "copy catchup"); do
		to=$((1 - from))
		t0=$(date +%s.%N)
		scripts/move-tenant --tenant "$mt" --source "$(conn $from)" --target "$(conn $to)" $([ "$mode" = copy ] && echo --no-catch-up) \
			--proxy "host=/tmp/hd-sock-$base port=$base dbname=helpdesk user=postgres" --target-part "$to" \
			>"$work/move.out" 2>"$work/move.err" || { cat "$work/move.err" >&2; exit 1; }
		took=$(awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $t0}")
		refused=$(sed -n 's/^refused_seconds=//p' "$work/move.out")
		r[refused_$mode]+="$refused "
		r[took_$mode]+="$took "
		rows=$(sed -n 's/^rows_copied=//p' "$work/move.out")
		[ "$mode" = copy ] || [ "$(sed -n 's/^verified=//p' "$work/move.out")" = 1 ] || { cat "$work/move.err" >&2; echo "the catch-up's check failed" >&2; exit 1; }
		hd_log "round $round: $mode, moved node $from -> node $to, refused $refused s, whole move $took s, $rows rows"
		from=$to
	done
done
m() { echo "${r[$1]}" | tr ' ' '\n' | grep . | median; }
s() { echo "${r[$1]}" | tr ' ' '\n' | grep . | range; }
mkdir -p bench/results
out=bench/results/scale-$(date -u +%Y%m%dT%H%M%SZ).md
{
	[ "${BENCH_MOVE_ONLY:-0}" = 1 ] || {
		echo "post_message through pg_helpdesk_proxy: median tps of $rounds interleaved rounds of ${secs}s (spread), $clients pgbench clients, -M prepared"
		echo
		echo "| run | tps | spread | vs direct |"
		echo "|---|---:|---:|---:|"
		d=$(m direct)
		for v in direct proxy n2 n4; do
			case $v in direct) name="direct to the node (8 tenants on 1 node)" ;; proxy) name="through the proxy, 8 tenants on 1 node" ;;
				n2) name="through the proxy, 8 tenants over 2 nodes" ;; n4) name="through the proxy, 8 tenants over 4 nodes" ;; esac
			printf '| %s | %.0f | %s | %.2fx |\n' "$name" "$(m $v)" "$(s $v)" "$(awk "BEGIN {print $(m $v) / $d}")"
		done
		echo
	}
	fr() { echo "${r[$1]}" | tr ' ' '\n' | grep . | sort -n | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%s-%s", lo, hi}'; }
	fm() { echo "${r[$1]}" | tr ' ' '\n' | grep . | median; }
	echo "a move of a tenant of $msessions sessions ($rows rows) between nodes 0 and 1, idle, $rounds moves each way (median, spread):"
	echo
	echo "| move | calls refused (s) | spread | vs fenced copy | whole move (s) | spread |"
	echo "|---|---:|---:|---:|---:|---:|"
	printf '| fenced copy (--no-catch-up) | %s | %s | 1.00x | %s | %s |\n' "$(fm refused_copy)" "$(fr refused_copy)" "$(fm took_copy)" "$(fr took_copy)"
	printf '| catch-up (logical replication) | %s | %s | %.2fx | %s | %s |\n' "$(fm refused_catchup)" "$(fr refused_catchup)" \
		"$(awk "BEGIN {print $(fm refused_catchup) / $(fm refused_copy)}")" "$(fm took_catchup)" "$(fr took_catchup)"
	echo
	echo "placement: $placed"
	echo "every node and the proxy are clusters on this one machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB"
	echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out"
