/*
 * http_webhook_queue.c — the webhook source's claim: deliveries claimed in
 * large batches and held in memory until a slot is free.
 *
 * Claiming a few dozen rows per loop turn cost more than everything else the
 * worker did (each claim walked the index entries of the rows claimed
 * before it: 17 ms a claim, over half the worker's time in a 10,000
 * delivery drain). Now one statement claims up to QUEUE_PER_ENDPOINT due
 * deliveries per endpoint (QUEUE_MAX in all), marks them "sending" and
 * returns them; later turns hand them to the engine as slots free up, with
 * one lookup of the endpoints' current settings per turn (so a URL, secret
 * or enabled flag changed by the admin applies to what is queued: a
 * disabled endpoint's queued deliveries are dead-lettered like its pending
 * ones).
 *
 * A queued delivery is "sending" in the table exactly like one in flight:
 * if the worker dies, recover() at the next start makes it due again (at
 * least once). The queue follows the transactions: entries handed out in a
 * transaction that aborts are handed out again later, entries claimed in
 * one are forgotten (their rows were not marked). Memory: QUEUE_MAX bodies
 * of at most HD_WEBHOOK_MAX_BODY bytes.
 */
#include "http_webhook.h"
#include "dispatch.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"

#define QUEUE_MAX 2048			/* deliveries held claimed in memory */
#define QUEUE_PER_ENDPOINT 512	/* most one claim takes of one endpoint */

typedef struct QEntry
{
	int64		tenant_id;
	int64		id;
	int64		webhook_id;
	int			attempt;
	int			step;
	char	   *msg_id;
	char	   *event_type;
	char	   *body;
	bool		fresh;			/* claimed in the current transaction */
	bool		taken;			/* handed out in the current transaction */
} QEntry;

static MemoryContext queue_cxt = NULL;
static QEntry *queue = NULL;
static int	qn = 0;

/*
 * Due deliveries, endpoint by endpoint (the first ones of each enabled
 * endpoint not left out by $2/$3, by due time, through the partial index
 * webhook_delivery_due_by_webhook), marked as being sent in the same
 * statement.
 */
static HdPlan claim_batch = {
	"WITH c AS (SELECT d.tenant_id, d.id, d.next_at FROM helpdesk.webhook w "
	"           CROSS JOIN LATERAL (SELECT d.tenant_id, d.id, d.next_at FROM helpdesk.webhook_delivery d "
	"                               WHERE d.tenant_id = w.tenant_id AND d.webhook_id = w.id "
	"                                 AND d.state = 'pending' AND d.next_at <= now() "
	"                               ORDER BY d.next_at, d.id LIMIT $4 FOR UPDATE SKIP LOCKED) d "
	"           WHERE w.enabled "
	"             AND NOT EXISTS (SELECT 1 FROM unnest($2::int8[], $3::int8[]) AS f(t, i) "
	"                             WHERE f.t = w.tenant_id AND f.i = w.id) "
	"           ORDER BY d.next_at, d.id LIMIT $1), "
	"u AS (UPDATE helpdesk.webhook_delivery d SET state = 'sending', attempts = d.attempts + 1, next_at = NULL "
	"      FROM c WHERE d.tenant_id = c.tenant_id AND d.id = c.id "
	"      RETURNING d.tenant_id, d.id, d.webhook_id, d.attempts, d.step, d.msg_id, d.event_type, d.body, c.next_at) "
	"SELECT tenant_id, id, webhook_id, attempts, step, msg_id, event_type, body FROM u ORDER BY next_at, id",
	4, {INT4OID, INT8ARRAYOID, INT8ARRAYOID, INT4OID}
};

