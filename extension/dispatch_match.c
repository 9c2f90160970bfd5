/*
 * dispatch_match.c — one assignment pass of the dispatcher.
 *
 *   1. Load every enabled online agent with fresh presence in the tenants
 *      that have waiting sessions; skills and languages become bitmaps over a
 *      per-pass dictionary of names.
 *   2. Load, per dispatched queue, the first waiting sessions in rank order
 *      (enough to use every free slot, plus some to report why the rest wait).
 *   3. Match greedily in C, tenant by tenant, oldest rank first: each session
 *      goes to the best agent with free capacity by its queue's strategy.
 *   4. Write the whole pass in one subtransaction: guarded capacity UPDATE
 *      (load + n <= max_sessions, re-checked by PostgreSQL on the newest row
 *      version), the sessions (only those still queued), assignment history,
 *      audit rows and events. If any statement fails, every session is
 *      retried alone and the one that fails is marked, not retried forever.
 *
 * The dispatcher is the only writer of assignments for dispatched queues, so
 * decisions never race each other; claims in manual queues and capacity
 * changes are safe through the guarded UPDATE.
 */
#include "dispatch.h"

#include "access/xact.h"
#include "nodes/bitmapset.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

typedef enum Strategy
{
	ST_LEAST_LOADED,
	ST_LONGEST_IDLE,
	ST_ROUND_ROBIN,
	ST_STICKY
} Strategy;

static const char *const strategy_names[] = {"least_loaded", "longest_idle", "round_robin", "sticky"};

typedef struct Agent
{
	int64		tenant_id;
	int64		id;
	int			load;			/* as loaded + planned this pass */
	int			cap;
	int			planned;
	TimestampTz last_activity;	/* 0: never */
	TimestampTz status_changed;
	const HdAgentSkills *sk;	/* cached across passes: read only */
} Agent;

typedef struct Queue
{
	int64		tenant_id;
	int64		id;
	Strategy	strategy;
	bool		direct;
	int64		offer_timeout_us;
	int64		sticky_window_us;
	int64		idle_warn_us;
	int64		rr_cursor;
	bool		rr_changed;
	Bitmapset  *req_skills;
	Bitmapset  *req_langs;
	char	   *req_text;		/* "skills billing, language es" for reasons */
	int		   *cands;			/* agents with the skills and a language */
	int			ncands;
	int			nloaded;		/* waiting sessions loaded this pass */
	int			depth;			/* how many we asked for */
} Queue;

typedef struct Waiting
{
	int64		tenant_id;
	int64		id;
	int64		queue_id;
	int64		customer_id;
	int64		target;
	TimestampTz queued_at;
	int64	   *excluded;
	int			nexcluded;
	char	   *old_reason;
	int			q;				/* index into queues */
	int			chosen;			/* agent index or -1 */
	int			ncand;
	double		score;
	char	   *reason;
	bool		drop_target;
	int64		sticky_agent;
	TimestampTz sticky_at;
} Waiting;

typedef struct QueueLimit
{
	int64		key[3];			/* tenant, agent, queue */
	int			remaining;
} QueueLimit;

typedef struct Pass
{
	Agent	   *agents;
	int			nagents;
	Queue	   *queues;
	int			nqueues;
	Waiting    *waiting;
	int			nwaiting;
	HTAB	   *limits;
	int			nlimits;
	TimestampTz now;
	/* the tenants this pass routes, sorted by id, with their settings */
	HdTenantTimes *tt;
	int			ntenants;
	List	   *marks;			/* marks to write at the end (HdMark) */
	TimestampTz retry_at;		/* earliest end of a cool-down seen, 0: none */
} Pass;

static int64
get_int8(HeapTuple t, TupleDesc d, int col, int64 dflt)
{
	bool		isnull;
	Datum		x = SPI_getbinval(t, d, col, &isnull);

	return isnull ? dflt : DatumGetInt64(x);
}

static TimestampTz
get_ts(HeapTuple t, TupleDesc d, int col, TimestampTz dflt)
{
	bool		isnull;
	Datum		x = SPI_getbinval(t, d, col, &isnull);

	return isnull ? dflt : DatumGetTimestampTz(x);
}

static HdPlan waiting_tenants = {
	"SELECT " HD_TENANT_COLS " FROM helpdesk.tenant t "
	"WHERE EXISTS (SELECT 1 FROM helpdesk.queue q WHERE q.tenant_id = t.id "
	"  AND q.strategy <> 'manual' AND EXISTS (SELECT 1 FROM helpdesk.session s "
	"    WHERE s.tenant_id = q.tenant_id AND s.queue_id = q.id AND s.state = 'queued' "
	"      AND s.dispatch_error IS NULL)) "
	"ORDER BY t.id",
	0, {}
};
/* $2: per tenant, agents seen after this are present (computed in C) */
static HdPlan load_agents = {
	"SELECT a.tenant_id, a.id, a.load, a.max_sessions, a.last_activity_at, a.skills, "
	"       a.languages, a.dispatch_error, a.status_changed_at "
	"FROM unnest($1::int8[], $2::timestamptz[]) k(tenant_id, fresh_after) "
	"JOIN helpdesk.agent a ON a.tenant_id = k.tenant_id "
	"WHERE a.status = 'online' AND a.enabled AND a.last_seen_at > k.fresh_after",
	2, {INT8ARRAYOID, TIMESTAMPTZARRAYOID}
};
/* intervals come raw: hd_queue_times checks and converts them */
static HdPlan load_queues = {
	"SELECT q.tenant_id, q.id, q.strategy, q.offer_mode = 'direct', q.rr_cursor, "
	"       q.required_skills, q.required_languages, " HD_QUEUE_COLS " "
	"FROM helpdesk.queue q "
	"WHERE q.tenant_id = ANY ($1) AND q.strategy <> 'manual' ORDER BY q.tenant_id, q.id",
	1, {INT8ARRAYOID}
};
/* per routed queue, how many waiting sessions to look at */
static HdPlan load_waiting = {
	"SELECT s.tenant_id, s.id, s.queue_id, s.customer_id, s.target_agent_id, "
	"       s.excluded_agents, s.queued_at, s.wait_reason "
	"FROM unnest($1::int8[], $2::int8[], $3::int4[]) k(tenant_id, queue_id, n) "
	"CROSS JOIN LATERAL (SELECT * FROM helpdesk.session s "
	"  WHERE s.tenant_id = k.tenant_id AND s.queue_id = k.queue_id AND s.state = 'queued' "
	"    AND s.dispatch_error IS NULL ORDER BY s.rank_at, s.id LIMIT k.n) s "
	"ORDER BY s.tenant_id, s.rank_at, s.id",
	3, {INT8ARRAYOID, INT8ARRAYOID, INT4ARRAYOID}
};
static HdPlan load_limits = {
	"SELECT l.tenant_id, l.agent_id, l.queue_id, l.max_sessions::int8, "
	"       (SELECT count(*) FROM helpdesk.session x WHERE x.tenant_id = l.tenant_id "
	"          AND x.agent_id = l.agent_id AND x.queue_id = l.queue_id "
	"          AND x.state IN ('offered', 'active')) "
	"FROM helpdesk.agent_queue_limit l WHERE l.tenant_id = ANY ($1)",
	1, {INT8ARRAYOID}
};
static HdPlan load_sticky = {
	"SELECT DISTINCT ON (a.tenant_id, a.customer_id) a.tenant_id, a.customer_id, a.agent_id, "
	"       a.started_at "
	"FROM unnest($1::int8[], $2::int8[]) c(tenant_id, customer_id) "
	"JOIN helpdesk.session_assignment a ON a.tenant_id = c.tenant_id "
	"  AND a.customer_id = c.customer_id AND a.accepted_at IS NOT NULL "
	"ORDER BY a.tenant_id, a.customer_id, a.id DESC",
	2, {INT8ARRAYOID, INT8ARRAYOID}
};

