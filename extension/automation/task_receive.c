/*
 * task_receive.c — receive_task(tenant_id, task jsonb): seed 003's task
 * JSON checked field by field, stored once per task_id.
 *
 * Idempotency: the row is inserted with ON CONFLICT DO NOTHING; when the
 * task_id exists, the same body (jsonb equality: key order and spacing do not
 * matter) answers with the stored task's status, a different body is HD409.
 * A concurrent second receive of the same id waits for the first's commit
 * (the unique index), then takes the same path.
 */
#include "automation.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

static const char *const trigger_types[] = {"specified_customer_reply", "customer_reply",
"customer_keyword", "customer_payment", "time_reach", NULL};
static const char *const action_types[] = {"send_message", "send_file", NULL};
static const char *const priorities[] = {"low", "normal", "high", NULL};

/* The value under key in an object container; NULL when absent or JSON null. */
static JsonbValue *
jget(JsonbContainer *c, const char *key)
{
	JsonbValue *v = getKeyJsonValueFromContainer(c, key, strlen(key), NULL);

	if (v == NULL || v->type == jbvNull)
		return NULL;
	return v;
}

static JsonbContainer *
jobject(JsonbContainer *c, const char *key, bool required)
{
	JsonbValue *v = jget(c, key);

	if (v == NULL)
	{
		if (required)
			hd_invalid("task.%s is required (a JSON object)", key);
		return NULL;
	}
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		hd_invalid("task.%s must be a JSON object", key);
	return v->val.binary.data;
}

/* A string field (numbers are taken as their text: ids often come as numbers). */
static char *
jstring(JsonbContainer *c, const char *path, const char *key, bool required, int maxlen)
{
	JsonbValue *v = jget(c, key);
	char	   *s;

	if (v == NULL)
	{
		if (required)
			hd_invalid("%s%s is required", path, key);
		return NULL;
	}
	if (v->type == jbvString)
		s = pnstrdup(v->val.string.val, v->val.string.len);
	else if (v->type == jbvNumeric)
		s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	else
		hd_invalid("%s%s must be a string", path, key);
	if (strlen(s) > (size_t) maxlen)
		hd_invalid("%s%s is longer than %d bytes", path, key, maxlen);
	if (required && s[0] == '\0')
		hd_invalid("%s%s must not be empty", path, key);
	return s;
}

static bool
jbool(JsonbContainer *c, const char *path, const char *key, bool dflt)
{
	JsonbValue *v = jget(c, key);

	if (v == NULL)
		return dflt;
	if (v->type != jbvBool)
		hd_invalid("%s%s must be true or false", path, key);
	return v->val.boolean;
}

/* A keyword, trimmed; empty ones are refused (they would match everything). */
static char *
keyword(const char *raw, const char *what)
{
	int			len;
	char	   *k = hd_task_trim(raw, &len);

	if (len == 0)
		hd_invalid("%s must not be empty or only spaces", what);
	if (len > HD_TASK_MAX_KEYWORD_BYTES)
		hd_invalid("%s is longer than %d bytes", what, HD_TASK_MAX_KEYWORD_BYTES);
	return k;
}

/* trigger.keyword and/or trigger.keywords[] as text[] */
static Datum
keywords(JsonbContainer *trig, const char *type, bool need, int *count)
{
	Datum		kws[HD_TASK_MAX_KEYWORDS + 1];
	int			n = 0;
	char	   *one = jstring(trig, "task.trigger.", "keyword", false, 1000);
	JsonbValue *arr = jget(trig, "keywords");

	if (one != NULL)
		kws[n++] = CStringGetTextDatum(keyword(one, "task.trigger.keyword"));
	if (arr != NULL)
	{
		JsonbIterator *it;
		JsonbValue	v;
		JsonbIteratorToken tok;

		if (arr->type != jbvBinary || !JsonContainerIsArray(arr->val.binary.data))
			hd_invalid("task.trigger.keywords must be an array of strings");
		it = JsonbIteratorInit(arr->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			if (v.type != jbvString)
				hd_invalid("task.trigger.keywords must be an array of strings");
			if (n >= HD_TASK_MAX_KEYWORDS)
				hd_invalid("task.trigger.keywords has more than %d keywords", HD_TASK_MAX_KEYWORDS);
			kws[n++] = CStringGetTextDatum(keyword(pnstrdup(v.val.string.val, v.val.string.len),
												   "every task.trigger.keywords entry"));
		}
	}
	if (need && n == 0)
		hd_invalid("a %s trigger needs %s", type,
				   strcmp(type, "customer_keyword") == 0 ? "task.trigger.keywords (one or more)"
				   : "task.trigger.keyword");
	*count = n;
	return PointerGetDatum(construct_array(kws, n, TEXTOID, -1, false, TYPALIGN_INT));
}