/* the current settings of the endpoints with queued deliveries */
static HdPlan endpoints_plan = {
	"SELECT w.tenant_id, w.id, w.enabled, w.url, w.secret, "
	"       CASE WHEN w.previous_until > now() THEN w.previous_secret END, w.max_in_flight, w.timeout_ms, "
	"       ARRAY(SELECT (extract(epoch FROM x) * 1000000)::bigint FROM unnest(w.retry_schedule) x), "
	"       w.rate_limit, coalesce(w.rate_burst, greatest(1, ceil(w.rate_limit))::int) "
	"FROM unnest($1::int8[], $2::int8[]) AS f(t, i) "
	"JOIN helpdesk.webhook w ON w.tenant_id = f.t AND w.id = f.i",
	2, {INT8ARRAYOID, INT8ARRAYOID}
};

/* queued deliveries of an endpoint disabled since they were claimed */
static HdPlan dead_letter_queued = {
	"UPDATE helpdesk.webhook_delivery d SET state = 'dead', next_at = NULL, finished_at = now(), "
	"       attempts = d.attempts - 1, "
	"       last_error = 'endpoint disabled (' || coalesce(w.disabled_reason, 'admin') || ')' "
	"FROM unnest($1::int8[], $2::int8[]) AS f(t, i), helpdesk.webhook w "
	"WHERE d.tenant_id = f.t AND d.id = f.i AND d.state = 'sending' "
	"  AND w.tenant_id = d.tenant_id AND w.id = d.webhook_id",
	2, {INT8ARRAYOID, INT8ARRAYOID}
};

typedef WebhookEndpoint Endpoint;

/*
 * Whether the table may hold due deliveries the queue has not claimed: set
 * by any wakeup (an API call added rows), by the worker's own new rows and
 * by a due time passing; cleared by a claim that found fewer than it asked.
 */
static bool table_dirty = true;

void
hd_webhook_table_dirty(void)
{
	table_dirty = true;
}

static void
free_entry(QEntry *e)
{
	pfree(e->msg_id);
	pfree(e->event_type);
	pfree(e->body);
}

/*
 * The end of the worker's transaction: committed, what was handed out is
 * gone from the queue; rolled back, it stays to be handed out again and
 * what was claimed is forgotten (not marked in the table).
 */
static void
queue_xact_callback(XactEvent event, void *arg)
{
	int			i,
				j = 0;
	bool		commit;

	if (event == XACT_EVENT_COMMIT)
		commit = true;
	else if (event == XACT_EVENT_ABORT)
		commit = false;
	else
		return;
	for (i = 0; i < qn; i++)
	{
		QEntry	   *e = &queue[i];

		if (commit ? e->taken : e->fresh)
		{
			free_entry(e);
			continue;
		}
		e->fresh = e->taken = false;
		queue[j++] = *e;
	}
	qn = j;
}

static char *
copy_text(HeapTuple t, TupleDesc d, int col)
{
	return MemoryContextStrdup(queue_cxt, SPI_getvalue(t, d, col));
}

/* Claim a batch into the queue, leaving out endpoints with enough queued. */
static void
refill(Endpoint *eps, int neps)
{
	int64	   *ex_t = palloc(sizeof(int64) * (neps + 1)),
			   *ex_i = palloc(sizeof(int64) * (neps + 1));
	int			nex = 0,
				i;
	Datum		v[4];

	for (i = 0; i < neps; i++)
		if (eps[i].queued >= QUEUE_PER_ENDPOINT / 2)
		{
			ex_t[nex] = eps[i].tenant_id;
			ex_i[nex] = eps[i].id;
			nex++;
		}
	v[0] = Int32GetDatum(QUEUE_MAX - qn);
	v[1] = hd_int8_array(ex_t, nex);
	v[2] = hd_int8_array(ex_i, nex);
	v[3] = Int32GetDatum(QUEUE_PER_ENDPOINT);
	hd_http_exec(&claim_batch, v, NULL, false, 0);
	if ((int) SPI_processed < QUEUE_MAX - qn && nex == 0)
		table_dirty = false;
	for (i = 0; i < (int) SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		QEntry	   *e = &queue[qn++];

		e->tenant_id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		e->id = DatumGetInt64(SPI_getbinval(t, d, 2, &isnull));
		e->webhook_id = DatumGetInt64(SPI_getbinval(t, d, 3, &isnull));
		e->attempt = DatumGetInt32(SPI_getbinval(t, d, 4, &isnull));
		e->step = DatumGetInt32(SPI_getbinval(t, d, 5, &isnull));
		e->msg_id = copy_text(t, d, 6);
		e->event_type = copy_text(t, d, 7);
		e->body = copy_text(t, d, 8);
		e->fresh = true;
		e->taken = false;
	}
}

