/*
 * sla_policy.c — upsert_sla_policy, delete_sla_policy and ticket_sla: the
 * SQL API of SLA policies, and the requests that make the dispatcher
 * recompute a tenant's open tickets after an edit.
 */
#include "sla.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(hd_upsert_sla_policy);
PG_FUNCTION_INFO_V1(hd_delete_sla_policy);
PG_FUNCTION_INFO_V1(hd_ticket_sla);

#define MAX_GOAL_US		(INT64CONST(366) * USECS_PER_DAY)

static const char *const priorities[] = {"low", "normal", "high", "urgent", NULL};
static const char *const channels[] = {"chat", "player_api", "api", "offline", NULL};

static HdPlan request_plan = {
	"INSERT INTO helpdesk.sla_recompute (tenant_id) VALUES ($1) ON CONFLICT (tenant_id) "
	"DO UPDATE SET after_id = 0, requested_at = pg_catalog.now()",
	1, {INT8OID}
};

void
hd_sla_request_recompute(int64 tenant_id)
{
	Datum		v[1] = {Int64GetDatum(tenant_id)};

	hd_exec(&request_plan, v, NULL, false, 0);
	hd_wake_at_commit(HD_WORKER_DISPATCHER);
}

/*
 * A text[] condition: NULL (any) or a non-empty array of distinct non-NULL
 * values, each in allowed (when given) or 1..100 characters.
 */
static void
check_text_array(FunctionCallInfo fcinfo, int argno, const char *what, const char *const *allowed)
{
	ArrayType  *a;
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;

	if (PG_ARGISNULL(argno))
		return;
	a = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(a) > 1)
		hd_invalid("%s must be a one-dimensional array", what);
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n == 0)
		hd_invalid("%s must not be empty (NULL matches any)", what);
	if (n > 100)
		hd_invalid("%s has more than 100 entries", what);
	for (i = 0; i < n; i++)
	{
		char	   *s;

		if (nulls[i])
			hd_invalid("%s must not contain NULL", what);
		s = TextDatumGetCString(elems[i]);
		if (allowed)
			hd_check_enum(what, s, allowed);
		else
			hd_check_length(what, s, 1, 100);
	}
}

static HdPlan calendar_exists = {
	"SELECT 1 FROM helpdesk.calendar WHERE tenant_id = $1 AND id = $2", 2, {INT8OID, INT8OID}
};
static HdPlan missing_queue = {
	"SELECT q FROM pg_catalog.unnest($2::bigint[]) q WHERE q IS NULL OR NOT EXISTS "
	"(SELECT 1 FROM helpdesk.queue x WHERE x.tenant_id = $1 AND x.id = q) LIMIT 1",
	2, {INT8OID, INT8ARRAYOID}
};
static HdPlan upsert_plan = {
	"INSERT INTO helpdesk.sla_policy AS p (tenant_id, name, position, first_response, next_response, "
	"resolution, calendar_id, priorities, issue_types, min_vip_level, channels, queue_ids, "
	"warning_percent, enabled) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "
	"ON CONFLICT (tenant_id, name) DO UPDATE SET position = EXCLUDED.position, "
	"first_response = EXCLUDED.first_response, next_response = EXCLUDED.next_response, "
	"resolution = EXCLUDED.resolution, calendar_id = EXCLUDED.calendar_id, "
	"priorities = EXCLUDED.priorities, issue_types = EXCLUDED.issue_types, "
	"min_vip_level = EXCLUDED.min_vip_level, channels = EXCLUDED.channels, "
	"queue_ids = EXCLUDED.queue_ids, warning_percent = EXCLUDED.warning_percent, "
	"enabled = EXCLUDED.enabled, updated_at = pg_catalog.now() RETURNING p.id",
	14, {INT8OID, TEXTOID, INT4OID, INTERVALOID, INTERVALOID, INTERVALOID, INT8OID, TEXTARRAYOID,
	TEXTARRAYOID, INT2OID, TEXTARRAYOID, INT8ARRAYOID, INT2OID, BOOLOID}
};

