/*
 * dispatch_load.c — what an assignment pass reads, and how one tenant's
 * data is kept from failing it for the others.
 *
 *   1. The tenants with waiting sessions, with their settings checked in C
 *      (dispatch_util.c): one whose values no arithmetic can use is marked
 *      and left out.
 *   2. Every enabled online agent with fresh presence (per-tenant cut-offs
 *      computed in C) whose role is not qa (a qa agent reads only), from
 *      the dispatcher's view of agents kept across passes, which reads only
 *      the agents that changed (dispatch_agents.c); skills and languages
 *      are bitmaps over a dictionary of names (dispatch_skills.c); an agent
 *      with an unusable skill level or capacity is marked and left out.
 *   3. The dispatched queues (settings checked, bad ones marked), and per
 *      queue the first waiting sessions in rank order (enough to use every
 *      free slot, plus some to report why the rest wait).
 *   4. Per-queue limits and, for sticky queues, who served each customer.
 *
 * Steps 2 to 4 run in one subtransaction; if it fails, tenant by tenant
 * (load_isolated).
 */
#include "dispatch_pass.h"

#include "access/xact.h"
#include "nodes/bitmapset.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

static HdPlan waiting_tenants = {
	"SELECT " HD_TENANT_COLS " FROM helpdesk.tenant t "
	"WHERE EXISTS (SELECT 1 FROM helpdesk.queue q WHERE q.tenant_id = t.id "
	"  AND q.strategy <> 'manual' AND EXISTS (SELECT 1 FROM helpdesk.session s "
	"    WHERE s.tenant_id = q.tenant_id AND s.queue_id = q.id AND s.state = 'queued' "
	"      AND s.dispatch_error IS NULL)) "
	"  AND " HD_PLACED("t.id") " "
	"ORDER BY t.id",
	0, {}
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

	/* agents: the dispatcher's view, updated with what changed (dispatch_agents.c) */
	hd_agents_load(p, tenants, fresh, ntenants, free_slots);

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
		q->req_bits = palloc(sizeof(int) * Max(bms_num_members(q->req_skills), 1));
		q->nreq_bits = 0;
		{
			int			bit = -1;

			while ((bit = bms_next_member(q->req_skills, bit)) >= 0)
				q->req_bits[q->nreq_bits++] = bit;
		}
		q->req_text = psprintf("skills %s and languages %s", hd_clip_message(pstrdup(skills), 200),
							   hd_clip_message(pstrdup(langs), 200));
		q->cands = NULL;
		q->cand_weight = NULL;
		q->cand_idle_s = NULL;
		q->ncands = 0;
		p->nqueues++;
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

	/*
	 * Per queue with waiting sessions (no other needs them), its tenant's
	 * agents with the skills and a language (both arrays are sorted by
	 * tenant: each queue looks at its tenant's range only).
	 */
	for (i = 0; i < p->nqueues; i++)
	{
		Queue	   *q = &p->queues[i];
		int			lo = 0,
					hi = p->nagents;

		if (q->nloaded == 0)
			continue;
		q->cands = palloc(sizeof(int) * Max(p->nagents, 1));

		q->req_wide = !hd_bms_word(q->req_skills, &q->req_skill_word) |
			!hd_bms_word(q->req_langs, &q->req_lang_word);
		while (lo < hi)
		{
			int			mid = (lo + hi) / 2;

			if (p->agents[mid].tenant_id < q->tenant_id)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (j = lo; j < p->nagents && p->agents[j].tenant_id == q->tenant_id; j++)
		{
			const Agent *a = &p->agents[j];

			if (!q->req_wide && !a->wide)
			{
				if ((q->req_skill_word & ~a->skill_word) != 0)
					continue;
				if (q->req_lang_word != 0 && (q->req_lang_word & a->lang_word) == 0)
					continue;
			}
			else
			{
				if (!bms_is_subset(q->req_skills, a->sk->skills))
					continue;
				if (!bms_is_empty(q->req_langs) && !bms_overlap(q->req_langs, a->sk->langs))
					continue;
			}
			q->cands[q->ncands++] = j;
		}
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
				char	   *mark = psprintf("assignment: %s", hd_clip_message(pstrdup(err), 400));

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
					hd_clip_message(pstrdup(err), 400))));
	kept = 0;
	for (i = 0; i < p->ntenants; i++)
	{
		HdTenantTimes *t = &p->tt[i];

		if (!probe_tenant(p, t, &err))
		{
			hd_defer_mark(&p->marks, HD_MARK_TENANT, t->tenant_id, t->tenant_id,
						  psprintf("assignment: %s", hd_clip_message(pstrdup(err), 400)));
			continue;
		}
		p->tt[kept++] = *t;
	}
	p->ntenants = kept;
	if (!hd_run_in_subxact(load_rest, p, &err))
		elog(ERROR, "loading the assignment pass failed twice: %s", err);
}

/*
 * Fill p: the tenants with waiting sessions (p->ntenants is 0 when there
 * is nothing to do), then everything else, isolated per tenant.
 */
void
hd_load_pass(Pass *p)
{
	load_tenants(p);
	if (p->ntenants == 0)
		return;
	if (hd_skills_begin_pass(agents_last_pass))
		hd_agents_reset();		/* its skill pointers were the cache's */
	load_isolated(p);
	agents_last_pass = hd_agents_cached();
}
