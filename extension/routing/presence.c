/*
 * presence.c — agent status and heartbeats.
 *
 * Agents (or the bridge on their behalf) send heartbeats; the dispatcher's
 * presence timer sets an agent offline when heartbeats stop for
 * heartbeat_interval * heartbeat_misses, remembering the status it had.
 * Its sessions stay for tenant.presence_grace: a heartbeat within the grace
 * brings the old status back and keeps them; afterwards the dispatcher puts
 * them back in their queues (keeping their rank). This file only writes the
 * agent row; the dispatcher owns every session change that follows, so lock
 * order stays session-then-agent everywhere.
 */
#include "dispatch.h"

#include "utils/array.h"
#include "utils/builtins.h"

static HdPlan set_status = {
	"WITH old AS (SELECT a.status, a.enabled FROM helpdesk.agent a "
	"             WHERE a.tenant_id = $1 AND a.id = $2 FOR UPDATE) "
	"UPDATE helpdesk.agent a SET status = $3, status_changed_at = now(), "
	"  last_seen_at = CASE WHEN $3 <> 'offline' THEN now() ELSE a.last_seen_at END, "
	"  presence_lost_at = CASE WHEN $3 = 'offline' AND a.load > 0 "
	"    THEN now() - (SELECT t.presence_grace FROM helpdesk.tenant t WHERE t.id = $1) END, "
	"  status_before_loss = NULL, "
	"  missed_offers = CASE WHEN $3 = 'online' THEN 0 ELSE a.missed_offers END, "
	"  updated_at = now() "
	"FROM old WHERE a.tenant_id = $1 AND a.id = $2 "
	"RETURNING old.status, old.enabled, a.load",
	3, {INT8OID, INT8OID, TEXTOID}
};

PG_FUNCTION_INFO_V1(hd_set_agent_status);

/*
 * helpdesk.set_agent_status: online (also a heartbeat), away and busy (no
 * new offers; pending offers may still be accepted), offline (the
 * dispatcher returns its sessions to their queues at once). Returns the
 * previous status.
 */
Datum
hd_set_agent_status(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "agent_id", "status"};
	static const char *const statuses[] = {"online", "away", "busy", "offline", NULL};
	int64		tenant_id,
				agent_id;
	char	   *status;
	char	   *old;
	Datum		v[3];

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 3, names);
	tenant_id = PG_GETARG_INT64(0);
	agent_id = PG_GETARG_INT64(1);
	status = text_to_cstring(PG_GETARG_TEXT_PP(2));
	hd_check_enum("status", status, statuses);

	SPI_connect();
	hd_require_tenant(tenant_id);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(agent_id);
	v[2] = CStringGetTextDatum(status);
	hd_exec(&set_status, v, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_NOT_FOUND),
				 errmsg("agent %lld does not exist in tenant %lld",
						(long long) agent_id, (long long) tenant_id)));
	old = hd_get_text(1);
	if (!hd_get_bool(2) && strcmp(status, "offline") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("agent %lld is disabled", (long long) agent_id),
				 errhint("Enable it with helpdesk.upsert_agent(..., enabled => true).")));
	old = pstrdup(old);
	if (strcmp(old, status) != 0)
	{
		char	   *payload = psprintf("{\"status\": \"%s\", \"previous\": \"%s\"}", status, old);

		hd_append_event(tenant_id, "agent", agent_id, 0, 0, "agent.status", payload);
		hd_append_event(tenant_id, "tenant", tenant_id, 0, 0, "agent.status",
						psprintf("{\"agent_id\": " INT64_FORMAT ", \"status\": \"%s\", \"previous\": \"%s\"}",
								 agent_id, status, old));
	}
	hd_wake_at_commit(HD_WORKER_DISPATCHER);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(old));
}

/*
 * Rows are locked in id order so that two heartbeat batches naming the same
 * agents cannot deadlock. An agent offline by its own choice stays offline.
 */
static HdPlan heartbeat = {
	"WITH cur AS (SELECT a.id, a.status_before_loss FROM helpdesk.agent a "
	"             WHERE a.tenant_id = $1 AND a.id = ANY ($2) AND a.enabled "
	"               AND (a.status <> 'offline' OR a.status_before_loss IS NOT NULL) "
	"             ORDER BY a.id FOR NO KEY UPDATE) "
	"UPDATE helpdesk.agent a SET last_seen_at = now(), "
	"  status = coalesce(cur.status_before_loss, a.status), "
	"  status_changed_at = CASE WHEN cur.status_before_loss IS NOT NULL "
	"                      THEN now() ELSE a.status_changed_at END, "
	"  presence_lost_at = CASE WHEN cur.status_before_loss IS NOT NULL "
	"                     THEN NULL ELSE a.presence_lost_at END, "
	"  status_before_loss = NULL "
	"FROM cur WHERE a.tenant_id = $1 AND a.id = cur.id "
	"RETURNING a.id, cur.status_before_loss",
	2, {INT8OID, INT8ARRAYOID}
};

PG_FUNCTION_INFO_V1(hd_agent_heartbeat);