static void
check_url(const char *what, const char *url)
{
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		hd_invalid("%s must be an http or https URL, got %s", what, hd_quote(url));
	if (strpbrk(url, " \t\r\n") != NULL)
		hd_invalid("%s must not contain spaces", what);
}

static HdPlan zone_time = {
	"SELECT CASE "
	" WHEN $1 ~ '^\\d{4}-\\d{2}-\\d{2}[ T]\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?$' "
	"   THEN $1::timestamp AT TIME ZONE coalesce((SELECT time_zone FROM helpdesk.automation_settings "
	"        WHERE tenant_id = $2), 'UTC') "
	" WHEN $1 ~ '^\\d{4}-\\d{2}-\\d{2}[ T]\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}(:?\\d{2})?)$' "
	"   THEN $1::timestamptz END",
	2, {TEXTOID, INT8OID}
};

static HdPlan insert_task = {
	"INSERT INTO helpdesk.trigger_task (tenant_id, task_id, body, type, customer_ext_id, "
	"  customer_name, trigger_type, trigger_customer_id, trigger_customer_name, keywords, "
	"  exact_match, trigger_at, action_type, action, priority, timeout_hours, created_by, "
	"  callback_url, expires_at, due_at) "
	"VALUES ($1, $2, $3, $3->>'type', coalesce($3->'customer'->>'id', $5), $3->'customer'->>'name', "
	"  $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $3->>'created_by', $14, "
	"  greatest(now(), coalesce($9, now())) + make_interval(hours => $13), now()) "
	"ON CONFLICT (tenant_id, task_id) DO NOTHING RETURNING id",
	14, {INT8OID, TEXTOID, JSONBOID, TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID, BOOLOID,
	TIMESTAMPTZOID, TEXTOID, JSONBOID, TEXTOID, INT4OID, TEXTOID}
};

static HdPlan existing = {
	"SELECT body = $3, status FROM helpdesk.trigger_task WHERE tenant_id = $1 AND task_id = $2",
	3, {INT8OID, TEXTOID, JSONBOID}
};

static HdPlan answer = {
	"SELECT jsonb_build_object('task_id', $1::text, 'status', $2::text)",
	2, {TEXTOID, TEXTOID}
};

static Datum
short_answer(const char *task_id, const char *status)
{
	Datum		v[2] = {CStringGetTextDatum(task_id), CStringGetTextDatum(status)};
	bool		isnull;

	hd_exec(&answer, v, NULL, true, 1);
	return SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull),
							 false, -1);
}

PG_FUNCTION_INFO_V1(hd_receive_task);

