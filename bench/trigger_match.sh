#!/usr/bin/env bash
# Benchmark: the matching cost per customer message in one backend, without
# pgbench's client and network noise: post_message into a tenant with
# BENCH_TASKS (10,000) waiting keyword tasks against post_message into a
# tenant with none, and the peer (bench/peers/plpgsql_task_match.sql, the
# seed's scan of every waiting task, PL/pgSQL) with the same tasks,
# interleaved in one transaction per round (the index is warm: built once per
# backend and tenant). Prints ms per message (median, min-max of the rounds).
#   BENCH_ROUNDS (5)  BENCH_POSTS (300)  HD_BENCH_PORT (HD_TEST_PORT + 81)
source "$(dirname "$0")/../scripts/lib.sh"
cd "$HD_ROOT"
rounds=${BENCH_ROUNDS:-5}
posts=${BENCH_POSTS:-300}
ntasks=${BENCH_TASKS:-10000}
port=${HD_BENCH_PORT:-$((${HD_TEST_PORT:-55432} + 81))}
hd_install_packages
hd_build_install
dir=$(hd_cluster_dir "$HD_ROOT/.bench-cluster-match")
hd_cluster_start "$dir" "$port"
trap 'hd_cluster_stop' EXIT
db=helpdesk_bench
psql -qX -d postgres -c "CREATE DATABASE $db" >/dev/null
psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
CREATE EXTENSION pg_helpdesk;
SELECT helpdesk.upsert_tenant('a', 'A'), helpdesk.upsert_tenant('b', 'B');
SELECT helpdesk.upsert_queue(t, 'main', 'Main', is_default => true) FROM generate_series(1, 2) t;
SELECT helpdesk.upsert_customer(t, 'c1') FROM generate_series(1, 2) t;
SELECT helpdesk.start_session(tenant_id, id) FROM helpdesk.customer ORDER BY tenant_id;
SELECT count(helpdesk.receive_task(2, jsonb_build_object('task_id', 'T' || g, 'type', 'bench',
	'trigger', CASE g % 10 WHEN 0 THEN jsonb_build_object('type', 'customer_reply', 'keyword', '确认' || g, 'exact_match', true)
		WHEN 1 THEN jsonb_build_object('type', 'customer_keyword', 'keywords', jsonb_build_array('好的' || g, 'ok-' || g))
		ELSE jsonb_build_object('type', 'customer_reply', 'keyword', CASE g % 2 WHEN 0 THEN '订单' || g || '号' ELSE 'order-' || g END) END,
	'action', jsonb_build_object('type', 'send_message', 'message', 'done ' || g)))) FROM generate_series(1, $ntasks) g;
CREATE TABLE bench_plain (LIKE helpdesk.message INCLUDING ALL);
SQL
psql -qX -v ON_ERROR_STOP=1 -d $db -f bench/peers/plpgsql_task_match.sql >/dev/null
out=$(psql -qXAt -v ON_ERROR_STOP=1 -d $db <<SQL
INSERT INTO peer_task (task_id, tenant_id, trigger_type, specified_customer_id, trigger_keyword, trigger_keywords, exact_match)
SELECT task_id, tenant_id, trigger_type, trigger_customer_id, CASE WHEN cardinality(keywords) = 1 THEN keywords[1] END,
       CASE WHEN cardinality(keywords) > 1 THEN keywords END, exact_match FROM helpdesk.trigger_task WHERE tenant_id = 2;
CREATE TEMP TABLE t (k text, ms float8);
SELECT helpdesk.post_message(1, 1, 'customer', 1, 'warm'), helpdesk.post_message(2, 2, 'customer', 2, 'warm');
DO \$\$
DECLARE t0 timestamptz; body text := 'hello, I need help with my order #12345, 谢谢'; BEGIN
FOR r IN 1..$rounds LOOP
  t0 := clock_timestamp();
  FOR i IN 1..$posts LOOP PERFORM helpdesk.post_message(1, 1, 'customer', 1, body); END LOOP;
  INSERT INTO t VALUES ('post_message, no tasks', extract(epoch FROM clock_timestamp() - t0) * 1000 / $posts);
  t0 := clock_timestamp();
  FOR i IN 1..$posts LOOP PERFORM helpdesk.post_message(2, 2, 'customer', 2, body); END LOOP;
  INSERT INTO t VALUES ('post_message, $ntasks tasks', extract(epoch FROM clock_timestamp() - t0) * 1000 / $posts);
  t0 := clock_timestamp();
  FOR i IN 1..5 LOOP PERFORM peer_post(2, 2, 2, 'c1', body); END LOOP;
  INSERT INTO t VALUES ('peer: the seed''s scan (PL/pgSQL), $ntasks tasks', extract(epoch FROM clock_timestamp() - t0) * 1000 / 5);
END LOOP; END \$\$;
SELECT '| ' || k || ' | ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 3) || ' | ' ||
       round(min(ms)::numeric, 3) || '-' || round(max(ms)::numeric, 3) || ' |' FROM t GROUP BY k ORDER BY min(ms);
SQL
)
mkdir -p bench/results
res=bench/results/trigger_match-$(date -u +%Y%m%dT%H%M%SZ).md
{
	echo "matching cost per customer message, one backend, $rounds interleaved rounds ($posts posts each; the peer 5)"
	echo
	echo "| variant | ms per message (median) | range |"
	echo "|---|---:|---:|"
	echo "$out" | grep "^| "
	echo
	echo "load average (1 min): $(cut -d' ' -f1 /proc/loadavg); machine: $(nproc) cores"
} | tee "$res"
