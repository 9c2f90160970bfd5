/*
 * ticket_assign_stage.c — automatic ticket assignment, a stage of the
 * dispatcher (routing.h: hd_dispatch_register_stage), which makes it the
 * single writer of automatic assignments.
 *
 * When woken (a ticket waits unassigned in an automatic queue, a slot freed
 * up, an agent came online, a queue or a capacity changed), it looks at the
 * queues whose ticket_strategy is not manual and that have unassigned open
 * tickets (an index lookup each: nothing is scanned when nothing waits), and
 * per queue, in a subtransaction:
 *
 *   1. loads the online, enabled agents serving the queue (skills,
 *      languages) with their open tickets and capacity;
 *   2. locks the queue's first unassigned open tickets, most urgent first
 *      then oldest (FOR UPDATE SKIP LOCKED: a ticket being changed right now
 *      is looked at again when that change commits and wakes us);
 *   3. matches in C: round_robin (next agent id after the queue's cursor)
 *      or least_loaded (lowest open/max share, then fewest, then the one
 *      given a ticket longest ago);
 *   4. takes capacity with one guarded UPDATE (open_tickets + n <=
 *      max_open_tickets, still online and enabled, agent rows locked in id
 *      order) — an agent that lost a race gets nothing this pass and the
 *      stage runs again at once with fresh data;
 *   5. writes the tickets, audit rows, events and observer calls.
 *
 * A queue whose batch fails is retried ticket by ticket; a ticket that fails
 * alone is marked (ticket.assign_error) and skipped until it next changes.
 * Tickets that must wait get their reason stored (and audited) when it
 * changes. There are no timers: next_due is always 0.
 */
#include "ticket_assign.h"
#include "routing.h"
#include "dispatch.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"

#define MAX_QUEUES_PER_RUN 100
#define MAX_TICKETS_PER_QUEUE 200
#define MAX_WAIT_REASONS 100

typedef struct Cand
{
	int64		id;
	int			open;
	int			cap;
	int			planned;
	TimestampTz last;			/* PG_INT64_MIN: never given a ticket */
} Cand;

typedef struct QueueWork
{
	int64		tenant_id;
	int64		queue_id;
	char	   *strategy;
	int64		rr_cursor;
	int64		only_ticket;	/* 0: a batch; else just this ticket */
	/* results */
	int			assigned;
	bool		more;
} QueueWork;