/* helpdesk.receive_task(tenant_id, task jsonb) -> {"task_id", "status"} */
Datum
hd_receive_task(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "task"};
	int64		tenant_id;
	Jsonb	   *task;
	JsonbContainer *root,
			   *trig,
			   *act,
			   *cust;
	char	   *task_id,
			   *ttype,
			   *atype,
			   *prio,
			   *cb,
			   *tcust = NULL,
			   *tname = NULL,
			   *time_s = NULL;
	bool		exact;
	int			nkw;
	int64		timeout = 24;
	Datum		kws,
				v[14];
	char		n[15] = "              ";
	JsonbValue *jv;
	Datum		result;

	hd_check_tenant_arg(fcinfo, 0);	/* before any other argument is judged */
	hd_require_args(fcinfo, 2, names);
	tenant_id = PG_GETARG_INT64(0);
	task = PG_GETARG_JSONB_P(1);
	hd_check_json_document("task", task);
	if (!JB_ROOT_IS_OBJECT(task))
		hd_invalid("task must be a JSON object");
	root = &task->root;

	task_id = jstring(root, "task.", "task_id", true, 200);
	(void) jstring(root, "task.", "type", true, 100);
	cust = jobject(root, "customer", false);
	if (cust)
	{
		(void) jstring(cust, "task.customer.", "id", false, 200);
		(void) jstring(cust, "task.customer.", "name", false, 200);
	}
	trig = jobject(root, "trigger", true);
	ttype = jstring(trig, "task.trigger.", "type", true, 100);
	hd_check_enum("task.trigger.type", ttype, trigger_types);
	exact = jbool(trig, "task.trigger.", "exact_match", false);
	if (strcmp(ttype, "specified_customer_reply") == 0)
	{
		tcust = jstring(trig, "task.trigger.", "customer_id", false, 200);
		if (tcust == NULL && cust)
			tcust = jstring(cust, "task.customer.", "id", false, 200);
		if (tcust == NULL || tcust[0] == '\0')
			hd_invalid("a specified_customer_reply trigger needs task.trigger.customer_id");
		tname = jstring(trig, "task.trigger.", "customer_name", false, 200);
	}
	if (strcmp(ttype, "time_reach") == 0)
	{
		time_s = jstring(trig, "task.trigger.", "time", true, 64);
		nkw = 0;
		kws = PointerGetDatum(construct_array(NULL, 0, TEXTOID, -1, false, TYPALIGN_INT));
	}
	else
		kws = keywords(trig, ttype, strcmp(ttype, "customer_payment") != 0, &nkw);

	act = jobject(root, "action", true);
	atype = jstring(act, "task.action.", "type", true, 100);
	hd_check_enum("task.action.type", atype, action_types);
	if (strcmp(atype, "send_message") == 0)
		(void) jstring(act, "task.action.", "message", true, 20000);
	else
	{
		char	   *url = jstring(act, "task.action.", "file_url", true, 2048);

		check_url("task.action.file_url", url);
		(void) jstring(act, "task.action.", "file_name", false, 255);
		(void) jstring(act, "task.action.", "message", false, 20000);
	}
	prio = jstring(root, "task.", "priority", false, 20);
	if (prio == NULL)
		prio = "normal";
	hd_check_enum("task.priority", prio, priorities);
	jv = jget(root, "timeout_hours");
	if (jv != NULL)
	{
		char	   *digits;

		if (jv->type != jbvNumeric || !hd_json_int(jv, 1, 8760, &timeout, &digits))
			hd_invalid("task.timeout_hours must be a whole number of hours from 1 to 8760");
	}
	(void) jstring(root, "task.", "created_by", false, 200);
	cb = jstring(root, "task.", "callback_url", false, 2048);
	if (cb != NULL)
		check_url("task.callback_url", cb);

	SPI_connect();
	hd_require_tenant(tenant_id);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = CStringGetTextDatum(task_id);
	v[2] = JsonbPGetDatum(task);
	v[3] = CStringGetTextDatum(ttype);
	v[4] = tcust ? CStringGetTextDatum(tcust) : (Datum) 0;
	n[4] = tcust ? ' ' : 'n';
	v[5] = tname ? CStringGetTextDatum(tname) : (Datum) 0;
	n[5] = tname ? ' ' : 'n';
	v[6] = kws;
	v[7] = BoolGetDatum(exact);
	n[8] = 'n';
	if (time_s != NULL)
	{
		Datum		zv[2] = {CStringGetTextDatum(time_s), Int64GetDatum(tenant_id)};
		bool		isnull;
		Datum		at;

		hd_exec(&zone_time, zv, NULL, true, 1);
		at = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			hd_invalid("task.trigger.time must be \"YYYY-MM-DD HH:MM:SS\" (the tenant's zone) "
					   "or ISO 8601 with an offset, got %s", hd_quote(time_s));
		v[8] = at;
		n[8] = ' ';
	}
	v[9] = CStringGetTextDatum(atype);
	v[10] = JsonbPGetDatum(DatumGetJsonbP(DirectFunctionCall2(jsonb_object_field,
															  JsonbPGetDatum(task),
															  CStringGetTextDatum("action"))));
	v[11] = CStringGetTextDatum(prio);
	v[12] = Int32GetDatum((int32) timeout);
	v[13] = cb ? CStringGetTextDatum(cb) : (Datum) 0;
	n[13] = cb ? ' ' : 'n';

	hd_exec(&insert_task, v, n, false, 1);
	if (SPI_processed > 0)
	{
		hd_task_index_changed(tenant_id);
		hd_wake_at_commit(HD_WORKER_DISPATCHER);
		result = short_answer(task_id, "pending");
	}
	else
	{
		Datum		ev[3] = {v[0], v[1], v[2]};
		char	   *status;

		hd_exec(&existing, ev, NULL, false, 1);
		if (SPI_processed == 0)
			elog(ERROR, "pg_helpdesk: task %s vanished", hd_quote(task_id));
		if (!hd_get_bool(1))
			ereport(ERROR,
					(errcode(ERRCODE_HD_IDEMPOTENCY_CONFLICT),
					 errmsg("task %s already exists in tenant %lld with a different body",
							hd_quote(task_id), (long long) tenant_id),
					 errhint("Send the same body to retry, or use a new task_id for a new task.")));
		status = hd_get_text(2);
		result = short_answer(task_id, status);
	}
	SPI_finish();
	PG_RETURN_DATUM(result);
}
