/*
 * directory.c — create-or-update of tenants, agents, queues and customers,
 * keyed by the caller's external ids. A NULL argument keeps the stored value
 * (or takes the default on insert), so callers can send partial updates.
 * It lives with routing because what it stores is routing's configuration
 * (skills, capacity, strategies, timeouts, VIP levels) and a change can be a
 * routing event: disabling an agent releases its sessions, a short presence
 * timeout is warned about.
 */
#include "hd.h"
#include "routing.h"
#include "message.h"

#include "datatype/timestamp.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/* 1..maxlen characters from [a-z0-9_.-] (plus '-' separated tags for languages) */
static bool
is_token(const char *s, int maxlen)
{
	int			i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
			  s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return false;
	return i >= 1 && i <= maxlen;
}

/* Every element of a text[] must be a token: skill names, language tags. */
static void
check_token_array(const char *what, ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;

	if (arr == NULL)
		return;
	if (ARR_NDIM(arr) > 1)
		hd_invalid("%s must be a one-dimensional array", what);
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		char	   *s;

		if (nulls[i])
			hd_invalid("%s must not contain NULL", what);
		s = TextDatumGetCString(elems[i]);
		if (!is_token(s, 64))
			hd_invalid("invalid entry %s in %s: use 1 to 64 lowercase letters, digits, _ . or -",
					   hd_quote(s), what);
	}
}

/* Skills: {"name": level} with levels 1..10. */
static void
check_skills(Jsonb *skills)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	if (skills == NULL)
		return;
	hd_check_json_document("skills", skills);
	it = JsonbIteratorInit(&skills->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			if (!is_token(key, 64))
				hd_invalid("invalid skill name %s: use 1 to 64 lowercase letters, digits, _ . or -",
						   hd_quote(key));
		}
		else if (tok == WJB_VALUE)
		{
			char	   *num;
			int64		level;

			if (v.type != jbvNumeric)
				hd_invalid("skill %s must have a numeric level 1..10", hd_quote(key));
			if (!hd_json_int(&v, 1, 10, &level, &num))
				hd_invalid("skill %s has level %s; levels are whole numbers 1..10",
						   hd_quote(key), hd_clip(num));
		}
	}
}

/* Run an upsert whose first result column is the row id. */
static int64
upsert(HdPlan *plan, Datum *v, const char *nulls)
{
	int64		id = 0;

	hd_exec(plan, v, nulls, false, 1);
	if (SPI_processed != 1 || !hd_get_int64(1, &id))
		elog(ERROR, "pg_helpdesk: upsert returned no id");
	return id;
}

static HdPlan upsert_tenant = {
	"INSERT INTO helpdesk.tenant AS t (slug, name, bot_enabled, heartbeat_interval, "
	"                                  heartbeat_misses, settings) "
	"VALUES ($1, $2, coalesce($3, false), coalesce($4, '15 seconds'), coalesce($5, 3), "
	"        coalesce($6, '{}')) "
	"ON CONFLICT (slug) DO UPDATE SET name = $2, "
	"  bot_enabled = coalesce($3, t.bot_enabled), "
	"  heartbeat_interval = coalesce($4, t.heartbeat_interval), "
	"  heartbeat_misses = coalesce($5, t.heartbeat_misses), "
	"  settings = coalesce($6, t.settings), updated_at = now() "
	"RETURNING id",
	6, {TEXTOID, TEXTOID, BOOLOID, INTERVALOID, INT4OID, JSONBOID}
};

PG_FUNCTION_INFO_V1(hd_upsert_tenant);

