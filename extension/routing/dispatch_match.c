/*
 * dispatch_match.c — one assignment pass of the dispatcher.
 *
 *   1-2. Load the tenants with waiting sessions, their eligible agents, their
 *      dispatched queues and per queue the first waiting sessions in rank
 *      order (dispatch_load.c, isolated per tenant).
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
#include "dispatch_pass.h"

#include "access/xact.h"
#include "nodes/bitmapset.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

static const char *const strategy_names[] = {"least_loaded", "longest_idle", "round_robin", "sticky"};

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

/*
 * Sum of the agent's levels in the queue's required skills. Over the bits
 * listed once per pass: walking the bitmapset for every candidate of every
 * session was a fifth of a pass with 10,000 agents online.
 */
static int
skill_weight(Agent *a, Queue *q)
{
	int			i,
				sum = 0;

	for (i = 0; i < q->nreq_bits; i++)
		if (q->req_bits[i] < a->nlevels)
			sum += a->levels[q->req_bits[i]];
	return sum;
}

/*
 * The parts of a candidate's score that a pass does not change (its skill
 * weight in the queue, its idle time), once per queue and pass: computing
 * them for every candidate of every session made matching a drain with
 * 10,000 agents online O(sessions x candidates) pointer chases.
 */
static void
score_parts(Pass *p, Queue *q)
{
	int			i;

	q->cand_weight = palloc(sizeof(int) * Max(q->ncands, 1));
	q->cand_idle_s = palloc(sizeof(double) * Max(q->ncands, 1));
	for (i = 0; i < q->ncands; i++)
	{
		Agent	   *a = &p->agents[q->cands[i]];

		q->cand_weight[i] = skill_weight(a, q);
		q->cand_idle_s[i] = a->last_activity == PG_INT64_MIN ? 1e9
			: (double) (p->now - a->last_activity) / USECS_PER_SEC;
	}
}

/*
 * Lower is better. least_loaded: occupancy, then higher skill levels, then
 * longer idle. longest_idle: idle time first. Round robin and sticky pick
 * outside of this score. i is a's place in q->cands (score_parts).
 */
static double
score_of(Agent *a, Queue *q, int i, Strategy st)
{
	double		occupancy = a->cap > 0 ? (double) a->load / a->cap : 1.0;
	double		idle_s = q->cand_idle_s[i];
	double		weight = q->cand_weight[i];

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
			if (q->cand_weight == NULL)
				score_parts(p, q);
			s = score_of(a, q, i, q->strategy == ST_LONGEST_IDLE ? ST_LONGEST_IDLE : ST_LEAST_LOADED);
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
	/*
	 * The reasons name no counts (the audit row's candidates column has
	 * them: the capable agents, or those with a free slot): a reason is rewritten, with an audit row, only when it changes,
	 * and a count in it changed whenever an agent came, went or freed a
	 * slot. Under the routing stress test that rewrote every waiting
	 * session's row pass after pass: 6,646 'wait' audit rows in 20 s, more
	 * than every other decision together.
	 */
	if (q->ncands == 0)
		w->reason = psprintf("no online agent with %s", q->req_text);
	else if (free_capable == 0)
	{
		w->reason = pstrdup("all capable agents at capacity");
		w->ncand = q->ncands;
	}
	else
	{
		w->reason = pstrdup("every capable agent with a free slot declined or missed it; offered to them again once it has waited offer_timeout since");
		w->ncand = free_capable;
	}
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

/*
 * The state and status tests below are written COLLATE "C" (the same
 * equality) so that the planner cannot prove a partial index's predicate
 * from them: these statements look rows up by key, and a generic plan made
 * while a partial index was nearly empty (agent_free while every agent was
 * offline, session_waiting while nobody waited) scanned the whole index for
 * every key once it had filled. A drain with 10,000 agents coming online at
 * once spent 13 s in one capacity UPDATE that way (auto_explain).
 */
static HdPlan guard_capacity = {
	"WITH d AS (SELECT * FROM unnest($1::int8[], $2::int8[], $3::int4[]) d(tenant_id, id, n)), "
	"l AS (SELECT a.tenant_id, a.id FROM helpdesk.agent a JOIN d USING (tenant_id, id) "
	"      ORDER BY a.tenant_id, a.id FOR NO KEY UPDATE OF a) "
	"UPDATE helpdesk.agent a SET load = a.load + d.n, last_activity_at = now() "
	"FROM d, l WHERE a.tenant_id = d.tenant_id AND a.id = d.id "
	"  AND l.tenant_id = a.tenant_id AND l.id = a.id AND a.load + d.n <= a.max_sessions "
	"  AND a.status COLLATE \"C\" = 'online' AND a.enabled AND a.role <> 'qa' "
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
	"WHERE s.tenant_id = d.tenant_id AND s.id = d.id AND s.state COLLATE \"C\" = 'queued' "
	"  AND s.queue_id = d.queue_id "
	"RETURNING s.tenant_id, s.id",
	7, {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, BOOLARRAYOID, INT8ARRAYOID,
	INT8ARRAYOID}
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
	Datum		v[7];

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
	/* what the view believed of a refused agent is out of date: read it again */
	for (k = 0; k < na; k++)
		if (!aok[k])
			hd_agents_recheck(at[k], aid[k]);

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
			HdPlaced   *r = palloc(sizeof(HdPlaced) * Max(n, 1));

			for (i = 0; i < n; i++)
			{
				Waiting    *w = &p->waiting[b->idx[i]];
				Queue	   *q = &p->queues[w->q];

				if (!placed[i])
					continue;
				r[nok].tenant_id = w->tenant_id;
				r[nok].session_id = w->id;
				r[nok].customer_id = w->customer_id;
				r[nok].queue_id = w->queue_id;
				r[nok].agent_id = p->agents[w->chosen].id;
				r[nok].direct = q->direct;
				r[nok].strategy = w->target || w->drop_target ? "transfer" : strategy_names[q->strategy];
				r[nok].candidates = w->ncand;
				r[nok].score = w->score;
				r[nok].reason = w->reason;
				r[nok].load = aload[slot_of[i]];
				r[nok++].cap = acap[slot_of[i]];
			}
			hd_record_placed(r, nok);
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

TimestampTz hd_dispatch_retry_at = 0;

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
	hd_load_pass(&p);
	if (p.ntenants == 0)
	{
		hd_write_marks(p.marks);
		return 0;
	}

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