/* Order of two (tenant_id, id) keys, for qsort and binary searches. */
static inline int
cmp_pair(int64 t1, int64 i1, int64 t2, int64 i2)
{
	if (t1 != t2)
		return t1 < t2 ? -1 : 1;
	if (i1 != i2)
		return i1 < i2 ? -1 : 1;
	return 0;
}

/*
 * Binary search over an array sorted by (tenant_id, id) whose elements start
 * with those two fields (Agent and Queue do). Returns the index or -1.
 */
typedef struct Keyed
{
	int64		tenant_id;
	int64		id;
} Keyed;

static int
find_keyed(const void *base, int n, size_t size, int64 tenant_id, int64 id)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		const Keyed *k = (const Keyed *) ((const char *) base + (size_t) mid * size);

		if (k->tenant_id == tenant_id && k->id == id)
			return mid;
		if (k->tenant_id < tenant_id || (k->tenant_id == tenant_id && k->id < id))
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* qsort order of the same arrays */
static int
cmp_keyed(const void *x, const void *y)
{
	const Keyed *a = (const Keyed *) x;
	const Keyed *b = (const Keyed *) y;

	return cmp_pair(a->tenant_id, a->id, b->tenant_id, b->id);
}

#define find_queue(p, t, q) find_keyed((p)->queues, (p)->nqueues, sizeof(Queue), (t), (q))
#define find_agent(p, t, a) find_keyed((p)->agents, (p)->nagents, sizeof(Agent), (t), (a))

static int	agents_last_pass = 0;

/* qsort of waiting-session indexes by (tenant_id, customer_id) */
static Pass *pass_for_sort;

static int
cmp_waiting_customer(const void *x, const void *y)
{
	const Waiting *a = &pass_for_sort->waiting[*(const int *) x];
	const Waiting *b = &pass_for_sort->waiting[*(const int *) y];

	return cmp_pair(a->tenant_id, a->customer_id, b->tenant_id, b->customer_id);
}

