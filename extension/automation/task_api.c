/*
 * task_api.c — task_status, cancel_task, list_tasks, the per-tenant
 * settings, and the task's JSON as every answer shows it.
 */
#include "automation.h"
#include "http_engine.h"
#include "http_webhook.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

static const char *const statuses[] = {"pending", "waiting", "running", "completed", "failed",
"cancelled", "expired", NULL};

/* the task JSON of the row t (seed 003's fields plus the status columns) */
#define TASK_JSON \
	"jsonb_build_object('task_id', t.task_id, 'type', t.type, 'status', t.status, " \
	" 'customer', t.body->'customer', 'trigger', t.body->'trigger', 'action', t.body->'action', " \
	" 'priority', t.priority, 'timeout_hours', t.timeout_hours, 'created_by', t.created_by, " \
	" 'callback_url', t.callback_url, 'retry_count', t.retry_count, 'max_retry', t.max_retry, " \
	" 'created_at', t.created_at, 'expires_at', t.expires_at, 'trigger_at', t.trigger_at, " \
	" 'triggered_at', t.triggered_at, 'completed_at', t.completed_at, " \
	" 'error_message', t.error_message, 'result', t.result, 'cancel_reason', t.cancel_reason, " \
	" 'message_id', t.message_id, 'session_id', t.session_id, 'callback_state', t.callback_state)"

static HdPlan json_by_row = {
	"SELECT " TASK_JSON " FROM helpdesk.trigger_task t WHERE t.tenant_id = $1 AND t.id = $2",
	2, {INT8OID, INT8OID}
};

static HdPlan json_by_key = {
	"SELECT " TASK_JSON " FROM helpdesk.trigger_task t WHERE t.tenant_id = $1 AND t.task_id = $2",
	2, {INT8OID, TEXTOID}
};

static Datum
first_datum(void)
{
	bool		isnull;

	return SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull),
							 false, -1);
}

/* The task JSON of a row (SPI connected), copied out of SPI. */
Datum
hd_task_json(int64 tenant_id, int64 task_row_id)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(task_row_id)};

	hd_exec(&json_by_row, v, NULL, false, 1);	/* not read-only: sees the caller's writes */
	if (SPI_processed == 0)
		hd_not_found("trigger task", task_row_id, tenant_id);
	return first_datum();
}

static void
task_not_found(const char *task_id, int64 tenant_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_HD_NOT_FOUND),
			 errmsg("task %s does not exist in tenant %lld", hd_quote(task_id), (long long) tenant_id)));
}

PG_FUNCTION_INFO_V1(hd_task_status);

/* helpdesk.task_status(tenant_id, task_id) -> the task JSON */
Datum
hd_task_status(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "task_id"};
	int64		tenant_id;
	char	   *task_id;
	Datum		v[2],
				r;

	hd_require_args(fcinfo, 2, names);
	tenant_id = PG_GETARG_INT64(0);
	task_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	SPI_connect();
	hd_require_tenant(tenant_id);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = CStringGetTextDatum(task_id);
	hd_exec(&json_by_key, v, NULL, true, 1);
	if (SPI_processed == 0)
		task_not_found(task_id, tenant_id);
	r = first_datum();
	SPI_finish();
	PG_RETURN_DATUM(r);
}

static HdPlan cancel_plan = {
	"UPDATE helpdesk.trigger_task SET status = 'cancelled', cancel_reason = $3, due_at = NULL, "
	"  completed_at = now() "
	"WHERE tenant_id = $1 AND task_id = $2 AND status IN ('pending', 'waiting') RETURNING id",
	3, {INT8OID, TEXTOID, TEXTOID}
};

static HdPlan status_plan = {
	"SELECT status FROM helpdesk.trigger_task WHERE tenant_id = $1 AND task_id = $2",
	2, {INT8OID, TEXTOID}
};

PG_FUNCTION_INFO_V1(hd_cancel_task);

/*
 * helpdesk.cancel_task(tenant_id, task_id, reason) -> the task JSON.
 * Only a task that has not fired can be cancelled; a concurrent trigger
 * that commits first wins (the UPDATE rechecks the status on the locked
 * row) and the cancel is then HD422. Cancelling a cancelled task again
 * answers it unchanged.
 */
