#!/usr/bin/env bash
# helpdesk.metrics() through the bridge's /metrics into Debian's prometheus:
# the bridge's answer passes `promtool check metrics`; a real prometheus on
# loopback scrapes it every second and its HTTP API (/api/v1/query) returns
# the database series with their labels and values (a queued session shows
# as queue length 1 with a growing oldest wait); the bridge reads
# helpdesk.metrics() at most once per --metrics-interval-ms however often it
# is scraped (pg_stat_user_functions counts the calls); every metric the
# Grafana dashboard (docs/grafana/helpdesk.json) references is exported, and
# every query of the dashboard is accepted by prometheus.
# Where the bridge has --metrics-token-file (sec-http), /metrics is read with a
# bearer token (curl and prometheus's credentials_file) and refused without it.
# Ports: HD_TEST_PORT + 55 (bridge), + 56 (prometheus).
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$HD_ROOT"
: "${HD_CLUSTER:?HD_CLUSTER (the cluster scripts/test started) is not set}"
command -v prometheus >/dev/null && command -v promtool >/dev/null || fail "prometheus/promtool missing (HD_PACKAGES)"
make -s -C bridge >/dev/null || fail "cannot build the bridge"

db=e2e_prometheus
bport=$((${HD_TEST_PORT:-55432} + 55))
pport=$((${HD_TEST_PORT:-55432} + 56))
work=$HD_CLUSTER/prometheus
rm -rf "$work"; mkdir -p "$work"
bpid= ppid_=
cleanup() {
	[ -n "$ppid_" ] && kill "$ppid_" 2>/dev/null && wait "$ppid_" 2>/dev/null
	[ -n "$bpid" ] && kill "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null
	psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

fresh_db "$db"
q "$db" "ALTER DATABASE $db SET track_functions = 'all'"
q "$db" "
SELECT helpdesk.upsert_tenant('prom', 'Prom \"quoted\" tenant');
SELECT helpdesk.upsert_queue((SELECT id FROM helpdesk.tenant WHERE slug = 'prom'), 'vip\"q', 'VIP', is_default => true);
SELECT helpdesk.upsert_agent((SELECT id FROM helpdesk.tenant WHERE slug = 'prom'), 'a1', 'Agent One');
SELECT helpdesk.start_session((SELECT id FROM helpdesk.tenant WHERE slug = 'prom'),
	helpdesk.upsert_customer((SELECT id FROM helpdesk.tenant WHERE slug = 'prom'), 'c1'));" >/dev/null
wait_until "$db" "SELECT count(*) = 2 FROM helpdesk.worker_status() WHERE kind IN ('publisher', 'dispatcher') AND pid IS NOT NULL" 30 \
	|| fail "no publisher and dispatcher in $db"
HELPDESK_TOKEN_SECRET=$(q "$db" "SHOW helpdesk.token_secret")
export HELPDESK_TOKEN_SECRET

# where the bridge puts /metrics behind a bearer token (--metrics-token-file), use one:
# curl and prometheus send it, and a scrape without it is refused
auth=() token_flag=() prom_auth=
if grep -q -- --metrics-token-file < <(bridge/helpdesk-bridge --help 2>&1); then
	od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$work/token"
	auth=(-H "Authorization: Bearer $(cat "$work/token")")
	token_flag=(--metrics-token-file "$work/token")
	prom_auth="    authorization:
      type: Bearer
      credentials_file: $work/token"
fi
bridge/helpdesk-bridge --port "$bport" --metrics-interval-ms 2000 "${token_flag[@]}" \
	--db "host=$PGHOST port=$PGPORT dbname=$db user=$PGUSER" >"$work/bridge.log" 2>&1 &
bpid=$!
for _ in $(seq 100); do
	curl -sf "${auth[@]}" "http://127.0.0.1:$bport/metrics" -o "$work/m.txt" && grep -q '^helpdesk_queue_sessions' "$work/m.txt" && break
	sleep 0.2
done
if [ ${#token_flag[@]} -gt 0 ]; then
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$bport/metrics")
	[ "$code" != 200 ] || fail "/metrics answered 200 without the bearer token"
	note "/metrics behind --metrics-token-file: $code without the token"
fi
grep -q '^helpdesk_queue_sessions{' "$work/m.txt" || { cat "$work/bridge.log"; fail "the database series never appeared in /metrics"; }
grep -qF 'helpdesk_queue_sessions{queue="vip\"q",tenant="prom"} 1' "$work/m.txt" \
	|| { grep helpdesk_queue_sessions "$work/m.txt"; fail "queue length of the queued session not 1 (or its label not escaped)"; }
# promtool: exit status and nothing said (lint problems are printed, exit 1)
if ! promtool check metrics <"$work/m.txt" >"$work/promtool.out" 2>&1 || [ -s "$work/promtool.out" ]; then
	cat "$work/promtool.out"; fail "promtool check metrics is not clean"
fi
note "promtool check metrics: clean ($(grep -c '^# TYPE' "$work/m.txt") metrics)"

# at most one read per interval, however often scraped
calls() { q "$db" "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions WHERE schemaname = 'helpdesk' AND funcname = 'metrics'"; }
sleep 2.2
c0=$(calls) t0=$(date +%s.%N)
for _ in $(seq 200); do curl -sf "${auth[@]}" "http://127.0.0.1:$bport/metrics" -o /dev/null || fail "scrape failed"; done
sleep 1.5    # the bridge backend reports its function stats at most once a second
c1=$(calls) t1=$(date +%s.%N)
allowed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print int((b - a) / 2.0) + 2 }')
[ $((c1 - c0)) -le "$allowed" ] || fail "200 scrapes in $(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}') s made $((c1 - c0)) calls of helpdesk.metrics() (at most $allowed allowed)"
note "200 scrapes: $((c1 - c0)) reads of helpdesk.metrics() (allowed $allowed)"

cat >"$work/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: helpdesk
    static_configs:
      - targets: ['127.0.0.1:$bport']
$prom_auth
YML
promtool check config "$work/prometheus.yml" >/dev/null || fail "promtool rejects the scrape config"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
	--web.listen-address="127.0.0.1:$pport" >"$work/prometheus.log" 2>&1 &
ppid_=$!
api() { curl -sf --get "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1"; }
value_of() { api "$1" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'; }
v=
for _ in $(seq 150); do
	v=$(value_of 'helpdesk_queue_sessions{tenant="prom",queue="vip\"q"}' 2>/dev/null || true)
	[ -n "$v" ] && break
	sleep 0.2
done
[ "$v" = 1 ] || { tail -20 "$work/prometheus.log"; fail "prometheus has no helpdesk_queue_sessions{tenant=prom} = 1 (got '$v')"; }
note "prometheus scraped the bridge: queue length 1"
for s in 'helpdesk_agents{tenant="prom",status="offline"}' 'helpdesk_sessions{tenant="prom",state="queued"}' \
	'helpdesk_worker_up{kind="dispatcher"}' 'helpdesk_dispatcher_passes_total' 'helpdesk_publisher_lag_events' \
	'helpdesk_bridge_connections{kind="agent"}' 'up{job="helpdesk"}'; do
	v=$(value_of "$s")
	[ -n "$v" ] || fail "prometheus has no series $s"
done
[ "$(value_of 'helpdesk_agents{tenant="prom",status="offline"}')" = 1 ] || fail "agents offline should be 1"
[ "$(value_of 'helpdesk_worker_up{kind="dispatcher"}')" = 1 ] || fail "dispatcher should be up"
w1=$(value_of 'helpdesk_queue_oldest_wait_seconds{tenant="prom"}')
sleep 3
w2=$(value_of 'helpdesk_queue_oldest_wait_seconds{tenant="prom"}')
awk -v a="$w1" -v b="$w2" 'BEGIN { exit !(a > 0 && b > a) }' || fail "oldest wait does not grow: $w1 then $w2"
note "oldest wait grows: $w1 s -> $w2 s"

# the Grafana dashboard: every metric it references is exported, every query parses
python3 - "$HD_ROOT/docs/grafana/helpdesk.json" "$work/m.txt" "$pport" <<'PY' || fail "Grafana dashboard check failed"
import json, re, sys, urllib.parse, urllib.request
dash = json.load(open(sys.argv[1]))
exported = set(re.findall(r'^# TYPE (\S+) (\S+)', open(sys.argv[2]).read(), re.M))
names = {n for n, _ in exported}
hist = {n for n, t in exported if t == 'histogram'}
exprs = [t['expr'] for p in dash['panels'] for t in p.get('targets', [])]
exprs += [v['query']['query'] if isinstance(v.get('query'), dict) else v.get('query', '')
          for v in dash.get('templating', {}).get('list', [])]
bad = []
for e in exprs:
    for m in set(re.findall(r'\bhelpdesk_[a-z0-9_]+', e)):
        base = re.sub(r'_(bucket|sum|count)$', '', m)
        if m not in names and not (base in hist and base != m):
            bad.append((m, e))
    if e.startswith('label_values'):
        continue
    url = 'http://127.0.0.1:%s/api/v1/query?' % sys.argv[3] + urllib.parse.urlencode(
        {'query': e.replace('$tenant', '.*')})
    r = json.load(urllib.request.urlopen(url))
    if r.get('status') != 'success':
        bad.append(('query refused', e))
if bad:
    for b in bad:
        print('dashboard references what is not exported:', b)
    sys.exit(1)
print('   dashboard: %d queries, every metric exported' % len(exprs))
PY
echo "prometheus: ok"