/* helpdesk.upsert_tenant(slug, name, bot_enabled, heartbeat_interval, heartbeat_misses, settings) */
Datum
hd_upsert_tenant(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"slug", "name"};
	Datum		v[6];
	char		n[7];
	char	   *slug;
	int64		id;

	/* creating or renaming tenants is for whoever acts for all of them */
	hd_require_every_tenant();
	hd_require_args(fcinfo, 2, names);
	hd_args_to_params(fcinfo, v, n, 6);
	slug = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!is_token(slug, 63) || slug[0] == '_' || slug[0] == '.' || slug[0] == '-')
		hd_invalid("invalid tenant slug %s: use 1 to 63 lowercase letters, digits, _ . or -, starting with a letter or digit",
				   hd_quote(slug));
	hd_check_length("name", text_to_cstring(PG_GETARG_TEXT_PP(1)), 1, 200);
	hd_interval_arg(fcinfo, 3, "heartbeat_interval", USECS_PER_SEC, 3600 * USECS_PER_SEC,
					false, &v[3]);
	if (!PG_ARGISNULL(4))
		hd_check_range("heartbeat_misses", PG_GETARG_INT32(4), 1, 100);
	hd_check_json_document("settings", PG_ARGISNULL(5) ? NULL : PG_GETARG_JSONB_P(5));

	SPI_connect();
	id = upsert(&upsert_tenant, v, n);
	hd_warn_short_presence(id);
	hd_wake_at_commit(HD_WORKER_DISPATCHER);	/* heartbeat settings move due times */
	SPI_finish();
	PG_RETURN_INT64(id);
}

static HdPlan upsert_agent = {
	"INSERT INTO helpdesk.agent AS a (tenant_id, external_id, display_name, skills, "
	"                                 languages, max_sessions, enabled) "
	"VALUES ($1, $2, $3, coalesce($4, '{}'), coalesce($5, '{}'), coalesce($6, 5), "
	"        coalesce($7, true)) "
	"ON CONFLICT (tenant_id, external_id) DO UPDATE SET display_name = $3, "
	"  skills = coalesce($4, a.skills), languages = coalesce($5, a.languages), "
	"  max_sessions = coalesce($6, a.max_sessions), enabled = coalesce($7, a.enabled), "
	"  capacity_changed_at = CASE WHEN $6 IS DISTINCT FROM a.max_sessions AND $6 IS NOT NULL "
	"                        THEN clock_timestamp() ELSE a.capacity_changed_at END, "
	"  updated_at = now() "
	"RETURNING id",
	7, {INT8OID, TEXTOID, TEXTOID, JSONBOID, TEXTARRAYOID, INT4OID, BOOLOID}
};

/* $1 tenant, $2 external id, as in upsert_agent's parameters */
static HdPlan agent_by_external_id = {
	"SELECT id, enabled FROM helpdesk.agent WHERE tenant_id = $1 AND external_id = $2",
	2, {INT8OID, TEXTOID}
};

PG_FUNCTION_INFO_V1(hd_upsert_agent);

/* helpdesk.upsert_agent(tenant_id, external_id, display_name, skills, languages, max_sessions, enabled) */
Datum
hd_upsert_agent(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "external_id", "display_name"};
	Datum		v[7];
	char		n[8];
	int64		tenant_id,
				id = 0;
	bool		disabling,
				was_enabled = false;
	int			released = 0;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 3, names);
	tenant_id = PG_GETARG_INT64(0);
	hd_check_length("external_id", text_to_cstring(PG_GETARG_TEXT_PP(1)), 1, 200);
	hd_check_length("display_name", text_to_cstring(PG_GETARG_TEXT_PP(2)), 1, 200);
	check_skills(PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3));
	check_token_array("languages", PG_ARGISNULL(4) ? NULL : PG_GETARG_ARRAYTYPE_P(4));
	if (!PG_ARGISNULL(5))
		hd_check_range("max_sessions", PG_GETARG_INT32(5), 0, 1000);

	hd_args_to_params(fcinfo, v, n, 7);
	SPI_connect();
	hd_require_tenant(tenant_id);
	disabling = !PG_ARGISNULL(6) && !PG_GETARG_BOOL(6);
	if (disabling)
	{
		/* lock and hand back its sessions before the agent row (lock order) */
		hd_exec(&agent_by_external_id, v, NULL, false, 1);
		was_enabled = SPI_processed == 1 && hd_get_bool(2);
		if (SPI_processed == 1 && hd_get_int64(1, &id))
			released = hd_release_disabled_agent(tenant_id, id);
	}
	id = upsert(&upsert_agent, v, n);
	hd_append_event(tenant_id, "agent", id, 0, 0, "agent.updated", NULL);
	if (disabling)
	{
		/* an offer the dispatcher placed meanwhile; none can follow the update */
		released += hd_release_disabled_agent(tenant_id, id);
		if (was_enabled || released > 0)
		{
			/*
			 * helpdesk-bridge closes the agent's sockets (4004) when it reads
			 * this event, to the agent and to the tenant's supervisors.
			 */
			hd_append_event(tenant_id, "agent", id, 0, 0, "agent.disabled",
							psprintf("{\"released\": %d}", released));
			hd_append_event(tenant_id, "tenant", tenant_id, 0, 0, "agent.disabled",
							psprintf("{\"agent_id\": " INT64_FORMAT ", \"released\": %d}",
									 id, released));
		}
	}
	hd_wake_at_commit(HD_WORKER_DISPATCHER);	/* skills or capacity may have changed */
	SPI_finish();
	PG_RETURN_INT64(id);
}

