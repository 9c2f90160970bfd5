/*
 * http_webhook_fast.c — the webhook fast path: deliveries sent straight from
 * the event log, written down once, when their first attempt is over.
 *
 * The feed (http_webhook_feed.c) reads published events after the worker's
 * read position into this window, one job per event and endpoint whose
 * schedule starts with "at once" (others get a pending webhook_delivery row
 * at once, as before). The claim hands the window's jobs out in position
 * order after the retries claimed from the table. When a job's attempt is
 * over, its delivery row is written in its final state with its attempt:
 * successes of a turn in one statement (delivered), a failure as one row
 * that the ordinary retry code then schedules or dead-letters. So a
 * successful delivery costs one insert into webhook_delivery and one into
 * webhook_attempt, no claim, no update.
 *
 * At least once: webhook_cursor.position only passes an event when every
 * job of it has its row, in the transaction that writes the last of them
 * (the cursor is the position before the oldest unresolved job). After a
 * crash the feed reads again from the cursor; an (endpoint, event) that
 * already has a row is left to the table (delivered, pending or dead as it
 * is), every other one is sent again with the same webhook-id
 * (msg_<position>_<endpoint>).
 *
 * Bounded: at most WINDOW_MAX jobs are held (the feed reads no more than
 * there is room for). A job that waited SPILL_AFTER_MS for a slot while the
 * window is full (an endpoint with a backlog) becomes a pending row, so an
 * endpoint with a backlog holds the others back for a moment, not for the
 * length of its backlog.
 *
 * The window follows the worker's transactions: what was read, handed out
 * or completed in a transaction that rolls back is as it was before it.
 */
#include "http_webhook.h"
#include "dispatch.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "storage/proc.h"
#include "utils/builtins.h"

#define WINDOW_MAX 4096			/* jobs held in memory */
#define SPILL_AFTER_MS 2000

typedef enum FastState
{
	FJ_WAITING,					/* read, not handed out */
	FJ_CLAIMED,					/* handed to the engine (in flight) */
	FJ_COMPLETING				/* its result is being written */
} FastState;

struct FastJob
{
	int64		pos;
	int64		tenant_id;
	int64		webhook_id;
	char	   *type;
	char	   *body;
	FastState	state;
	TimestampTz read_at;
	bool		fresh;			/* read in the current transaction */
	bool		handed;			/* handed out in the current transaction */
	bool		done;			/* its row is written in the current transaction */
};

static MemoryContext win_cxt = NULL;
static FastJob **win = NULL;
static int	wn = 0;
static bool started = false;
static int64 read_pos = 0,		/* committed */
			tx_read_pos = 0,
			cursor_pos = -1,	/* what webhook_cursor holds (committed) */
			tx_cursor_pos = -1;

/* successes deferred to the flush, in TopTransactionContext */
typedef struct FastBatch
{
	LocalTransactionId lxid;
	int			n,
				cap;
	FastJob   **job;
	int32	   *status;
	int64	   *latency;
	char	  **resp;
} FastBatch;

static FastBatch batch;

static HdPlan insert_delivered = {
	"WITH r AS (SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::text[], $5::text[], "
	"                              $6::int4[], $7::int8[], $8::text[]) AS r(t, w, pos, type, body, s, l, resp)), "
	"d AS (INSERT INTO helpdesk.webhook_delivery (tenant_id, webhook_id, event_pos, msg_id, event_type, body, "
	"                                             state, attempts, step, finished_at, last_status) "
	"      SELECT t, w, pos, 'msg_' || pos || '_' || w, type, body, 'delivered', 1, 1, now(), s FROM r "
	"      ORDER BY pos, w RETURNING tenant_id, id, webhook_id, event_pos), "
	"x AS (UPDATE helpdesk.webhook x SET failing_since = NULL FROM (SELECT DISTINCT t, w FROM r) u "
	"      WHERE x.tenant_id = u.t AND x.id = u.w AND x.failing_since IS NOT NULL) "
	"INSERT INTO helpdesk.webhook_attempt (tenant_id, delivery_id, attempt, webhook_id, status, latency_us, response) "
	"SELECT d.tenant_id, d.id, 1, d.webhook_id, r.s, r.l, nullif(r.resp, '') "
	"FROM d JOIN r ON r.t = d.tenant_id AND r.w = d.webhook_id AND r.pos = d.event_pos",
	8, {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT4ARRAYOID,
	INT8ARRAYOID, TEXTARRAYOID}
};

