#!/usr/bin/env bash
# Scale-out through pg_helpdesk_proxy (issue 22, docs/scale-out.md): three
# clusters of their own, a PL/Proxy database (HD_TEST_PORT + 86) in front of
# two pg_helpdesk nodes (+87, +88), each node with its bridge (+97, +98).
#  - the committed extension/proxy/10_api.sql is what scripts/proxy-gen makes
#    of the installed extension, and every proxied function has the node's ACL;
#  - test/scale/api_calls.sql gives the same output on a node and through the
#    proxy (results and SQLSTATEs);
#  - tenants land on both nodes, with ids unique across them; the directory
#    heals a tenant whose directory write was lost; unknown tenants are HD404;
#  - a conversation through the proxy: each node's own dispatcher assigns,
#    and a customer of each node, connected to the bridge tenant_bridge()
#    names, receives the agent's reply sent through the proxy.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$HD_ROOT"
: "${HD_CLUSTER:?HD_CLUSTER (the cluster scripts/test started) is not set}"
base=${HD_TEST_PORT:-55432}
pport=$((base + 86)) n0port=$((base + 87)) n1port=$((base + 88))
b0port=$((n0port + 10)) b1port=$((n1port + 10))
work=$HD_CLUSTER/scale-proxy
rm -rf "$work"; mkdir -p "$work"
source test/scale/clusters.sh
bridges=()
trap 'for p in "${bridges[@]}"; do kill "$p" 2>/dev/null || true; done; scale_stop' EXIT
scale_start "$pport" "$n0port" "$n1port"

note "the generated API is up to date and has the node's grants"
PGHOST=/tmp/hd-sock-$n0port PGPORT=$n0port PGDATABASE=helpdesk scripts/proxy-gen "$work/10_api.sql" ||
	fail "scripts/proxy-gen failed on the installed extension"
diff -u extension/proxy/10_api.sql "$work/10_api.sql" >"$work/gen.diff" ||
	{ head -40 "$work/gen.diff"; fail "extension/proxy/10_api.sql is not what scripts/proxy-gen makes of the node: run it and commit"; }
acl_sql="SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') ' ||
	coalesce((SELECT string_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END, ',' ORDER BY 1)
	          FROM aclexplode(p.proacl) a WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner), '-')
	FROM pg_proc p WHERE p.pronamespace = 'helpdesk'::regnamespace AND p.proname !~ '^_' ORDER BY 1"
P -c "$acl_sql" >"$work/acl.proxy"
N0 -c "$acl_sql" >"$work/acl.node"
missing=$(join -v1 <(cut -d' ' -f1 "$work/acl.proxy" | sort) <(cut -d' ' -f1 "$work/acl.node" | sort) | sed -n 1,5p)
[ -z "$missing" ] || fail "proxy functions with no node function of the same signature: $missing"
differ=$(join <(sort "$work/acl.proxy" | sed 's/ /|/') <(sort "$work/acl.node" | sed 's/ /|/') -t'|' -o 1.1,1.2,2.2 | awk -F'|' '$2 != $3' | sed -n 1,5p)
[ -z "$differ" ] || fail "proxied functions whose grants differ from the node's (name|proxy|node): $differ"
nproxied=$(wc -l <"$work/acl.proxy")
note "$nproxied functions on the proxy, each with its node's grants"

note "the API gives the same results on a node and through the proxy"
PGHOST=/tmp/hd-sock-$n0port PGPORT=$n0port psql -qXAt -d helpdesk -v slug=direct-1 -f test/scale/api_calls.sql >"$work/direct.out" 2>&1
PGHOST=/tmp/hd-sock-$pport PGPORT=$pport psql -qXAt -d helpdesk -v slug=proxied-1 -f test/scale/api_calls.sql >"$work/proxied.out" 2>&1
grep -q 'ERROR:  HD404' "$work/direct.out" || { cat "$work/direct.out"; fail "api_calls.sql printed no HD404: it did not run to its end"; }
[ "$(grep -c 'ERROR:  ' "$work/direct.out")" -ge 7 ] || { cat "$work/direct.out"; fail "api_calls.sql: fewer error paths than it has"; }
diff -u "$work/direct.out" "$work/proxied.out" ||
	fail "the API's output through the proxy differs from the node's (above)"