static HdPlan clear_default_queue = {
	"UPDATE helpdesk.queue SET is_default = false, updated_at = now() "
	"WHERE tenant_id = $1 AND is_default AND external_id <> $2",
	2, {INT8OID, TEXTOID}
};
static HdPlan lock_tenant = {
	"SELECT 1 FROM helpdesk.tenant WHERE id = $1 FOR NO KEY UPDATE", 1, {INT8OID}
};
static HdPlan queue_external_id = {
	"SELECT external_id FROM helpdesk.queue WHERE tenant_id = $1 AND id = $2", 2, {INT8OID, INT8OID}
};

/*
 * max_wait and overflow_queue_id: NULL keeps the stored value, 0 / '0 s'
 * clears it.
 */
static HdPlan upsert_queue = {
	"INSERT INTO helpdesk.queue AS q (tenant_id, external_id, name, required_skills, "
	"    required_languages, strategy, offer_timeout, max_wait, overflow_queue_id, is_default) "
	"VALUES ($1, $2, $3, coalesce($4, '{}'), coalesce($5, '{}'), coalesce($6, 'least_loaded'), "
	"        coalesce($7, '30 seconds'), nullif($8, '0 s'), nullif($9, 0), coalesce($10, false)) "
	"ON CONFLICT (tenant_id, external_id) DO UPDATE SET name = $3, "
	"  required_skills = coalesce($4, q.required_skills), "
	"  required_languages = coalesce($5, q.required_languages), "
	"  strategy = coalesce($6, q.strategy), offer_timeout = coalesce($7, q.offer_timeout), "
	"  max_wait = CASE WHEN $8 IS NULL THEN q.max_wait ELSE nullif($8, '0 s') END, "
	"  overflow_queue_id = CASE WHEN $9 IS NULL THEN q.overflow_queue_id ELSE nullif($9, 0) END, "
	"  is_default = coalesce($10, q.is_default), updated_at = now() "
	"RETURNING id",
	10, {INT8OID, TEXTOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTOID, INTERVALOID,
	INTERVALOID, INT8OID, BOOLOID}
};

PG_FUNCTION_INFO_V1(hd_upsert_queue);

/*
 * helpdesk.upsert_queue(tenant_id, external_id, name, required_skills,
 *   required_languages, strategy, offer_timeout, max_wait, overflow_queue_id, is_default)
 */