/* $7: dead-lettered (endpoint disabled) rather than due now (spilled) */
static HdPlan insert_rows = {
	"INSERT INTO helpdesk.webhook_delivery (tenant_id, webhook_id, event_pos, msg_id, event_type, body, "
	"                                       state, next_at, finished_at, last_error) "
	"SELECT t, w, pos, 'msg_' || pos || '_' || w, type, body, CASE WHEN $7 THEN 'dead' ELSE 'pending' END, "
	"       CASE WHEN NOT $7 THEN now() END, CASE WHEN $7 THEN now() END, "
	"       CASE WHEN $7 THEN (SELECT 'endpoint disabled (' || coalesce(x.disabled_reason, 'admin') || ')' "
	"                          FROM helpdesk.webhook x WHERE x.tenant_id = t AND x.id = w) END "
	"FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::text[], $5::text[]) AS r(t, w, pos, type, body) "
	"WHERE $6 ORDER BY pos, w",
	7, {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, BOOLOID, BOOLOID}
};

/* the row of a failed first attempt, being sent (the retry code takes it from there) */
static HdPlan insert_sending = {
	"INSERT INTO helpdesk.webhook_delivery (tenant_id, webhook_id, event_pos, msg_id, event_type, body, "
	"                                       state, attempts, step) "
	"VALUES ($1, $2, $3, 'msg_' || $3 || '_' || $2, $4, $5, 'sending', 1, 1) RETURNING id",
	5, {INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID}
};

static HdPlan move_cursor = {
	"UPDATE helpdesk.webhook_cursor SET position = $1",
	1, {INT8OID}
};

static void
free_job(FastJob *fj)
{
	pfree(fj->type);
	pfree(fj->body);
	pfree(fj);
}

/*
 * The end of the worker's transaction. Committed: jobs whose row was
 * written are gone; one whose writing failed (its subtransaction rolled
 * back) is sent again. Rolled back: what was read is forgotten, what was
 * handed out waits again, what was being completed is in flight again (the
 * engine completes it once more).
 */
static void
fast_xact_callback(XactEvent event, void *arg)
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
	for (i = 0; i < wn; i++)
	{
		FastJob    *fj = win[i];

		if (commit)
		{
			if (fj->state == FJ_COMPLETING)
			{
				if (fj->done)
				{
					free_job(fj);
					continue;
				}
				fj->state = FJ_WAITING;
			}
		}
		else
		{
			if (fj->fresh)
			{
				free_job(fj);
				continue;
			}
			if (fj->state == FJ_COMPLETING)
				fj->state = FJ_CLAIMED;
			else if (fj->handed)
				fj->state = FJ_WAITING;
		}
		fj->fresh = fj->handed = fj->done = false;
		win[j++] = fj;
	}
	wn = j;
	if (commit)
	{
		read_pos = tx_read_pos;
		cursor_pos = tx_cursor_pos;
	}
	else
	{
		tx_read_pos = read_pos;
		tx_cursor_pos = cursor_pos;
	}
}

/* Whether the window has been set up (and the read position, if so). */
bool
hd_webhook_fast_started(int64 *pos)
{
	*pos = tx_read_pos;
	return started;
}

/*
 * Start (or start over) reading at pos: jobs not handed out are dropped,
 * those in flight finish as usual.
 */
void
hd_webhook_fast_reset(int64 pos)
{
	int			i,
				j = 0;

	if (win_cxt == NULL)
	{
		win_cxt = AllocSetContextCreate(TopMemoryContext, "pg_helpdesk webhook window",
										ALLOCSET_DEFAULT_SIZES);
		win = MemoryContextAlloc(win_cxt, sizeof(FastJob *) * (WINDOW_MAX + HD_WEBHOOK_FEED_BATCH * 4));
		RegisterXactCallback(fast_xact_callback, NULL);
	}
	for (i = 0; i < wn; i++)
	{
		if (win[i]->state == FJ_WAITING && !win[i]->fresh)
			free_job(win[i]);
		else
			win[j++] = win[i];
	}
	wn = j;
	if (!started)
		read_pos = cursor_pos = tx_cursor_pos = pos;
	started = true;
	tx_read_pos = pos;
}

/* Below this much room the feed waits for completions rather than read a few events. */
int
hd_webhook_fast_room_min(void)
{
	return WINDOW_MAX / 8;
}

