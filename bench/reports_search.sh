#!/usr/bin/env bash
# search_messages latencies on the full-size bench data (bench/reports_data.sh;
# run by bench/reports.sh against its cluster: PGHOST/PGPORT set). Tenant 1's
# messages, Chinese and English queries, without and with a customer or a time
# filter, newest 50: BENCH_SEARCH_REPS (21) calls per query on one connection
# after a warm-up call, server-side ms; median, p90, min-max. A query whose
# median misses 100 ms is run once more under auto_explain (plans of the
# statements inside search_messages, ANALYZE) into the server log.
set -euo pipefail
reps=${BENCH_SEARCH_REPS:-21}
Q() { psql -qXAt -v ON_ERROR_STOP=1 -d helpdesk "$@"; }
t1=$(Q -c "SELECT t1 FROM public.bench_data")
# the customer of tenant 1 with the most messages, and a customer with an average count
cust=$(Q -c "SELECT customer_id FROM helpdesk.message_search WHERE tenant_id = 1 GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
msgs=$(Q -c "SELECT count(*) FROM helpdesk.message_search WHERE tenant_id = 1")
echo
echo "search_messages over tenant 1's $msgs keyed messages ($(Q -c "SELECT count(*) FROM helpdesk.message_search") in all), newest 50, $reps calls per query after a warm-up; load average at the start $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| query | filter | hits | ms median | p90 | min-max |"
echo "|---|---|---:|---:|---:|---:|"
row() { # query, filter label, customer sql, from sql, to sql
	local q=$1 label=$2 c=$3 f=$4 t=$5 call st hits
	call="SELECT * FROM helpdesk.search_messages(1, \$s\$$q\$s\$, $c, $f, $t, 50)"
	st=$(Q -c "SELECT public.bench_stats(public.bench_ms_reps(\$c\$$call\$c\$, $reps))")
	hits=$(Q -c "SELECT count(*) FROM ($call) x")
	IFS='|' read -r med p90 lo hi <<<"$st"
	echo "| \`$q\` | $label | $hits | $med | $p90 | $lo-$hi |"
	if awk -v m="$med" 'BEGIN {exit !(m > 100)}'; then
		Q -c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 0" -c "SET auto_explain.log_analyze = on" \
		  -c "SET auto_explain.log_buffers = on" -c "SET auto_explain.log_nested_statements = on" \
		  -c "SELECT count(*) FROM ($call) x" >/dev/null
		echo "|  | (over 100 ms: plans in the server log at $(date -u +%T)) | | | | |"
	fi
}
for q in 退款 闪退 退 优惠券 验证码 '你好 退款' 南却 '密码错误' refund password 'refund order' 'charged twice' word400 zzzabsent; do
	row "$q" none NULL NULL NULL
done
for q in 退款 闪退 优惠券 refund 'refund order'; do
	row "$q" "customer $cust" "$cust" NULL NULL
	row "$q" "last 7 days" NULL "'$t1'::timestamptz - interval '7 days'" "'$t1'::timestamptz"
	row "$q" "one day, 20 days back" NULL "'$t1'::timestamptz - interval '20 days'" "'$t1'::timestamptz - interval '19 days'"
done
echo
echo "load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
