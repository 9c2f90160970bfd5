/*
 * http_webhook_send.c — webhook deliveries as a job source of the HTTP
 * engine: claim due deliveries, sign them, record each attempt and decide
 * what follows (delivered, retried per the endpoint's schedule, dead).
 *
 * Success is a 2xx. 429 and 503 wait at least their Retry-After. 410 Gone
 * disables the endpoint. An endpoint whose deliveries have failed without a
 * success for helpdesk.webhook_disable_after (5 days) is disabled. A
 * disabled endpoint's pending deliveries are dead-lettered (replay_webhooks
 * sends them again once it is enabled). Each of these writes an event
 * (webhook.dead_letter, webhook.disabled) for the tenant.
 */
#include "http_webhook.h"
#include "dispatch.h"

#include <curl/curl.h>

#include "common/pg_prng.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"

int			hd_webhook_disable_after_s = 5 * 86400;

#define JITTER 0.1				/* retries spread +-10% around the schedule */
#define RETRY_AFTER_MAX_S 86400

typedef struct WebhookJob
{
	int64		webhook_id;
	int			attempt;
	char	   *msg_id;
	char	   *event_type;
	char	   *body;
	char	   *url;
	bytea	   *secret;
	bytea	   *previous;		/* NULL unless still active */
	int			timeout_ms;
	bool		has_next;		/* the schedule has another attempt */
	int64		next_delay_us;
} WebhookJob;

static HdPlan recover_sending = {
	"UPDATE helpdesk.webhook_delivery SET state = 'pending', next_at = now() WHERE state = 'sending'",
	0, {}
};

static HdPlan claim_due = {
	"WITH c AS (SELECT d.tenant_id, d.id FROM helpdesk.webhook_delivery d "
	"           JOIN helpdesk.webhook w ON w.tenant_id = d.tenant_id AND w.id = d.webhook_id "
	"           WHERE d.state = 'pending' AND d.next_at <= now() AND w.enabled "
	"             AND NOT EXISTS (SELECT 1 FROM unnest($2::int8[], $3::int8[]) AS f(t, i) "
	"                             WHERE f.t = d.tenant_id AND f.i = d.webhook_id) "
	"           ORDER BY d.next_at, d.id LIMIT $1 "
	"           FOR UPDATE OF d SKIP LOCKED) "
	"SELECT d.tenant_id, d.id, d.webhook_id, d.attempts + 1, d.msg_id, d.event_type, d.body, w.url, w.secret, "
	"       CASE WHEN w.previous_until > now() THEN w.previous_secret END, w.max_in_flight, w.timeout_ms, "
	"       (extract(epoch FROM w.retry_schedule[d.step + 1]) * 1000000)::bigint "
	"FROM c JOIN helpdesk.webhook_delivery d ON d.tenant_id = c.tenant_id AND d.id = c.id "
	"JOIN helpdesk.webhook w ON w.tenant_id = d.tenant_id AND w.id = d.webhook_id "
	"ORDER BY d.next_at, d.id",
	3, {INT4OID, INT8ARRAYOID, INT8ARRAYOID}
};

static HdPlan mark_sending = {
	"UPDATE helpdesk.webhook_delivery d SET state = 'sending', attempts = d.attempts + 1, next_at = NULL "
	"FROM unnest($1::int8[], $2::int8[]) AS f(t, i) WHERE d.tenant_id = f.t AND d.id = f.i",
	2, {INT8ARRAYOID, INT8ARRAYOID}
};

static HdPlan next_due_plan = {
	"SELECT min(next_at) FROM helpdesk.webhook_delivery WHERE state = 'pending'",
	0, {}
};

#define ATTEMPT_CTE \
	"WITH a AS (INSERT INTO helpdesk.webhook_attempt " \
	"             (tenant_id, delivery_id, attempt, webhook_id, status, latency_us, error, response) " \
	"           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)) "

