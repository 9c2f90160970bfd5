# Helpers for the end-to-end scripts. They run against the cluster started by
# scripts/test (PGHOST/PGPORT/PGUSER exported, HD_CLUSTER set).
# shellcheck shell=bash
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "   $*"; }

# fresh database with the extension
fresh_db() {
	psql -qX -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
	psql -qX -d "$1" -c 'CREATE EXTENSION pg_helpdesk' >/dev/null
}

q() { local db=$1; shift; psql -qXAt -v ON_ERROR_STOP=1 -d "$db" -c "$@"; }

# wait_until DB SQL [seconds]: poll until the query returns t
wait_until() {
	local db=$1 sql=$2 secs=${3:-10} i
	for ((i = 0; i < secs * 20; i++)); do
		[ "$(q "$db" "$sql" 2>/dev/null)" = t ] && return 0
		sleep 0.05
	done
	return 1
}

publisher_pid() { q "$1" "SELECT coalesce((SELECT pid FROM helpdesk.worker_status() WHERE kind = 'publisher'), 0)"; }

# Create a tenant with a default queue and N customers with open sessions.
seed_sessions() {
	local db=$1 n=$2
	q "$db" "
	SELECT helpdesk.upsert_tenant('e2e', 'End to end');
	SELECT helpdesk.upsert_queue((SELECT id FROM helpdesk.tenant WHERE slug = 'e2e'), 'main', 'Main', is_default => true);
	CREATE TABLE IF NOT EXISTS public.e2e_session (n int PRIMARY KEY, tenant_id bigint, session_id bigint, customer_id bigint);
	INSERT INTO public.e2e_session
	SELECT g, t.id, s.session_id, c.cid
	FROM generate_series(1, $n) g
	CROSS JOIN LATERAL (SELECT id FROM helpdesk.tenant WHERE slug = 'e2e') t
	CROSS JOIN LATERAL (SELECT helpdesk.upsert_customer(t.id, 'cust-' || g) AS cid) c
	CROSS JOIN LATERAL helpdesk.start_session(t.id, c.cid) s
	ON CONFLICT (n) DO NOTHING;" >/dev/null
}
