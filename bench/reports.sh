#!/usr/bin/env bash
# Benchmark: each report over 30 days for one tenant among several, read from
# the rollups vs the same report computed from the raw tables (source =>
# 'raw': the same SQL over helpdesk._fact_*), in the same run, on bench data
# bulk-generated straight into the tables (bench/reports/generate.sql: not
# through the API). Then rebuild_rollups of those 30 days, and the rollup
# worker's own cost: a 16-client post_message run with the worker following
# the log vs the same run with it paused (helpdesk.rollup_enabled = off).
# Prints a Markdown table; writes it to bench/results/.
#   BENCH_SESSIONS (1000000)  BENCH_MSGS (10 per session)  BENCH_TENANTS (4)
#   BENCH_ROUNDS (3)  BENCH_PM_SECONDS (10)  HD_BENCH_PORT (HD_TEST_PORT + 20)
source "$(dirname "$0")/../scripts/lib.sh"
cd "$HD_ROOT"
sessions=${BENCH_SESSIONS:-1000000}
msgs=${BENCH_MSGS:-10}
tenants=${BENCH_TENANTS:-4}
rounds=${BENCH_ROUNDS:-3}
pm_secs=${BENCH_PM_SECONDS:-10}
port=${HD_BENCH_PORT:-$((${HD_TEST_PORT:-55400} + 20))}
reps=${BENCH_REPS:-5}          # rollup calls per round on one open connection (median, p90 over all)
raw_rounds=${BENCH_RAW_ROUNDS:-$rounds}
db=helpdesk

# Full size (REPORTS_SESSIONS or REPORTS_DATA_DIR set): the persistent cluster
# of bench/reports_data.sh (generated once: 1M sessions / 10M messages for
# tenant 1 by default; reused as long as its parameters match), started at
# nice 19 in its own autogroup, stopped at the end (REPORTS_KEEP=1 keeps it
# up). Adds search_messages latencies (BENCH_SEARCH_REPS calls per query).
big=
if [ -n "${REPORTS_SESSIONS:-}${REPORTS_DATA_DIR:-}" ]; then
	big=1
	source "$HD_ROOT/bench/reports_data.sh"
	hd_log "building pg_helpdesk"; make -s -C "$HD_ROOT" >/dev/null; as_root make -s -C "$HD_ROOT" install >/dev/null
	rd_ensure
	export PGHOST=$RD_SOCK PGPORT=$RD_PORT PGUSER=postgres
	dir=$RD_DIR
	trap '[ -n "${REPORTS_KEEP:-}" ] || rd_stop' EXIT
else
	dir=$(hd_cluster_dir "$HD_ROOT/.bench-reports-cluster")
	if [ -n "${BENCH_REUSE:-}" ]; then
		# BENCH_REUSE=1: the cluster a previous run generated is still up; measure again
		export PGHOST=/tmp/hd-sock-$port PGPORT=$port PGUSER=postgres
		HD_CLUSTER=$dir
	else
		hd_install_packages
		hd_build_install
		hd_cluster_start "$dir" "$port" "max_wal_size = 8GB" "checkpoint_timeout = 30min" "maintenance_work_mem = 512MB" "work_mem = 64MB"
	fi
	trap 'hd_cluster_stop' EXIT
fi
out=$HD_ROOT/bench/results/reports-$(date -u +%Y%m%dT%H%M%SZ).md
mkdir -p "$HD_ROOT/bench/results"
Q() { psql -qXAt -v ON_ERROR_STOP=1 -d $db "$@"; }

start=$(date +%s)
if [ -z "${BENCH_REUSE:-}${big}" ]; then
	Q -c 'CREATE EXTENSION pg_helpdesk'
	t1=$(Q -c "SELECT date_trunc('day', now())")
	Q -v sessions="$sessions" -v msgs="$msgs" -v tenants="$tenants" -v t1="$t1" -f bench/reports/generate.sql >/dev/null
	Q -c 'VACUUM ANALYZE'