static HdPlan record_success = {
	ATTEMPT_CTE ", "
	"w AS (UPDATE helpdesk.webhook SET failing_since = NULL "
	"      WHERE tenant_id = $1 AND id = $4 AND failing_since IS NOT NULL) "
	"UPDATE helpdesk.webhook_delivery SET state = 'delivered', finished_at = now(), "
	"       last_status = $5, last_error = NULL "
	"WHERE tenant_id = $1 AND id = $2 AND state = 'sending'",
	8, {INT8OID, INT8OID, INT4OID, INT8OID, INT4OID, INT8OID, TEXTOID, TEXTOID}
};

/* $9: retry after $10 microseconds (else dead); returns whether the endpoint failed long enough */
static HdPlan record_failure = {
	ATTEMPT_CTE ", "
	"d AS (UPDATE helpdesk.webhook_delivery SET "
	"        state = CASE WHEN $9 THEN 'pending' ELSE 'dead' END, step = step + 1, "
	"        next_at = CASE WHEN $9 THEN now() + make_interval(secs => $10 / 1000000.0) END, "
	"        finished_at = CASE WHEN $9 THEN NULL ELSE now() END, last_status = $5, last_error = $7 "
	"      WHERE tenant_id = $1 AND id = $2 AND state = 'sending') "
	"UPDATE helpdesk.webhook SET failing_since = coalesce(failing_since, now()) "
	"WHERE tenant_id = $1 AND id = $4 "
	"RETURNING enabled AND failing_since < now() - make_interval(secs => $11)",
	11, {INT8OID, INT8OID, INT4OID, INT8OID, INT4OID, INT8OID, TEXTOID, TEXTOID, BOOLOID, INT8OID, INT4OID}
};

static HdPlan disable_webhook = {
	"WITH w AS (UPDATE helpdesk.webhook SET enabled = false, disabled_reason = $3, updated_at = now() "
	"           WHERE tenant_id = $1 AND id = $2 AND enabled RETURNING id) "
	"UPDATE helpdesk.webhook_delivery d SET state = 'dead', next_at = NULL, finished_at = now(), "
	"       last_error = 'endpoint disabled (' || $3 || ')' "
	"FROM w WHERE d.tenant_id = $1 AND d.webhook_id = w.id AND d.state = 'pending'",
	3, {INT8OID, INT8OID, TEXTOID}
};

static void
webhook_recover(void)
{
	hd_exec(&recover_sending, NULL, NULL, false, 0);
	if (SPI_processed > 0)
		ereport(LOG,
				(errmsg("pg_helpdesk http worker: %llu webhook deliveries in flight when the worker stopped are sent again",
						(unsigned long long) SPI_processed)));
}

static bool
webhook_prepare(void)
{
	return hd_webhook_feed();
}

static bytea *
copy_bytea(HeapTuple t, TupleDesc d, int col)
{
	bool		isnull;
	Datum		v = SPI_getbinval(t, d, col, &isnull);

	return isnull ? NULL : DatumGetByteaPCopy(v);
}

static int
webhook_claim(HdHttpClaim *claim, int max)
{
	int64	   *full_t,
			   *full_i;
	int			nfull = hd_http_full_endpoints(claim, &full_t, &full_i);
	Datum		v[3];
	int64	   *acc_t,
			   *acc_i;
	int			nacc = 0;
	uint64		i;

	v[0] = Int32GetDatum(max);
	v[1] = hd_int8_array(full_t, nfull);
	v[2] = hd_int8_array(full_i, nfull);
	hd_exec(&claim_due, v, NULL, false, 0);
	if (SPI_processed == 0)
		return 0;
	acc_t = palloc(sizeof(int64) * SPI_processed);
	acc_i = palloc(sizeof(int64) * SPI_processed);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		tenant = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		int64		id = DatumGetInt64(SPI_getbinval(t, d, 2, &isnull));
		int64		webhook = DatumGetInt64(SPI_getbinval(t, d, 3, &isnull));
		int			cap = DatumGetInt32(SPI_getbinval(t, d, 11, &isnull));
		HdHttpJob  *job = hd_http_job_new(claim, tenant, id, webhook, cap);
		WebhookJob *wj;
		MemoryContext old;
		Datum		delay;

		if (job == NULL)
			continue;			/* the endpoint is at its cap: stays pending */
		old = MemoryContextSwitchTo(job->cxt);
		wj = palloc0(sizeof(WebhookJob));
		wj->webhook_id = webhook;
		wj->attempt = DatumGetInt32(SPI_getbinval(t, d, 4, &isnull));
		wj->msg_id = SPI_getvalue(t, d, 5);
		wj->event_type = SPI_getvalue(t, d, 6);
		wj->body = SPI_getvalue(t, d, 7);
		wj->url = SPI_getvalue(t, d, 8);
		wj->secret = copy_bytea(t, d, 9);
		wj->previous = copy_bytea(t, d, 10);
		wj->timeout_ms = DatumGetInt32(SPI_getbinval(t, d, 12, &isnull));
		delay = SPI_getbinval(t, d, 13, &isnull);
		wj->has_next = !isnull;
		wj->next_delay_us = isnull ? 0 : DatumGetInt64(delay);
		MemoryContextSwitchTo(old);
		job->data = wj;
		job->attempt = wj->attempt;
		acc_t[nacc] = tenant;
		acc_i[nacc] = id;
		nacc++;
	}
	if (nacc > 0)
	{
		Datum		m[2] = {hd_int8_array(acc_t, nacc), hd_int8_array(acc_i, nacc)};

		hd_exec(&mark_sending, m, NULL, false, 0);
	}
	return nacc;
}

