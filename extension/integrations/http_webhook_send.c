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
#include "storage/proc.h"

int			hd_webhook_disable_after_s = 5 * 86400;

#define JITTER 0.1				/* retries spread +-10% around the schedule */
#define RETRY_AFTER_MAX_S 86400


static HdPlan recover_sending = {
	"UPDATE helpdesk.webhook_delivery SET state = 'pending', next_at = now() WHERE state = 'sending'",
	0, {}
};

static HdPlan next_due_plan = {
	"SELECT min(next_at) FROM helpdesk.webhook_delivery WHERE state = 'pending'",
	0, {}
};

#define ATTEMPT_CTE \
	"WITH a AS (INSERT INTO helpdesk.webhook_attempt " \
	"             (tenant_id, delivery_id, attempt, webhook_id, status, latency_us, error, response) " \
	"           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)) "


/* the successes of one completion batch (webhook_flush) */
static HdPlan record_successes = {
	"WITH r AS (SELECT * FROM unnest($1::int8[], $2::int8[], $3::int4[], $4::int8[], $5::int4[], $6::int8[], $7::text[]) "
	"           AS r(t, d, a, w, s, l, resp)), "
	"a AS (INSERT INTO helpdesk.webhook_attempt "
	"        (tenant_id, delivery_id, attempt, webhook_id, status, latency_us, response) "
	"      SELECT t, d, a, w, s, l, nullif(resp, '') FROM r), "
	"w AS (UPDATE helpdesk.webhook x SET failing_since = NULL FROM (SELECT DISTINCT t, w FROM r) u "
	"      WHERE x.tenant_id = u.t AND x.id = u.w AND x.failing_since IS NOT NULL) "
	"UPDATE helpdesk.webhook_delivery d SET state = 'delivered', finished_at = now(), "
	"       last_status = r.s, last_error = NULL "
	"FROM r WHERE d.tenant_id = r.t AND d.id = r.d AND d.state = 'sending'",
	7, {INT8ARRAYOID, INT8ARRAYOID, INT4ARRAYOID, INT8ARRAYOID, INT4ARRAYOID, INT8ARRAYOID, TEXTARRAYOID}
};

/*
 * Successes deferred by complete() until flush(), in TopTransactionContext;
 * batch_lxid tells a batch left by a transaction that aborted before its
 * flush (then it is dropped: those rows stay "being sent").
 */
typedef struct SuccessBatch
{
	LocalTransactionId lxid;
	int			n,
				cap;
	int64	   *t,
			   *d,
			   *w,
			   *l;
	int32	   *a,
			   *s;
	char	  **resp;
} SuccessBatch;

static SuccessBatch batch;

static void
defer_success(int64 tenant, int64 delivery, int attempt, int64 webhook, int status,
			  int64 latency, const char *response)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

	if (batch.lxid != MyProc->lxid || batch.cap == 0)
	{
		batch.lxid = MyProc->lxid;
		batch.n = 0;
		batch.cap = 64;
		batch.t = palloc(sizeof(int64) * batch.cap);
		batch.d = palloc(sizeof(int64) * batch.cap);
		batch.w = palloc(sizeof(int64) * batch.cap);
		batch.l = palloc(sizeof(int64) * batch.cap);
		batch.a = palloc(sizeof(int32) * batch.cap);
		batch.s = palloc(sizeof(int32) * batch.cap);
		batch.resp = palloc(sizeof(char *) * batch.cap);
	}
	if (batch.n == batch.cap)
	{
		batch.cap *= 2;
		batch.t = repalloc(batch.t, sizeof(int64) * batch.cap);
		batch.d = repalloc(batch.d, sizeof(int64) * batch.cap);
		batch.w = repalloc(batch.w, sizeof(int64) * batch.cap);
		batch.l = repalloc(batch.l, sizeof(int64) * batch.cap);
		batch.a = repalloc(batch.a, sizeof(int32) * batch.cap);
		batch.s = repalloc(batch.s, sizeof(int32) * batch.cap);
		batch.resp = repalloc(batch.resp, sizeof(char *) * batch.cap);
	}
	batch.t[batch.n] = tenant;
	batch.d[batch.n] = delivery;
	batch.a[batch.n] = attempt;
	batch.w[batch.n] = webhook;
	batch.s[batch.n] = status;
	batch.l[batch.n] = latency;
	batch.resp[batch.n] = pstrdup(response ? response : "");
	batch.n++;
	MemoryContextSwitchTo(old);
}

