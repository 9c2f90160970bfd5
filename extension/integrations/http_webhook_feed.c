/*
 * http_webhook_feed.c — deliveries from the commit-ordered event log.
 *
 * The HTTP worker follows the log from a read position of its own (the
 * window's, http_webhook_fast.c; at start the committed
 * helpdesk.webhook_cursor): in one transaction it reads the events after
 * it (events_since: commit order, no gaps) and, per event and matching
 * endpoint, puts a job into the window (schedules starting "at once") or
 * inserts a pending delivery (schedules starting with a delay), in position
 * order. Nothing runs in users' transactions and no trigger fires per row.
 * An (endpoint, event) that already has a delivery row (read again after a
 * crash) is not made again.
 *
 * One change may be logged for several audiences (session.state goes to
 * the session, its agent and its queue); a webhook gets one copy: the
 * session's, session_staff's or tenant's, plus the types logged for one
 * other audience only.
 */
#include "http_webhook.h"
#include "http_engine_int.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "dispatch.h"

/*
 * event_log_id() and event_position() written out: as SECURITY DEFINER SQL
 * functions each call was parsed and planned again (most of a turn's
 * prepare when nothing was new, ~0.5M instructions)
 */
static HdPlan read_cursor = {
	"SELECT c.position, c.log_id::text, "
	"       coalesce((SELECT b.log_id FROM helpdesk.event_batch b ORDER BY b.last_pos DESC LIMIT 1), "
	"                (SELECT ec.log_id FROM helpdesk.event_cursor ec))::text, "
	"       (SELECT coalesce(max(b.last_pos), 0) FROM helpdesk.event_batch b), "
	"       (SELECT coalesce(min(b.first_pos) - 1, 0) FROM helpdesk.event_batch b), "
	"       EXISTS (SELECT 1 FROM helpdesk.webhook w WHERE w.enabled), "
	"       (SELECT count(*) FROM helpdesk.webhook w WHERE w.enabled AND w.retry_schedule[1] = '0') "
	"FROM helpdesk.webhook_cursor c FOR UPDATE",
	0, {}
};

static HdPlan move_cursor = {
	"UPDATE helpdesk.webhook_cursor SET position = $1, log_id = $2::uuid",
	2, {INT8OID, TEXTOID}
};

/*
 * $1 after, $2 batch: the events after $1, one row each in position order,
 * with the endpoints that get it (ids and first delays, NULL: none) and,
 * for those, the columns of its payload (HD_WEBHOOK_BODY_COLUMNS). The
 * positions are read as events_since() reads them (core/event.c: by the
 * batches' id ranges, each table read by index whatever its size); the
 * message, session, ticket (an event without a session naming
 * payload.ticket_id: ticket.*, a ticket's csat.submitted and SLA events)
 * and customer (the session's or the ticket's) by their keys, only for
 * events some endpoint gets.
 */
static HdPlan feed = {
	"WITH bt AS (SELECT first_pos, ids FROM helpdesk.event_batch "
	"            WHERE last_pos > $1 AND first_pos <= $1 + $2 ORDER BY last_pos LIMIT $2), "
	"p AS (SELECT bt.first_pos - 1 + row_number() OVER (PARTITION BY bt.first_pos ORDER BY ev.id) AS pos, ev.* "
	"      FROM bt, unnest(bt.ids) AS r, helpdesk.event ev WHERE ev.id >= lower(r) AND ev.id < upper(r)), "
	"e AS MATERIALIZED (SELECT * FROM p WHERE p.pos > $1 ORDER BY p.pos LIMIT $2), "
	"w AS MATERIALIZED (SELECT w.tenant_id, w.id, w.events, w.from_position, "
	"                          (extract(epoch FROM w.retry_schedule[1]) * 1000000)::int8 AS delay "
	"                   FROM helpdesk.webhook w WHERE w.enabled) "
	"SELECT e.pos, x.ids, x.delays, " HD_WEBHOOK_BODY_COLUMNS " "
	"FROM e CROSS JOIN LATERAL ("
	"  SELECT array_agg(w.id ORDER BY w.id) AS ids, array_agg(w.delay ORDER BY w.id) AS delays FROM w "
	"  WHERE w.tenant_id = e.tenant_id AND e.pos > w.from_position AND " HD_WEBHOOK_AUDIENCE " "
	"    AND " HD_WEBHOOK_MATCH("w.events", "e.type") " "
	"    AND NOT (starts_with(e.type, 'webhook.') AND e.payload->>'webhook_id' = w.id::text) "
	"    AND NOT EXISTS (SELECT 1 FROM helpdesk.webhook_delivery d WHERE d.tenant_id = e.tenant_id "
	"                    AND d.webhook_id = w.id AND d.event_pos = e.pos)) x "
	"LEFT JOIN LATERAL (SELECT m.* FROM helpdesk.message m WHERE x.ids IS NOT NULL "
	"                   AND m.tenant_id = e.tenant_id AND m.id = e.message_id OFFSET 0) m ON true "
	"LEFT JOIN LATERAL (SELECT s.* FROM helpdesk.session s WHERE x.ids IS NOT NULL "
	"                   AND s.tenant_id = e.tenant_id AND s.id = e.session_id OFFSET 0) s ON true "
	"LEFT JOIN LATERAL (SELECT tk.* FROM helpdesk.ticket tk WHERE x.ids IS NOT NULL AND e.session_id IS NULL "
	"                   AND tk.tenant_id = e.tenant_id AND tk.id = (e.payload->>'ticket_id')::int8 OFFSET 0) tk ON true "
	"LEFT JOIN LATERAL (SELECT c.* FROM helpdesk.customer c WHERE c.tenant_id = e.tenant_id "
	"                   AND c.id = coalesce(s.customer_id, tk.customer_id) OFFSET 0) c ON true "
	"ORDER BY e.pos",
	2, {INT8OID, INT4OID}
};