/* Sign and address one delivery (Standard Webhooks headers). */
static void
webhook_build(HdHttpJob *job)
{
	WebhookJob *wj = job->data;
	char	   *ctx = hd_webhook_context(job->tenant_id);
	int			len;
	char	   *secret = hd_decrypt_secret(wj->secret, ctx, &len);
	int64		ts = (int64) time(NULL);
	size_t		body_len = strlen(wj->body);
	char	   *sig = hd_webhook_signature(secret, wj->msg_id, ts, wj->body, body_len);

	explicit_bzero(secret, len);
	if (wj->previous)
	{
		char	   *prev = hd_decrypt_secret(wj->previous, ctx, &len);

		sig = psprintf("%s %s", sig, hd_webhook_signature(prev, wj->msg_id, ts, wj->body, body_len));
		explicit_bzero(prev, len);
	}
	job->request.method = "POST";
	job->request.url = wj->url;
	job->request.body = wj->body;
	job->request.body_len = body_len;
	job->request.timeout_ms = wj->timeout_ms;
	hd_http_add_header(job, "content-type", "application/json");
	hd_http_add_header(job, "user-agent", "pg_helpdesk/" HD_EXTVERSION);
	hd_http_add_header(job, "webhook-id", wj->msg_id);
	hd_http_add_header(job, "webhook-timestamp", psprintf(INT64_FORMAT, ts));
	hd_http_add_header(job, "webhook-signature", sig);
}

/* Seconds a Retry-After asks for (delta-seconds or an HTTP date), -1: none. */
static int64
retry_after_s(const char *v)
{
	char	   *end;
	long		n;
	time_t		t;

	if (v == NULL || *v == '\0')
		return -1;
	n = strtol(v, &end, 10);
	if (end != v && *end == '\0')
		return n < 0 ? -1 : Min((int64) n, RETRY_AFTER_MAX_S);
	t = curl_getdate(v, NULL);
	if (t < 0)
		return -1;
	return Max((int64) 0, Min((int64) (t - time(NULL)), RETRY_AFTER_MAX_S));
}

static void
webhook_event(int64 tenant_id, const char *type, int64 webhook_id, int64 delivery_id,
			  const char *msg_id, const char *reason, int status, const char *error)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfo(&s, "{\"webhook_id\": \"" INT64_FORMAT "\"", webhook_id);
	if (delivery_id)
		appendStringInfo(&s, ", \"delivery_id\": " INT64_FORMAT, delivery_id);
	if (msg_id)
	{
		appendStringInfoString(&s, ", \"msg_id\": ");
		escape_json(&s, msg_id);
	}
	appendStringInfoString(&s, ", \"reason\": ");
	escape_json(&s, reason);
	if (status)
		appendStringInfo(&s, ", \"status\": %d", status);
	if (error)
	{
		appendStringInfoString(&s, ", \"error\": ");
		escape_json(&s, hd_clip(error));
	}
	appendStringInfoChar(&s, '}');
	hd_append_event(tenant_id, "tenant", tenant_id, 0, 0, type, s.data);
}

