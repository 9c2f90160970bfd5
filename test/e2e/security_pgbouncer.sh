#!/usr/bin/env bash
# The SQL API through Debian's pgbouncer in transaction pooling mode, as
# grant-bound non-superuser roles (issue 16), against the cluster of
# scripts/test:
#  - api role bound to tenant A: upsert_customer, start_session, post_message;
#    the real dispatcher offers the chat to an online agent (agent role bound
#    to A) who accepts it through pgbouncer; the agent replies; receipts
#    (mark_delivered, mark_read); every call in its own transaction, so
#    consecutive calls land on whichever server connection is free;
#  - the bridge role bound to every tenant: agent_login, and
#    verify_signed_request of a request signed by openssl (not our C);
#  - the same calls for tenant B from the api role: 42501;
#  - one pooled user (NOINHERIT member of a role bound to A and of one bound
#    to B) on a pool of ONE server connection, clients switching with
#    SET LOCAL ROLE in their transactions: each transaction gets its own
#    role's answer on the shared backend (the access cache is per role), and
#    the pooled user itself acts for no tenant.
# pgbouncer listens on HD_TEST_PORT + 43.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../../scripts/lib.sh"
: "${HD_CLUSTER:?HD_CLUSTER (the cluster scripts/test started) is not set}"
command -v pgbouncer >/dev/null || hd_install_packages pgbouncer
set +u
port=${SEC_PGB_PORT:-$((${HD_TEST_PORT:-55432} + 43))}
set -u
db=hd_sec_pgbouncer
pgb=$(mktemp -d /tmp/hd-sec-pgbouncer.XXXXXX)
cleanup() {
	[ -f "$pgb/pgbouncer.pid" ] && kill "$(cat "$pgb/pgbouncer.pid")" 2>/dev/null
	sleep 0.2
	rm -rf "$pgb"
}
trap cleanup EXIT

fresh_db $db
q $db "ALTER DATABASE $db SET helpdesk.password_iterations = 1000" >/dev/null
roles="sec_pgb_api sec_pgb_agent sec_pgb_bridge sec_pgb_pool sec_pgb_role_a sec_pgb_role_b"
for r in $roles; do q postgres "SET client_min_messages = warning; DROP ROLE IF EXISTS $r" >/dev/null; done
q $db "
CREATE ROLE sec_pgb_api LOGIN IN ROLE helpdesk_api;
CREATE ROLE sec_pgb_agent LOGIN IN ROLE helpdesk_agent;
CREATE ROLE sec_pgb_bridge LOGIN IN ROLE helpdesk_bridge;
CREATE ROLE sec_pgb_role_a NOLOGIN IN ROLE helpdesk_api;
CREATE ROLE sec_pgb_role_b NOLOGIN IN ROLE helpdesk_api;
CREATE ROLE sec_pgb_pool LOGIN NOINHERIT IN ROLE sec_pgb_role_a, sec_pgb_role_b;
SELECT helpdesk.upsert_tenant('pgb-a', 'A'), helpdesk.upsert_tenant('pgb-b', 'B');" >/dev/null
ta=$(q $db "SELECT id FROM helpdesk.tenant WHERE slug = 'pgb-a'")
tb=$(q $db "SELECT id FROM helpdesk.tenant WHERE slug = 'pgb-b'")
q $db "
SELECT helpdesk.grant_tenant('sec_pgb_api', $ta), helpdesk.grant_tenant('sec_pgb_agent', $ta),
       helpdesk.grant_tenant('sec_pgb_bridge', NULL), helpdesk.grant_tenant('sec_pgb_role_a', $ta),
       helpdesk.grant_tenant('sec_pgb_role_b', $tb);
SELECT helpdesk.upsert_queue($ta, 'main', 'Main', is_default => true);
SELECT helpdesk.upsert_agent($ta, 'ana', 'Ana');
SELECT helpdesk.set_agent_password($ta, (SELECT id FROM helpdesk.agent WHERE tenant_id = $ta), 'the right password');
SELECT helpdesk.upsert_customer($tb, 'cust-b');" >/dev/null
agent=$(q $db "SELECT id FROM helpdesk.agent WHERE tenant_id = $ta")
secret=$(q $db "SELECT helpdesk.upsert_app($ta, 'pgb-game', 'Game')")

