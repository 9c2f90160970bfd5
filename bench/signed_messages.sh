#!/usr/bin/env bash
# Benchmark: signed POST /api/v1/player/sessions/<id>/messages end to end,
# through helpdesk-bridge (player_call: signature, nonce, two rate-limit
# buckets, the session's owner, post_message; one round trip) against the
# peer bench/peers/node_signed_messages.js (a node HTTP server that checks the
# same signature with node's crypto, records the nonce and checks the owner in
# SQL, then calls post_message; one round trip through a pg pool), both on
# the same throwaway cluster, the same database and pool size, in one run.
# Load: bench/peers/signed_load.js, BENCH_CONC keep-alive connections signing
# every request with node's crypto, over BENCH_SESSIONS sessions.
# Prints a Markdown table; writes it to bench/results/.
#   BENCH_ROUNDS (3) BENCH_SECONDS (10) BENCH_CONC (16) BENCH_POOL (4)
#   BENCH_SESSIONS (50) HD_BENCH_PORT (HD_TEST_PORT + 81; +1 bridge, +2 peer)
source "$(dirname "$0")/../scripts/lib.sh"
cd "$HD_ROOT"
rounds=${BENCH_ROUNDS:-3}
secs=${BENCH_SECONDS:-10}
conc=${BENCH_CONC:-16}
poolsz=${BENCH_POOL:-4}
nsess=${BENCH_SESSIONS:-50}
port=${HD_BENCH_PORT:-$(( ${HD_TEST_PORT:-55353} + 81 ))}
bport=$((port + 1)); pport=$((port + 2))

hd_install_packages
hd_build_install
hd_node_modules
dir=$(hd_cluster_dir "$HD_ROOT/.bench-cluster-messages")
hd_cluster_start "$dir" "$port"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; hd_cluster_stop; }
trap cleanup EXIT
db=helpdesk_bench
psql -qX -d postgres -c "CREATE DATABASE $db" >/dev/null
secret=bench-secret-0123456789abcdef0123456789abcdef
psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
CREATE EXTENSION pg_helpdesk;
SELECT helpdesk.upsert_tenant('bench', 'Bench');
SELECT helpdesk.upsert_queue(1, 'main', 'Main', is_default => true);
SELECT helpdesk.upsert_app(1, 'bench-app', 'Bench', '$secret', rate_per_minute => 10000000,
	player_rate_per_minute => 1000000);
CREATE TABLE peer_nonce (app_id text, nonce text, seen_at timestamptz NOT NULL,
	PRIMARY KEY (app_id, nonce));
CREATE INDEX ON peer_nonce (seen_at);
SQL
sessions=$(psql -qXAt -d $db -c "
	SELECT string_agg(s.session_id || ':' || p, ',')
	FROM generate_series(1, $nsess) g, LATERAL (SELECT 'bench-player-' || g AS p) x,
	     LATERAL helpdesk.start_session(1, helpdesk.upsert_customer(1, x.p)) s")
conninfo="host=$PGHOST port=$PGPORT dbname=$db user=$PGUSER"
log=$dir/bench-messages.log
: >"$log"
bridge/helpdesk-bridge --port "$bport" --db "$conninfo" --db-pool "$poolsz" >>"$log" 2>&1 &
pids+=($!)
PGDATABASE=$db PEER_MODULES="$HD_ROOT/test/bridge/node_modules" PEER_PORT=$pport PEER_SECRET=$secret \
	PEER_APP=bench-app PEER_TENANT=1 PEER_POOL=$poolsz node bench/peers/node_signed_messages.js >>"$log" 2>&1 &
pids+=($!)
for p in $bport $pport; do
	for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$p/" && break; sleep 0.1; done
done
load() { PORT=$1 SECS=$secs CONC=$conc SECRET=$secret APP=bench-app SESSIONS=$sessions \
	NODE_PATH="$HD_ROOT/test/bridge/node_modules" node bench/peers/signed_load.js; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
declare -a rb rp
for r in $(seq 1 "$rounds"); do
	if [ $((r % 2)) = 1 ]; then read -r b eb < <(load $bport); read -r p ep < <(load $pport)
	else read -r p ep < <(load $pport); read -r b eb < <(load $bport); fi
	[ "$eb" = 0 ] && [ "$ep" = 0 ] || { echo "errors: bridge $eb, peer $ep (see $log)" >&2; exit 1; }
	rb+=("$b"); rp+=("$p")
	echo "round $r: bridge $b req/s, peer $p req/s" >&2
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
stored=$(psql -qXAt -d $db -c "SELECT count(*) FROM helpdesk.message")

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
spread() { printf '%s\n' "$@" | sort -n | awk 'NR==1{lo=$1} {hi=$1} END {print lo "–" hi}'; }
ratios() { local i; for i in "${!rb[@]}"; do awk -v a="${rb[$i]}" -v b="${rp[$i]}" 'BEGIN {printf "%.2f\n", a / b}'; done; }

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="bench/results/signed_messages-$stamp.md"
mkdir -p bench/results
{
	echo "# signed POST …/messages: helpdesk-bridge vs a node peer ($stamp)"
	echo
	echo "Load average at the start: $load0; at the end: $load1. $rounds rounds of $secs s each side, $conc connections, pool $poolsz, $nsess sessions; $stored messages stored."
	echo
	echo "| | bridge (median, spread) | node peer (median, spread) | ratio (median, spread) |"
	echo "|---|---:|---:|---:|"
	echo "| requests/s | $(median "${rb[@]}") ($(spread "${rb[@]}")) | $(median "${rp[@]}") ($(spread "${rp[@]}")) | **$(median $(ratios))x** ($(spread $(ratios))) |"
} | tee "$out"