/* deliveries of endpoints whose schedule starts with a delay: pending rows */
static HdPlan insert_pending = {
	"INSERT INTO helpdesk.webhook_delivery (tenant_id, webhook_id, event_pos, msg_id, event_type, body, next_at) "
	"SELECT t, w, pos, 'msg_' || pos || '_' || w, type, body, now() + make_interval(secs => delay / 1000000.0) "
	"FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::text[], $5::text[], $6::int8[]) "
	"     AS r(t, w, pos, type, body, delay) ORDER BY pos, w",
	6, {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID}
};

typedef struct Pending
{
	int			n,
				cap;
	int64	   *t,
			   *w,
			   *pos,
			   *delay;
	char	  **type,
			  **body;
} Pending;

static void
pending_add(Pending *p, int64 t, int64 w, int64 pos, char *type, char *body, int64 delay)
{
	if (p->n == p->cap)
	{
		p->cap = p->cap ? p->cap * 2 : 64;
		p->t = p->t ? repalloc(p->t, sizeof(int64) * p->cap) : palloc(sizeof(int64) * p->cap);
		p->w = p->w ? repalloc(p->w, sizeof(int64) * p->cap) : palloc(sizeof(int64) * p->cap);
		p->pos = p->pos ? repalloc(p->pos, sizeof(int64) * p->cap) : palloc(sizeof(int64) * p->cap);
		p->delay = p->delay ? repalloc(p->delay, sizeof(int64) * p->cap) : palloc(sizeof(int64) * p->cap);
		p->type = p->type ? repalloc(p->type, sizeof(char *) * p->cap) : palloc(sizeof(char *) * p->cap);
		p->body = p->body ? repalloc(p->body, sizeof(char *) * p->cap) : palloc(sizeof(char *) * p->cap);
	}
	p->t[p->n] = t;
	p->w[p->n] = w;
	p->pos[p->n] = pos;
	p->type[p->n] = type;
	p->body[p->n] = body;
	p->delay[p->n] = delay;
	p->n++;
}

static TimestampTz last_full_check = 0;

/*
 * One feed step in the worker's transaction (the source's prepare()).
 * Returns true when a full batch was read (more may wait). When the window
 * has no room, reads nothing, lets long-waiting jobs become rows and asks
 * to be called again after the next completions.
 */