static HdPlan auto_queues = {
	"SELECT q.tenant_id, q.id, q.ticket_strategy, q.ticket_rr_cursor FROM helpdesk.queue q "
	"WHERE q.ticket_strategy <> 'manual' AND " HD_PLACED("q.tenant_id") " AND EXISTS ("
	"  SELECT 1 FROM helpdesk.ticket t WHERE t.tenant_id = q.tenant_id AND t.queue_id = q.id "
	"    AND t.assignee_id IS NULL AND t.status IN " HD_TICKET_OPEN_STATUSES
	"    AND t.assign_error IS NULL) "
	"ORDER BY q.tenant_id, q.id LIMIT $1",
	1, {INT4OID}
};
static HdPlan serving_agents = {
	"SELECT a.id, a.open_tickets, a.max_open_tickets, a.last_ticket_at "
	"FROM helpdesk.queue q, helpdesk.agent a "
	"WHERE q.tenant_id = $1 AND q.id = $2 AND a.tenant_id = $1 "
	"  AND a.status = 'online' AND a.enabled AND a.role <> 'qa' "
	"  AND a.skills ?& q.required_skills "
	"  AND (cardinality(q.required_languages) = 0 OR a.languages && q.required_languages) "
	"ORDER BY a.id",
	2, {INT8OID, INT8OID}
};
static HdPlan waiting_tickets = {
	"SELECT t.id FROM helpdesk.ticket t "
	"WHERE t.tenant_id = $1 AND t.queue_id = $2 AND t.assignee_id IS NULL "
	"  AND t.status IN " HD_TICKET_OPEN_STATUSES " AND t.assign_error IS NULL "
	"  AND ($4 = 0 OR t.id = $4) "
	"ORDER BY CASE t.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END, "
	"  t.id "
	"LIMIT $3 FOR UPDATE OF t SKIP LOCKED",
	4, {INT8OID, INT8OID, INT4OID, INT8OID}
};
static HdPlan guard_capacity = {
	"WITH d AS (SELECT * FROM unnest($2::int8[], $3::int4[]) d(id, n)), "
	"l AS (SELECT a.id FROM helpdesk.agent a JOIN d USING (id) WHERE a.tenant_id = $1 "
	"      ORDER BY a.id FOR NO KEY UPDATE OF a) "
	"UPDATE helpdesk.agent a SET open_tickets = a.open_tickets + d.n, last_ticket_at = now() "
	"FROM d, l WHERE a.tenant_id = $1 AND a.id = d.id AND l.id = a.id "
	"  AND a.open_tickets + d.n <= a.max_open_tickets AND a.status = 'online' AND a.enabled "
	"  AND a.role <> 'qa' "
	"RETURNING a.id, a.open_tickets, a.max_open_tickets",
	3, {INT8OID, INT8ARRAYOID, INT4ARRAYOID}
};
static HdPlan write_tickets = {
	"UPDATE helpdesk.ticket t SET assignee_id = d.agent_id, counted_agent_id = d.agent_id, "
	"  assigned_at = now(), updated_at = now(), assign_wait_reason = NULL "
	"FROM unnest($2::int8[], $3::int8[]) d(id, agent_id) "
	"WHERE t.tenant_id = $1 AND t.id = d.id AND t.assignee_id IS NULL",
	3, {INT8OID, INT8ARRAYOID, INT8ARRAYOID}
};
static HdPlan write_audit = {
	"INSERT INTO helpdesk.ticket_assignment_audit (tenant_id, ticket_id, queue_id, agent_id, "
	"  action, actor_kind, strategy, candidates, reason, agent_open_tickets, agent_capacity) "
	"SELECT $1, d.id, $2, d.agent_id, 'auto', 'dispatcher', $3, $4, d.reason, d.open, d.cap "
	"FROM unnest($5::int8[], $6::int8[], $7::text[], $8::int4[], $9::int4[]) "
	"  d(id, agent_id, reason, open, cap)",
	9, {INT8OID, INT8OID, TEXTOID, INT4OID, INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID,
	INT4ARRAYOID, INT4ARRAYOID}
};
static HdPlan write_waits = {
	"WITH u AS (UPDATE helpdesk.ticket t SET assign_wait_reason = $4 "
	"  WHERE t.tenant_id = $1 AND t.id = ANY ($3::int8[]) "
	"    AND t.assign_wait_reason IS DISTINCT FROM $4 RETURNING t.id) "
	"INSERT INTO helpdesk.ticket_assignment_audit (tenant_id, ticket_id, queue_id, action, "
	"  actor_kind, strategy, candidates, reason) "
	"SELECT $1, u.id, $2, 'wait', 'dispatcher', $5, $6, $4 FROM u",
	6, {INT8OID, INT8OID, INT8ARRAYOID, TEXTOID, TEXTOID, INT4OID}
};
static HdPlan save_cursor = {
	"UPDATE helpdesk.queue SET ticket_rr_cursor = $3 WHERE tenant_id = $1 AND id = $2",
	3, {INT8OID, INT8OID, INT8OID}
};
static HdPlan mark_ticket = {
	"UPDATE helpdesk.ticket SET assign_error = $3 WHERE tenant_id = $1 AND id = $2",
	3, {INT8OID, INT8OID, TEXTOID}
};

/* Lower is better: share of capacity in use, then open count, then longest since a ticket. */
static bool
less_loaded(const Cand *a, const Cand *b)
{
	double		sa = (double) (a->open + a->planned) / a->cap;
	double		sb = (double) (b->open + b->planned) / b->cap;

	if (sa != sb)
		return sa < sb;
	if (a->open + a->planned != b->open + b->planned)
		return a->open + a->planned < b->open + b->planned;
	if (a->last != b->last)
		return a->last < b->last;
	return a->id < b->id;
}