WebhookEndpoint *
hd_webhook_endpoint(WebhookEndpoint *eps, int neps, int64 tenant_id, int64 id)
{
	int			k;

	for (k = 0; k < neps; k++)
		if (eps[k].tenant_id == tenant_id && eps[k].id == id)
			return &eps[k];
	return NULL;
}

/*
 * The distinct endpoints of the queue, with their queued counts (room for
 * extra more after them).
 */
static int
queue_endpoints(Endpoint **out, int extra)
{
	Endpoint   *eps = palloc0(sizeof(Endpoint) * (qn + extra + 1));
	int			neps = 0,
				i,
				k;

	for (i = 0; i < qn; i++)
	{
		for (k = 0; k < neps; k++)
			if (eps[k].tenant_id == queue[i].tenant_id && eps[k].id == queue[i].webhook_id)
				break;
		if (k == neps)
		{
			eps[k].tenant_id = queue[i].tenant_id;
			eps[k].id = queue[i].webhook_id;
			neps++;
		}
		eps[k].queued++;
	}
	*out = eps;
	return neps;
}

static bytea *
get_bytea(HeapTuple t, TupleDesc d, int col)
{
	bool		isnull;
	Datum		v = SPI_getbinval(t, d, col, &isnull);

	return isnull ? NULL : DatumGetByteaPP(v);
}

/* Look the endpoints up (current settings); the tuples live until SPI_finish. */
void
hd_webhook_load_endpoints(Endpoint *eps, int neps)
{
	int64	   *t = palloc(sizeof(int64) * (neps + 1)),
			   *w = palloc(sizeof(int64) * (neps + 1));
	Datum		v[2];
	int			i,
				k;

	for (i = 0; i < neps; i++)
	{
		t[i] = eps[i].tenant_id;
		w[i] = eps[i].id;
	}
	v[0] = hd_int8_array(t, neps);
	v[1] = hd_int8_array(w, neps);
	hd_exec(&endpoints_plan, v, NULL, true, 0);
	for (i = 0; i < (int) SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		tenant = DatumGetInt64(SPI_getbinval(tup, d, 1, &isnull));
		int64		id = DatumGetInt64(SPI_getbinval(tup, d, 2, &isnull));
		Endpoint   *ep = NULL;

		for (k = 0; k < neps; k++)
			if (eps[k].tenant_id == tenant && eps[k].id == id)
				ep = &eps[k];
		if (ep == NULL)
			continue;
		ep->found = true;
		ep->enabled = DatumGetBool(SPI_getbinval(tup, d, 3, &isnull));
		ep->url = SPI_getvalue(tup, d, 4);
		ep->secret = get_bytea(tup, d, 5);
		ep->previous = get_bytea(tup, d, 6);
		ep->cap = DatumGetInt32(SPI_getbinval(tup, d, 7, &isnull));
		ep->timeout_ms = DatumGetInt32(SPI_getbinval(tup, d, 8, &isnull));
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, d, 9, &isnull)), INT8OID, 8,
						  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &ep->schedule, NULL, &ep->nschedule);
		{
			Datum		rate = SPI_getbinval(tup, d, 10, &isnull);

			if (isnull)
				hd_webhook_rate_attach(ep, 0, 0);
			else
				hd_webhook_rate_attach(ep, DatumGetFloat8(rate),
									   DatumGetInt32(SPI_getbinval(tup, d, 11, &isnull)));
		}
	}
}

bytea *
hd_webhook_copy_bytea(bytea *b)
{
	bytea	   *c;

	if (b == NULL)
		return NULL;
	c = palloc(VARSIZE_ANY(b));
	memcpy(c, b, VARSIZE_ANY(b));
	return c;
}