/* How many more jobs the window takes now. */
int
hd_webhook_fast_room(void)
{
	return Max(0, WINDOW_MAX - wn);
}

void
hd_webhook_fast_add(int64 pos, int64 tenant_id, int64 webhook_id, const char *type, const char *body)
{
	FastJob    *fj;

	if (wn >= WINDOW_MAX + HD_WEBHOOK_FEED_BATCH * 4)
		elog(ERROR, "pg_helpdesk: the webhook window is full");
	fj = MemoryContextAllocZero(win_cxt, sizeof(FastJob));
	fj->pos = pos;
	fj->tenant_id = tenant_id;
	fj->webhook_id = webhook_id;
	fj->type = MemoryContextStrdup(win_cxt, type);
	fj->body = MemoryContextStrdup(win_cxt, body);
	fj->state = FJ_WAITING;
	fj->read_at = GetCurrentTimestamp();
	fj->fresh = true;
	win[wn++] = fj;
}

/* Every event up to pos has been read (its jobs are in the window or its rows written). */
void
hd_webhook_fast_read_to(int64 pos)
{
	tx_read_pos = pos;
}

/*
 * Move webhook_cursor to just before the oldest job without its row (or to
 * the read position), in the transaction that wrote the rows.
 */
void
hd_webhook_fast_write_cursor(void)
{
	int64		pos = tx_read_pos;
	int			i;
	Datum		v[1];

	if (!started)
		return;
	/* the window is in position order: the first job without its row is the oldest */
	for (i = 0; i < wn; i++)
		if (!(win[i]->state == FJ_COMPLETING && win[i]->done))
		{
			pos = Min(pos, win[i]->pos - 1);
			break;
		}
	if (pos == tx_cursor_pos)
		return;
	v[0] = Int64GetDatum(pos);
	hd_exec(&move_cursor, v, NULL, false, 0);
	tx_cursor_pos = pos;
}

/* Write rows for jobs (pending, or dead when dead), done: they leave the window at COMMIT. */
static void
write_rows(FastJob **jobs, int n, bool dead)
{
	int64	   *t = palloc(sizeof(int64) * n),
			   *w = palloc(sizeof(int64) * n),
			   *p = palloc(sizeof(int64) * n);
	char	  **ty = palloc(sizeof(char *) * n),
			  **b = palloc(sizeof(char *) * n);
	Datum		v[7];
	int			i;

	for (i = 0; i < n; i++)
	{
		t[i] = jobs[i]->tenant_id;
		w[i] = jobs[i]->webhook_id;
		p[i] = jobs[i]->pos;
		ty[i] = jobs[i]->type;
		b[i] = jobs[i]->body;
	}
	v[0] = hd_int8_array(t, n);
	v[1] = hd_int8_array(w, n);
	v[2] = hd_int8_array(p, n);
	v[3] = hd_text_array(ty, n);
	v[4] = hd_text_array(b, n);
	v[5] = BoolGetDatum(true);
	v[6] = BoolGetDatum(dead);
	hd_exec(&insert_rows, v, NULL, false, 0);
	for (i = 0; i < n; i++)
	{
		jobs[i]->state = FJ_COMPLETING;
		jobs[i]->done = true;
	}
	if (!dead)
		hd_webhook_table_dirty();
}

/*
 * The window is full and nfast endpoints take jobs: the waiting jobs of an
 * endpoint holding more than half the window that have waited
 * SPILL_AFTER_MS become pending rows (the table's claim sends them), so
 * the events behind them can be read for the others. With one endpoint
 * there is no one to make room for: the window just drains.
 */