/* The agent for the next ticket, or -1 when none has a free slot. */
static int
choose(QueueWork *w, Cand *c, int n)
{
	int			best = -1,
				i;
	bool		rr = strcmp(w->strategy, "round_robin") == 0;

	for (i = 0; i < n; i++)
	{
		if (c[i].open + c[i].planned >= c[i].cap)
			continue;
		if (best < 0)
			best = i;
		else if (rr)
		{
			/* the lowest id after the cursor, else the lowest id (wrap) */
			bool		after = c[i].id > w->rr_cursor;
			bool		best_after = c[best].id > w->rr_cursor;

			if (after && !best_after)
				best = i;
		}
		else if (less_loaded(&c[i], &c[best]))
			best = i;
	}
	return best;
}

/* Store why the queue's first tickets wait, where that changed. */
static void
record_waits(QueueWork *w, int64 *tickets, int nt, const char *reason, int candidates)
{
	Datum		v[6] = {Int64GetDatum(w->tenant_id), Int64GetDatum(w->queue_id),
		hd_int8_array(tickets, nt), CStringGetTextDatum(reason),
	CStringGetTextDatum(w->strategy), Int32GetDatum(candidates)};

	if (nt > 0)
		hd_exec(&write_waits, v, NULL, false, 0);
}

/*
 * One queue (or one ticket of it, when w->only_ticket is set): load, match,
 * write. Raises on any failure; the caller runs it in a subtransaction.
 */