note "$(wc -l <"$work/direct.out") lines of output, $(grep -c 'ERROR:  ' "$work/direct.out") of them errors, the same both ways"
[ "$(P -c "SELECT count(*) FROM helpdesk_proxy.tenant_directory WHERE slug = 'proxied-1'")" = 1 ] ||
	fail "the proxied tenant is not in the directory"

note "the proxy's own error paths (pgTAP, on a proxy database with no node behind it)"
P -d postgres -c "CREATE DATABASE proxy_tap" >/dev/null
scale_at "$pport" -d proxy_tap -c "SET client_min_messages = warning; CREATE EXTENSION pgtap; CREATE EXTENSION pg_helpdesk_proxy CASCADE" >/dev/null
PGHOST=/tmp/hd-sock-$pport PGPORT=$pport PGUSER=postgres pg_prove -q -d proxy_tap test/scale/proxy_errors.sql >"$work/proxy_tap.out" 2>&1 ||
	{ cat "$work/proxy_tap.out"; fail "test/scale/proxy_errors.sql failed"; }
note "$(grep -c '^SELECT throws_ok' test/scale/proxy_errors.sql) error paths of set_partition, PL/Proxy's configuration API, the directory and placement"

note "tenants land on both nodes, with ids unique across them"
for i in 1 2 3 4 5; do P -c "SELECT helpdesk.upsert_tenant('game-$i', 'Game $i')" >/dev/null; done
placed=$(P -c "SELECT string_agg(part || ':' || n, ' ' ORDER BY part) FROM (SELECT part, count(*) n FROM helpdesk_proxy.tenant_directory GROUP BY part) x")
[ "$placed" = "0:3 1:3" ] || fail "6 tenants should be 3 per partition, got: $placed"
on_nodes=$( (N0 -c "SELECT id || ' 0 ' || slug FROM helpdesk.tenant WHERE slug <> 'direct-1'"; N1 -c "SELECT id || ' 1 ' || slug FROM helpdesk.tenant") | sort -n)
in_dir=$(P -c "SELECT tenant_id || ' ' || part || ' ' || slug FROM helpdesk_proxy.tenant_directory" | sort -n)
[ "$on_nodes" = "$in_dir" ] || fail "the directory and the nodes disagree: nodes [$on_nodes] directory [$in_dir]"
# an upsert of a known slug stays on its node; a given partition must agree
t3=$(P -c "SELECT tenant_id FROM helpdesk_proxy.tenant_directory WHERE slug = 'game-3'")
[ "$(P -c "SELECT helpdesk.upsert_tenant('game-3', 'Game 3 renamed')")" = "$t3" ] || fail "an upsert of game-3 gave another id"
other=$(P -c "SELECT 1 - part FROM helpdesk_proxy.tenant_directory WHERE slug = 'game-3'")
err=$(P -c "SELECT helpdesk_proxy.upsert_tenant_on($other, 'game-3', 'x')" 2>&1) && fail "game-3 was upserted on the other node"
case $err in *"lives on partition"*) ;; *) fail "upsert_tenant_on of another node: $err" ;; esac
# the directory write was lost after the node created the tenant: found again
n1_new=$(N1 -c "SELECT helpdesk.upsert_tenant('orphan', 'Created on node 1 only')")
[ "$(P -c "SELECT helpdesk.upsert_tenant('orphan', 'Orphan')")" = "$n1_new" ] || fail "the orphan tenant was created again"
[ "$(P -c "SELECT part FROM helpdesk_proxy.tenant_directory WHERE slug = 'orphan'")" = 1 ] || fail "the orphan is not recorded on partition 1"
[ "$(N0 -c "SELECT count(*) FROM helpdesk.tenant WHERE slug = 'orphan'")" = 0 ] || fail "the orphan was duplicated on node 0"
# a node whose tenant ids overlap another node's series is refused before it creates anything
N1 -c "ALTER SEQUENCE helpdesk.tenant_id_seq INCREMENT BY 1024 START WITH 1 RESTART" >/dev/null
err=$(P -c "SELECT helpdesk_proxy.upsert_tenant_on(1, 'clash', 'Clash')" 2>&1) && fail "a node with overlapping tenant ids was used"
case $err in *"overlapping series"*) ;; *) fail "overlapping ids: $err" ;; esac
[ "$(N1 -c "SELECT count(*) FROM helpdesk.tenant WHERE slug = 'clash'")" = 0 ] || fail "the refused tenant was created on node 1"
N1 -c "ALTER SEQUENCE helpdesk.tenant_id_seq INCREMENT BY 1024 START WITH 2 RESTART WITH $((2 + 1024 * 50))" >/dev/null
[ "$(P -c "SELECT helpdesk_proxy.upsert_tenant_on(1, 'clash', 'Clash')")" = $((2 + 1024 * 50)) ] || fail "the clash tenant was not created once node 1 was fixed"
err=$(P -c "SELECT helpdesk.upsert_queue(424242, 'q', 'Q')" 2>&1) && fail "an unknown tenant was accepted"
case $err in *"tenant 424242 does not exist"*) ;; *) fail "unknown tenant: $err" ;; esac
[ "$(P -c "SELECT count(*) FROM helpdesk.worker_status() WHERE kind = 'dispatcher'")" = 2 ] || fail "worker_status is not every node's"
[ "$(P -c "SELECT helpdesk_proxy.tenant_bridge($t3)")" = "ws://127.0.0.1:$((n0port + 10 + $(P -c "SELECT part FROM helpdesk_proxy.tenant_directory WHERE tenant_id = $t3")))/ws" ] ||
	fail "tenant_bridge does not name the bridge of game-3's node"