cat >"$pgb/pgbouncer.ini" <<INI
[databases]
$db = host=127.0.0.1 port=$PGPORT dbname=$db
${db}_one = host=127.0.0.1 port=$PGPORT dbname=$db pool_size=1
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $pgb/users.txt
pool_mode = transaction
default_pool_size = 2
logfile = $pgb/pgbouncer.log
pidfile = $pgb/pgbouncer.pid
INI
for r in $roles; do echo "\"$r\" \"\""; done >"$pgb/users.txt"
if [ "$(id -u)" -eq 0 ]; then chown -R postgres "$pgb"; fi
as_pg pgbouncer -d "$pgb/pgbouncer.ini" || fail "pgbouncer did not start"
pq() { local user=$1; shift; psql -qXAt -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$port dbname=$db user=$user" -c "$@"; }
for _ in $(seq 50); do pq sec_pgb_api 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
note "pgbouncer $(pgbouncer --version | head -1) on port $port, transaction pooling"

# --- a whole chat through the pooler, as bound non-superusers
[ "$(pq sec_pgb_api 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user')" = f ] || fail "the api role is a superuser"
cust=$(pq sec_pgb_api "SELECT helpdesk.upsert_customer($ta, 'cust-a', 'Cust')")
sess=$(pq sec_pgb_api "SELECT session_id FROM helpdesk.start_session($ta, $cust, first_message => 'hello')")
m1=$(pq sec_pgb_api "SELECT helpdesk.post_message($ta, $sess, 'customer', $cust, 'anyone?')")
pq sec_pgb_agent "SELECT helpdesk.set_agent_status($ta, $agent, 'online')" >/dev/null
wait_until $db "SELECT state = 'offered' FROM helpdesk.session WHERE id = $sess" 15 ||
	fail "the dispatcher did not offer the chat ($(q $db "SELECT state FROM helpdesk.session WHERE id = $sess"))"
pq sec_pgb_agent "SELECT helpdesk.accept_offer($ta, $agent, $sess)" >/dev/null
[ "$(q $db "SELECT state || ' ' || agent_id FROM helpdesk.session WHERE id = $sess")" = "active $agent" ] ||
	fail "accept_offer through pgbouncer did not assign the chat"
m2=$(pq sec_pgb_agent "SELECT helpdesk.post_message($ta, $sess, 'agent', $agent, 'hi, how can I help?')")
pq sec_pgb_agent "SELECT helpdesk.mark_read($ta, $sess, 'agent', $agent, $m1)" >/dev/null
pq sec_pgb_api "SELECT helpdesk.mark_delivered($ta, $sess, 'customer', $cust, $m2)" >/dev/null
pq sec_pgb_api "SELECT helpdesk.mark_read($ta, $sess, 'customer', $cust, $m2)" >/dev/null
[ "$(q $db "SELECT count(*) FILTER (WHERE read_at IS NOT NULL) FROM helpdesk.message WHERE session_id = $sess AND id IN ($m1, $m2)")" = 2 ] ||
	fail "receipts through pgbouncer were not stored"
n=$(pq sec_pgb_api "SELECT count(*) FROM helpdesk.session_messages($ta, $sess)")
[ "$n" -ge 3 ] || fail "session_messages through pgbouncer: $n messages"
note "start, post, offer accepted, reply, receipts, history: all through pgbouncer as bound roles"

# --- agent_login and a signed request, as the bridge role (bound to every tenant)
login=$(pq sec_pgb_bridge "SELECT reason IS NULL AND token IS NOT NULL FROM helpdesk.agent_login('pgb-a', 'ana', 'the right password')")
[ "$login" = t ] || fail "agent_login through pgbouncer: $login"
ts=$(date +%s)
nonce="pgb-nonce-$ts-0001"
bodyhash=$(printf 'hi' | openssl dgst -sha256 -r | cut -d' ' -f1)
sig=$(printf 'POST\n/api/v1/player/sessions\n%s\n%s\n%s' "$ts" "$nonce" "$bodyhash" |
	openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)
got=$(pq sec_pgb_bridge "SELECT tenant_id FROM helpdesk.verify_signed_request('POST', '/api/v1/player/sessions', 'pgb-game', '$ts', '$nonce', '$sig', convert_to('hi', 'UTF8'))")
[ "$got" = "$ta" ] || fail "verify_signed_request through pgbouncer: $got"
replay=$(pq sec_pgb_bridge "SELECT 1 FROM helpdesk.verify_signed_request('POST', '/api/v1/player/sessions', 'pgb-game', '$ts', '$nonce', '$sig', convert_to('hi', 'UTF8'))" 2>&1 || true)
case "$replay" in *replayed_nonce*) ;; *) fail "a replayed nonce through pgbouncer: $replay" ;; esac
note "agent_login and verify_signed_request (openssl's signature, then its replay) through pgbouncer"

