#!/usr/bin/env bash
# Agent login and the signed player API under many connections, against the
# cluster of scripts/test:
#  - 16 connections try wrong passwords for one agent at once: exactly 4 are
#    bad_credentials and 12 locked (the fifth failure locks), and the right
#    password is then refused until the lock ends;
#  - at OWASP's 600,000 iterations an unknown agent costs the same time as a
#    wrong password (medians within 25%);
#  - 8 connections send the same 300 requests, signed by node's crypto (not
#    our C), at once in different orders: each is accepted exactly once, the
#    other 7 copies refused as replayed_nonce;
#  - requests prune nonces older than 600 s as they go, prune_player_api()
#    those and idle rate counters, and nothing else.
source "$(dirname "$0")/common.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)

db=hd_security_e2e
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fresh_db $db
q $db "ALTER DATABASE $db SET helpdesk.password_iterations = 1000" >/dev/null

q $db "
SELECT helpdesk.upsert_tenant('e2e-sec', 'E2E security');
SELECT helpdesk.upsert_agent(1, 'ana', 'Ana');
SELECT helpdesk.set_agent_password(1, 1, 'the right password');" >/dev/null

# --- concurrent wrong passwords are counted exactly
for i in $(seq 1 16); do
	psql -qXAt -d $db -c "SELECT reason FROM helpdesk.agent_login('e2e-sec', 'ana', 'wrong password $i')" >"$tmp/login.$i" &
done
wait
bad=$(cat "$tmp"/login.* | grep -c '^bad_credentials$' || true)
locked=$(cat "$tmp"/login.* | grep -c '^locked$' || true)
[ "$bad" = 4 ] && [ "$locked" = 12 ] || fail "16 concurrent wrong logins: $bad bad_credentials and $locked locked, want 4 and 12"
note "16 concurrent wrong passwords: 4 bad_credentials, 12 locked"
[ "$(q $db "SELECT failed_attempts = 0 AND locked_until > now() + interval '14 minutes' FROM helpdesk.agent_credential")" = t ] ||
	fail "the lock is not 15 minutes"
[ "$(q $db "SELECT reason FROM helpdesk.agent_login('e2e-sec', 'ana', 'the right password')")" = locked ] ||
	fail "the right password passed a lock"
q $db "UPDATE helpdesk.agent_credential SET locked_until = now() - interval '1 second'" >/dev/null
[ "$(q $db "SELECT token IS NOT NULL FROM helpdesk.agent_login('e2e-sec', 'ana', 'the right password')")" = t ] ||
	fail "the right password after the lock"
note "lock ends: the right password logs in"

# --- an unknown agent costs what a wrong password costs (default iterations)
q $db "SELECT helpdesk.upsert_agent(1, 'tim', 'Tim')" >/dev/null
psql -qXAt -v ON_ERROR_STOP=1 -d $db >"$tmp/timing" <<'SQL'
SET helpdesk.password_iterations = 600000;
SELECT helpdesk.set_agent_password(1, (SELECT id FROM helpdesk.agent WHERE external_id = 'tim'), 'tim''s password 1');
CREATE TEMP TABLE t (kind text, ms float8);
DO $$
DECLARE
	t0 timestamptz;
BEGIN
	FOR i IN 1 .. 5 LOOP
		t0 := clock_timestamp();
		PERFORM helpdesk.agent_login('e2e-sec', 'tim', 'not the password ' || i);
		INSERT INTO t VALUES ('wrong', extract(epoch FROM clock_timestamp() - t0) * 1000);
		t0 := clock_timestamp();
		PERFORM helpdesk.agent_login('e2e-sec', 'nobody-' || i, 'not the password ' || i);
		INSERT INTO t VALUES ('unknown', extract(epoch FROM clock_timestamp() - t0) * 1000);
	END LOOP;
END $$;
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE kind = 'wrong')) || ' '
    || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE kind = 'unknown')) FROM t;
SQL
read -r wrong unknown <"$tmp/timing" || true
wrong=$(tail -1 "$tmp/timing" | cut -d' ' -f1)
unknown=$(tail -1 "$tmp/timing" | cut -d' ' -f2)
[ -n "$wrong" ] && [ -n "$unknown" ] || fail "no timings: $(cat "$tmp/timing")"
[ "$wrong" -ge 50 ] || fail "a wrong password at 600,000 iterations took only $wrong ms"
[ $((unknown * 100)) -ge $((wrong * 75)) ] && [ $((unknown * 100)) -le $((wrong * 133)) ] ||
	fail "unknown agent ${unknown} ms vs wrong password ${wrong} ms (medians of 5)"