Datum
hd_cancel_task(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "task_id"};
	int64		tenant_id;
	char	   *task_id,
			   *reason;
	Datum		v[3],
				r;
	char		n[4] = "   ";
	int64		row_id;

	hd_require_args(fcinfo, 2, names);
	tenant_id = PG_GETARG_INT64(0);
	task_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	reason = hd_arg_text_or_null(fcinfo, 2);
	if (reason != NULL)
		hd_check_length("reason", reason, 0, 500);
	SPI_connect();
	hd_require_tenant(tenant_id);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = CStringGetTextDatum(task_id);
	v[2] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	n[2] = reason ? ' ' : 'n';
	hd_exec(&cancel_plan, v, n, false, 1);
	if (SPI_processed == 0)
	{
		char	   *status;

		hd_exec(&status_plan, v, NULL, false, 1);
		if (SPI_processed == 0)
			task_not_found(task_id, tenant_id);
		status = hd_get_text(1);
		if (strcmp(status, "cancelled") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_HD_ILLEGAL_TRANSITION),
					 errmsg("task %s is %s and can no longer be cancelled", hd_quote(task_id), status),
					 errhint("Only pending and waiting tasks can be cancelled.")));
		hd_exec(&json_by_key, v, NULL, true, 1);
		r = first_datum();
		SPI_finish();
		PG_RETURN_DATUM(r);
	}
	hd_get_int64(1, &row_id);
	r = hd_task_json(tenant_id, row_id);
	SPI_finish();
	PG_RETURN_DATUM(r);
}

#define LIST_WHERE \
	"t.tenant_id = $1 AND ($2::text IS NULL OR t.customer_ext_id = $2) " \
	"AND ($3::text IS NULL OR t.status = $3)"

static HdPlan list_plan = {
	"SELECT jsonb_build_object('total', (SELECT count(*) FROM helpdesk.trigger_task t WHERE " LIST_WHERE "), "
	"  'page', $4, 'page_size', $5, 'tasks', coalesce((SELECT jsonb_agg(x.j ORDER BY x.created_at DESC, x.id DESC) "
	"    FROM (SELECT " TASK_JSON " AS j, t.created_at, t.id FROM helpdesk.trigger_task t WHERE " LIST_WHERE
	"          ORDER BY t.created_at DESC, t.id DESC LIMIT $5 OFFSET ($4::bigint - 1) * $5) x), '[]'::jsonb))",
	5, {INT8OID, TEXTOID, TEXTOID, INT4OID, INT4OID}
};

PG_FUNCTION_INFO_V1(hd_list_tasks);

/* helpdesk.list_tasks(tenant_id, customer_id, status, page, page_size) -> {"total", "page", "page_size", "tasks"} */
Datum
hd_list_tasks(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id"};
	int64		tenant_id;
	char	   *customer = NULL,
			   *status = NULL;
	int32		page = 1,
				size = 20;
	Datum		v[5],
				r;
	char		n[6] = "     ";

	hd_check_tenant_arg(fcinfo, 0);	/* before any other argument is judged */
	hd_require_args(fcinfo, 1, names);
	tenant_id = PG_GETARG_INT64(0);
	customer = hd_arg_text_or_null(fcinfo, 1);
	status = hd_arg_text_or_null(fcinfo, 2);
	if (status != NULL)
		hd_check_enum("status", status, statuses);
	if (!PG_ARGISNULL(3))
		page = PG_GETARG_INT32(3);
	if (!PG_ARGISNULL(4))
		size = PG_GETARG_INT32(4);
	hd_check_range("page", page, 1, 1000000);
	hd_check_range("page_size", size, 1, 100);
	SPI_connect();
	hd_require_tenant(tenant_id);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = customer ? CStringGetTextDatum(customer) : (Datum) 0;
	n[1] = customer ? ' ' : 'n';
	v[2] = status ? CStringGetTextDatum(status) : (Datum) 0;
	n[2] = status ? ' ' : 'n';
	v[3] = Int32GetDatum(page);
	v[4] = Int32GetDatum(size);
	hd_exec(&list_plan, v, n, true, 1);
	r = first_datum();
	SPI_finish();
	PG_RETURN_DATUM(r);
}

static HdPlan zone_ok = {
	"SELECT now() AT TIME ZONE $1", 1, {TEXTOID}
};

static HdPlan settings_upsert = {
	"INSERT INTO helpdesk.automation_settings AS s (tenant_id, payment_phrases, time_zone) "
	"VALUES ($1, $2, coalesce($3, 'UTC')) "
	"ON CONFLICT (tenant_id) DO UPDATE SET "
	"  payment_phrases = CASE WHEN $4 THEN NULL ELSE coalesce($2, s.payment_phrases) END, "
	"  time_zone = coalesce($3, s.time_zone), updated_at = now()",
	4, {INT8OID, TEXTARRAYOID, TEXTOID, BOOLOID}
};

PG_FUNCTION_INFO_V1(hd_set_task_settings);

