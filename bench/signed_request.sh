#!/usr/bin/env bash
# Benchmark: helpdesk.verify_signed_request (C) against the same
# verification in PL/pgSQL with pgcrypto (bench/peers/plpgsql_signed_request.sql),
# interleaved in one run on one throwaway cluster. Two workloads, one backend
# (one core) each:
#  - batch: BENCH_BATCH pre-signed requests verified in one statement:
#    the verification's own cost (the nonce insert included), commits aside;
#  - per request: pgbench at 1 client, one verification per transaction
#    (durable commit), as a bridge calls it.
# Requests are signed in SQL with pgcrypto before each round (not timed).
# Prints a Markdown table; writes it to bench/results/.
#   BENCH_ROUNDS (3)  BENCH_BATCH (20000)  BENCH_SECONDS (5)  HD_BENCH_PORT (HD_TEST_PORT + 80, or 55433)
source "$(dirname "$0")/../scripts/lib.sh"
cd "$HD_ROOT"
rounds=${BENCH_ROUNDS:-3}
batch=${BENCH_BATCH:-20000}
secs=${BENCH_SECONDS:-5}
port=${HD_BENCH_PORT:-$(( ${HD_TEST_PORT:-55353} + 80 ))}

hd_install_packages
hd_build_install
dir=$(hd_cluster_dir "$HD_ROOT/.bench-cluster-signed")
hd_cluster_start "$dir" "$port"
trap 'hd_cluster_stop' EXIT
work=$dir/bench; mkdir -p "$work"; chmod 777 "$work"
db=helpdesk_bench
psql -qX -d postgres -c "CREATE DATABASE $db" >/dev/null
psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION pg_helpdesk;
SELECT helpdesk.upsert_tenant('bench', 'Bench');
SELECT helpdesk.upsert_app(1, 'bench-c', 'C', 'bench-secret-0123456789abcdef0123456789abcdef');
SQL
psql -qX -v ON_ERROR_STOP=1 -d $db -f bench/peers/plpgsql_signed_request.sql >/dev/null
psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
SELECT peer_upsert_app(1, 'bench-peer', 'bench-secret-0123456789abcdef0123456789abcdef');
CREATE TABLE bench_req (kind text, id bigint, method text, path text, ts text, nonce text, sig text, body bytea,
	PRIMARY KEY (kind, id));
CREATE SEQUENCE seq_c; CREATE SEQUENCE seq_peer;
-- n requests of each kind signed now, like a game server would (pgcrypto)
CREATE FUNCTION bench_sign(n int) RETURNS void LANGUAGE sql AS $$
	TRUNCATE bench_req, peer_nonce, helpdesk.api_nonce;
	SELECT setval('seq_c', 1, false), setval('seq_peer', 1, false);
	INSERT INTO bench_req
	SELECT k, g, 'POST', '/api/v1/player/sessions/' || g || '/messages?lang=en', ts, n, 
	       encode(hmac(convert_to('POST' || E'\n' || '/api/v1/player/sessions/' || g || '/messages?lang=en' || E'\n' || ts || E'\n'
	           || n || E'\n' || encode(digest(b, 'sha256'), 'hex'), 'UTF8'),
	           'bench-secret-0123456789abcdef0123456789abcdef', 'sha256'), 'hex'), b
	FROM unnest(ARRAY['c', 'peer']) k, generate_series(1, n) g,
	     LATERAL (SELECT extract(epoch FROM now())::bigint::text AS ts,
	                     'nonce-' || k || '-' || lpad(g::text, 12, '0') AS n,
	                     convert_to('{"body":"my gems are missing after the update, order ' || g || '","client_msg_id":"m-' || g || '"}', 'UTF8') AS b) x;
	ANALYZE bench_req;
$$;
SQL

cat >"$work/c.sql" <<'EOF2'
SELECT (helpdesk.verify_signed_request(r.method, r.path, 'bench-c', r.ts, r.nonce, r.sig, r.body)).tenant_id
FROM bench_req r WHERE r.kind = 'c' AND r.id = (SELECT nextval('seq_c'));
EOF2
cat >"$work/peer.sql" <<'EOF2'
SELECT (peer_verify(r.method, r.path, 'bench-peer', r.ts, r.nonce, r.sig, r.body)).tenant_id
FROM bench_req r WHERE r.kind = 'peer' AND r.id = (SELECT nextval('seq_peer'));
EOF2