void
hd_webhook_fast_spill(int nfast)
{
	TimestampTz limit = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), -SPILL_AFTER_MS);
	FastJob   **jobs;
	WebhookEndpoint *eps;
	int			neps,
				n = 0,
				i;

	if (nfast <= 1 || wn == 0)
		return;
	eps = palloc0(sizeof(WebhookEndpoint) * (wn + 1));
	neps = 0;
	for (i = 0; i < wn; i++)
	{
		WebhookEndpoint *ep;

		if (win[i]->state != FJ_WAITING)
			continue;
		ep = hd_webhook_endpoint(eps, neps, win[i]->tenant_id, win[i]->webhook_id);
		if (ep == NULL)
		{
			ep = &eps[neps++];
			ep->tenant_id = win[i]->tenant_id;
			ep->id = win[i]->webhook_id;
		}
		ep->queued++;
	}
	jobs = palloc(sizeof(FastJob *) * (wn + 1));
	for (i = 0; i < wn; i++)
	{
		WebhookEndpoint *ep;

		if (win[i]->state != FJ_WAITING || win[i]->fresh || win[i]->read_at >= limit)
			continue;
		ep = hd_webhook_endpoint(eps, neps, win[i]->tenant_id, win[i]->webhook_id);
		if (ep->queued > WINDOW_MAX / 2)
			jobs[n++] = win[i];
	}
	if (n > 0)
	{
		write_rows(jobs, n, false);
		ereport(DEBUG1,
				(errmsg("pg_helpdesk http worker: %d webhook deliveries of a backlogged endpoint are queued as rows", n)));
	}
}

/* Adds the endpoints of waiting jobs to eps (neps of max used); returns neps. */
int
hd_webhook_fast_endpoints(WebhookEndpoint *eps, int neps, int max)
{
	int			i;

	for (i = 0; i < wn && neps < max; i++)
	{
		if (win[i]->state != FJ_WAITING)
			continue;
		if (hd_webhook_endpoint(eps, neps, win[i]->tenant_id, win[i]->webhook_id) == NULL)
		{
			memset(&eps[neps], 0, sizeof(WebhookEndpoint));
			eps[neps].tenant_id = win[i]->tenant_id;
			eps[neps].id = win[i]->webhook_id;
			neps++;
		}
	}
	return neps;
}

/* Whether jobs wait for a slot. */
bool
hd_webhook_fast_waiting(void)
{
	int			i;

	for (i = 0; i < wn; i++)
		if (win[i]->state == FJ_WAITING)
			return true;
	return false;
}

/*
 * Hand out waiting jobs in position order to endpoints below their cap
 * (eps: current settings). A disabled endpoint's jobs are dead-lettered as
 * rows, a deleted endpoint's dropped (its deliveries went with it).
 */
int
hd_webhook_fast_handout(HdHttpClaim *claim, WebhookEndpoint *eps, int neps, int max)
{
	bool	   *full = palloc0(sizeof(bool) * (neps + 1));
	FastJob   **dead = palloc(sizeof(FastJob *) * (wn + 1));
	int			ndead = 0,
				made = 0,
				nfull = 0,
				i;

	for (i = 0; i < wn && made < max && nfull < neps; i++)
	{
		FastJob    *fj = win[i];
		WebhookEndpoint *ep;
		HdHttpJob  *job;
		WebhookJob *wj;
		MemoryContext old;

		if (fj->state != FJ_WAITING)
			continue;
		ep = hd_webhook_endpoint(eps, neps, fj->tenant_id, fj->webhook_id);
		if (ep == NULL)
		{
			hd_webhook_rate_other_wait();	/* beyond this turn's endpoints */
			continue;
		}
		if (full[ep - eps])
			continue;
		if (!ep->found)
		{
			fj->state = FJ_COMPLETING;
			fj->done = true;
			continue;
		}
		if (!ep->enabled)
		{
			dead[ndead++] = fj;
			continue;
		}
		if (!hd_webhook_rate_allows(ep))
		{
			/* no token yet: it waits in the window */
			full[ep - eps] = true;
			nfull++;
			continue;
		}
		job = hd_http_job_new(claim, fj->tenant_id, 0, fj->webhook_id, ep->cap);
		if (job == NULL)
		{
			hd_webhook_rate_other_wait();
			full[ep - eps] = true;
			nfull++;
			continue;
		}
		hd_webhook_rate_took(ep);
		fj->state = FJ_CLAIMED;
		fj->handed = true;
		old = MemoryContextSwitchTo(job->cxt);
		wj = palloc0(sizeof(WebhookJob));
		wj->fast = fj;
		wj->event_pos = fj->pos;
		wj->webhook_id = fj->webhook_id;
		wj->attempt = 1;
		wj->msg_id = psprintf("msg_" INT64_FORMAT "_" INT64_FORMAT, fj->pos, fj->webhook_id);
		wj->event_type = fj->type;	/* the job lives in the window until it completes */
		wj->body = fj->body;
		wj->url = pstrdup(ep->url);
		wj->secret = hd_webhook_copy_bytea(ep->secret);
		wj->previous = hd_webhook_copy_bytea(ep->previous);
		wj->timeout_ms = ep->timeout_ms;
		wj->has_next = 1 < ep->nschedule;
		wj->next_delay_us = wj->has_next ? DatumGetInt64(ep->schedule[1]) : 0;
		MemoryContextSwitchTo(old);
		job->data = wj;
		job->attempt = 1;
		made++;
	}
	if (ndead > 0)
		write_rows(dead, ndead, true);
	return made;
}