Datum
hd_upsert_queue(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "external_id", "name"};
	static const char *const strategies[] = {"least_loaded", "longest_idle", "round_robin",
	"sticky", "manual", NULL};
	Datum		v[10];
	char		n[11];
	int64		tenant_id,
				id;
	bool		make_default = !PG_ARGISNULL(9) && PG_GETARG_BOOL(9);

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 3, names);
	tenant_id = PG_GETARG_INT64(0);
	hd_check_length("external_id", text_to_cstring(PG_GETARG_TEXT_PP(1)), 1, 200);
	hd_check_length("name", text_to_cstring(PG_GETARG_TEXT_PP(2)), 1, 200);
	check_token_array("required_skills", PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3));
	check_token_array("required_languages", PG_ARGISNULL(4) ? NULL : PG_GETARG_ARRAYTYPE_P(4));
	if (!PG_ARGISNULL(5))
		hd_check_enum("strategy", text_to_cstring(PG_GETARG_TEXT_PP(5)), strategies);
	hd_args_to_params(fcinfo, v, n, 10);
	hd_interval_arg(fcinfo, 6, "offer_timeout", USECS_PER_SEC, 3600 * USECS_PER_SEC,
					false, &v[6]);
	hd_interval_arg(fcinfo, 7, "max_wait", USECS_PER_SEC, 7 * USECS_PER_DAY, true, &v[7]);

	SPI_connect();
	hd_require_tenant(tenant_id);
	if (!PG_ARGISNULL(8) && PG_GETARG_INT64(8) != 0)
	{
		Datum		q[2] = {Int64GetDatum(tenant_id), PG_GETARG_DATUM(8)};

		hd_exec(&queue_external_id, q, NULL, false, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_HD_NOT_FOUND),
					 errmsg("overflow queue %lld does not exist in tenant %lld",
							(long long) PG_GETARG_INT64(8), (long long) tenant_id)));
		if (strcmp(hd_get_text(1), text_to_cstring(PG_GETARG_TEXT_PP(1))) == 0)
			hd_invalid("queue %s cannot overflow into itself", hd_quote(hd_get_text(1)));
	}
	if (make_default)
	{
		Datum		t[2] = {Int64GetDatum(tenant_id), PG_GETARG_DATUM(1)};

		/* serialise default changes per tenant without blocking FK checks */
		hd_exec(&lock_tenant, t, NULL, false, 1);
		hd_exec(&clear_default_queue, t, NULL, false, 0);
	}
	id = upsert(&upsert_queue, v, n);
	hd_append_event(tenant_id, "queue", id, 0, 0, "queue.updated", NULL);
	hd_wake_at_commit(HD_WORKER_DISPATCHER);
	SPI_finish();
	PG_RETURN_INT64(id);
}

/* Attributes merge key by key; a key set to null is removed. */
static HdPlan upsert_customer = {
	"INSERT INTO helpdesk.customer AS c (tenant_id, external_id, display_name, vip_level, "
	"                                    language, attributes) "
	"VALUES ($1, $2, $3, coalesce($4, 0), $5, jsonb_strip_nulls(coalesce($6, '{}'))) "
	"ON CONFLICT (tenant_id, external_id) DO UPDATE SET "
	"  display_name = coalesce($3, c.display_name), vip_level = coalesce($4, c.vip_level), "
	"  language = coalesce($5, c.language), "
	"  attributes = jsonb_strip_nulls(c.attributes || coalesce($6, '{}')), updated_at = now() "
	"RETURNING id, attributes",
	6, {INT8OID, TEXTOID, TEXTOID, INT4OID, TEXTOID, JSONBOID}
};

PG_FUNCTION_INFO_V1(hd_upsert_customer);

/* helpdesk.upsert_customer(tenant_id, external_id, display_name, vip_level, language, attributes) */
Datum
hd_upsert_customer(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "external_id"};
	Datum		v[6];
	char		n[7];
	int64		id;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	hd_check_length("external_id", text_to_cstring(PG_GETARG_TEXT_PP(1)), 1, 200);
	if (!PG_ARGISNULL(2))
		hd_check_length("display_name", text_to_cstring(PG_GETARG_TEXT_PP(2)), 1, 200);
	if (!PG_ARGISNULL(3))
		hd_check_range("vip_level", PG_GETARG_INT32(3), 0, 10);
	if (!PG_ARGISNULL(4) && !is_token(text_to_cstring(PG_GETARG_TEXT_PP(4)), 35))
		hd_invalid("invalid language %s: use a lowercase tag such as en or pt-br",
				   hd_quote(text_to_cstring(PG_GETARG_TEXT_PP(4))));
	hd_check_json_document("attributes", PG_ARGISNULL(5) ? NULL : PG_GETARG_JSONB_P(5));

	hd_args_to_params(fcinfo, v, n, 6);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	id = upsert(&upsert_customer, v, n);
	/* merged key by key, the stored attributes can outgrow the limit: refuse (the row rolls back) */
	if (!PG_ARGISNULL(5))
	{
		bool		isnull;
		Datum		merged = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);

		if (!isnull)
			hd_check_json_limits("attributes merged with the stored ones", DatumGetJsonbP(merged));
	}
	SPI_finish();
	PG_RETURN_INT64(id);
}
