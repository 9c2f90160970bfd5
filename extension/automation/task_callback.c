/*
 * task_callback.c — a task's callback_url is told when the task finishes
 * (completed, failed, expired): a job source of the HTTP worker
 * (integrations/http_engine.h), so no HTTP ever runs in a database
 * transaction of ours or a customer's.
 *
 * Body: the task JSON of task_status (its status, triggered_at,
 * completed_at, error_message, result ...). Signed like webhooks (Standard
 * Webhooks: webhook-id task_<tenant>_<row> — the same on every retry —,
 * webhook-timestamp, webhook-signature "v1,<base64 HMAC-SHA256>") with the
 * tenant's task_callback_secret; unsigned while the tenant has none.
 * Retried on anything but a 2xx: HD_TASK_CALLBACK_ATTEMPTS attempts, 1 s,
 * 2 s, 4 s, 8 s apart, then callback_state failed. At least once: a callback
 * being sent when the worker died is sent again (recover).
 */
#include "automation.h"
#include "http_engine.h"
#include "http_webhook.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"

typedef struct CallbackJob
{
	int			attempt;
} CallbackJob;

static HdPlan recover_plan = {
	"UPDATE helpdesk.trigger_task SET callback_state = 'due', callback_due_at = now() "
	"WHERE callback_state = 'sending'",
	0, {}
};

static HdPlan claimable = {
	"SELECT tenant_id, id, callback_attempts + 1 FROM helpdesk.trigger_task "
	"WHERE callback_due_at <= now() ORDER BY callback_due_at LIMIT $1 FOR UPDATE SKIP LOCKED",
	1, {INT4OID}
};

static HdPlan mark_sending = {
	"UPDATE helpdesk.trigger_task SET callback_state = 'sending', callback_due_at = NULL, "
	"  callback_attempts = callback_attempts + 1 WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

static HdPlan facts = {
	"SELECT t.callback_url, s.callback_secret FROM helpdesk.trigger_task t "
	"LEFT JOIN helpdesk.automation_settings s ON s.tenant_id = t.tenant_id "
	"WHERE t.tenant_id = $1 AND t.id = $2",
	2, {INT8OID, INT8OID}
};

static HdPlan result_plan = {
	"UPDATE helpdesk.trigger_task SET "
	"  callback_state = CASE WHEN $3 THEN 'sent' WHEN callback_attempts >= $5 THEN 'failed' ELSE 'due' END, "
	"  callback_due_at = CASE WHEN $3 OR callback_attempts >= $5 THEN NULL "
	"    ELSE now() + make_interval(secs => power(2, callback_attempts - 1)) END, "
	"  callback_error = $4 WHERE tenant_id = $1 AND id = $2",
	5, {INT8OID, INT8OID, BOOLOID, TEXTOID, INT4OID}
};

static HdPlan due_plan = {
	"UPDATE helpdesk.trigger_task SET callback_state = 'due', callback_due_at = now() "
	"WHERE tenant_id = $1 AND id = $2 AND callback_url IS NOT NULL",
	2, {INT8OID, INT8OID}
};

static HdPlan next_due_plan = {
	"SELECT min(callback_due_at) FROM helpdesk.trigger_task WHERE callback_due_at IS NOT NULL",
	0, {}
};

/* The task finished: its callback (if any) is due now, the HTTP worker woken at commit. */
void
hd_task_callback_due(int64 tenant_id, int64 task_row_id)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(task_row_id)};

	hd_exec(&due_plan, v, NULL, false, 0);
	if (SPI_processed > 0)
		hd_wake_at_commit(HD_WORKER_HTTP);
}

static void
cb_recover(void)
{
	hd_http_exec(&recover_plan, NULL, NULL, false, 0);
}

/* a tenant whose callbacks are at their cap: its rows stay due */
static int
cb_claim(HdHttpClaim *claim, int max)
{
	Datum		v[1] = {Int32GetDatum(max)};

	hd_http_exec(&claimable, v, NULL, false, 0);
	return hd_http_claim_rows(claim, SPI_tuptable, SPI_processed, 0, 3, &mark_sending);
}

static void
cb_build(HdHttpJob *job)
{
	Datum		v[2] = {Int64GetDatum(job->tenant_id), Int64GetDatum(job->row_id)};
	char	   *url,
			   *secret,
			   *body;
	Datum		j;

	hd_exec(&facts, v, NULL, true, 1);
	if (SPI_processed == 0)
		elog(ERROR, "pg_helpdesk: trigger task %lld vanished", (long long) job->row_id);
	url = hd_get_text(1);
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		int			len;

		/* the sealed secret opens only here, in the worker (and in task_callback_secret) */
		secret = isnull ? NULL : hd_decrypt_secret(DatumGetByteaPP(d), hd_task_secret_context(job->tenant_id), &len);
	}
	if (url == NULL)
		elog(ERROR, "pg_helpdesk: trigger task %lld has no callback_url", (long long) job->row_id);
	job->request.url = MemoryContextStrdup(job->cxt, url);
	j = hd_task_json(job->tenant_id, job->row_id);
	body = JsonbToCString(NULL, &DatumGetJsonbP(j)->root, VARSIZE(DatumGetPointer(j)));
	job->request.method = "POST";
	job->request.body = MemoryContextStrdup(job->cxt, body);
	job->request.body_len = strlen(body);
	hd_http_add_header(job, "Content-Type", "application/json");
	if (secret != NULL)
		hd_http_sign_job(job, secret, "task");
}

static void
cb_complete(HdHttpJob *job, const HdHttpResult *r)
{
	bool		ok = !r->bad_row && r->error == NULL && r->status >= 200 && r->status < 300;
	char	   *err = ok ? NULL : (r->error ? psprintf("%s", r->error) : psprintf("HTTP %d", r->status));
	Datum		v[5] = {Int64GetDatum(job->tenant_id), Int64GetDatum(job->row_id), BoolGetDatum(ok),
		err ? CStringGetTextDatum(hd_clip_message(err, 900)) : (Datum) 0,
	Int32GetDatum(r->bad_row ? 0 : HD_TASK_CALLBACK_ATTEMPTS)};
	char		n[6] = "     ";

	n[3] = err ? ' ' : 'n';
	hd_http_exec(&result_plan, v, n, false, 0);
}

static TimestampTz
cb_next_due(void)
{
	bool		isnull;
	Datum		d;

	hd_http_exec(&next_due_plan, NULL, NULL, false, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetTimestampTz(d);
}

static const HdHttpSource task_callback_source = {
	.name = "task callback",
	.recover = cb_recover,
	.claim = cb_claim,
	.build = cb_build,
	.complete = cb_complete,
	.next_due = cb_next_due,
};

void
hd_task_register_callback_source(void)
{
	hd_http_register_source(&task_callback_source);
}