fi
gen_s=$(( $(date +%s) - start ))
[ -n "$big" ] && gen_s=$(Q -c "SELECT total_s || ' (load ' || load_s || ' s; rollups ' || rollups_s || ' s and search keys ' || keys_s || ' s at once); ' || sizes FROM public.bench_data")
# the 30 days end at a midnight of tenant 1's zone (Asia/Shanghai), so day and
# total reports can read the day tier
t1=$(Q -c "SELECT date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai') AT TIME ZONE 'Asia/Shanghai'")
[ -n "$big" ] && t1=$(Q -c "SELECT t1 FROM public.bench_data")   # the generated window's end
from=$(Q -c "SELECT ('$t1'::timestamptz AT TIME ZONE 'Asia/Shanghai' - interval '30 days') AT TIME ZONE 'Asia/Shanghai'")
counts=$(Q -c "SELECT (SELECT count(*) FROM helpdesk.session WHERE tenant_id = 1) || ' sessions, ' ||
                      (SELECT count(*) FROM helpdesk.message WHERE tenant_id = 1) || ' messages, ' ||
                      (SELECT count(*) FROM helpdesk.ticket WHERE tenant_id = 1) || ' tickets for tenant 1; ' ||
                      (SELECT count(*) FROM helpdesk.session) || ' sessions, ' ||
                      (SELECT count(*) FROM helpdesk.message) || ' messages in all'")
echo "generated in ${gen_s} s: $counts"
Q -f bench/reports/time.sql >/dev/null

# rollups of every tenant's 30 days (the bench data has no events to follow)
# (one round: it computes every raw figure of the 30 days once, as a raw report
# does; at full size the generator made them, and BENCH_REBUILD=1 times it again)
rebuild=()
if [ -z "$big" ] || [ -n "${BENCH_REBUILD:-}" ]; then
	rebuild=("$(Q -c "SELECT public.bench_ms(\$\$SELECT helpdesk.rebuild_rollups(1, '$from', '$t1')\$\$)")")
fi
if [ -z "${BENCH_REUSE:-}${big}" ]; then
	for t in $(seq 2 "$tenants"); do Q -c "SELECT helpdesk.rebuild_rollups($t, '$from', '$t1')" >/dev/null; done
fi
Q -c 'ANALYZE' >/dev/null
rows=$(Q -c "SELECT (SELECT count(*) FROM helpdesk.rollup_session WHERE tenant_id = 1) + (SELECT count(*) FROM helpdesk.rollup_offer WHERE tenant_id = 1)
             + (SELECT count(*) FROM helpdesk.rollup_ticket WHERE tenant_id = 1) + (SELECT count(*) FROM helpdesk.rollup_sla WHERE tenant_id = 1)
             + (SELECT count(*) FROM helpdesk.rollup_csat WHERE tenant_id = 1) + (SELECT count(*) FROM helpdesk.rollup_occupancy WHERE tenant_id = 1)")

stats() { # values... -> "median (min-max)"
	printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%g|%g|%g", m, a[1], a[NR]}'
}
{
	echo "# bench/reports.sh $(date -u +%FT%TZ)"
	echo
	echo "$counts; generated in ${gen_s} s; $rows rollup rows for tenant 1; load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	echo "rollup: $rounds rounds of $reps calls on one open connection (after a warm-up call), median / p90 (min-max) of all; raw: $raw_rounds rounds"
	echo
	echo "| report (30 days, tenant 1) | rollup ms median / p90 (min-max) | first call on a new connection, ms median (min-max) | raw ms median (min-max) | speed-up (medians) |"
	echo "|---|---:|---:|---:|---:|"
} >"$out"
for rep in ${BENCH_REPORTS:-"report_agents:{agent}:day" "report_tickets:{}:day" "report_sla:{policy,target}:total" \
           "report_csat:{}:day" "report_sessions:{queue}:day" "report_funnel:{}:total"}; do
	fn=${rep%%:*}; rest=${rep#*:}; g=${rest%%:*}; b=${rest#*:}
	roll='{}' cold=() raw=()
	call="SELECT public.bench_ms(\$\$SELECT * FROM helpdesk.$fn(1, '$from', '$t1', '$g', '$b')\$\$)"
	for r in $(seq 1 "$rounds"); do
		# rollup: on an open connection (a dashboard's or a pool's), after one call
		# that compiled the PL/pgSQL and filled the caches; cold: a new connection's
		# first call (backend start-up, function compile, catalog caches)
		roll=$(Q -c "SELECT '$roll'::float8[] || public.bench_ms_reps(\$q\$SELECT * FROM helpdesk.$fn(1, '$from', '$t1', '$g', '$b')\$q\$, $reps)")
		cold+=("$(Q -c "$call")")
	done
	for r in $(seq 1 "$raw_rounds"); do
		raw+=("$(Q -c "SELECT public.bench_ms(\$\$SELECT * FROM helpdesk.$fn(1, '$from', '$t1', '$g', '$b', 'raw')\$\$)")")
	done
	IFS='|' read -r rm rp90 rlo rhi <<<"$(Q -c "SELECT public.bench_stats('$roll')")"
	IFS='|' read -r wm wlo whi <<<"$(stats "${raw[@]}")"
	IFS='|' read -r cm clo chi <<<"$(stats "${cold[@]}")"
	# (that both give the same figures is test/e2e/reports_equality.sh's job: a
	# fourth raw run per report here cost more than the three measured ones)
	printf '| %s(%s, %s) | %s / %s (%s-%s) | %s (%s-%s) | %s (%s-%s) | %sx |\n' "$fn" "$g" "$b" "$rm" "$rp90" "$rlo" "$rhi" "$cm" "$clo" "$chi" "$wm" "$wlo" "$whi" \
		"$(awk -v a="$wm" -v b="$rm" 'BEGIN {printf "%.0f", a / b}')" >>"$out"
	echo "  $fn done: rollup $rm ms, raw $wm ms (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
done
echo >>"$out"
if [ ${#rebuild[@]} -gt 0 ]; then
IFS='|' read -r bm blo bhi <<<"$(stats "${rebuild[@]}")"
echo "rebuild_rollups(tenant 1, 30 days): $bm ms median ($blo-$bhi)" >>"$out"
fi
[ -n "$big" ] && [ "${BENCH_SEARCH:-1}" = 1 ] && bash "$HD_ROOT/bench/reports_search.sh" >>"$out"
echo "load average after the reports: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out"

# post_message at 16 clients, rollup worker following the log vs paused
Q -c "DROP TABLE IF EXISTS public.pm_session" >/dev/null
Q -c "SELECT helpdesk.upsert_queue(1, 'pm', 'PM')" >/dev/null
Q -c "SELECT helpdesk.close_session(1, id) FROM helpdesk.session WHERE tenant_id = 1 AND state <> 'closed'" >/dev/null
Q -c "SELECT helpdesk.start_session(1, id, queue_id => (SELECT id FROM helpdesk.queue WHERE tenant_id = 1 AND external_id = 'pm'))
      FROM (SELECT helpdesk.upsert_customer(1, 'pm' || g) AS id FROM generate_series(1, 16) g) c" >/dev/null
Q -c "CREATE TABLE public.pm_session AS SELECT row_number() OVER (ORDER BY id) - 1 AS k, id, customer_id FROM helpdesk.session WHERE state <> 'closed' AND tenant_id = 1" >/dev/null
work=$dir/bench; mkdir -p "$work"; chmod 777 "$work"
cat >"$work/pm.sql" <<'EOF2'
\set k :client_id % 16
SELECT helpdesk.post_message(1, s.id, 'customer', s.customer_id, 'hello, I need help with my order #12345') FROM public.pm_session s WHERE s.k = :k;
EOF2
pm() { # on|off -> tps
	psql -qX -d $db -c "ALTER SYSTEM SET helpdesk.rollup_enabled = $1" -c "SELECT pg_reload_conf()" -c CHECKPOINT >/dev/null
	"$PGBIN/pgbench" -n -M prepared -c 16 -j 2 -T "$pm_secs" -f "$work/pm.sql" $db 2>/dev/null | sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -1
}
on=() off=()
for r in $(seq 1 "$rounds"); do
	on+=("$(pm on)"); off+=("$(pm off)")
done
psql -qX -d $db -c "ALTER SYSTEM RESET helpdesk.rollup_enabled" -c "SELECT pg_reload_conf()" >/dev/null
IFS='|' read -r onm onlo onhi <<<"$(stats "${on[@]}")"
IFS='|' read -r offm offlo offhi <<<"$(stats "${off[@]}")"
ratios=()
for r in $(seq 0 $((rounds - 1))); do ratios+=("$(awk -v a="${on[$r]}" -v b="${off[$r]}" 'BEGIN {printf "%.3f", a / b}')"); done
IFS='|' read -r ram ralo rahi <<<"$(stats "${ratios[@]}")"
{
	echo
	echo "post_message, 16 clients, ${pm_secs} s, on the generated database: rollup worker following $onm TPS ($onlo-$onhi), paused $offm TPS ($offlo-$offhi); ratio per round median **${ram}x** ($ralo-$rahi)"
} >>"$out"
cat "$out"
