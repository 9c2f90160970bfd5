/*
 * routing_admin.c — routing configuration: tenant and queue routing
 * settings, per-queue agent limits, issue types and urgency rules.
 */
#include "routing.h"

#include "catalog/pg_collation_d.h"
#include "datatype/timestamp.h"
#include "utils/array.h"
#include "utils/builtins.h"

static HdPlan set_routing = {
	"UPDATE helpdesk.tenant t SET presence_grace = coalesce($2, t.presence_grace), "
	"  vip_boost_seconds = coalesce($3, t.vip_boost_seconds), "
	"  max_missed_offers = coalesce($4, t.max_missed_offers), "
	"  idle_warn_after = coalesce($5, t.idle_warn_after), "
	"  idle_close_after = coalesce($6, t.idle_close_after), updated_at = now() "
	"WHERE t.id = $1",
	6, {INT8OID, INTERVALOID, INT4ARRAYOID, INT4OID, INTERVALOID, INTERVALOID}
};

PG_FUNCTION_INFO_V1(hd_set_routing);

/* helpdesk.set_routing(tenant_id, presence_grace, vip_boost_seconds, max_missed_offers, idle_warn_after, idle_close_after) */
Datum
hd_set_routing(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id"};
	Datum		v[6];
	char		n[7];
	int			i;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 1, names);
	hd_args_to_params(fcinfo, v, n, 6);
	hd_interval_arg(fcinfo, 1, "presence_grace", 0, 86400 * USECS_PER_SEC, false, &v[1]);
	if (!PG_ARGISNULL(2))
	{
		ArrayType  *a = PG_GETARG_ARRAYTYPE_P(2);
		Datum	   *el;
		bool	   *nulls;
		int			count;

		/*
		 * Entry k is VIP level k - 1, read as vip_boost_seconds[vip_level + 1]:
		 * an array indexed from anywhere but 1 ('[0:10]={...}') would shift
		 * every level by one.
		 */
		if (ARR_NDIM(a) != 1)
			hd_invalid("vip_boost_seconds must be a one-dimensional array, got %d dimensions",
					   ARR_NDIM(a));
		if (ARR_LBOUND(a)[0] != 1)
			hd_invalid("vip_boost_seconds must be indexed from 1 (entry 1 is vip level 0), got lower bound %d",
					   ARR_LBOUND(a)[0]);
		deconstruct_array(a, INT4OID, 4, true, TYPALIGN_INT, &el, &nulls, &count);
		if (count != 11)
			hd_invalid("vip_boost_seconds needs 11 entries (vip levels 0..10), got %d", count);
		for (i = 0; i < count; i++)
			if (nulls[i] || DatumGetInt32(el[i]) < 0 || DatumGetInt32(el[i]) > 86400)
				hd_invalid("vip_boost_seconds[%d] must be 0..86400 seconds", i + 1);
	}
	if (!PG_ARGISNULL(3))
		hd_check_range("max_missed_offers", PG_GETARG_INT32(3), 1, 100);
	hd_interval_arg(fcinfo, 4, "idle_warn_after", USECS_PER_SEC, 7 * USECS_PER_DAY, false, &v[4]);
	hd_interval_arg(fcinfo, 5, "idle_close_after", USECS_PER_SEC, 7 * USECS_PER_DAY, false, &v[5]);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	hd_exec(&set_routing, v, n, false, 0);
	hd_wake_at_commit(HD_WORKER_DISPATCHER);
	SPI_finish();
	PG_RETURN_VOID();
}

static HdPlan set_queue_routing = {
	"UPDATE helpdesk.queue q SET offer_mode = coalesce($3, q.offer_mode), "
	"  sticky_window = coalesce($4, q.sticky_window), "
	"  idle_warn_after = CASE WHEN $5 IS NULL THEN q.idle_warn_after ELSE nullif($5, '0 s') END, "
	"  idle_close_after = CASE WHEN $6 IS NULL THEN q.idle_close_after ELSE nullif($6, '0 s') END, "
	"  updated_at = now() "
	"WHERE q.tenant_id = $1 AND q.id = $2",
	6, {INT8OID, INT8OID, TEXTOID, INTERVALOID, INTERVALOID, INTERVALOID}
};