/*
 * helpdesk.set_task_settings(tenant_id, payment_phrases, time_zone,
 * default_payment_phrases): NULL keeps a value; default_payment_phrases
 * true goes back to the built-in list. Every backend recompiles the
 * tenant's index at commit.
 */
Datum
hd_set_task_settings(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id"};
	int64		tenant_id;
	Datum		v[4];
	char		n[5] = "    ";
	char	   *zone;
	bool		reset = !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);

	hd_check_tenant_arg(fcinfo, 0);	/* before any other argument is judged */
	hd_require_args(fcinfo, 1, names);
	tenant_id = PG_GETARG_INT64(0);
	zone = hd_arg_text_or_null(fcinfo, 2);
	if (!PG_ARGISNULL(1))
	{
		ArrayType  *a = PG_GETARG_ARRAYTYPE_P(1);
		Datum	   *elems;
		bool	   *nulls;
		int			ne,
					i,
					len;

		deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &ne);
		if (ne < 1 || ne > 200)
			hd_invalid("payment_phrases must have 1 to 200 phrases, got %d", ne);
		for (i = 0; i < ne; i++)
		{
			if (nulls[i])
				hd_invalid("payment_phrases must not contain NULL");
			(void) hd_task_trim(TextDatumGetCString(elems[i]), &len);
			if (len == 0 || len > HD_TASK_MAX_KEYWORD_BYTES)
				hd_invalid("every payment phrase must have 1 to %d bytes besides spaces",
						   HD_TASK_MAX_KEYWORD_BYTES);
		}
	}
	SPI_connect();
	hd_require_tenant(tenant_id);
	if (zone != NULL)
	{
		Datum		zv[1] = {CStringGetTextDatum(zone)};

		hd_check_length("time_zone", zone, 1, 64);
		hd_exec(&zone_ok, zv, NULL, true, 1);	/* 22023 for an unknown zone */
	}
	v[0] = Int64GetDatum(tenant_id);
	v[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	n[1] = PG_ARGISNULL(1) ? 'n' : ' ';
	v[2] = zone ? CStringGetTextDatum(zone) : (Datum) 0;
	n[2] = zone ? ' ' : 'n';
	v[3] = BoolGetDatum(reset);
	hd_exec(&settings_upsert, v, n, false, 0);
	hd_task_index_changed(tenant_id);
	SPI_finish();
	PG_RETURN_VOID();
}

static HdPlan secret_read = {
	"SELECT callback_secret FROM helpdesk.automation_settings WHERE tenant_id = $1 FOR UPDATE",
	1, {INT8OID}
};

static HdPlan secret_plan = {
	"INSERT INTO helpdesk.automation_settings AS s (tenant_id, callback_secret) VALUES ($1, $2) "
	"ON CONFLICT (tenant_id) DO UPDATE SET callback_secret = $2, updated_at = now()",
	2, {INT8OID, BYTEAOID}
};

/* see automation.h: the AES-GCM context of a tenant's sealed callback secret */
char *
hd_task_secret_context(int64 tenant_id)
{
	return psprintf("pg_helpdesk task callback secret, tenant %lld", (long long) tenant_id);
}

PG_FUNCTION_INFO_V1(hd_task_callback_secret);

/*
 * helpdesk.task_callback_secret(tenant_id, rotate): the whsec_ secret that
 * signs callbacks (made on first call, or anew with rotate), stored sealed
 * (AES-256-GCM, the webhooks' key) and opened here for the caller.
 */
Datum
hd_task_callback_secret(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id"};
	int64		tenant_id;
	Datum		v[2];
	char	   *secret = NULL;
	int			len = 0;
	bool		rotate;
	text	   *r;

	hd_check_tenant_arg(fcinfo, 0);	/* before any other argument is judged */
	hd_require_args(fcinfo, 1, names);
	tenant_id = PG_GETARG_INT64(0);
	rotate = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
	SPI_connect();
	hd_require_tenant(tenant_id);
	v[0] = Int64GetDatum(tenant_id);
	hd_exec(&secret_read, v, NULL, false, 1);
	if (!rotate && SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			secret = hd_decrypt_secret(DatumGetByteaPP(d), hd_task_secret_context(tenant_id), &len);
	}
	if (secret == NULL)
	{
		secret = hd_webhook_new_secret();
		len = strlen(secret);
		v[1] = PointerGetDatum(hd_encrypt_secret(secret, len, hd_task_secret_context(tenant_id)));
		hd_exec(&secret_plan, v, NULL, false, 0);
	}
	r = (text *) SPI_datumTransfer(PointerGetDatum(cstring_to_text_with_len(secret, len)), false, -1);
	explicit_bzero(secret, len);
	SPI_finish();
	PG_RETURN_TEXT_P(r);
}