# "WALL CPU": verifications per second of one statement verifying $batch
# requests, by the wall clock and per CPU second of its backend (/proc: the
# machine is shared, so the CPU figure is the one-core rate)
batch_rate() {
	local fn app pid c0 c1 t0 t1 out tck
	if [ "$1" = c ]; then fn="helpdesk.verify_signed_request"; app=bench-c; else fn=peer_verify; app=bench-peer; fi
	tck=$(getconf CLK_TCK)
	coproc P { psql -qXAt -v ON_ERROR_STOP=1 -d $db 2>&1; }
	echo "SELECT pg_backend_pid();" >&"${P[1]}"
	read -r pid <&"${P[0]}"
	c0=$(awk '{print $14 + $15}' /proc/$pid/stat); t0=$(date +%s.%N)
	echo "SELECT count(($fn(r.method, r.path, '$app', r.ts, r.nonce, r.sig, r.body)).tenant_id) FROM bench_req r WHERE r.kind = '$1' AND r.id <= $batch;" >&"${P[1]}"
	read -r out <&"${P[0]}"
	t1=$(date +%s.%N); c1=$(awk '{print $14 + $15}' /proc/$pid/stat)
	echo '\q' >&"${P[1]}"
	wait "$P_PID" 2>/dev/null || true
	[ "$out" = "$batch" ] || { echo "verified '$out' of $batch" >&2; exit 1; }
	awk -v n="$batch" -v w="$(echo "$t1 - $t0" | bc)" -v c="$(( c1 - c0 ))" -v t="$tck" \
		'BEGIN {printf "%d %d\n", n / w, (c > 0 ? n / (c / t) : 0)}'
}
tps() {
	pgbench -n -M prepared -c 1 -j 1 -T "$secs" -f "$work/$1.sql" $db 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | cut -d. -f1
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
declare -a bc bp cc cp tc tp
for r in $(seq 1 "$rounds"); do
	psql -qXAt -d $db -c "SELECT bench_sign($batch + 50000)" >/dev/null
	# the second batch of each kind starts after the first's rows
	if [ $((r % 2)) = 1 ]; then
		read -r w1 c1 < <(batch_rate c); read -r w2 c2 < <(batch_rate peer)
	else
		read -r w2 c2 < <(batch_rate peer); read -r w1 c1 < <(batch_rate c)
	fi
	bc+=("$w1"); bp+=("$w2"); cc+=("$c1"); cp+=("$c2")
	psql -qXAt -d $db -c "SELECT setval('seq_c', $batch + 1, false), setval('seq_peer', $batch + 1, false)" >/dev/null
	if [ $((r % 2)) = 1 ]; then
		tc+=("$(tps c)"); tp+=("$(tps peer)")
	else
		tp+=("$(tps peer)"); tc+=("$(tps c)")
	fi
	echo "round $r: batch C ${bc[-1]}/s (${cc[-1]} per CPU s) peer ${bp[-1]}/s (${cp[-1]} per CPU s); per request C ${tc[-1]} TPS peer ${tp[-1]} TPS" >&2
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
spread() { printf '%s\n' "$@" | sort -n | awk 'NR==1{lo=$1} {hi=$1} END {print lo "–" hi}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
ratios() { local -n xs=$1 ys=$2; local i; for i in "${!xs[@]}"; do ratio "${xs[$i]}" "${ys[$i]}"; echo; done; }

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="bench/results/signed_request-$stamp.md"
mkdir -p bench/results
{
	echo "# verify_signed_request: C vs PL/pgSQL + pgcrypto ($stamp)"
	echo
	echo "Load average at the start: $load0."
	echo
	echo "One backend each; $rounds rounds; batch = $batch requests in one statement; per request = pgbench -c 1, $secs s, durable commits."
	echo
	echo "| workload | C (median, spread) | peer (median, spread) | ratio (median, spread) |"
	echo "|---|---:|---:|---:|"
	echo "| batch, verifications/s | $(median "${bc[@]}") ($(spread "${bc[@]}")) | $(median "${bp[@]}") ($(spread "${bp[@]}")) | **$(median $(ratios bc bp))x** ($(spread $(ratios bc bp))) |"
	echo "| batch, per CPU second of the backend (one core) | $(median "${cc[@]}") ($(spread "${cc[@]}")) | $(median "${cp[@]}") ($(spread "${cp[@]}")) | **$(median $(ratios cc cp))x** ($(spread $(ratios cc cp))) |"
	echo "| per request, TPS | $(median "${tc[@]}") ($(spread "${tc[@]}")) | $(median "${tp[@]}") ($(spread "${tp[@]}")) | **$(median $(ratios tc tp))x** ($(spread $(ratios tc tp))) |"
} | tee "$out"