note "600,000 iterations: wrong password ${wrong} ms, unknown agent ${unknown} ms (medians of 5)"

# --- the same signed requests from 8 connections at once
secret=$(q $db "SELECT helpdesk.upsert_app(1, 'e2e-game', 'E2E game')")
q $db "
CREATE FUNCTION e2e_try(m text, p text, a text, ts text, n text, s text, b bytea) RETURNS text
LANGUAGE plpgsql AS \$\$
BEGIN
	PERFORM helpdesk.verify_signed_request(m, p, a, ts, n, s, b);
	RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END \$\$;" >/dev/null
node "$root/test/security/sign_requests.js" "$secret" e2e-game 300 >"$tmp/requests.sql"
for c in $(seq 1 8); do
	shuf "$tmp/requests.sql" >"$tmp/requests.$c.sql"
	psql -qXAt -d $db -f "$tmp/requests.$c.sql" >"$tmp/verify.$c" &
done
wait
accepted=$(cat "$tmp"/verify.* | grep -c '^accepted$' || true)
replayed=$(cat "$tmp"/verify.* | grep -c '^HDA03$' || true)
[ "$accepted" = 300 ] && [ "$replayed" = 2100 ] ||
	fail "8 x 300 signed requests: $accepted accepted, $replayed replayed (want 300, 2100); others: $(cat "$tmp"/verify.* | grep -v -e accepted -e HDA03 | sort | uniq -c | head -3)"
[ "$(q $db "SELECT count(*) FROM helpdesk.api_nonce WHERE app_id = 'e2e-game'")" = 300 ] || fail "not 300 nonces stored"
note "8 connections x 300 requests signed by node: each accepted once, 2100 replays refused"
node "$root/test/security/sign_requests.js" "$(printf '%064d' 0)" e2e-game 1 e2e-wrong-secret- >"$tmp/wrong.sql"
[ "$(psql -qXAt -d $db -f "$tmp/wrong.sql")" = HDA01 ] || fail "a request signed with another secret passed"

# --- pruning: as requests come, and prune_player_api()
q $db "
SELECT helpdesk.rate_limit_hit(1, 'e2e-game', 'p1');
UPDATE helpdesk.api_nonce SET seen_at = now() - interval '601 seconds' WHERE nonce LIKE 'e2e-nonce-000000%';
UPDATE helpdesk.api_rate SET window_start = window_start - 180;" >/dev/null
old=$(q $db "SELECT count(*) FROM helpdesk.api_nonce WHERE seen_at < now() - interval '600 seconds'")
[ "$old" = 100 ] || fail "$old old nonces to prune, want 100"
# 128 requests from one backend: the 128th prunes (up to 500 rows)
node "$root/test/security/sign_requests.js" "$secret" e2e-game 128 e2e-more- >"$tmp/more.sql"
[ "$(psql -qXAt -d $db -f "$tmp/more.sql" | grep -c '^accepted$')" = 128 ] || fail "128 more requests"
[ "$(q $db "SELECT count(*) FROM helpdesk.api_nonce WHERE seen_at < now() - interval '600 seconds'")" = 0 ] ||
	fail "the 128th request of a backend did not prune the old nonces"
[ "$(q $db "SELECT count(*) FROM helpdesk.api_nonce")" = $((300 - old + 128)) ] || fail "the prune took recent nonces too"
note "the 128th request of a backend pruned the $old nonces older than 600 s, nothing else"
q $db "UPDATE helpdesk.api_nonce SET seen_at = now() - interval '601 seconds' WHERE nonce LIKE 'e2e-more-%'" >/dev/null
[ "$(q $db "SELECT (n, c)::text FROM helpdesk.prune_player_api() AS p(n, c)")" = "(128,2)" ] ||
	fail "prune_player_api: $(q $db "SELECT count(*) FROM helpdesk.api_rate") counters left"
[ "$(q $db "SELECT count(*) FROM helpdesk.api_nonce")" = 200 ] || fail "prune_player_api took recent nonces too"
note "prune_player_api: the 128 aged nonces and the 2 idle counters, nothing else"

psql -qXd postgres -c "DROP DATABASE $db WITH (FORCE)" >/dev/null 2>&1 || true
echo "security_login: ok"