static void
queue_pass(void *arg)
{
	QueueWork  *w = (QueueWork *) arg;
	Datum		v[9];
	Cand	   *c;
	int			nc,
				nfree = 0,
				free_slots = 0,
				i,
				k,
				nt,
				limit;
	int64	   *tickets;
	int		   *chosen;
	char	  **reasons;
	int64	   *gid;
	int32	   *gn;
	int			ng = 0,
				nok = 0;
	bool	   *granted;
	int32	   *gopen,
			   *gcap;

	/* 1. the agents */
	v[0] = Int64GetDatum(w->tenant_id);
	v[1] = Int64GetDatum(w->queue_id);
	hd_exec(&serving_agents, v, NULL, false, 0);
	nc = (int) SPI_processed;
	c = palloc0(sizeof(Cand) * Max(nc, 1));
	for (i = 0; i < nc; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		x;

		c[i].id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		c[i].open = DatumGetInt32(SPI_getbinval(t, d, 2, &isnull));
		c[i].cap = DatumGetInt32(SPI_getbinval(t, d, 3, &isnull));
		x = SPI_getbinval(t, d, 4, &isnull);
		c[i].last = isnull ? PG_INT64_MIN : DatumGetTimestampTz(x);
		if (c[i].open < c[i].cap)
		{
			nfree++;
			free_slots += c[i].cap - c[i].open;
		}
	}

	/* 2. the tickets, locked */
	limit = free_slots > 0 ? Min(free_slots, MAX_TICKETS_PER_QUEUE) : MAX_WAIT_REASONS;
	if (w->only_ticket)
		limit = 1;
	v[2] = Int32GetDatum(limit);
	v[3] = Int64GetDatum(w->only_ticket);
	hd_exec(&waiting_tickets, v, NULL, false, 0);
	nt = (int) SPI_processed;
	if (nt == 0)
		return;
	tickets = palloc(sizeof(int64) * nt);
	for (i = 0; i < nt; i++)
	{
		bool		isnull;

		tickets[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	if (free_slots == 0)
	{
		record_waits(w, tickets, nt,
					 nc == 0 ? psprintf("no online agent serves queue " INT64_FORMAT, w->queue_id)
					 : psprintf("all %d online agents serving queue " INT64_FORMAT " are at their ticket capacity",
								nc, w->queue_id), 0);
		return;
	}
	if (nt >= limit)
		w->more = true;			/* more may wait: assign them, or say why they wait */

	/* 3. match */
	chosen = palloc(sizeof(int) * nt);
	reasons = palloc(sizeof(char *) * nt);
	for (i = 0; i < nt; i++)
	{
		k = choose(w, c, nc);
		chosen[i] = k;
		if (k < 0)
		{
			reasons[i] = NULL;
			continue;
		}
		if (strcmp(w->strategy, "round_robin") == 0)
		{
			w->rr_cursor = c[k].id;
			reasons[i] = psprintf("round robin: next agent after the last one given a ticket, among %d with a free slot",
								  nfree);
		}
		else
			reasons[i] = psprintf("least loaded: %d of %d open tickets, the lowest share among %d agents with a free slot",
								  c[k].open + c[k].planned, c[k].cap, nfree);
		c[k].planned++;
	}

	/* 4. capacity, guarded */
	gid = palloc(sizeof(int64) * Max(nc, 1));
	gn = palloc(sizeof(int32) * Max(nc, 1));
	for (k = 0; k < nc; k++)
		if (c[k].planned > 0)
		{
			gid[ng] = c[k].id;
			gn[ng++] = c[k].planned;
		}
	granted = palloc0(sizeof(bool) * Max(nc, 1));
	gopen = palloc0(sizeof(int32) * Max(nc, 1));
	gcap = palloc0(sizeof(int32) * Max(nc, 1));
	if (ng > 0)
	{
		v[1] = hd_int8_array(gid, ng);
		v[2] = hd_int4_array(gn, ng);
		hd_exec(&guard_capacity, v, NULL, false, 0);
		for (i = 0; i < (int) SPI_processed; i++)
		{
			HeapTuple	t = SPI_tuptable->vals[i];
			TupleDesc	d = SPI_tuptable->tupdesc;
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));

			for (k = 0; k < nc; k++)
				if (c[k].id == id)
				{
					granted[k] = true;
					gopen[k] = DatumGetInt32(SPI_getbinval(t, d, 2, &isnull));
					gcap[k] = DatumGetInt32(SPI_getbinval(t, d, 3, &isnull));
				}
		}
		if ((int) SPI_processed < ng)
			w->more = true;		/* lost a race: look again with fresh data */
	}

	/* 5. the tickets whose agent got the slots */
	{
		int64	   *tid = palloc(sizeof(int64) * nt);
		int64	   *aid = palloc(sizeof(int64) * nt);
		char	  **rs = palloc(sizeof(char *) * nt);
		int32	   *ro = palloc(sizeof(int32) * nt);
		int32	   *rc = palloc(sizeof(int32) * nt);
		int		   *seen = palloc0(sizeof(int) * Max(nc, 1));

		for (i = 0; i < nt; i++)
		{
			k = chosen[i];
			if (k < 0 || !granted[k])
				continue;
			tid[nok] = tickets[i];
			aid[nok] = c[k].id;
			rs[nok] = reasons[i];
			/* the agent's count after this ticket, as granted in order */
			seen[k]++;
			ro[nok] = gopen[k] - c[k].planned + seen[k];
			rc[nok++] = gcap[k];
		}
		if (nok > 0)
		{
			v[1] = hd_int8_array(tid, nok);
			v[2] = hd_int8_array(aid, nok);
			hd_exec(&write_tickets, v, NULL, false, 0);
			if ((int) SPI_processed != nok)
				elog(ERROR, "pg_helpdesk: %d of %d locked tickets changed under the dispatcher",
					 nok - (int) SPI_processed, nok);
			v[1] = Int64GetDatum(w->queue_id);
			v[2] = CStringGetTextDatum(w->strategy);
			v[3] = Int32GetDatum(nfree);
			v[4] = hd_int8_array(tid, nok);
			v[5] = hd_int8_array(aid, nok);
			v[6] = hd_text_array(rs, nok);
			v[7] = hd_int4_array(ro, nok);
			v[8] = hd_int4_array(rc, nok);
			hd_exec(&write_audit, v, NULL, false, 0);
			for (i = 0; i < nok; i++)
			{
				hd_ticket_assignee_event(w->tenant_id, tid[i], 0, aid[i], "dispatcher", 0, rs[i]);
				hd_ticket_changed(w->tenant_id, tid[i], HD_TICKET_ASSIGNEE);
			}
			if (strcmp(w->strategy, "round_robin") == 0)
			{
				v[0] = Int64GetDatum(w->tenant_id);
				v[1] = Int64GetDatum(w->queue_id);
				v[2] = Int64GetDatum(w->rr_cursor);
				hd_exec(&save_cursor, v, NULL, false, 0);
			}
		}
	}
	w->assigned = nok;
}