/* Write the deferred successes in one statement. */
static void
webhook_flush(void)
{
	Datum		v[7];
	int			n;

	if (batch.lxid != MyProc->lxid || batch.n == 0)
		return;
	n = batch.n;
	batch.n = 0;				/* also if the statement fails */
	v[0] = hd_int8_array(batch.t, n);
	v[1] = hd_int8_array(batch.d, n);
	v[2] = hd_int4_array(batch.a, n);
	v[3] = hd_int8_array(batch.w, n);
	v[4] = hd_int4_array(batch.s, n);
	v[5] = hd_int8_array(batch.l, n);
	v[6] = hd_text_array(batch.resp, n);
	hd_http_exec(&record_successes, v, NULL, false, 0);
}

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
	"           WHERE tenant_id = $1 AND id = $2 AND enabled RETURNING id), "
	"     d AS (UPDATE helpdesk.webhook_delivery d SET state = 'dead', next_at = NULL, finished_at = now(), "
	"             last_error = 'endpoint disabled (' || $3 || ')' "
	"           FROM w WHERE d.tenant_id = $1 AND d.webhook_id = w.id AND d.state = 'pending') "
	"SELECT count(*) FROM w",
	3, {INT8OID, INT8OID, TEXTOID}
};

static void
webhook_recover(void)
{
	hd_webhook_table_dirty();
	hd_http_exec(&recover_sending, NULL, NULL, false, 0);
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

/* Sign and address one delivery (Standard Webhooks headers). */
static void
webhook_build(HdHttpJob *job)
{
	WebhookJob *wj = job->data;
	int64		ts = (int64) time(NULL);
	size_t		body_len = strlen(wj->body);
	char	   *sig = hd_webhook_sign_sealed(job->tenant_id, wj->secret, wj->msg_id, ts, wj->body, body_len);

	if (wj->previous)
		sig = psprintf("%s %s", sig,
					   hd_webhook_sign_sealed(job->tenant_id, wj->previous, wj->msg_id, ts, wj->body, body_len));
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
	int64		n = 0;

	hd_http_exec(&disable_webhook, v, NULL, false, 1);
	hd_get_int64(1, &n);
	if (n == 0)
		return;					/* another delivery in flight at the same time disabled it */
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
	if (wj->fast)
	{
		hd_webhook_fast_completing(wj->fast);
		if (ok)
		{
			/* its row and attempt are written by the flush */
			hd_webhook_fast_success(job, r->status, r->latency_us, response);
			return;
		}
		/* a failed first attempt: its row now, then as any other */
		v[1] = Int64GetDatum(hd_webhook_fast_row(job));
	}
	else if (ok)
	{
		defer_success(job->tenant_id, job->row_id, wj->attempt, wj->webhook_id, r->status,
					  r->latency_us, response);
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
		hd_http_exec(&record_failure, v, n, false, 0);
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
		if (wj->fast)
			hd_webhook_fast_done(wj->fast);
	}
}

/*
 * The earliest due row (a due one makes the next claim look at the table),
 * or now while deliveries wait in the queue or the window.
 */
static TimestampTz
webhook_next_due(void)
{
	bool		isnull;
	Datum		d;
	TimestampTz t,
				now = GetCurrentTimestamp();

	hd_http_exec(&next_due_plan, NULL, NULL, false, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	t = isnull ? 0 : DatumGetTimestampTz(d);
	if (t != 0 && t <= now)
		hd_webhook_table_dirty();
	if (hd_webhook_queued())
	{
		TimestampTz r = hd_webhook_rate_next();

		if (r == 0)
			return now;			/* claimed or read, waiting for a slot */
		/* only rate limits hold them: the first token, or a row due before it */
		return (t > now && t < r) ? t : r;
	}
	return t;
}

static void
webhook_flush_all(void)
{
	webhook_flush();
	hd_webhook_fast_flush();
}

const HdHttpSource hd_webhook_source = {
	.name = "webhook",
	.recover = webhook_recover,
	.prepare = webhook_prepare,
	.claim = hd_webhook_claim,
	.build = webhook_build,
	.complete = webhook_complete,
	.next_due = webhook_next_due,
	.flush = webhook_flush_all
};
