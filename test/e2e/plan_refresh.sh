#!/usr/bin/env bash
# Cached plans follow table growth (extension/workers/plan_refresh.c): a generic plan
# made while helpdesk.session was empty scans the whole table; once the table
# has grown and the publisher has run, the same prepared statement in the
# same connection is replanned and uses the primary key. Autovacuum is off for
# the table so that only our invalidation can change the plan.
source "$(dirname "$0")/common.sh"
db=hd_plan_refresh
fresh_db $db
q $db "ALTER TABLE helpdesk.session SET (autovacuum_enabled = off)"
q $db "VACUUM ANALYZE helpdesk.session"
wait_until $db "SELECT EXISTS (SELECT 1 FROM helpdesk.worker_status() WHERE kind = 'publisher' AND pid IS NOT NULL)" 30 ||
	fail "no publisher worker"
q $db "SELECT helpdesk.upsert_tenant('pr', 'Plan refresh')" >/dev/null
q $db "SELECT helpdesk.upsert_queue((SELECT id FROM helpdesk.tenant WHERE slug = 'pr'), 'main', 'Main', is_default => true)" >/dev/null
q $db "SELECT count(helpdesk.upsert_customer((SELECT id FROM helpdesk.tenant WHERE slug = 'pr'), 'c' || g)) FROM generate_series(1, 3000) g" >/dev/null
sleep 1.2	# the publisher has recorded the table's size by now

out=$(psql -qXAt -v ON_ERROR_STOP=1 -d $db <<'SQL'
SET plan_cache_mode = force_generic_plan;
PREPARE p(bigint, bigint) AS SELECT state FROM helpdesk.session WHERE tenant_id = $1 AND id = $2;
\echo empty
EXPLAIN (COSTS OFF) EXECUTE p(1, 1);
BEGIN;
SELECT count(helpdesk.start_session(c.tenant_id, c.id)) > 0 FROM helpdesk.customer c;
\echo grown
EXPLAIN (COSTS OFF) EXECUTE p(1, 1);
COMMIT;
SELECT pg_sleep(1.2);
-- one more write: the publisher runs and compares sizes again
SELECT helpdesk.post_message(s.tenant_id, s.id, 'customer', s.customer_id, 'hi') > 0
FROM helpdesk.session s ORDER BY s.id LIMIT 1;
SELECT pg_sleep(0.5);
\echo refreshed
EXPLAIN (COSTS OFF) EXECUTE p(1, 1);
SQL
)
echo "$out" | sed 's/^/   /'
plan_after() { echo "$out" | awk -v m="$1" '$0 == m {getline; print; exit}'; }
case $(plan_after empty) in *"Seq Scan"*) ;; *) fail "control: the plan on an empty table is not a sequential scan" ;; esac
case $(plan_after grown) in *"Seq Scan"*) ;; *) fail "control: the cached plan changed before any invalidation" ;; esac
case $(plan_after refreshed) in *"Index"*) ;; *) fail "the cached plan was not rebuilt after the table grew" ;; esac
blocks=$(q $db "SELECT pg_relation_size('helpdesk.session') / current_setting('block_size')::int")
note "session grew to $blocks blocks; the cached generic plan went from a sequential scan to an index scan"
psql -qX -d postgres -c "DROP DATABASE $db" >/dev/null
echo "plan refresh: ok"
