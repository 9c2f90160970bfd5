#!/usr/bin/env bash
# One tenant's deletion never stops another tenant's reports: a tenant deleted
# in the transaction of its agents' status changes leaves those events in the
# log (the log is not the tenant's) but no tenant to write intervals for. The
# rollup worker skips them and goes on; before, its step failed on the
# foreign key for every tenant, every second.
source "$(dirname "$0")/common.sh"
db=e2e_rollup_del
fresh_db $db
logstart=$(stat -c %s "$HD_CLUSTER/postgres.log")

q $db "
SELECT helpdesk.upsert_tenant('gone', 'Gone');
SELECT helpdesk.upsert_tenant('kept', 'Kept');
SELECT helpdesk.upsert_agent(t.id, 'a', 'Agent') FROM helpdesk.tenant t;" >/dev/null
gone=$(q $db "SELECT id FROM helpdesk.tenant WHERE slug = 'gone'")
kept=$(q $db "SELECT id FROM helpdesk.tenant WHERE slug = 'kept'")
q $db "
BEGIN;
SELECT helpdesk.set_agent_status($gone, (SELECT id FROM helpdesk.agent WHERE tenant_id = $gone), 'online');
DELETE FROM helpdesk.tenant WHERE id = $gone;
COMMIT;" >/dev/null
[ "$(q $db "SELECT count(*) > 0 FROM helpdesk.event WHERE tenant_id = $gone AND type = 'agent.status'")" = t ] \
	|| fail "the deleted tenant's status event is not in the log: the test does not exercise the case"
q $db "SELECT helpdesk.set_agent_status($kept, (SELECT id FROM helpdesk.agent WHERE tenant_id = $kept), 'online')" >/dev/null
wait_until $db "SELECT EXISTS (SELECT 1 FROM helpdesk.agent_status_interval WHERE tenant_id = $kept)" 20 \
	|| fail "the other tenant's status interval was not rolled up"
note "the other tenant's status was rolled up after a tenant was deleted with unrolled events"
failures=$(tail -c +$((logstart + 1)) "$HD_CLUSTER/postgres.log" | grep -c "rollup worker: step failed" || true)
[ "$failures" = 0 ] || { tail -c +$((logstart + 1)) "$HD_CLUSTER/postgres.log" | grep "rollup worker" | head -3 >&2; fail "the rollup worker failed $failures times"; }
echo "rollup deleted tenant: ok"