note "a bound non-superuser through the proxy: served for its tenant, 42501 from the node for another"
g1=$(P -c "SELECT tenant_id FROM helpdesk_proxy.tenant_directory WHERE slug = 'game-1'")
g2=$(P -c "SELECT tenant_id FROM helpdesk_proxy.tenant_directory WHERE slug = 'game-2'")
[ "$(P -c "SELECT count(DISTINCT part) FROM helpdesk_proxy.tenant_directory WHERE tenant_id IN ($g1, $g2)")" = 2 ] ||
	fail "game-1 and game-2 are on the same node"
for p in "$pport" "$n0port" "$n1port"; do
	scale_at "$p" -c "SET client_min_messages = warning; DROP ROLE IF EXISTS scale_api_a; CREATE ROLE scale_api_a LOGIN IN ROLE helpdesk_api" >/dev/null
done
P -c "SELECT helpdesk.grant_tenant('scale_api_a', $g1)" >/dev/null
A() { PGHOST=/tmp/hd-sock-$pport PGPORT=$pport PGUSER=scale_api_a psql -qXAt -v ON_ERROR_STOP=1 -d helpdesk "$@"; }
[ "$(A -c "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")" = f ] || fail "scale_api_a is a superuser"
cust=$(A -c "SELECT helpdesk.upsert_customer($g1, 'bound-1', 'Bound')") || fail "the bound role was refused its own tenant through the proxy"
on=$(( $(N0 -c "SELECT count(*) FROM helpdesk.customer WHERE tenant_id = $g1 AND id = $cust") + $(N1 -c "SELECT count(*) FROM helpdesk.customer WHERE tenant_id = $g1 AND id = $cust") ))
[ "$on" = 1 ] || fail "the bound role's customer is on $on nodes"
err=$(A -c "SELECT helpdesk.upsert_customer($g2, 'bound-x', 'Other')" 2>&1) && fail "the role bound to game-1 acted for game-2 through the proxy"
case $err in *"role scale_api_a may not act for tenant $g2"*) ;; *) fail "another tenant through the proxy: $err" ;; esac
err=$(A -c "SELECT helpdesk_proxy.set_partition(0, 'host=x dbname=helpdesk')" 2>&1) && fail "a bound api role re-pointed a partition"
case $err in *"permission denied"*) ;; *) fail "set_partition as the api role: $err" ;; esac
note "its own tenant served, the other refused with the node's 42501, the node list not its to change"

note "a conversation per node through the proxy and the bridges"
make -s -C bridge >/dev/null || fail "cannot build the bridge"
scale_bridge "$n0port" "$work/bridge0.log"; bridges+=($!)
scale_bridge "$n1port" "$work/bridge1.log"; bridges+=($!)
hd_node_modules
SCALE_PROXY="host=/tmp/hd-sock-$pport port=$pport dbname=helpdesk user=postgres" \
	node test/bridge/scale_proxy.js "game-1" "game-2" ||
	{ tail -n 20 "$work"/bridge*.log; fail "the conversation through the proxy and the bridges failed"; }
echo "scale_proxy: ok"