/* helpdesk.agent_heartbeat(tenant_id, agent_ids[]): one call for many agents. */
Datum
hd_agent_heartbeat(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "agent_ids"};
	ArrayType  *ids;
	int64		tenant_id;
	uint64		i,
				n;
	bool		woke = false;
	Datum		v[2];

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	tenant_id = PG_GETARG_INT64(0);
	ids = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(ids) > 1)
		hd_invalid("agent_ids must be a one-dimensional array");
	if (array_contains_nulls(ids))
		hd_invalid("agent_ids must not contain NULL");
	if (ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids)) > 100000)
		hd_invalid("at most 100000 agent_ids per call");

	SPI_connect();
	hd_require_tenant(tenant_id);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = PointerGetDatum(ids);
	hd_exec(&heartbeat, v, NULL, false, 0);
	n = SPI_processed;
	{
		int64	   *restored_ids = palloc(sizeof(int64) * (n + 1));
		char	  **restored = palloc(sizeof(char *) * (n + 1));
		int			nrestored = 0;

		/* copy out first: appending events runs more SPI statements */
		for (i = 0; i < n; i++)
		{
			char	   *st = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
			bool		isnull;

			if (st == NULL)
				continue;
			restored_ids[nrestored] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
																  SPI_tuptable->tupdesc, 1,
																  &isnull));
			restored[nrestored++] = st;
		}
		/* reconnected within the grace: back to work with its sessions */
		for (i = 0; i < nrestored; i++)
		{
			hd_append_event(tenant_id, "agent", restored_ids[i], 0, 0, "agent.status",
							psprintf("{\"status\": \"%s\", \"previous\": \"offline\", \"reconnected\": true}",
									 restored[i]));
			hd_append_event(tenant_id, "tenant", tenant_id, 0, 0, "agent.status",
							psprintf("{\"agent_id\": " INT64_FORMAT ", \"status\": \"%s\", \"previous\": \"offline\", \"reconnected\": true}",
									 restored_ids[i], restored[i]));
			woke = true;
		}
	}
	if (woke)
		hd_wake_at_commit(HD_WORKER_DISPATCHER);
	SPI_finish();
	PG_RETURN_INT32((int32) n);
}

static HdPlan tenants_times = {
	"SELECT " HD_TENANT_COLS " FROM helpdesk.tenant t WHERE t.id = ANY ($1)",
	1, {INT8ARRAYOID}
};

PG_FUNCTION_INFO_V1(hd_presence_timeout_ms);

/*
 * helpdesk.presence_timeout_ms(tenant_ids[]): the shortest presence timeout
 * (heartbeat_interval x heartbeat_misses) among these tenants, in ms; NULL
 * when none is usable. helpdesk-bridge asks it with every heartbeat batch
 * and sends its batches at least three times per timeout. Settings no
 * arithmetic can use are skipped here, as the dispatcher skips them.
 */
Datum
hd_presence_timeout_ms(PG_FUNCTION_ARGS)
{
	Datum		v[1];
	int64		best = -1;
	uint64		i;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	hd_check_tenant_array(PG_GETARG_ARRAYTYPE_P(0));
	v[0] = PG_GETARG_DATUM(0);
	SPI_connect();
	hd_exec(&tenants_times, v, NULL, true, 0);
	for (i = 0; i < SPI_processed; i++)
	{
		HdTenantTimes t;

		if (hd_tenant_times(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &t) != NULL)
			continue;
		if (best < 0 || t.presence_us / 1000 < best)
			best = t.presence_us / 1000;
	}
	SPI_finish();
	if (best < 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(best);
}

/* The bridge's default heartbeat period (bridge/config.c --heartbeat-ms). */
#define BRIDGE_DEFAULT_HEARTBEAT_MS 5000

static HdPlan tenant_times = {
	"SELECT " HD_TENANT_COLS " FROM helpdesk.tenant t WHERE t.id = $1", 1, {INT8OID}
};

/*
 * upsert_tenant's warning: a presence timeout shorter than three of the
 * bridge's default heartbeat periods works only because helpdesk-bridge
 * follows it (it sends batches every third of the shortest timeout of its
 * agents' tenants); anyone else calling agent_heartbeat must know it too.
 */
void
hd_warn_short_presence(int64 tenant_id)
{
	Datum		v[1] = {Int64GetDatum(tenant_id)};
	HdTenantTimes t;

	hd_exec(&tenant_times, v, NULL, false, 1);	/* sees the upsert just made */
	if (SPI_processed != 1 ||
		hd_tenant_times(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &t) != NULL)
		return;
	if (t.presence_us < 3 * BRIDGE_DEFAULT_HEARTBEAT_MS * (int64) 1000)
		ereport(WARNING,
				(errmsg("tenant %lld: agents without a heartbeat for %lld ms go offline (heartbeat_interval x heartbeat_misses)",
						(long long) tenant_id, (long long) (t.presence_us / 1000)),
				 errdetail("That is less than three heartbeat batches of helpdesk-bridge at its default --heartbeat-ms %d.",
						   BRIDGE_DEFAULT_HEARTBEAT_MS),
				 errhint("helpdesk-bridge follows it (it sends batches every third of the shortest timeout of its agents' tenants, at least every 100 ms); any other caller of agent_heartbeat must call at least every %lld ms.",
						 (long long) (t.presence_us / 3000))));
}