static void
disable(HdHttpJob *job, const char *reason, int status)
{
	WebhookJob *wj = job->data;
	Datum		v[3] = {Int64GetDatum(job->tenant_id), Int64GetDatum(wj->webhook_id),
	CStringGetTextDatum(reason)};

	hd_exec(&disable_webhook, v, NULL, false, 0);
	webhook_event(job->tenant_id, "webhook.disabled", wj->webhook_id, 0, NULL, reason, status, NULL);
	ereport(LOG,
			(errmsg("pg_helpdesk http worker: webhook %lld of tenant %lld disabled (%s)",
					(long long) wj->webhook_id, (long long) job->tenant_id, reason)));
}

static void
webhook_complete(HdHttpJob *job, const HdHttpResult *r)
{
	WebhookJob *wj = job->data;
	Datum		v[11];
	char		n[12] = "           ";
	bool		ok = r->status >= 200 && r->status < 300 && r->error == NULL;
	char	   *error = (char *) r->error;
	char	   *response = NULL;

	if (!ok && error == NULL)
		error = psprintf("HTTP %d", r->status);
	if (r->body_len > 0)
	{
		/* the first 4 KB, cut at a character boundary, valid text */
		int			len = pg_mbcliplen(r->body, r->body_len, HD_HTTP_BODY_KEEP);

		response = pnstrdup(r->body, len);
		if (pg_verifymbstr(response, len, true) == false || memchr(response, '\0', len) != NULL)
			response = psprintf("(%d bytes, not text)", r->body_len);
	}
	v[0] = Int64GetDatum(job->tenant_id);
	v[1] = Int64GetDatum(job->row_id);
	v[2] = Int32GetDatum(wj->attempt);
	v[3] = Int64GetDatum(wj->webhook_id);
	v[4] = Int32GetDatum(r->status);
	n[4] = (r->status == 0) ? 'n' : ' ';
	v[5] = Int64GetDatum(r->latency_us);
	v[6] = error ? CStringGetTextDatum(hd_clip_message(pstrdup(error), 1000)) : (Datum) 0;
	n[6] = error ? ' ' : 'n';
	v[7] = response ? CStringGetTextDatum(response) : (Datum) 0;
	n[7] = response ? ' ' : 'n';
	if (ok)
	{
		hd_exec(&record_success, v, n, false, 0);
		return;
	}
	{
		bool		retry = wj->has_next && !r->bad_row && r->status != 410;
		int64		delay = wj->next_delay_us;
		int64		ra = (r->status == 429 || r->status == 503) ? retry_after_s(r->retry_after) : -1;
		bool		failing_long = false;

		if (delay > 0)
			delay = (int64) (delay * (1.0 + JITTER * (2.0 * pg_prng_double(&pg_global_prng_state) - 1.0)));
		if (ra >= 0)
			delay = Max(delay, ra * USECS_PER_SEC);
		v[8] = BoolGetDatum(retry);
		v[9] = Int64GetDatum(delay);
		v[10] = Int32GetDatum(hd_webhook_disable_after_s);
		hd_exec(&record_failure, v, n, false, 0);
		if (SPI_processed == 1)
			failing_long = hd_get_bool(1);
		if (!retry)
			webhook_event(job->tenant_id, "webhook.dead_letter", wj->webhook_id, job->row_id, wj->msg_id,
						  r->bad_row ? "bad_row" : r->status == 410 ? "gone" : "schedule_exhausted",
						  r->status, error);
		if (r->status == 410)
			disable(job, "gone", r->status);
		else if (failing_long)
			disable(job, "failing", r->status);
	}
}

static TimestampTz
webhook_next_due(void)
{
	bool		isnull;
	Datum		d;

	hd_exec(&next_due_plan, NULL, NULL, false, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetTimestampTz(d);
}

const HdHttpSource hd_webhook_source = {
	.name = "webhook",
	.recover = webhook_recover,
	.prepare = webhook_prepare,
	.claim = webhook_claim,
	.build = webhook_build,
	.complete = webhook_complete,
	.next_due = webhook_next_due
};