PG_FUNCTION_INFO_V1(hd_set_queue_routing);

/* helpdesk.set_queue_routing(tenant_id, queue_id, offer_mode, sticky_window, idle_warn_after, idle_close_after) */
Datum
hd_set_queue_routing(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "queue_id"};
	static const char *const modes[] = {"offer", "direct", NULL};
	Datum		v[6];
	char		n[7];

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	hd_args_to_params(fcinfo, v, n, 6);
	if (!PG_ARGISNULL(2))
		hd_check_enum("offer_mode", text_to_cstring(PG_GETARG_TEXT_PP(2)), modes);
	hd_interval_arg(fcinfo, 3, "sticky_window", 0, 365 * USECS_PER_DAY, false, &v[3]);
	hd_interval_arg(fcinfo, 4, "idle_warn_after", USECS_PER_SEC, 7 * USECS_PER_DAY, true, &v[4]);
	hd_interval_arg(fcinfo, 5, "idle_close_after", USECS_PER_SEC, 7 * USECS_PER_DAY, true, &v[5]);
	SPI_connect();
	hd_exec(&set_queue_routing, v, n, false, 0);
	if (SPI_processed == 0)
		hd_not_found("queue", PG_GETARG_INT64(1), PG_GETARG_INT64(0));
	hd_wake_at_commit(HD_WORKER_DISPATCHER);
	SPI_finish();
	PG_RETURN_VOID();
}

static HdPlan agent_and_queue = {
	"SELECT (SELECT 1 FROM helpdesk.agent WHERE tenant_id = $1 AND id = $2), "
	"       (SELECT 1 FROM helpdesk.queue WHERE tenant_id = $1 AND id = $3)",
	3, {INT8OID, INT8OID, INT8OID}
};
static HdPlan upsert_limit = {
	"INSERT INTO helpdesk.agent_queue_limit (tenant_id, agent_id, queue_id, max_sessions) "
	"VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, agent_id, queue_id) "
	"DO UPDATE SET max_sessions = $4",
	4, {INT8OID, INT8OID, INT8OID, INT4OID}
};
static HdPlan delete_limit = {
	"DELETE FROM helpdesk.agent_queue_limit WHERE tenant_id = $1 AND agent_id = $2 "
	"AND queue_id = $3",
	3, {INT8OID, INT8OID, INT8OID}
};

PG_FUNCTION_INFO_V1(hd_set_agent_queue_limit);

/* helpdesk.set_agent_queue_limit(tenant_id, agent_id, queue_id, max_sessions or NULL) */
Datum
hd_set_agent_queue_limit(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "agent_id", "queue_id"};
	Datum		v[4];
	int64		found;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 3, names);
	if (!PG_ARGISNULL(3))
		hd_check_range("max_sessions", PG_GETARG_INT32(3), 0, 1000);
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	v[2] = PG_GETARG_DATUM(2);
	v[3] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	SPI_connect();
	hd_exec(&agent_and_queue, v, NULL, false, 1);
	if (!hd_get_int64(1, &found))
		hd_not_found("agent", PG_GETARG_INT64(1), PG_GETARG_INT64(0));
	if (!hd_get_int64(2, &found))
		hd_not_found("queue", PG_GETARG_INT64(2), PG_GETARG_INT64(0));
	hd_exec(PG_ARGISNULL(3) ? &delete_limit : &upsert_limit, v, NULL, false, 0);
	hd_wake_at_commit(HD_WORKER_DISPATCHER);
	SPI_finish();
	PG_RETURN_VOID();
}

static HdPlan queue_exists = {
	"SELECT 1 FROM helpdesk.queue WHERE tenant_id = $1 AND id = $2", 2, {INT8OID, INT8OID}
};
static HdPlan upsert_issue_type = {
	"INSERT INTO helpdesk.issue_type AS i (tenant_id, code, name, queue_id, boost_seconds) "
	"VALUES ($1, $2, $3, $4, coalesce($5, 0)) ON CONFLICT (tenant_id, code) DO UPDATE SET "
	"  name = $3, queue_id = $4, boost_seconds = coalesce($5, i.boost_seconds)",
	5, {INT8OID, TEXTOID, TEXTOID, INT8OID, INT4OID}
};