/* The tenant's settings in this pass, or NULL when it is not routed. */
static const HdTenantTimes *
pass_tenant(Pass *p, int64 tenant_id)
{
	int			lo = 0,
				hi = p->ntenants - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (p->tt[mid].tenant_id == tenant_id)
			return &p->tt[mid];
		if (p->tt[mid].tenant_id < tenant_id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/*
 * Tenants with waiting sessions whose settings are usable, into p->tt.
 * A tenant with a setting no arithmetic can use is marked and left out; one
 * that is usable again loses its 'settings:' mark.
 */
static void
load_tenants(Pass *p)
{
	int			i,
				n;

	hd_exec(&waiting_tenants, NULL, NULL, false, 0);
	n = (int) SPI_processed;
	p->tt = palloc(sizeof(HdTenantTimes) * Max(n, 1));
	p->ntenants = 0;
	for (i = 0; i < n; i++)
	{
		HdTenantTimes *t = &p->tt[p->ntenants];
		const char *bad = hd_tenant_times(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, t);

		if (bad)
		{
			if (t->mark == NULL || strcmp(t->mark, bad) != 0)
				hd_defer_mark(&p->marks, HD_MARK_TENANT, t->tenant_id, t->tenant_id, bad);
			continue;
		}
		if (hd_mark_is(t->mark, "settings:"))
		{
			hd_defer_mark(&p->marks, HD_MARK_TENANT, t->tenant_id, t->tenant_id, NULL);
			t->mark = NULL;
		}
		p->ntenants++;
	}
}

/*
 * Agents, queues, waiting sessions, limits and sticky agents of the tenants
 * in p->tt. Raises only on what no check in C can foresee; the caller runs
 * it in a subtransaction and, when it fails, finds the tenant it fails for.
 */
static void
load_rest(void *arg)
{
	Pass	   *p = (Pass *) arg;
	Datum		v[3];
	int64	   *tenants;
	TimestampTz *fresh;
	int64	   *free_slots;
	int			ntenants = p->ntenants,
				i,
				j,
				n;
	HASHCTL		ctl;
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64) * 3;
	ctl.entrysize = sizeof(QueueLimit);
	ctl.hcxt = CurrentMemoryContext;
	p->limits = hash_create("pg_helpdesk queue limits", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	p->nlimits = 0;

	tenants = palloc(sizeof(int64) * Max(ntenants, 1));
	fresh = palloc(sizeof(TimestampTz) * Max(ntenants, 1));
	free_slots = palloc0(sizeof(int64) * Max(ntenants, 1));
	for (i = 0; i < ntenants; i++)
	{
		tenants[i] = p->tt[i].tenant_id;
		/* presence_us is below HD_MAX_DELAY_US: this stays a valid time */
		fresh[i] = now - p->tt[i].presence_us;
	}
	v[0] = hd_int8_array(tenants, ntenants);
	{
		Datum	   *d = palloc(sizeof(Datum) * Max(ntenants, 1));

		for (i = 0; i < ntenants; i++)
			d[i] = TimestampTzGetDatum(fresh[i]);
		v[1] = PointerGetDatum(construct_array(d, ntenants, TIMESTAMPTZOID, 8,
											   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	}

	/* agents */
	hd_exec(&load_agents, v, NULL, false, 0);
	n = (int) SPI_processed;
	p->nagents = 0;
	p->agents = palloc0(sizeof(Agent) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		Agent	   *a = &p->agents[p->nagents];
		bool		isnull;
		char	   *mark = SPI_getvalue(t, d, 8);
		const char *bad = NULL;
		int			k;

		a->tenant_id = get_int8(t, d, 1, 0);
		a->id = get_int8(t, d, 2, 0);
		a->load = DatumGetInt32(SPI_getbinval(t, d, 3, &isnull));
		a->cap = DatumGetInt32(SPI_getbinval(t, d, 4, &isnull));
		a->last_activity = get_ts(t, d, 5, PG_INT64_MIN);
		a->status_changed = get_ts(t, d, 9, 0);
		a->sk = hd_agent_skills(a->tenant_id, a->id, SPI_getbinval(t, d, 6, &isnull),
								SPI_getbinval(t, d, 7, &isnull));
		if (a->sk->error)
			bad = a->sk->error;
		else if (a->load < 0 || a->load > 1000000 || a->cap < 0 || a->cap > 1000000)
			bad = "settings: load or max_sessions is out of range";
		if (bad)
		{
			if (mark == NULL || strcmp(mark, bad) != 0)
				hd_defer_mark(&p->marks, HD_MARK_AGENT, a->tenant_id, a->id, bad);
			continue;
		}
		if (hd_mark_is(mark, "settings:"))
			hd_defer_mark(&p->marks, HD_MARK_AGENT, a->tenant_id, a->id, NULL);
		/* free slots decide how deep we look into each queue */
		for (k = 0; k < ntenants; k++)
			if (tenants[k] == a->tenant_id && a->load < a->cap)
				free_slots[k] += a->cap - a->load;
		p->nagents++;
	}
	/* sorted here rather than by the query: a sort node copied every row */
	qsort(p->agents, p->nagents, sizeof(Agent), cmp_keyed);

	/* queues, and per queue the agents with its skills and a language */
	hd_exec(&load_queues, v, NULL, false, 0);
	n = (int) SPI_processed;
	p->nqueues = 0;
	p->queues = palloc0(sizeof(Queue) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		Queue	   *q = &p->queues[p->nqueues];
		char	   *st = SPI_getvalue(t, d, 3);
		bool		isnull;
		char	   *skills = SPI_getvalue(t, d, 6);
		char	   *langs = SPI_getvalue(t, d, 7);
		HdQueueTimes qt;
		const char *bad;

		q->tenant_id = get_int8(t, d, 1, 0);
		q->id = get_int8(t, d, 2, 0);
		bad = hd_queue_times(t, d, 8, pass_tenant(p, q->tenant_id), &qt);
		if (bad)
		{
			if (qt.mark == NULL || strcmp(qt.mark, bad) != 0)
				hd_defer_mark(&p->marks, HD_MARK_QUEUE, q->tenant_id, q->id, bad);
			continue;
		}
		if (hd_mark_is(qt.mark, "settings:"))
			hd_defer_mark(&p->marks, HD_MARK_QUEUE, q->tenant_id, q->id, NULL);
		q->strategy = strcmp(st, "longest_idle") == 0 ? ST_LONGEST_IDLE
			: strcmp(st, "round_robin") == 0 ? ST_ROUND_ROBIN
			: strcmp(st, "sticky") == 0 ? ST_STICKY : ST_LEAST_LOADED;
		q->direct = DatumGetBool(SPI_getbinval(t, d, 4, &isnull));
		q->offer_timeout_us = qt.offer_timeout_us;
		q->sticky_window_us = qt.sticky_window_us;
		q->idle_warn_us = qt.warn_us;
		q->rr_cursor = get_int8(t, d, 5, 0);
		q->req_skills = hd_name_bits('s', q->tenant_id, SPI_getbinval(t, d, 6, &isnull));
		q->req_langs = hd_name_bits('l', q->tenant_id, SPI_getbinval(t, d, 7, &isnull));
		q->req_text = psprintf("skills %s and languages %s", hd_clip(skills, 200),
							   hd_clip(langs, 200));
		q->cands = palloc(sizeof(int) * Max(p->nagents, 1));
		q->ncands = 0;
		p->nqueues++;
	}
	for (j = 0; j < p->nagents; j++)
	{
		Agent	   *a = &p->agents[j];

		for (i = 0; i < p->nqueues; i++)
		{
			Queue	   *q = &p->queues[i];

			if (q->tenant_id != a->tenant_id)
				continue;
			if (!bms_is_subset(q->req_skills, a->sk->skills))
				continue;
			if (!bms_is_empty(q->req_langs) && !bms_overlap(q->req_langs, a->sk->langs))
				continue;
			q->cands[q->ncands++] = j;
		}
	}

	/* waiting sessions: enough per queue to fill every free slot, plus a few */
	{
		int64	   *qt = palloc(sizeof(int64) * Max(p->nqueues, 1));
		int64	   *qid = palloc(sizeof(int64) * Max(p->nqueues, 1));
		int32	   *qn = palloc(sizeof(int32) * Max(p->nqueues, 1));

		for (i = 0; i < p->nqueues; i++)
		{
			int64		slots = 0;

			for (j = 0; j < ntenants; j++)
				if (tenants[j] == p->queues[i].tenant_id)
					slots = free_slots[j];
			qt[i] = p->queues[i].tenant_id;
			qid[i] = p->queues[i].id;
			qn[i] = (int32) Min((int64) hd_dispatch_batch_size, 16 + 2 * slots);
			p->queues[i].depth = qn[i];
		}
		v[0] = hd_int8_array(qt, p->nqueues);
		v[1] = hd_int8_array(qid, p->nqueues);
		v[2] = hd_int4_array(qn, p->nqueues);
	}
	hd_exec(&load_waiting, v, NULL, false, 0);
	p->nwaiting = (int) SPI_processed;
	p->waiting = palloc0(sizeof(Waiting) * Max(p->nwaiting, 1));
	for (i = 0; i < p->nwaiting; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		Waiting    *w = &p->waiting[i];
		bool		isnull;
		Datum		ex;

		w->tenant_id = get_int8(t, d, 1, 0);
		w->id = get_int8(t, d, 2, 0);
		w->queue_id = get_int8(t, d, 3, 0);
		w->customer_id = get_int8(t, d, 4, 0);
		w->target = get_int8(t, d, 5, 0);
		ex = SPI_getbinval(t, d, 6, &isnull);
		if (!isnull)
		{
			Datum	   *el;
			bool	   *nulls;
			int			k;

			deconstruct_array(DatumGetArrayTypeP(ex), INT8OID, 8, FLOAT8PASSBYVAL,
							  TYPALIGN_DOUBLE, &el, &nulls, &w->nexcluded);
			w->excluded = palloc(sizeof(int64) * Max(w->nexcluded, 1));
			for (k = 0; k < w->nexcluded; k++)
				w->excluded[k] = nulls[k] ? 0 : DatumGetInt64(el[k]);
		}
		w->queued_at = get_ts(t, d, 7, 0);
		if (TIMESTAMP_NOT_FINITE(w->queued_at))
			w->queued_at = p->now;	/* only a direct UPDATE writes that: count from now */
		w->old_reason = SPI_getvalue(t, d, 8);
		w->q = find_queue(p, w->tenant_id, w->queue_id);
		w->chosen = -1;
		if (w->q >= 0)
			p->queues[w->q].nloaded++;
	}

	/* per-queue limits of agents */
	v[0] = hd_int8_array(tenants, ntenants);
	hd_exec(&load_limits, v, NULL, false, 0);
	for (i = 0; i < (int) SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		int64		key[3];
		QueueLimit *l;

		key[0] = get_int8(t, d, 1, 0);
		key[1] = get_int8(t, d, 2, 0);
		key[2] = get_int8(t, d, 3, 0);
		l = hash_search(p->limits, key, HASH_ENTER, NULL);
		l->remaining = (int) Max(-1, Min(1000000, get_int8(t, d, 4, 0) - get_int8(t, d, 5, 0)));
		p->nlimits++;
	}

	/* sticky queues: who served these customers last */
	{
		int64	   *ct = palloc(sizeof(int64) * Max(p->nwaiting, 1));
		int64	   *cc = palloc(sizeof(int64) * Max(p->nwaiting, 1));
		int		   *sidx = palloc(sizeof(int) * Max(p->nwaiting, 1));
		int			n = 0;

		for (i = 0; i < p->nwaiting; i++)
			if (p->waiting[i].q >= 0 && p->queues[p->waiting[i].q].strategy == ST_STICKY)
				sidx[n++] = i;
		if (n > 0)
		{
			Datum		sv[2];

			/* by (tenant, customer): the rows come back in that order */
			pass_for_sort = p;
			qsort(sidx, n, sizeof(int), cmp_waiting_customer);
			for (i = 0; i < n; i++)
			{
				ct[i] = p->waiting[sidx[i]].tenant_id;
				cc[i] = p->waiting[sidx[i]].customer_id;
			}
			sv[0] = hd_int8_array(ct, n);
			sv[1] = hd_int8_array(cc, n);
			hd_exec(&load_sticky, sv, NULL, false, 0);
			i = 0;
			for (j = 0; j < (int) SPI_processed; j++)
			{
				HeapTuple	t = SPI_tuptable->vals[j];
				TupleDesc	d = SPI_tuptable->tupdesc;
				int64		tenant = get_int8(t, d, 1, 0),
							cust = get_int8(t, d, 2, 0);

				while (i < n && (ct[i] < tenant || (ct[i] == tenant && cc[i] < cust)))
					i++;
				if (i < n && ct[i] == tenant && cc[i] == cust)
				{
					TimestampTz at = get_ts(t, d, 4, 0);

					if (TIMESTAMP_NOT_FINITE(at))
						continue;	/* only a direct UPDATE writes that */
					p->waiting[sidx[i]].sticky_agent = get_int8(t, d, 3, 0);
					p->waiting[sidx[i]].sticky_at = at;
				}
			}
		}
	}
}

/*
 * Has this agent declined or missed this session (or transferred it away)
 * since it last changed status? Exclusions are added when the session comes
 * back to its queue (session.queued_at), so an agent whose status changed
 * after that (offline and back, away and back, a reconnect within the grace)
 * has changed since its exclusion, and is a candidate again.
 */
static bool
is_excluded(Waiting *w, const Agent *a)
{
	int			i;

	for (i = 0; i < w->nexcluded; i++)
		if (w->excluded[i] == a->id)
			return a->status_changed <= w->queued_at;
	return false;
}

static QueueLimit *
queue_limit(Pass *p, Agent *a, Queue *q)
{
	int64		key[3] = {a->tenant_id, a->id, q->id};

	if (p->nlimits == 0)
		return NULL;			/* the common case: no per-queue limits at all */
	return hash_search(p->limits, key, HASH_FIND, NULL);
}

static bool
has_room(Pass *p, Agent *a, Queue *q)
{
	QueueLimit *l;

	if (a->load >= a->cap)
		return false;
	l = queue_limit(p, a, q);
	return l == NULL || l->remaining > 0;
}

/* Sum of the agent's levels in the queue's required skills. */
static int
skill_weight(Agent *a, Queue *q)
{
	int			bit = -1,
				sum = 0;

	while ((bit = bms_next_member(q->req_skills, bit)) >= 0)
		if (bit < a->sk->nlevels)
			sum += a->sk->levels[bit];
	return sum;
}

/*
 * Lower is better. least_loaded: occupancy, then higher skill levels, then
 * longer idle. longest_idle: idle time first. Round robin and sticky pick
 * outside of this score.
 */
static double
score_of(Agent *a, Queue *q, Strategy st, TimestampTz now)
{
	double		occupancy = a->cap > 0 ? (double) a->load / a->cap : 1.0;
	double		idle_s = a->last_activity == PG_INT64_MIN ? 1e9
		: (double) (now - a->last_activity) / USECS_PER_SEC;
	double		weight = skill_weight(a, q);

	if (st == ST_LONGEST_IDLE)
		return -idle_s + occupancy * 1e-3;
	return occupancy * 1000.0 - weight - Min(idle_s, 1e6) * 1e-7;
}

/* Decide one session (see the strategies above); fills w->chosen or w->reason. */
static void
match_one(Pass *p, Waiting *w)
{
	Queue	   *q = &p->queues[w->q];
	int			best = -1,
				i,
				free_capable = 0;
	double		best_score = 0;
	int64		rr_next = -1;
	int			round,
				excluded_free = 0;
	bool		again = false;

	if (w->target && p->now - w->queued_at >= q->offer_timeout_us)
	{
		w->drop_target = true;	/* waited long enough for the named agent */
		w->target = 0;
	}
	if (w->target)
	{
		int			ai = find_agent(p, w->tenant_id, w->target);

		w->ncand = 0;
		if (ai >= 0 && has_room(p, &p->agents[ai], q) && !is_excluded(w, &p->agents[ai]))
		{
			w->chosen = ai;
			w->ncand = 1;
			w->reason = psprintf("transfer to agent " INT64_FORMAT, w->target);
		}
		else
			w->reason = psprintf("waiting for agent " INT64_FORMAT " (transfer target) to be online with a free slot",
								 w->target);
		return;
	}

	/*
	 * Round 0 skips the agents who declined, missed or transferred the
	 * session. When every capable agent with a free slot is one of them, the
	 * exclusions lapse once the session has been back in its queue for a
	 * cool-down (the queue's offer_timeout): round 1 then offers it to them
	 * again, so a session never waits for good next to a free, capable agent.
	 */
	for (round = 0; round < 2 && best < 0; round++)
	{
		if (round == 1)
		{
			TimestampTz until;

			if (excluded_free == 0 || excluded_free < free_capable)
				break;
			if (!hd_ts_plus_us(w->queued_at, q->offer_timeout_us, &until))
				break;
			if (p->now < until)
			{
				if (p->retry_at == 0 || until < p->retry_at)
					p->retry_at = until;
				break;
			}
			again = true;
		}
		for (i = 0; i < q->ncands; i++)
		{
			Agent	   *a = &p->agents[q->cands[i]];
			double		s;

			if (!has_room(p, a, q))
				continue;
			if (round == 0)
			{
				free_capable++;
				if (is_excluded(w, a))
				{
					excluded_free++;
					continue;
				}
			}
			w->ncand++;
			if (q->strategy == ST_STICKY && a->id == w->sticky_agent &&
				p->now - w->sticky_at <= q->sticky_window_us)
			{
				best = q->cands[i];
				best_score = -1e12;
				break;
			}
			if (q->strategy == ST_ROUND_ROBIN)
			{
				/* next agent id after the cursor, wrapping to the lowest */
				bool		after = a->id > q->rr_cursor;
				bool		best_after = best >= 0 && p->agents[best].id > q->rr_cursor;

				if (best < 0 || (after && !best_after) ||
					(after == best_after && a->id < p->agents[best].id))
					best = q->cands[i];
				continue;
			}
			s = score_of(a, q, q->strategy == ST_LONGEST_IDLE ? ST_LONGEST_IDLE : ST_LEAST_LOADED,
						 p->now);
			if (best < 0 || s < best_score)
			{
				best = q->cands[i];
				best_score = s;
			}
		}
	}
	if (best >= 0)
	{
		w->chosen = best;
		w->score = q->strategy == ST_ROUND_ROBIN ? 0 : -best_score;
		if (q->strategy == ST_STICKY && best_score == -1e12)
			w->reason = pstrdup("sticky: this agent served the customer before");
		else if (q->strategy == ST_STICKY)
			w->reason = pstrdup("sticky fallback: previous agent unavailable, least loaded");
		else if (q->strategy == ST_ROUND_ROBIN)
		{
			rr_next = p->agents[best].id;
			q->rr_cursor = rr_next;
			q->rr_changed = true;
			w->reason = pstrdup("round robin: next agent after the last one picked");
		}
		else if (q->strategy == ST_LONGEST_IDLE)
			w->reason = pstrdup("longest idle among capable agents with a free slot");
		else
			w->reason = pstrdup("least loaded among capable agents with a free slot");
		if (again)
			w->reason = psprintf("%s (offered again: every capable agent with a free slot had declined or missed it, and the cool-down passed)",
								 w->reason);
		return;
	}
	if (q->ncands == 0)
		w->reason = psprintf("no online agent with %s", q->req_text);
	else if (free_capable == 0)
		w->reason = psprintf("all %d capable agents at capacity", q->ncands);
	else
		w->reason = psprintf("all %d capable agents with a free slot declined or missed it; offered to them again once it has waited offer_timeout since",
							 free_capable);
}

static void
take_slot(Pass *p, Waiting *w)
{
	Agent	   *a = &p->agents[w->chosen];
	QueueLimit *l = queue_limit(p, a, &p->queues[w->q]);

	a->load++;
	a->planned++;
	if (l)
		l->remaining--;
}

/* ---- writing ---- */

typedef struct Batch
{
	Pass	   *p;
	int		   *idx;			/* indexes into p->waiting that were placed */
	int			n;
	int			placed;			/* sessions actually written */
} Batch;

static HdPlan guard_capacity = {
	"WITH d AS (SELECT * FROM unnest($1::int8[], $2::int8[], $3::int4[]) d(tenant_id, id, n)), "
	"l AS (SELECT a.tenant_id, a.id FROM helpdesk.agent a JOIN d USING (tenant_id, id) "
	"      ORDER BY a.tenant_id, a.id FOR NO KEY UPDATE OF a) "
	"UPDATE helpdesk.agent a SET load = a.load + d.n, last_activity_at = now() "
	"FROM d, l WHERE a.tenant_id = d.tenant_id AND a.id = d.id "
	"  AND l.tenant_id = a.tenant_id AND l.id = a.id AND a.load + d.n <= a.max_sessions "
	"  AND a.status = 'online' AND a.enabled "
	"RETURNING a.tenant_id, a.id, a.load, a.max_sessions",
	3, {INT8ARRAYOID, INT8ARRAYOID, INT4ARRAYOID}
};
static HdPlan give_back = {
	"UPDATE helpdesk.agent a SET load = greatest(a.load - d.n, 0) "
	"FROM unnest($1::int8[], $2::int8[], $3::int4[]) d(tenant_id, id, n) "
	"WHERE a.tenant_id = d.tenant_id AND a.id = d.id",
	3, {INT8ARRAYOID, INT8ARRAYOID, INT4ARRAYOID}
};
static HdPlan place_sessions = {
	"UPDATE helpdesk.session s SET "
	"  state = CASE WHEN d.direct THEN 'active' ELSE 'offered' END, agent_id = d.agent_id, "
	"  assigned_at = CASE WHEN d.direct THEN now() END, "
	"  offer_expires_at = CASE WHEN d.direct THEN NULL "
	"                     ELSE now() + d.timeout_us * interval '1 microsecond' END, "
	"  idle_check_at = CASE WHEN d.direct THEN now() + d.idle_us * interval '1 microsecond' END, "
	"  target_agent_id = NULL, queue_position = NULL, estimated_wait_s = NULL, wait_reason = NULL "
	"FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::bool[], $6::int8[], $7::int8[]) "
	"  d(tenant_id, id, queue_id, agent_id, direct, timeout_us, idle_us) "
	"WHERE s.tenant_id = d.tenant_id AND s.id = d.id AND s.state = 'queued' "
	"  AND s.queue_id = d.queue_id "
	"RETURNING s.tenant_id, s.id",
	7, {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, BOOLARRAYOID, INT8ARRAYOID,
	INT8ARRAYOID}
};
/* history, audit and events of the placed sessions, in one statement */
static HdPlan record_placed = {
	"WITH d AS (SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[], "
	"    $5::int8[], $6::bool[], $7::text[], $8::int4[], $9::float8[], $10::text[], "
	"    $11::int4[], $12::int4[]) "
	"  AS d(tenant_id, id, customer_id, queue_id, agent_id, direct, strategy, candidates, "
	"       score, reason, load, cap)), "
	"h AS (INSERT INTO helpdesk.session_assignment (tenant_id, session_id, customer_id, "
	"        queue_id, agent_id, kind, accepted_at) "
	"      SELECT tenant_id, id, customer_id, queue_id, agent_id, "
	"             CASE WHEN direct THEN 'direct' ELSE 'offer' END, "
	"             CASE WHEN direct THEN clock_timestamp() END FROM d), "
	"au AS (INSERT INTO helpdesk.dispatch_audit (tenant_id, session_id, queue_id, agent_id, "
	"         action, strategy, candidates, score, reason, agent_load, agent_capacity) "
	"       SELECT tenant_id, id, queue_id, agent_id, "
	"              CASE WHEN direct THEN 'assign' ELSE 'offer' END, strategy, candidates, "
	"              score, reason, load, cap FROM d) "
	"INSERT INTO helpdesk.event (tenant_id, audience, audience_id, session_id, type, payload) "
	"SELECT d.tenant_id, x.audience, CASE WHEN x.audience = 'session' THEN d.id ELSE d.agent_id END, "
	"       d.id, x.type, "
	"       jsonb_build_object('from', 'queued', 'to', CASE WHEN d.direct THEN 'active' ELSE 'offered' END, "
	"                          'queue_id', d.queue_id, 'agent_id', d.agent_id) "
	"FROM d, (VALUES ('session', 'session.state'), ('agent', 'session.state')) x(audience, type)",
	12, {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, BOOLARRAYOID,
		TEXTARRAYOID, INT4ARRAYOID, FLOAT8ARRAYOID, TEXTARRAYOID, INT4ARRAYOID,
	INT4ARRAYOID}
};

/* qsort of a batch's row numbers by their sessions' (tenant_id, id) */
static Batch *batch_for_sort;

static int
cmp_batch_rows(const void *x, const void *y)
{
	const Waiting *a = &batch_for_sort->p->waiting[batch_for_sort->idx[*(const int *) x]];
	const Waiting *b = &batch_for_sort->p->waiting[batch_for_sort->idx[*(const int *) y]];

	return cmp_pair(a->tenant_id, a->id, b->tenant_id, b->id);
}

/*
 * Write the placements in b. Capacity first (guarded); sessions whose agent
 * lost the race, or that were closed meanwhile, are skipped and the agent's
 * slot given back. Raises on any failure: the caller runs this in a
 * subtransaction.
 */
static void
write_batch(void *arg)
{
	Batch	   *b = (Batch *) arg;
	Pass	   *p = b->p;
	int			n = b->n,
				i,
				k,
				na = 0,
				nok = 0;
	int64	   *at = palloc(sizeof(int64) * Max(n, 1));
	int64	   *aid = palloc(sizeof(int64) * Max(n, 1));
	int32	   *acount = palloc(sizeof(int32) * Max(n, 1));
	int32	   *aload = palloc0(sizeof(int32) * Max(n, 1));
	int32	   *acap = palloc0(sizeof(int32) * Max(n, 1));
	bool	   *aok = palloc0(sizeof(bool) * Max(n, 1));
	int		   *slot_of = palloc(sizeof(int) * Max(n, 1));
	int		   *slot_of_agent = palloc(sizeof(int) * Max(p->nagents, 1));
	int		   *row_of_session;
	Datum		v[12];

	/*
	 * Distinct agents and how many sessions each gets. Everything here is
	 * linear or n log n: a drain writes thousands of sessions per pass.
	 */
	for (k = 0; k < p->nagents; k++)
		slot_of_agent[k] = -1;
	for (i = 0; i < n; i++)
	{
		Waiting    *w = &p->waiting[b->idx[i]];
		Agent	   *a = &p->agents[w->chosen];

		k = slot_of_agent[w->chosen];
		if (k < 0)
		{
			k = slot_of_agent[w->chosen] = na;
			at[na] = a->tenant_id;
			aid[na] = a->id;
			acount[na++] = 0;
		}
		acount[k]++;
		slot_of[i] = k;
	}
	v[0] = hd_int8_array(at, na);
	v[1] = hd_int8_array(aid, na);
	v[2] = hd_int4_array(acount, na);
	hd_exec(&guard_capacity, v, NULL, false, 0);
	for (i = 0; i < (int) SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		int			ai = find_agent(p, get_int8(t, d, 1, 0), get_int8(t, d, 2, 0));

		if (ai < 0 || (k = slot_of_agent[ai]) < 0)
			continue;
		aok[k] = true;
		aload[k] = (int32) get_int8(t, d, 3, 0);
		acap[k] = (int32) get_int8(t, d, 4, 0);
	}

	/* sessions whose agent got the slots */
	{
		int64	   *st = palloc(sizeof(int64) * Max(n, 1));
		int64	   *sid = palloc(sizeof(int64) * Max(n, 1));
		int64	   *sq = palloc(sizeof(int64) * Max(n, 1));
		int64	   *sa = palloc(sizeof(int64) * Max(n, 1));
		bool	   *sdir = palloc(sizeof(bool) * Max(n, 1));
		int64	   *sto = palloc(sizeof(int64) * Max(n, 1));
		int64	   *sidle = palloc(sizeof(int64) * Max(n, 1));
		bool	   *placed = palloc0(sizeof(bool) * Max(n, 1));
		int32	   *giveback = palloc0(sizeof(int32) * Max(na, 1));
		int			ns = 0;

		for (i = 0; i < n; i++)
		{
			Waiting    *w = &p->waiting[b->idx[i]];
			Queue	   *q = &p->queues[w->q];

			if (!aok[slot_of[i]])
				continue;
			st[ns] = w->tenant_id;
			sid[ns] = w->id;
			sq[ns] = w->queue_id;
			sa[ns] = p->agents[w->chosen].id;
			sdir[ns] = q->direct;
			sto[ns] = q->offer_timeout_us;
			sidle[ns++] = q->idle_warn_us;
		}
		if (ns > 0)
		{
			v[0] = hd_int8_array(st, ns);
			v[1] = hd_int8_array(sid, ns);
			v[2] = hd_int8_array(sq, ns);
			v[3] = hd_int8_array(sa, ns);
			v[4] = hd_bool_array(sdir, ns);
			v[5] = hd_int8_array(sto, ns);
			v[6] = hd_int8_array(sidle, ns);
			hd_exec(&place_sessions, v, NULL, false, 0);
			/* rows of the batch sorted by session key, to find returned rows */
			row_of_session = palloc(sizeof(int) * n);
			for (i = 0; i < n; i++)
				row_of_session[i] = i;
			batch_for_sort = b;
			qsort(row_of_session, n, sizeof(int), cmp_batch_rows);
			for (k = 0; k < (int) SPI_processed; k++)
			{
				int64		tid = get_int8(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1, 0),
							id = get_int8(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 2, 0);
				int			lo = 0,
							hi = n - 1;

				while (lo <= hi)
				{
					int			mid = (lo + hi) / 2;
					Waiting    *w = &p->waiting[b->idx[row_of_session[mid]]];
					int			c = cmp_pair(w->tenant_id, w->id, tid, id);

					if (c == 0)
					{
						placed[row_of_session[mid]] = true;
						break;
					}
					if (c < 0)
						lo = mid + 1;
					else
						hi = mid - 1;
				}
			}
		}
		/* slots taken for sessions that were not placed go back */
		for (i = 0; i < n; i++)
			if (aok[slot_of[i]] && !placed[i])
				giveback[slot_of[i]]++;
		{
			int			ng = 0;
			int64	   *gt = palloc(sizeof(int64) * Max(na, 1));
			int64	   *gid = palloc(sizeof(int64) * Max(na, 1));
			int32	   *gn = palloc(sizeof(int32) * Max(na, 1));

			for (k = 0; k < na; k++)
				if (giveback[k] > 0)
				{
					gt[ng] = at[k];
					gid[ng] = aid[k];
					gn[ng++] = giveback[k];
					aload[k] -= giveback[k];
				}
			if (ng > 0)
			{
				v[0] = hd_int8_array(gt, ng);
				v[1] = hd_int8_array(gid, ng);
				v[2] = hd_int4_array(gn, ng);
				hd_exec(&give_back, v, NULL, false, 0);
			}
		}

		/* history, audit, events */
		{
			int64	   *rt = palloc(sizeof(int64) * Max(n, 1));
			int64	   *rid = palloc(sizeof(int64) * Max(n, 1));
			int64	   *rc = palloc(sizeof(int64) * Max(n, 1));
			int64	   *rq = palloc(sizeof(int64) * Max(n, 1));
			int64	   *ra = palloc(sizeof(int64) * Max(n, 1));
			bool	   *rd = palloc(sizeof(bool) * Max(n, 1));
			char	  **rs = palloc(sizeof(char *) * Max(n, 1));
			int32	   *rn = palloc(sizeof(int32) * Max(n, 1));
			double	   *rsc = palloc(sizeof(double) * Max(n, 1));
			char	  **rr = palloc(sizeof(char *) * Max(n, 1));
			int32	   *rl = palloc(sizeof(int32) * Max(n, 1));
			int32	   *rcap = palloc(sizeof(int32) * Max(n, 1));

			for (i = 0; i < n; i++)
			{
				Waiting    *w = &p->waiting[b->idx[i]];
				Queue	   *q = &p->queues[w->q];

				if (!placed[i])
					continue;
				rt[nok] = w->tenant_id;
				rid[nok] = w->id;
				rc[nok] = w->customer_id;
				rq[nok] = w->queue_id;
				ra[nok] = p->agents[w->chosen].id;
				rd[nok] = q->direct;
				rs[nok] = (char *) (w->target || w->drop_target ? "transfer" : strategy_names[q->strategy]);
				rn[nok] = w->ncand;
				rsc[nok] = w->score;
				rr[nok] = w->reason;
				rl[nok] = aload[slot_of[i]];
				rcap[nok++] = acap[slot_of[i]];
			}
			if (nok > 0)
			{
				v[0] = hd_int8_array(rt, nok);
				v[1] = hd_int8_array(rid, nok);
				v[2] = hd_int8_array(rc, nok);
				v[3] = hd_int8_array(rq, nok);
				v[4] = hd_int8_array(ra, nok);
				v[5] = hd_bool_array(rd, nok);
				v[6] = hd_text_array(rs, nok);
				v[7] = hd_int4_array(rn, nok);
				v[8] = hd_float8_array(rsc, nok);
				v[9] = hd_text_array(rr, nok);
				v[10] = hd_int4_array(rl, nok);
				v[11] = hd_int4_array(rcap, nok);
				hd_exec(&record_placed, v, NULL, false, 0);
				hd_wake_at_commit(HD_WORKER_PUBLISHER);
			}
		}
	}
	b->placed = nok;
}

static HdPlan record_waits = {
	"WITH d AS (SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::text[], "
	"    $5::int4[], $6::bool[]) AS d(tenant_id, id, queue_id, reason, candidates, drop_target)), "
	"u AS (UPDATE helpdesk.session s SET wait_reason = d.reason, "
	"        target_agent_id = CASE WHEN d.drop_target THEN NULL ELSE s.target_agent_id END "
	"      FROM d WHERE s.tenant_id = d.tenant_id AND s.id = d.id AND s.state = 'queued') "
	"INSERT INTO helpdesk.dispatch_audit (tenant_id, session_id, queue_id, action, candidates, reason) "
	"SELECT tenant_id, id, queue_id, 'wait', candidates, reason FROM d",
	6, {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, INT4ARRAYOID, BOOLARRAYOID}
};
static HdPlan save_rr = {
	"UPDATE helpdesk.queue q SET rr_cursor = d.cursor "
	"FROM unnest($1::int8[], $2::int8[], $3::int8[]) d(tenant_id, id, cursor) "
	"WHERE q.tenant_id = d.tenant_id AND q.id = d.id",
	3, {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID}
};

/* Sessions that stay: store the reason when it changed, with an audit row. */
static void
write_waits(void *arg)
{
	Pass	   *p = (Pass *) arg;
	int			i,
				n = 0;
	int64	   *t = palloc(sizeof(int64) * Max(p->nwaiting, 1));
	int64	   *id = palloc(sizeof(int64) * Max(p->nwaiting, 1));
	int64	   *q = palloc(sizeof(int64) * Max(p->nwaiting, 1));
	char	  **r = palloc(sizeof(char *) * Max(p->nwaiting, 1));
	int32	   *c = palloc(sizeof(int32) * Max(p->nwaiting, 1));
	bool	   *dt = palloc(sizeof(bool) * Max(p->nwaiting, 1));

	for (i = 0; i < p->nwaiting; i++)
	{
		Waiting    *w = &p->waiting[i];

		if (w->chosen >= 0 || w->reason == NULL)
			continue;
		if (!w->drop_target && w->old_reason && strcmp(w->old_reason, w->reason) == 0)
			continue;
		t[n] = w->tenant_id;
		id[n] = w->id;
		q[n] = w->queue_id;
		r[n] = w->reason;
		c[n] = w->ncand;
		dt[n++] = w->drop_target;
	}
	if (n > 0)
	{
		Datum		v[6] = {hd_int8_array(t, n), hd_int8_array(id, n), hd_int8_array(q, n),
		hd_text_array(r, n), hd_int4_array(c, n), hd_bool_array(dt, n)};

		hd_exec(&record_waits, v, NULL, false, 0);
	}
	n = 0;
	for (i = 0; i < p->nqueues; i++)
		if (p->queues[i].rr_changed)
		{
			t[n] = p->queues[i].tenant_id;
			id[n] = p->queues[i].id;
			q[n++] = p->queues[i].rr_cursor;
		}
	if (n > 0)
	{
		Datum		v[3] = {hd_int8_array(t, n), hd_int8_array(id, n), hd_int8_array(q, n)};

		hd_exec(&save_rr, v, NULL, false, 0);
	}
}

/*
 * One assignment pass in the caller's transaction. Returns the number of
 * sessions placed; *more is set when the pass may have left work (a queue
 * deeper than what was loaded while slots remain, or a lost capacity race).
 */
TimestampTz hd_dispatch_retry_at = 0;

/* Forget what a failed load_rest left half-filled (its memory is the pass's). */
static void
reset_loaded(Pass *p)
{
	p->agents = NULL;
	p->nagents = 0;
	p->queues = NULL;
	p->nqueues = 0;
	p->waiting = NULL;
	p->nwaiting = 0;
	p->limits = NULL;
	p->nlimits = 0;
}

/* Does load_rest work for this one tenant? *err gets the message if not. */
static bool
probe_tenant(Pass *p, const HdTenantTimes *t, char **err)
{
	Pass		one;

	memset(&one, 0, sizeof(one));
	one.now = p->now;
	one.tt = (HdTenantTimes *) t;
	one.ntenants = 1;
	return hd_run_in_subxact(load_rest, &one, err);
}

/*
 * Load the pass, so that a tenant whose data makes a loading statement fail
 * (in a way no check in C foresaw) is marked and left out instead of
 * stopping every tenant. Tenants marked so are tried alone first, each pass
 * (cleared when that works); the others are loaded together in one
 * subtransaction, and only when that fails is each tried alone to find the
 * culprit. The normal pass costs one subtransaction.
 */
static void
load_isolated(Pass *p)
{
	char	   *err = NULL;
	int			i,
				kept = 0;

	for (i = 0; i < p->ntenants; i++)
	{
		HdTenantTimes *t = &p->tt[i];

		if (hd_mark_is(t->mark, "assignment:"))
		{
			if (!probe_tenant(p, t, &err))
			{
				char	   *mark = psprintf("assignment: %s", hd_clip(err, 400));

				if (strcmp(mark, t->mark) != 0)
					hd_defer_mark(&p->marks, HD_MARK_TENANT, t->tenant_id, t->tenant_id, mark);
				continue;
			}
			hd_defer_mark(&p->marks, HD_MARK_TENANT, t->tenant_id, t->tenant_id, NULL);
		}
		p->tt[kept++] = *t;
	}
	p->ntenants = kept;
	if (hd_run_in_subxact(load_rest, p, &err))
		return;
	reset_loaded(p);
	ereport(LOG,
			(errmsg("pg_helpdesk dispatcher: loading the assignment pass failed (%s); trying tenant by tenant",
					hd_clip(err, 400))));
	kept = 0;
	for (i = 0; i < p->ntenants; i++)
	{
		HdTenantTimes *t = &p->tt[i];

		if (!probe_tenant(p, t, &err))
		{
			hd_defer_mark(&p->marks, HD_MARK_TENANT, t->tenant_id, t->tenant_id,
						  psprintf("assignment: %s", hd_clip(err, 400)));
			continue;
		}
		p->tt[kept++] = *t;
	}
	p->ntenants = kept;
	if (!hd_run_in_subxact(load_rest, p, &err))
		elog(ERROR, "loading the assignment pass failed twice: %s", err);
}

/*
 * One assignment pass in the caller's transaction. Returns the number of
 * sessions placed; *more is set when the pass may have left work (a queue
 * deeper than what was loaded while slots remain, or a lost capacity race).
 */
int
hd_dispatch_assign(bool *more)
{
	Pass		p;
	Batch		b;
	int			i;
	char	   *err = NULL;

	memset(&p, 0, sizeof(p));
	*more = false;
	p.now = GetCurrentTimestamp();
	hd_dispatch_retry_at = 0;
	load_tenants(&p);
	if (p.ntenants == 0)
	{
		hd_write_marks(p.marks);
		return 0;
	}
	hd_skills_begin_pass(agents_last_pass);
	load_isolated(&p);
	agents_last_pass = p.nagents;

	b.p = &p;
	b.idx = palloc(sizeof(int) * Max(p.nwaiting, 1));
	b.n = 0;
	b.placed = 0;
	for (i = 0; i < p.nwaiting; i++)
	{
		Waiting    *w = &p.waiting[i];

		if (w->q < 0)
			continue;			/* its queue became manual meanwhile */
		match_one(&p, w);
		if (w->chosen >= 0)
		{
			take_slot(&p, w);
			b.idx[b.n++] = i;
		}
	}

	if (b.n > 0 && !hd_run_in_subxact(write_batch, &b, &err))
	{
		/* some row is bad: place the sessions one by one and mark the failing ones */
		int			placed = 0;

		ereport(LOG,
				(errmsg("pg_helpdesk dispatcher: batch of %d placements failed (%s); retrying one by one",
						b.n, err)));
		for (i = 0; i < b.n; i++)
		{
			Batch		one;
			int			idx = b.idx[i];

			one.p = &p;
			one.idx = &idx;
			one.n = 1;
			one.placed = 0;
			if (hd_run_in_subxact(write_batch, &one, &err))
				placed += one.placed;
			else
				hd_mark_session_error(p.waiting[idx].tenant_id, p.waiting[idx].id,
									  "assignment", err);
		}
		b.placed = placed;
		*more = true;
	}
	else if (b.placed < b.n)
		*more = true;			/* lost a race: look again with fresh data */
	else if (b.placed > 0)
	{
		/* a queue may be deeper than what we loaded */
		for (i = 0; i < p.nqueues; i++)
			if (p.queues[i].nloaded >= p.queues[i].depth)
				*more = true;
	}
	if (!hd_run_in_subxact(write_waits, &p, &err))
		ereport(LOG, (errmsg("pg_helpdesk dispatcher: could not record wait reasons: %s", err)));
	hd_write_marks(p.marks);
	hd_dispatch_retry_at = p.retry_at;
	return b.placed;
}
