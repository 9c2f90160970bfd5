#!/usr/bin/env bash
# Benchmark: business_time_add in C (extension/tickets/calendar_time.c, the
# compiled calendar cached per backend) against the same rules in PL/pgSQL
# (bench/peers/plpgsql_business_time.sql), interleaved in one run on one
# throwaway cluster, on the same cases: a Europe/Berlin calendar with a lunch
# break and the year's holidays, starts spread over 2026 (both DST changes
# included), amounts from 1 minute to 40 hours. Every case's two results must
# be equal, or the run fails. Then the SLA timers at scale (BENCH_SCALES):
# open tickets with due times far ahead plus BENCH_DUE tickets due within
# seconds, while pgbench changes ticket priorities at BENCH_RATE/s (each
# change recomputes the ticket's SLA): breach lag p50/p99 (sla_event.at -
# due), the SLA stage's next_due lookup time, and the dispatcher's CPU while
# nothing is due. Prints Markdown tables; writes them to bench/results/.
#
#   BENCH_CASES (20000)   cases per timing
#   BENCH_ROUNDS (3)      rounds; ratios are reported as median (min-max)
#   BENCH_C_REPEAT (10)   the C function is timed over this many passes of the cases
#   BENCH_SCALES ("10000 1000000")  open tickets for the timer part ("" skips it)
#   BENCH_DUE (500)       tickets due during each timer run (through the API;
#                         their first response breaches 3 s after creation)
#   BENCH_RATE (1000)     priority changes per second during each timer run
#   BENCH_NO_BUILD (0)    1: use the installed pg_helpdesk
#   HD_BENCH_PORT         (default HD_TEST_PORT + 88, or 55488)
source "$(dirname "$0")/../scripts/lib.sh"
cd "$HD_ROOT"
cases=${BENCH_CASES:-20000}
rounds=${BENCH_ROUNDS:-3}
crep=${BENCH_C_REPEAT:-10}
scales=${BENCH_SCALES-"10000 1000000"}
due_n=${BENCH_DUE:-500}
rate=${BENCH_RATE:-1000}
port=${HD_BENCH_PORT:-$(( ${HD_TEST_PORT:-55400} + 88 ))}
[ "${BENCH_NO_BUILD:-0}" = 1 ] || hd_build_install
dir=$(hd_cluster_dir "$HD_ROOT/.bench-tickets-cluster")
hd_cluster_start "$dir" "$port"
trap 'hd_cluster_stop' EXIT
db=bench_tickets
psql -qX -d postgres -c "CREATE DATABASE $db" >/dev/null
psql -qX -d $db -c 'CREATE EXTENSION pg_helpdesk' >/dev/null
psql -qX -v ON_ERROR_STOP=1 -d $db -f bench/peers/plpgsql_business_time.sql >/dev/null
q() { psql -qXAt -v ON_ERROR_STOP=1 -d $db -c "$@"; }