PG_FUNCTION_INFO_V1(hd_upsert_issue_type);

/* helpdesk.upsert_issue_type(tenant_id, code, name, queue_id, boost_seconds) */
Datum
hd_upsert_issue_type(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "code", "name"};
	Datum		v[5];
	char		n[6];

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 3, names);
	hd_check_length("code", text_to_cstring(PG_GETARG_TEXT_PP(1)), 1, 100);
	hd_check_length("name", text_to_cstring(PG_GETARG_TEXT_PP(2)), 1, 200);
	if (!PG_ARGISNULL(4))
		hd_check_range("boost_seconds", PG_GETARG_INT32(4), 0, 86400);
	hd_args_to_params(fcinfo, v, n, 5);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	if (!PG_ARGISNULL(3))
	{
		Datum		q[2] = {v[0], v[3]};

		hd_exec(&queue_exists, q, NULL, false, 1);
		if (SPI_processed == 0)
			hd_not_found("queue", PG_GETARG_INT64(3), PG_GETARG_INT64(0));
	}
	hd_exec(&upsert_issue_type, v, n, false, 0);
	SPI_finish();
	PG_RETURN_VOID();
}

static HdPlan upsert_rule = {
	"INSERT INTO helpdesk.urgency_rule AS r (tenant_id, name, pattern, issue_type, "
	"    boost_seconds, enabled) "
	"VALUES ($1, $2, $3, $4, $5, coalesce($6, true)) ON CONFLICT (tenant_id, name) DO UPDATE "
	"SET pattern = $3, issue_type = $4, boost_seconds = $5, enabled = coalesce($6, r.enabled) "
	"RETURNING id",
	6, {INT8OID, TEXTOID, TEXTOID, TEXTOID, INT4OID, BOOLOID}
};

PG_FUNCTION_INFO_V1(hd_upsert_urgency_rule);

/*
 * helpdesk.upsert_urgency_rule(tenant_id, name, pattern, boost_seconds,
 * issue_type, enabled). The pattern is compiled here so that a bad one is
 * refused now (SQLSTATE 2201B) instead of failing a customer's enqueue.
 */
Datum
hd_upsert_urgency_rule(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "name"};
	Datum		v[6];
	char		n[7];
	int64		id;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	if (PG_ARGISNULL(3))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("boost_seconds must not be NULL")));
	hd_check_length("name", text_to_cstring(PG_GETARG_TEXT_PP(1)), 1, 200);
	if (PG_ARGISNULL(2) && PG_ARGISNULL(4))
		hd_invalid("an urgency rule needs a pattern, an issue_type, or both");
	hd_check_range("boost_seconds", PG_GETARG_INT32(3), 0, 86400);
	if (!PG_ARGISNULL(4))
		hd_check_length("issue_type", text_to_cstring(PG_GETARG_TEXT_PP(4)), 1, 100);
	if (!PG_ARGISNULL(2))
	{
		hd_check_length("pattern", text_to_cstring(PG_GETARG_TEXT_PP(2)), 1, 1000);
		(void) DirectFunctionCall2Coll(texticregexeq, DEFAULT_COLLATION_OID,
									   CStringGetTextDatum(""), PG_GETARG_DATUM(2));
	}
	hd_args_to_params(fcinfo, v, n, 6);
	/* SQL order: tenant, name, pattern, issue_type, boost, enabled */
	{
		Datum		tv = v[3];
		char		tn = n[3];

		v[3] = v[4];
		n[3] = n[4];
		v[4] = tv;
		n[4] = tn;
	}
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	hd_exec(&upsert_rule, v, n, false, 1);
	hd_get_int64(1, &id);
	SPI_finish();
	PG_RETURN_INT64(id);
}