/* upsert_sla_policy(tenant_id, name, position, targets…, calendar_id, conditions…, warning_percent, enabled) → id */
Datum
hd_upsert_sla_policy(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "name", "position"};
	static const char *const goal_names[] = {"first_response", "next_response", "resolution"};
	int64		tenant_id;
	char	   *name;
	Datum		v[14];
	char		n[15];
	int64		id = 0;
	int			i;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 3, names);
	if (PG_ARGISNULL(12))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("warning_percent must not be NULL")));
	if (PG_ARGISNULL(13))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("enabled must not be NULL")));
	tenant_id = PG_GETARG_INT64(0);
	name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	hd_check_length("name", name, 1, 200);
	hd_check_range("position", PG_GETARG_INT32(2), 0, 1000000);
	hd_args_to_params(fcinfo, v, n, 14);
	for (i = 0; i < 3; i++)
		hd_interval_arg(fcinfo, 3 + i, goal_names[i], USECS_PER_SEC, MAX_GOAL_US, false, &v[3 + i]);
	if (PG_ARGISNULL(3) && PG_ARGISNULL(4) && PG_ARGISNULL(5))
		hd_invalid("an SLA policy needs at least one target (first_response, next_response or resolution)");
	check_text_array(fcinfo, 7, "priorities", priorities);
	check_text_array(fcinfo, 8, "issue_types", NULL);
	if (!PG_ARGISNULL(9))
	{
		hd_check_range("min_vip_level", PG_GETARG_INT32(9), 0, 10);
		v[9] = Int16GetDatum((int16) PG_GETARG_INT32(9));
	}
	check_text_array(fcinfo, 10, "channels", channels);
	if (!PG_ARGISNULL(11))
	{
		ArrayType  *a = PG_GETARG_ARRAYTYPE_P(11);
		int			cnt = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));

		if (cnt == 0)
			hd_invalid("queue_ids must not be empty (NULL matches any)");
		if (cnt > 100)
			hd_invalid("queue_ids has more than 100 entries");
	}
	hd_check_range("warning_percent", PG_GETARG_INT32(12), 1, 99);
	v[12] = Int16GetDatum((int16) PG_GETARG_INT32(12));

	SPI_connect();
	hd_require_tenant(tenant_id);
	if (!PG_ARGISNULL(6))
	{
		Datum		cv[2] = {Int64GetDatum(tenant_id), PG_GETARG_DATUM(6)};

		hd_exec(&calendar_exists, cv, NULL, false, 1);
		if (SPI_processed == 0)
			hd_not_found("calendar", PG_GETARG_INT64(6), tenant_id);
	}
	if (!PG_ARGISNULL(11))
	{
		Datum		qv[2] = {Int64GetDatum(tenant_id), PG_GETARG_DATUM(11)};
		int64		q = 0;

		hd_exec(&missing_queue, qv, NULL, false, 1);
		if (SPI_processed > 0)
		{
			if (!hd_get_int64(1, &q))
				hd_invalid("queue_ids must not contain NULL");
			hd_not_found("queue", q, tenant_id);
		}
	}
	hd_exec(&upsert_plan, v, n, false, 1);
	hd_get_int64(1, &id);
	hd_sla_request_recompute(tenant_id);
	SPI_finish();
	PG_RETURN_INT64(id);
}

static HdPlan delete_plan = {
	"DELETE FROM helpdesk.sla_policy WHERE tenant_id = $1 AND id = $2", 2, {INT8OID, INT8OID}
};

/* delete_sla_policy(tenant_id, policy_id) */
Datum
hd_delete_sla_policy(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "policy_id"};
	Datum		v[2];

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	hd_exec(&delete_plan, v, NULL, false, 0);
	if (SPI_processed == 0)
		hd_not_found("SLA policy", PG_GETARG_INT64(1), PG_GETARG_INT64(0));
	hd_sla_request_recompute(PG_GETARG_INT64(0));
	SPI_finish();
	PG_RETURN_VOID();
}

static HdPlan ticket_exists = {
	"SELECT 1 FROM helpdesk.ticket WHERE tenant_id = $1 AND id = $2", 2, {INT8OID, INT8OID}
};
static HdPlan clocks_plan = {
	"SELECT s.target, s.round, s.policy_id, s.goal, s.started_at, s.running_since IS NOT NULL, "
	"s.consumed + CASE WHEN s.running_since IS NULL OR s.running_since >= pg_catalog.now() THEN interval '0 s' "
	"  WHEN p.calendar_id IS NULL THEN pg_catalog.now() - s.running_since "
	"  ELSE helpdesk.business_time_between(s.tenant_id, p.calendar_id, s.running_since, pg_catalog.now()) END, "
	"s.warn_at, s.due_at, s.warned, s.breached, s.stopped_at, s.outcome "
	"FROM helpdesk.ticket_sla s LEFT JOIN helpdesk.sla_policy p ON p.tenant_id = s.tenant_id AND p.id = s.policy_id "
	"WHERE s.tenant_id = $1 AND s.ticket_id = $2 ORDER BY s.target, s.round",
	2, {INT8OID, INT8OID}
};

/* ticket_sla(tenant_id, ticket_id): the ticket's clocks, elapsed open time computed now */
Datum
hd_ticket_sla(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "ticket_id"};
	Datum		v[2];

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	SPI_connect();
	hd_exec(&ticket_exists, v, NULL, true, 1);
	if (SPI_processed == 0)
		hd_not_found("ticket", PG_GETARG_INT64(1), PG_GETARG_INT64(0));
	hd_return_query(fcinfo, &clocks_plan, v, NULL);
	SPI_finish();
	return (Datum) 0;
}