# --- tenant B refused, by role and tenant
err=$(pq sec_pgb_api "SELECT helpdesk.start_session($tb, 1)" 2>&1 || true)
case "$err" in *"role sec_pgb_api may not act for tenant $tb"*) ;; *) fail "api role bound to A, tenant B: $err" ;; esac
err=$(pq sec_pgb_api "SELECT helpdesk.events_since(0, 10)" 2>&1 || true)
case "$err" in *"role sec_pgb_api may not act for every tenant"*) ;; *) fail "api role bound to A, the whole event log: $err" ;; esac
note "42501 for tenant B through pgbouncer"

# --- one backend, two roles: SET LOCAL ROLE per transaction on a pool of one
pool() { psql -qXAt -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$port dbname=${db}_one user=sec_pgb_pool" -c "$@"; }
err=$(pool "SELECT helpdesk.upsert_customer($ta, 'pool')" 2>&1 || true)
case "$err" in *"permission denied for"*|*"may not act for tenant $ta"*) ;; *) fail "the NOINHERIT pool user acted for A: $err" ;; esac
pids=$(mktemp)
for i in $(seq 1 40); do
	if [ $((i % 2)) = 0 ]; then role=sec_pgb_role_a; mine=$ta; other=$tb; else role=sec_pgb_role_b; mine=$tb; other=$ta; fi
	(
		# no ON_ERROR_STOP: the refused call's transaction is rolled back, so
		# the server connection goes back to the pool clean
		out=$(psql -qXAt "host=127.0.0.1 port=$port dbname=${db}_one user=sec_pgb_pool" <<SQL 2>&1
BEGIN;
SET LOCAL ROLE $role;
SELECT 'pid ' || pg_backend_pid();
SELECT helpdesk.upsert_customer($mine, 'pool-$i') IS NOT NULL;
COMMIT;
BEGIN;
SET LOCAL ROLE $role;
SELECT helpdesk.upsert_customer($other, 'pool-x-$i');
ROLLBACK;
SQL
		) || true
		echo "$out" | grep '^pid ' >>"$pids"
		# here-strings, not pipes: grep -q leaves at its match, and the
		# echo writing the next line then dies of SIGPIPE (pipefail)
		if grep -qx t <<<"$out" && grep -q "role $role may not act for tenant $other" <<<"$out"; then
			echo ok
		else
			echo "bad $i: $out"
		fi
	) >"$pgb/client.$i" &
done
wait
bad=$(cat "$pgb"/client.* | grep -v '^ok$' || true)
[ -z "$bad" ] || fail "a client on the shared backend got another role's answer: $bad"
backends=$(sort -u "$pids" | wc -l)
[ "$backends" = 1 ] || fail "the pool of one used $backends backends"
rm -f "$pids"
[ "$(q $db "SELECT count(*) FROM helpdesk.customer WHERE external_id LIKE 'pool-%' AND external_id NOT LIKE 'pool-x-%'")" = 40 ] ||
	fail "not every pooled client's own call was stored"
[ "$(q $db "SELECT count(*) FROM helpdesk.customer WHERE external_id LIKE 'pool-x-%'")" = 0 ] ||
	fail "a pooled client wrote into the other tenant"
note "40 clients of one pooled user on ONE backend, switching roles per transaction: each its own role's answer"
