#!/usr/bin/env bash
# Benchmark of issue 20's operations, one throwaway cluster, one run:
#  - import: 100,000 customers from CSV (begin_import, COPY FROM STDIN,
#    run_import) as new rows and again as updates, against the peer: COPY of
#    the same file straight into a copy of helpdesk.customer (same indexes,
#    no validation, no upsert);
#  - search: search_messages on BENCH_MESSAGES chat messages (default
#    1,000,000; Chinese and English from a vocabulary of 400 words, 10
#    tenants, 1,000 customers each, over 90 days), queries of 1, 2, 4 Chinese
#    characters and English words, newest 50, server-side time per call,
#    against the peer pg_trgm (GIN gin_trgm_ops on the body, the same
#    queries as ILIKE '%q%');
#  - retention: retention_batch(5000) on tenant 1's expired messages at the
#    table size above and again after doubling the table with other tenants'
#    rows (cost per batch must not grow).
# BENCH_ROUNDS (3) rounds each; prints a Markdown table, writes bench/results/.
#   HD_BENCH_PORT (HD_TEST_PORT + 60, default 55492)
source "$(dirname "$0")/../scripts/lib.sh"
cd "$HD_ROOT"
rounds=${BENCH_ROUNDS:-3}
nmsg=${BENCH_MESSAGES:-1000000}
port=${HD_BENCH_PORT:-$((${HD_TEST_PORT:-55432} + 60))}
hd_install_packages
hd_build_install
dir=$(hd_cluster_dir "$HD_ROOT/.bench-ops-cluster")
hd_cluster_start "$dir" "$port" "maintenance_work_mem = '512MB'" "max_wal_size = '4GB'"
trap 'hd_cluster_stop' EXIT
work=$dir/bench; mkdir -p "$work"; chmod 777 "$work"
db=helpdesk_bench
psql -qX -d postgres -c "CREATE DATABASE $db" >/dev/null
Q() { psql -qXAt -v ON_ERROR_STOP=1 -d $db -c "$@"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
spread() { sort -n | awk 'NR==1{lo=$1} {hi=$1} END {printf "%s-%s", lo, hi}'; }
now() { date +%s.%N; }
Q "CREATE EXTENSION pg_helpdesk; CREATE EXTENSION pg_trgm" >/dev/null
Q "SELECT helpdesk.upsert_tenant('t' || g, 'T' || g) FROM generate_series(1, 12) g" >/dev/null
load=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- import
python3 - "$work/customers.csv" <<'PY'
import sys, random
random.seed(7)
with open(sys.argv[1], 'w') as f:
    f.write('external_id,display_name,vip_level,language,attributes\n')
    for i in range(100000):
        f.write('cust-%d,"Customer %d",%d,%s,"{""server"": ""s%d"", ""level"": %d}"\n'
                % (i, i, random.randint(0, 10), random.choice(['en', 'zh-cn', 'pt-br']), i % 40, i % 90))
PY
declare -A imp
for r in $(seq "$rounds"); do
	t=$((r))   # tenant r: fresh each round for inserts, then updates
	for mode in insert update; do
		t0=$(now)
		out=$(psql -qXAt -v ON_ERROR_STOP=1 -d $db <<SQL
SELECT helpdesk.begin_import($t, 'customers') AS imp \gset
\copy helpdesk.import_customer (external_id, display_name, vip_level, language, attributes) FROM '$work/customers.csv' WITH (FORMAT csv, HEADER true)
SELECT inserted || '/' || updated FROM helpdesk.run_import($t, :imp);
SQL
)
		t1=$(now)
		want=$([ $mode = insert ] && echo 100000/0 || echo 0/100000)
		[ "$out" = "$want" ] || { echo "import $mode: $out (want $want)" >&2; exit 1; }
		imp[$mode]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') "
	done
	Q "SET client_min_messages = warning; DROP TABLE IF EXISTS bench_customer; CREATE TABLE bench_customer (LIKE helpdesk.customer INCLUDING ALL);
	   ALTER TABLE bench_customer ALTER tenant_id SET DEFAULT 1"
	t0=$(now)
	psql -qX -v ON_ERROR_STOP=1 -d $db -c "\\copy bench_customer (external_id, display_name, vip_level, language, attributes) FROM '$work/customers.csv' WITH (FORMAT csv, HEADER true)" >/dev/null
	t1=$(now)
	imp[copy]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') "
done

# ---------------------------------------------------------------- search data
python3 - "$work/vocab.txt" <<'PY'
import sys, random
random.seed(11)
# 300 Chinese words of two characters from 220 common characters, 100 English words
chars = list('的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坏兴且')
cn = sorted({random.choice(chars) + random.choice(chars) for _ in range(400)})[:300]
en = ['refund','order','payment','account','login','password','shipping','delivery','invoice','coupon',
      'game','server','level','error','crash','update','ticket','support','thanks','hello']
en += ['word%d' % i for i in range(80)]
with open(sys.argv[1], 'w') as f:
    f.write('\n'.join(cn + en) + '\n')
PY
Q "CREATE TABLE vocab (i serial PRIMARY KEY, w text); " >/dev/null
psql -qX -d $db -c "\\copy vocab (w) FROM '$work/vocab.txt'" >/dev/null
Q "INSERT INTO helpdesk.customer (tenant_id, external_id) SELECT t, 'bc' || g FROM generate_series(1, 10) t, generate_series(1, 1000) g;
   INSERT INTO helpdesk.session (tenant_id, customer_id, state, closed_at, close_reason, closed_by)
   SELECT tenant_id, id, 'closed', now(), 'bench', 'system' FROM helpdesk.customer WHERE external_id LIKE 'bc%' ORDER BY id" >/dev/null
t0=$(now)
Q "SELECT setseed(0.3);
   CREATE TEMP TABLE w AS SELECT array_agg(w ORDER BY i) a, count(*)::int n FROM vocab;
   INSERT INTO helpdesk.message (tenant_id, session_id, customer_id, sender_kind, type, body, created_at)
   SELECT s.tenant_id, s.id, s.customer_id, CASE WHEN g % 2 = 0 THEN 'customer' ELSE 'agent' END, 'text',
          (SELECT string_agg(a[1 + floor(random() * CASE WHEN random() < 0.7 THEN 300 ELSE n END)::int], '')
           FROM w, generate_series(1, 4 + (g % 9)) k),
          now() - (g % 90) * interval '1 day' - (g % 86400) * interval '1 second'
   FROM generate_series(1, $nmsg) g
   JOIN helpdesk.session s ON s.id = (SELECT min(id) FROM helpdesk.session) + (g::bigint * 7919) % 10000" >/dev/null
t1=$(now)
load_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", b-a}')
Q "DROP INDEX helpdesk.message_search_keys" >/dev/null
t0=$(now)
Q "SELECT sum(helpdesk.rebuild_search_index(g)) FROM generate_series(1, 10) g" >/dev/null
Q "CREATE INDEX message_search_keys ON helpdesk.message_search USING gin (keys)" >/dev/null
t1=$(now)
key_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", b-a}')
t0=$(now)
Q "CREATE INDEX bench_trgm ON helpdesk.message USING gin (body gin_trgm_ops)" >/dev/null
t1=$(now)
trgm_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", b-a}')
Q "VACUUM ANALYZE helpdesk.message" >/dev/null; Q "VACUUM ANALYZE helpdesk.message_search" >/dev/null
sizes=$(Q "SELECT pg_size_pretty(pg_relation_size('helpdesk.message')) || ' messages, ' ||
	pg_size_pretty(pg_total_relation_size('helpdesk.message_search')) || ' search table+indexes (GIN ' ||
	pg_size_pretty(pg_relation_size('helpdesk.message_search_keys')) || '), trigram GIN ' ||
	pg_size_pretty(pg_relation_size('helpdesk.bench_trgm'))")

# q: the query; sample 20 calls, median ms; also the hits of the newest 50 and whether both agree
Q "CREATE FUNCTION bench_ms(sql text, reps int) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz; ms float8[] := '{}';
BEGIN
  FOR i IN 1..reps LOOP t0 := clock_timestamp(); EXECUTE sql; ms := ms || extract(epoch FROM clock_timestamp() - t0) * 1000; END LOOP;
  RETURN (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(ms) x);
END \$\$" >/dev/null
# queries from the vocabulary: a frequent character, a word, two words glued (4 characters),
# a word of the rare tail, English words, an absent word
mapfile -t queries < <(Q "SELECT left(w, 1) FROM vocab WHERE i = 1
	UNION ALL SELECT right(w, 1) FROM vocab WHERE i = 2
	UNION ALL SELECT w FROM vocab WHERE i = 3
	UNION ALL SELECT (SELECT w FROM vocab WHERE i = 4) || (SELECT w FROM vocab WHERE i = 5)
	UNION ALL SELECT w FROM vocab WHERE i = 250
	UNION ALL SELECT 'refund' UNION ALL SELECT 'refund order' UNION ALL SELECT 'word7 word9'
	UNION ALL SELECT 'zzzabsent'")
declare -A sres tres agree
for r in $(seq "$rounds"); do
	for i in "${!queries[@]}"; do
		qs=${queries[$i]}
		s=$(Q "SELECT round(bench_ms(format('SELECT count(*) FROM helpdesk.search_messages(3, %L, max_rows => 50)', \$q\$$qs\$q\$), 20)::numeric, 2)")
		# the trigram peer: every term as ILIKE (English terms as words are close enough for timing)
		cond=$(python3 -c "import sys; print(' AND '.join(\"body ILIKE '%%%s%%'\" % t for t in sys.argv[1].split()))" "$qs")
		t=$(Q "SET enable_seqscan = off; SELECT round(bench_ms(\$b\$SELECT count(*) FROM (SELECT id FROM helpdesk.message WHERE tenant_id = 3 AND $cond ORDER BY created_at DESC LIMIT 50) x\$b\$, 3)::numeric, 2)")
		sres[$i]+="$s "; tres[$i]+="$t "
	done
done
custq=$(Q "SELECT round(bench_ms(format('SELECT count(*) FROM helpdesk.search_messages(3, %L, (SELECT min(id) + 17 FROM helpdesk.customer WHERE tenant_id = 3 AND external_id LIKE %L), max_rows => 50)', '${queries[2]}', 'bc%'), 20)::numeric, 2)")
monthq=$(Q "SELECT round(bench_ms(format('SELECT count(*) FROM helpdesk.search_messages(3, %L, NULL, now() - interval %L, now() - interval %L, 50)', '${queries[3]}', '60 days', '30 days'), 20)::numeric, 2)")
trgm_plan=$(Q "EXPLAIN SELECT id FROM helpdesk.message WHERE body ILIKE '%退款%'" | head -3 | tr '\n' ' ')
trgm_keys=$(Q "SELECT show_trgm('我要退款')::text")

# ---------------------------------------------------------------- retention
Q "SELECT helpdesk.set_message_retention(3, '30 days')" >/dev/null
declare -A ret
batch_ms() { Q "SELECT round(bench_ms(\$b\$SELECT * FROM helpdesk.retention_batch(3, 5000, (SELECT coalesce(max(id), 0) FROM helpdesk.message WHERE false))\$b\$, 1)::numeric, 1)"; }
for r in $(seq "$rounds"); do ret[small]+="$(batch_ms) "; done
Q "INSERT INTO helpdesk.message (tenant_id, session_id, customer_id, sender_kind, type, body)
   SELECT s.tenant_id, s.id, s.customer_id, 'customer', 'text', 'filler ' || g
   FROM generate_series(1, $nmsg) g JOIN helpdesk.session s ON s.id = (SELECT min(id) FROM helpdesk.session) + (g::bigint * 7919) % 10000 WHERE s.tenant_id <> 3" >/dev/null
Q "VACUUM ANALYZE helpdesk.message" >/dev/null
total=$(Q "SELECT count(*) FROM helpdesk.message")
for r in $(seq "$rounds"); do ret[big]+="$(batch_ms) "; done

mkdir -p bench/results
out=bench/results/reports_ops-$(date -u +%Y%m%dT%H%M%SZ).md
{
	echo "reports operations bench, $(date -u +%Y-%m-%d), $rounds rounds, load average at start $load"
	echo
	echo "Import of 100,000 customers (begin_import + COPY FROM STDIN + run_import, end to end from psql), seconds:"
	echo
	echo "| what | median | spread | rows/s | vs peer |"
	echo "|---|---:|---:|---:|---:|"
	pc=$(echo "${imp[copy]}" | tr ' ' '\n' | grep . | median)
	for m in insert update; do
		v=$(echo "${imp[$m]}" | tr ' ' '\n' | grep . | median)
		echo "| import, $m | $v | $(echo "${imp[$m]}" | tr ' ' '\n' | grep . | spread) | $(awk -v v="$v" 'BEGIN{printf "%.0f", 100000/v}') | $(awk -v v="$v" -v p="$pc" 'BEGIN{printf "%.1fx the time", v/p}') |"
	done
	echo "| peer: plain COPY into a copy of customer | $pc | $(echo "${imp[copy]}" | tr ' ' '\n' | grep . | spread) | $(awk -v v="$pc" 'BEGIN{printf "%.0f", 100000/v}') | 1x |"
	echo
	echo "Search over $nmsg chat messages (10 tenants; tenant 3 queried, $(Q "SELECT count(*) FROM helpdesk.message WHERE tenant_id = 3") of its messages; generated in ${load_s} s, keyed + GIN built in ${key_s} s, trigram GIN built in ${trgm_s} s; $sizes), newest 50, ms per call (median of 20 calls per round; median and spread of the $rounds round medians):"
	echo
	echo "| query | hits (max 50) | search_messages | spread | pg_trgm ILIKE | spread |"
	echo "|---|---:|---:|---:|---:|---:|"
	for i in "${!queries[@]}"; do
		qs=${queries[$i]}
		hits=$(Q "SELECT count(*) FROM helpdesk.search_messages(3, \$q\$$qs\$q\$, max_rows => 50)")
		echo "| \`$qs\` | $hits | $(echo "${sres[$i]}" | tr ' ' '\n' | grep . | median) | $(echo "${sres[$i]}" | tr ' ' '\n' | grep . | spread) | $(echo "${tres[$i]}" | tr ' ' '\n' | grep . | median) | $(echo "${tres[$i]}" | tr ' ' '\n' | grep . | spread) |"
	done
	echo
	echo "One customer's \`${queries[2]}\`: $custq ms; \`${queries[3]}\` within a 30-day window: $monthq ms."
	echo "pg_trgm on Chinese under the C locale: show_trgm('我要退款') = $trgm_keys; plan of ILIKE '%退款%': $trgm_plan"
	echo
	echo "Retention: one retention_batch(tenant 3, 5000) (30 days kept), ms:"
	echo
	echo "| messages in the table | median | spread |"
	echo "|---:|---:|---:|"
	echo "| $nmsg | $(echo "${ret[small]}" | tr ' ' '\n' | grep . | median) | $(echo "${ret[small]}" | tr ' ' '\n' | grep . | spread) |"
	echo "| $total | $(echo "${ret[big]}" | tr ' ' '\n' | grep . | median) | $(echo "${ret[big]}" | tr ' ' '\n' | grep . | spread) |"
} | tee "$out"