/*
 * The source's claim(): refill the queue when it runs low, then hand out
 * queued deliveries in order to endpoints below their cap.
 */
int
hd_webhook_claim(HdHttpClaim *claim, int max)
{
	Endpoint   *eps;
	int			neps,
				i,
				made = 0,
				ndead = 0;
	int64	   *dead_t,
			   *dead_i;

	if (queue_cxt == NULL)
	{
		queue_cxt = AllocSetContextCreate(TopMemoryContext, "pg_helpdesk webhook queue",
										  ALLOCSET_DEFAULT_SIZES);
		queue = MemoryContextAlloc(queue_cxt, sizeof(QEntry) * QUEUE_MAX);
		RegisterXactCallback(queue_xact_callback, NULL);
	}
	hd_webhook_rate_begin();
	neps = queue_endpoints(&eps, 0);
	if (qn < QUEUE_MAX / 2 && table_dirty)
		refill(eps, neps);
	neps = queue_endpoints(&eps, 64);
	/* and the endpoints of the window's waiting jobs (at most 64 of them a turn) */
	neps = hd_webhook_fast_endpoints(eps, neps, neps + 64);
	if (neps == 0)
		return 0;
	hd_webhook_load_endpoints(eps, neps);
	dead_t = palloc(sizeof(int64) * qn);
	dead_i = palloc(sizeof(int64) * qn);
	for (i = 0; i < qn && made < max; i++)
	{
		QEntry	   *e = &queue[i];
		Endpoint   *ep = NULL;
		HdHttpJob  *job;
		WebhookJob *wj;
		MemoryContext old;

		ep = hd_webhook_endpoint(eps, neps, e->tenant_id, e->webhook_id);
		if (ep == NULL || !ep->found || !ep->enabled)
		{
			/* deleted (its deliveries went with it) or disabled: dead-lettered */
			dead_t[ndead] = e->tenant_id;
			dead_i[ndead] = e->id;
			ndead++;
			e->taken = true;
			continue;
		}
		if (!hd_webhook_rate_allows(ep))
			continue;			/* no token yet: stays queued */
		job = hd_http_job_new(claim, e->tenant_id, e->id, e->webhook_id, ep->cap);
		if (job == NULL)
		{
			hd_webhook_rate_other_wait();
			continue;			/* the endpoint is at its cap: stays queued */
		}
		hd_webhook_rate_took(ep);
		e->taken = true;
		old = MemoryContextSwitchTo(job->cxt);
		wj = palloc0(sizeof(WebhookJob));
		wj->webhook_id = e->webhook_id;
		wj->attempt = e->attempt;
		wj->msg_id = pstrdup(e->msg_id);
		wj->event_type = pstrdup(e->event_type);
		wj->body = pstrdup(e->body);
		wj->url = pstrdup(ep->url);
		wj->secret = hd_webhook_copy_bytea(ep->secret);
		wj->previous = hd_webhook_copy_bytea(ep->previous);
		wj->timeout_ms = ep->timeout_ms;
		wj->has_next = e->step < ep->nschedule;
		wj->next_delay_us = wj->has_next ? DatumGetInt64(ep->schedule[e->step]) : 0;
		MemoryContextSwitchTo(old);
		job->data = wj;
		job->attempt = wj->attempt;
		made++;
	}
	if (ndead > 0)
	{
		Datum		v[2] = {hd_int8_array(dead_t, ndead), hd_int8_array(dead_i, ndead)};

		hd_http_exec(&dead_letter_queued, v, NULL, false, 0);
	}
	if (made < max)
		made += hd_webhook_fast_handout(claim, eps, neps, max - made);
	if (made >= max)
		hd_webhook_rate_other_wait();	/* no slot for the rest */
	return made;
}

/* Whether deliveries wait in the queue (claimed, not yet handed out) or in the window. */
bool
hd_webhook_queued(void)
{
	int			i;

	if (hd_webhook_fast_waiting())
		return true;
	for (i = 0; i < qn; i++)
		if (!queue[i].taken)
			return true;
	return false;
}