/* complete() begins with a window job. */
void
hd_webhook_fast_completing(FastJob *fj)
{
	fj->state = FJ_COMPLETING;
	fj->done = false;
}

/* Its row is written (in the current (sub)transaction). */
void
hd_webhook_fast_done(FastJob *fj)
{
	fj->done = true;
}

/* A failed first attempt: its row, being sent, for the retry code; returns the row id. */
int64
hd_webhook_fast_row(HdHttpJob *job)
{
	WebhookJob *wj = job->data;
	Datum		v[5];
	int64		id = 0;

	v[0] = Int64GetDatum(job->tenant_id);
	v[1] = Int64GetDatum(wj->webhook_id);
	v[2] = Int64GetDatum(wj->event_pos);
	v[3] = CStringGetTextDatum(wj->event_type);
	v[4] = CStringGetTextDatum(wj->body);
	hd_exec(&insert_sending, v, NULL, false, 0);
	hd_get_int64(1, &id);
	job->row_id = id;
	return id;
}

/* A success: written for the whole turn by hd_webhook_fast_flush(). */
void
hd_webhook_fast_success(HdHttpJob *job, int status, int64 latency, const char *response)
{
	WebhookJob *wj = job->data;
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

	if (batch.lxid != MyProc->lxid || batch.cap == 0)
	{
		batch.lxid = MyProc->lxid;
		batch.n = 0;
		batch.cap = 64;
		batch.job = palloc(sizeof(FastJob *) * batch.cap);
		batch.status = palloc(sizeof(int32) * batch.cap);
		batch.latency = palloc(sizeof(int64) * batch.cap);
		batch.resp = palloc(sizeof(char *) * batch.cap);
	}
	if (batch.n == batch.cap)
	{
		batch.cap *= 2;
		batch.job = repalloc(batch.job, sizeof(FastJob *) * batch.cap);
		batch.status = repalloc(batch.status, sizeof(int32) * batch.cap);
		batch.latency = repalloc(batch.latency, sizeof(int64) * batch.cap);
		batch.resp = repalloc(batch.resp, sizeof(char *) * batch.cap);
	}
	batch.job[batch.n] = wj->fast;
	batch.status[batch.n] = status;
	batch.latency[batch.n] = latency;
	batch.resp[batch.n] = pstrdup(response ? response : "");
	batch.n++;
	MemoryContextSwitchTo(old);
}

/* The deferred successes: their rows and attempts in one statement, then the cursor. */
void
hd_webhook_fast_flush(void)
{
	int			n,
				i;

	if (batch.lxid == MyProc->lxid && batch.n > 0)
	{
		int64	   *t,
				   *w,
				   *p;
		char	  **ty,
				  **b;
		Datum		v[8];

		n = batch.n;
		batch.n = 0;			/* also if the statement fails */
		t = palloc(sizeof(int64) * n);
		w = palloc(sizeof(int64) * n);
		p = palloc(sizeof(int64) * n);
		ty = palloc(sizeof(char *) * n);
		b = palloc(sizeof(char *) * n);
		for (i = 0; i < n; i++)
		{
			t[i] = batch.job[i]->tenant_id;
			w[i] = batch.job[i]->webhook_id;
			p[i] = batch.job[i]->pos;
			ty[i] = batch.job[i]->type;
			b[i] = batch.job[i]->body;
		}
		v[0] = hd_int8_array(t, n);
		v[1] = hd_int8_array(w, n);
		v[2] = hd_int8_array(p, n);
		v[3] = hd_text_array(ty, n);
		v[4] = hd_text_array(b, n);
		v[5] = hd_int4_array(batch.status, n);
		v[6] = hd_int8_array(batch.latency, n);
		v[7] = hd_text_array(batch.resp, n);
		hd_exec(&insert_delivered, v, NULL, false, 0);
		for (i = 0; i < n; i++)
			batch.job[i]->done = true;
	}
	hd_webhook_fast_write_cursor();
}