/*
 * The queue's batch failed: assign its tickets one by one; one that fails
 * alone is marked so the next passes skip it (its next change clears it).
 */
static int
queue_one_by_one(QueueWork *proto, const char *batch_error)
{
	static HdPlan ids = {
		"SELECT t.id FROM helpdesk.ticket t "
		"WHERE t.tenant_id = $1 AND t.queue_id = $2 AND t.assignee_id IS NULL "
		"  AND t.status IN " HD_TICKET_OPEN_STATUSES " AND t.assign_error IS NULL "
		"ORDER BY t.id LIMIT $3",
		3, {INT8OID, INT8OID, INT4OID}
	};
	Datum		v[3] = {Int64GetDatum(proto->tenant_id), Int64GetDatum(proto->queue_id),
	Int32GetDatum(MAX_TICKETS_PER_QUEUE)};
	int			n,
				i,
				assigned = 0;
	int64	   *list;

	ereport(LOG,
			(errmsg("pg_helpdesk dispatcher: ticket assignment failed for queue %lld of tenant %lld (%s); retrying ticket by ticket",
					(long long) proto->queue_id, (long long) proto->tenant_id, batch_error)));
	hd_exec(&ids, v, NULL, false, 0);
	n = (int) SPI_processed;
	list = palloc(sizeof(int64) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		list[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	for (i = 0; i < n; i++)
	{
		QueueWork	one = *proto;
		char	   *err = NULL;

		one.only_ticket = list[i];
		one.assigned = 0;
		one.more = false;
		if (hd_run_in_subxact(queue_pass, &one, &err))
		{
			assigned += one.assigned;
			proto->rr_cursor = one.rr_cursor;
			proto->more |= one.more;
		}
		else
		{
			Datum		m[3] = {Int64GetDatum(proto->tenant_id), Int64GetDatum(list[i]),
			CStringGetTextDatum(hd_clip_message(psprintf("assignment: %s", err), 1000))};

			ereport(WARNING,
					(errmsg("pg_helpdesk dispatcher: assigning ticket %lld of tenant %lld failed: %s",
							(long long) list[i], (long long) proto->tenant_id, err),
					 errhint("The ticket is marked (helpdesk.ticket.assign_error) and skipped until it next changes.")));
			hd_exec(&mark_ticket, m, NULL, false, 0);
		}
	}
	return assigned;
}

/*
 * Open tickets of disabled agents (upsert_agent(enabled => false) wakes the
 * dispatcher): the agent can no longer act on them, so they go back to
 * nobody, each in a subtransaction, before the queues are served; those in
 * automatic queues are then assigned again in the same run.
 *
 * The tickets are locked up front, in id order, skipping those a backend
 * holds: every release also updates the agent's counter, and the locks of a
 * subtransaction last until the run commits, so taking ticket after ticket
 * while holding the agent's row would wait on a backend that holds the next
 * ticket and waits for that agent row (a resolve: ticket, then its agent's
 * counter): a deadlock. A skipped ticket is released on a later run (the
 * backend's change wakes the dispatcher at commit).
 */
static HdPlan disabled_holders = {
	"SELECT t.tenant_id, t.id, t.assignee_id FROM helpdesk.agent a "
	"JOIN helpdesk.ticket t ON t.tenant_id = a.tenant_id AND t.assignee_id = a.id "
	"  AND t.status IN " HD_TICKET_OPEN_STATUSES " AND t.assign_error IS NULL "
	"WHERE NOT a.enabled AND a.open_tickets > 0 AND " HD_PLACED("a.tenant_id") " "
	"ORDER BY t.tenant_id, t.id LIMIT $1 "
	"FOR UPDATE OF t SKIP LOCKED",
	1, {INT4OID}
};

typedef struct Held
{
	int64		tenant_id;
	int64		ticket_id;
	int64		agent_id;
} Held;

static void
release_one(void *arg)
{
	Held	   *h = (Held *) arg;

	(void) hd_ticket_release_disabled(h->tenant_id, h->ticket_id, h->agent_id);
}

static void
release_disabled(bool *more)
{
	Datum		v[1] = {Int32GetDatum(MAX_TICKETS_PER_QUEUE + 1)};
	int			n,
				i;
	Held	   *h;

	hd_exec(&disabled_holders, v, NULL, false, 0);
	n = (int) SPI_processed;
	if (n == 0)
		return;
	if (n > MAX_TICKETS_PER_QUEUE)
	{
		n = MAX_TICKETS_PER_QUEUE;
		*more = true;
	}
	h = palloc(sizeof(Held) * n);
	for (i = 0; i < n; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;

		h[i].tenant_id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		h[i].ticket_id = DatumGetInt64(SPI_getbinval(t, d, 2, &isnull));
		h[i].agent_id = DatumGetInt64(SPI_getbinval(t, d, 3, &isnull));
	}
	for (i = 0; i < n; i++)
	{
		char	   *err = NULL;

		if (!hd_run_in_subxact(release_one, &h[i], &err))
		{
			Datum		m[3] = {Int64GetDatum(h[i].tenant_id), Int64GetDatum(h[i].ticket_id),
			CStringGetTextDatum(hd_clip_message(psprintf("release: %s", err), 1000))};

			ereport(WARNING,
					(errmsg("pg_helpdesk dispatcher: releasing ticket %lld of disabled agent %lld failed: %s",
							(long long) h[i].ticket_id, (long long) h[i].agent_id, err)));
			hd_exec(&mark_ticket, m, NULL, false, 0);
		}
	}
}

static int
stage_run(TimestampTz now, bool *more)
{
	Datum		v[1] = {Int32GetDatum(MAX_QUEUES_PER_RUN + 1)};
	int			nq,
				i,
				assigned = 0;
	QueueWork  *q;

	release_disabled(more);

	hd_exec(&auto_queues, v, NULL, false, 0);
	nq = (int) SPI_processed;
	if (nq > MAX_QUEUES_PER_RUN)
	{
		nq = MAX_QUEUES_PER_RUN;
		*more = true;
	}
	q = palloc0(sizeof(QueueWork) * Max(nq, 1));
	for (i = 0; i < nq; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;

		q[i].tenant_id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		q[i].queue_id = DatumGetInt64(SPI_getbinval(t, d, 2, &isnull));
		q[i].strategy = TextDatumGetCString(SPI_getbinval(t, d, 3, &isnull));
		q[i].rr_cursor = DatumGetInt64(SPI_getbinval(t, d, 4, &isnull));
	}
	for (i = 0; i < nq; i++)
	{
		char	   *err = NULL;

		if (hd_run_in_subxact(queue_pass, &q[i], &err))
			assigned += q[i].assigned;
		else
			assigned += queue_one_by_one(&q[i], err);
		if (q[i].more)
			*more = true;
	}
	return assigned;
}

/* no timers: the stage runs when the dispatcher is woken */
static TimestampTz
stage_next_due(void)
{
	return 0;
}

static const HdDispatchStage stage = {
	"pg_helpdesk: assigning tickets",
	stage_next_due,
	stage_run,
	true						/* unassigned tickets and free slots come by wakeups */
};

void
hd_ticket_assign_register_stage(void)
{
	hd_dispatch_register_stage(&stage);
}