bool
hd_webhook_feed(void)
{
	int64		pos = 0,
				head = 0,
				oldest = 0,
				last = 0,
				nread = 0,
				nfast = 0,
				rpos = 0;
	char	   *cursor_log,
			   *log;
	bool		any,
				replaced;
	int			limit,
				room,
				i;
	Datum		v[2];
	Pending		pending = {0};

	/*
	 * The window is full (a backlog draining): nothing to read until there
	 * is room; the cursor moves with the results, and once a second the
	 * full check below runs (a spill may be due).
	 */
	if (hd_webhook_fast_started(&rpos) && hd_webhook_fast_room() < hd_webhook_fast_room_min() &&
		GetCurrentTimestamp() - last_full_check < USECS_PER_SEC)
	{
		hd_http_prepare_again = true;
		return false;
	}
	last_full_check = GetCurrentTimestamp();
	hd_http_exec(&read_cursor, NULL, NULL, false, 1);
	if (SPI_processed != 1)
		return false;
	hd_get_int64(1, &pos);
	cursor_log = hd_get_text(2);
	log = hd_get_text(3);
	hd_get_int64(4, &head);
	hd_get_int64(5, &oldest);
	any = hd_get_bool(6);
	hd_get_int64(7, &nfast);

	replaced = cursor_log != NULL && strcmp(cursor_log, log) != 0;
	if (replaced)
	{
		/* another log (re-created, restored elsewhere): its events are not ours to send again */
		ereport(LOG,
				(errmsg("pg_helpdesk http worker: the event log was replaced; webhooks follow the new one from position %lld",
						(long long) head)));
		hd_webhook_fast_reset(head);
	}
	else if (!hd_webhook_fast_started(&rpos))
		hd_webhook_fast_reset(Min(pos, head));	/* a restored older log: resume at its head */
	(void) hd_webhook_fast_started(&rpos);
	if (rpos > head)
		hd_webhook_fast_reset(rpos = head);
	if (rpos < oldest)
	{
		ereport(WARNING,
				(errmsg("pg_helpdesk http worker: events %lld to %lld were pruned before webhooks got them",
						(long long) rpos + 1, (long long) oldest),
				 errhint("Keep events longer (prune_events) than the HTTP worker may be down.")));
		hd_webhook_fast_reset(rpos = oldest);
	}
	if (replaced || cursor_log == NULL)
	{
		v[0] = Int64GetDatum(rpos);
		v[1] = CStringGetTextDatum(log);
		hd_http_exec(&move_cursor, v, NULL, false, 0);
	}
	if (!any)
	{
		/* no enabled endpoint: nothing to make, skip to the head */
		hd_webhook_fast_read_to(head);
		hd_webhook_fast_write_cursor();
		return false;
	}
	if (rpos >= head)
	{
		hd_webhook_fast_write_cursor();
		return false;
	}
	room = hd_webhook_fast_room();
	limit = Min(HD_WEBHOOK_FEED_BATCH, room / Max(1, (int) nfast));
	if (nfast > 0 && room < hd_webhook_fast_room_min())
	{
		/* full: read on after the next completions */
		hd_webhook_fast_spill((int) nfast);
		hd_http_prepare_again = true;
		hd_webhook_fast_write_cursor();
		return false;
	}
	limit = Max(limit, 1);
	v[0] = Int64GetDatum(rpos);
	v[1] = Int32GetDatum(limit);
	hd_exec(&feed, v, NULL, false, 0);
	nread = (int64) SPI_processed;
	for (i = 0; i < (int) SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		epos = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		Datum		ids = SPI_getbinval(t, d, 2, &isnull);
		Datum	   *idv,
				   *delayv;
		int			n,
					k;
		char	   *type,
				   *body;
		int64		tenant;

		last = epos;
		if (isnull)
			continue;			/* no endpoint gets it */
		deconstruct_array(DatumGetArrayTypeP(ids), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
						  &idv, NULL, &n);
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(t, d, 3, &isnull)), INT8OID, 8,
						  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &delayv, NULL, &n);
		type = SPI_getvalue(t, d, 4);
		tenant = DatumGetInt64(SPI_getbinval(t, d, 9, &isnull));
		body = hd_webhook_build_body(t, d, 4);
		for (k = 0; k < n; k++)
		{
			if (DatumGetInt64(delayv[k]) == 0)
				hd_webhook_fast_add(epos, tenant, DatumGetInt64(idv[k]), type, body);
			else
				pending_add(&pending, tenant, DatumGetInt64(idv[k]), epos, type, body,
							DatumGetInt64(delayv[k]));
		}
		hd_http_prepare_found = true;
	}
	if (pending.n > 0)
	{
		Datum		pv[6];

		pv[0] = hd_int8_array(pending.t, pending.n);
		pv[1] = hd_int8_array(pending.w, pending.n);
		pv[2] = hd_int8_array(pending.pos, pending.n);
		pv[3] = hd_text_array(pending.type, pending.n);
		pv[4] = hd_text_array(pending.body, pending.n);
		pv[5] = hd_int8_array(pending.delay, pending.n);
		hd_exec(&insert_pending, pv, NULL, false, 0);
		hd_webhook_table_dirty();
	}
	if (nread > 0)
	{
		/* new events (matching or not): the next wakeup is served at once */
		hd_http_prepare_found = true;
		hd_webhook_fast_read_to(last);
	}
	hd_webhook_fast_write_cursor();
	return nread >= limit;
}