q "
SELECT helpdesk.upsert_tenant('bench', 'Bench');
SELECT helpdesk.upsert_calendar(1, 'office', 'Office', 'Europe/Berlin',
	'{\"mon\": [[\"09:00\", \"12:00\"], [\"13:00\", \"18:00\"]], \"tue\": [[\"09:00\", \"12:00\"], [\"13:00\", \"18:00\"]],
	  \"wed\": [[\"09:00\", \"12:00\"], [\"13:00\", \"18:00\"]], \"thu\": [[\"09:00\", \"12:00\"], [\"13:00\", \"18:00\"]],
	  \"fri\": [[\"09:00\", \"12:00\"], [\"13:00\", \"17:00\"]]}',
	'[{\"date\": \"2026-01-01\"}, {\"date\": \"2026-04-03\"}, {\"date\": \"2026-04-06\"}, {\"date\": \"2026-05-01\"},
	  {\"date\": \"2026-05-14\"}, {\"date\": \"2026-05-25\"}, {\"date\": \"2026-10-03\"}, {\"date\": \"2026-12-25\"},
	  {\"date\": \"2026-12-26\"}]');
SELECT setseed(0.42);
CREATE TABLE cases AS
SELECT g AS n, timestamptz '2026-01-01 00:00+00' + random() * interval '360 days' AS t,
       make_interval(mins => 1 + floor(random() * 2400)::int) AS amount
FROM generate_series(1, $cases) g;
CREATE FUNCTION bench_secs(sql text) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN EXECUTE sql; RETURN extract(epoch FROM clock_timestamp() - t0); END \$\$;
" >/dev/null

bad=$(q "SELECT count(*) FROM cases WHERE helpdesk.business_time_add(1, 1, t, amount) IS DISTINCT FROM bench_peer.business_time_add(1, 1, t, amount)")
[ "$bad" = 0 ] || { q "SELECT n, t, amount, helpdesk.business_time_add(1, 1, t, amount), bench_peer.business_time_add(1, 1, t, amount) FROM cases
	WHERE helpdesk.business_time_add(1, 1, t, amount) IS DISTINCT FROM bench_peer.business_time_add(1, 1, t, amount) LIMIT 5" >&2;
	echo "FAIL: C and PL/pgSQL differ on $bad of $cases cases" >&2; exit 1; }

c_sql="SELECT count(helpdesk.business_time_add(1, 1, t, amount)) FROM cases, generate_series(1, $crep)"
p_sql="SELECT count(bench_peer.business_time_add(1, 1, t, amount)) FROM cases"
rows=""
for ((r = 1; r <= rounds; r++)); do
	c=$(q "SELECT bench_secs('$c_sql') * 1e6 / ($cases * $crep)")
	p=$(q "SELECT bench_secs('$p_sql') * 1e6 / $cases")
	rows+="$r $c $p"$'\n'
done
table1=$(printf '%s' "$rows" | awk -v cases="$cases" -v rounds="$rounds" '
	{ c[NR] = $2; p[NR] = $3; x[NR] = $3 / $2 }
	function med(a, n,   i, j, t, b) { for (i = 1; i <= n; i++) b[i] = a[i];
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (b[j] < b[i]) { t = b[i]; b[i] = b[j]; b[j] = t }
		return n % 2 ? b[(n + 1) / 2] : (b[n / 2] + b[n / 2 + 1]) / 2 }
	END {
		lo = hi = x[1]; for (i = 2; i <= NR; i++) { if (x[i] < lo) lo = x[i]; if (x[i] > hi) hi = x[i] }
		printf "| calendar | C µs/call | PL/pgSQL µs/call | ratio (min-max over %d rounds) |\n|---|---:|---:|---:|\n", rounds
		printf "| Europe/Berlin, lunch break, 9 holidays; %d cases, 1 min-40 h | %.2f | %.1f | **%.0fx** (%.0f-%.0fx) |\n",
			cases, med(c, NR), med(p, NR), med(x, NR), lo, hi }')
echo "$table1"

# ---- SLA timers at scale ----
table2=""
if [ -n "$scales" ]; then
	q "
	SELECT helpdesk.upsert_customer(1, 'c' || g) FROM generate_series(1, 1000) g;
	SELECT helpdesk.upsert_sla_policy(1, 'far', 2, first_response => '1 day', resolution => '30 days');
	SELECT helpdesk.upsert_sla_policy(1, 'soon', 1, first_response => '3 s', resolution => '30 days', priorities => '{urgent}');
	" >/dev/null
	# tickets changed by pgbench: created through the API (their clocks are real)
	q "SELECT count(*) FROM helpdesk.customer c, helpdesk.create_ticket(1, c.id, 'load', 'x') WHERE c.id <= 1000" >/dev/null
	cat >"$dir/update.sql" <<'SQL'
\set k random(1, 1000)
SELECT helpdesk.set_ticket_priority(1, :k, CASE WHEN random() < 0.5 THEN 'normal' ELSE 'low' END, 'api');
SQL
	dpid() { q "SELECT coalesce((SELECT pid FROM helpdesk.worker_status() WHERE kind = 'dispatcher'), 0)"; }
	have=0
	table2="| open tickets | breach lag p50 | p99 | max | next_due lookup | dispatcher CPU idle (10 s) | updates/s reached |"$'\n'"|---:|---:|---:|---:|---:|---:|---:|"
	for scale in $scales; do
		# the backlog: open tickets with clocks and due times a day ahead, bulk
		# loaded (what a million API calls would leave, without the hour)
		add=$((scale - have - 1000))
		if [ "$add" -gt 0 ]; then
			q "
			INSERT INTO helpdesk.ticket (tenant_id, number, customer_id, subject, status, sla_policy_id, sla_state,
				sla_first_response_due, sla_resolution_due, sla_next_at)
			SELECT 1, 1000000 + $have + g, 1 + g % 1000, 'backlog', 'open', (SELECT id FROM helpdesk.sla_policy WHERE name = 'far'),
				'active', now() + interval '1 day' + g * interval '1 ms', now() + interval '30 days',
				now() + interval '19 hours' + g * interval '1 ms'
			FROM generate_series(1, $add) g;
			ANALYZE helpdesk.ticket;" >/dev/null
			have=$((have + add))
		fi
		q "CHECKPOINT" >/dev/null
		# next_due: the stage's lookup, timed over 1000 executions
		lsql="SELECT (SELECT t.sla_next_at FROM helpdesk.ticket t WHERE t.sla_next_at IS NOT NULL ORDER BY t.sla_next_at LIMIT 1) FROM generate_series(1, 10000)"
		q "SELECT bench_secs('$lsql')" >/dev/null	# warm: plan, buffers
		lookup=$(q "SELECT round((bench_secs('$lsql') * 100)::numeric, 2)")
		# idle CPU: nothing due for hours
		pid=$(dpid)
		t0=$(awk '{ print $14 + $15 }' /proc/$pid/stat)
		sleep 10
		t1=$(awk '{ print $14 + $15 }' /proc/$pid/stat)
		idle=$(awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f %%", (b - a) / hz / 10 * 100 }')
		# load: priority changes at $rate/s, and $due_n urgent tickets due 3 s after creation, spread over 10 s
		q "DELETE FROM helpdesk.sla_event" >/dev/null
		pgbench -n -T 14 -R "$rate" -c 4 -j 2 -f "$dir/update.sql" $db >"$dir/pgbench.out" 2>&1 &
		pg=$!
		first=$(q "SELECT coalesce(max(id), 0) FROM helpdesk.ticket")
		for ((i = 0; i < 10; i++)); do
			q "SELECT count(*) FROM helpdesk.customer c, helpdesk.create_ticket(1, c.id, 'urgent', 'x', 'urgent') WHERE c.id <= $((due_n / 10))" >/dev/null
			sleep 1
		done
		wait $pg || { cat "$dir/pgbench.out" >&2; exit 1; }
		reached=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$dir/pgbench.out" | head -1)
		sleep 2
		lag=$(q "SELECT format('%s ms | %s ms | %s ms', round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM at - due)) * 1000)::numeric, 1),
			round((percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM at - due)) * 1000)::numeric, 1),
			round((max(extract(epoch FROM at - due)) * 1000)::numeric, 1)) FROM helpdesk.sla_event WHERE kind = 'breach' AND ticket_id > $first")
		fired=$(q "SELECT count(*) FROM helpdesk.sla_event WHERE kind = 'breach' AND ticket_id > $first")
		[ "$fired" = "$due_n" ] || { echo "FAIL: $fired of $due_n breaches fired at $scale open tickets" >&2; exit 1; }
		table2+=$'\n'"| $(q "SELECT count(*) FROM helpdesk.ticket WHERE status IN ('new', 'open', 'pending')") | $lag | ${lookup} µs | $idle | ${reached%.*} |"
		# the urgent tickets leave: resolved
		q "SELECT count(helpdesk.set_ticket_status(1, id, 'resolved', 'api')) FROM helpdesk.ticket WHERE id > $first" >/dev/null
	done
	echo
	echo "$table2"
fi

out=bench/results/tickets-$(date -u +%Y%m%dT%H%M%SZ).md
mkdir -p bench/results
{ echo "# bench/tickets.sh $(date -u +%FT%TZ)"; echo; echo "$table1"; echo; echo "$table2"; } >"$out"
echo "written to $out"
