/*
 * dispatch_agents.c — the dispatcher's view of agents, kept across passes.
 *
 * A pass used to reload every online agent of every tenant with waiting
 * sessions, so one new session cost O(agents) however little had changed
 * (issue 21: 10,000 agents online made each pass ten times dearer). Now the
 * eligible agents (online, enabled, not qa) of each tenant live here between
 * passes, and a pass reads only what changed:
 *
 *   - The trigger agent_routing_changed (00_schema.sql) names every agent
 *     whose routing columns change to hd_note_agent_change (core/wake.c),
 *     which hands it to the dispatcher through a ring in shared memory at
 *     COMMIT. Those agents are re-read by key. Heartbeats, which only move
 *     last_seen_at, do not fire it.
 *   - Presence is time: an agent whose cached last_seen_at looks too old is
 *     re-read (at most once a second) before it is left out, so its
 *     heartbeats are seen when they matter and cost nothing otherwise.
 *   - Each tenant's agents are read in full when first needed, after
 *     helpdesk.dispatch_verify_interval, when the ring overflowed, and after
 *     a load that failed half way, so even a change the trigger cannot see
 *     lasts at most that long.
 *
 * None of this can over-assign or assign a wrong agent: the guarded UPDATE
 * in dispatch_match.c checks load, capacity, status, enabled and role on the
 * locked row, and an agent it refuses is re-read (hd_agents_recheck).
 *
 * The ring read happens right before the statements that re-read the
 * agents, each of which takes a new snapshot (READ COMMITTED), so an entry
 * pushed after a COMMIT is never applied to a row read before it.
 */
#include "dispatch_pass.h"

#include "commands/trigger.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "shmem.h"

#define STALE_RECHECK_US 1000000	/* re-read a stale-looking agent at most once a second */
#define EVICT_AFTER_US (60 * (int64) 1000000)	/* tenants not routed for a minute */
#define RING_BATCH 4096

typedef struct CachedAgent
{
	int64		id;
	int			load;
	int			cap;
	TimestampTz last_activity;
	TimestampTz status_changed;
	TimestampTz last_seen;
	TimestampTz stale_checked;
	const HdAgentSkills *sk;
	/* sk's words, copied: a pass reads them for every agent (no pointer chase) */
	uint64		skill_word;
	uint64		lang_word;
	bool		wide;
	const int  *levels;
	int			nlevels;
} CachedAgent;

typedef struct TenantView
{
	int64		tenant_id;		/* hash key */
	TimestampTz verified_at;	/* last full read; 0: read in full next time */
	TimestampTz used_at;
	bool		busy;			/* set while a load runs: still set = it failed */
	int			n;
	int			size;
	CachedAgent *a;				/* sorted by id */
	int			ndirty;
	int			dirty_size;
	int64	   *dirty;			/* agent ids to re-read */
	int			gone_base;		/* reread(): where its flags start */
	int			sorted_n;		/* reread(): entries before it appended any */
	bool		lost;			/* reread(): an entry of it is gone */
	TimestampTz min_seen;		/* the oldest last_seen_at in a: 0 unknown */
} TenantView;

static MemoryContext view_cxt = NULL;
static Agent *pass_agents_buf = NULL;	/* pass_agents(), in view_cxt */
static int	pass_agents_size = 0;
static HTAB *views = NULL;
static uint64 ring_tail = 0;
static bool ring_attached = false;

static HdPlan read_tenants = {
	"SELECT a.tenant_id, a.id, a.load, a.max_sessions, a.last_activity_at, a.skills, "
	"       a.languages, a.dispatch_error, a.status_changed_at, a.last_seen_at, true "
	"FROM helpdesk.agent a "
	"WHERE a.tenant_id = ANY ($1) AND a.status = 'online' AND a.enabled "
	"  AND a.role <> 'qa'",		/* security's column: a qa agent reads only */
	1, {INT8ARRAYOID}
};
static HdPlan read_agents = {
	"SELECT a.tenant_id, a.id, a.load, a.max_sessions, a.last_activity_at, a.skills, "
	"       a.languages, a.dispatch_error, a.status_changed_at, a.last_seen_at, "
	"       a.status = 'online' AND a.enabled AND a.role <> 'qa' "
	"FROM unnest($1::int8[], $2::int8[]) k(tenant_id, id) "
	"JOIN helpdesk.agent a ON a.tenant_id = k.tenant_id AND a.id = k.id",
	2, {INT8ARRAYOID, INT8ARRAYOID}
};

/* Forget everything: every tenant is read in full when next routed. */
void
hd_agents_reset(void)
{
	if (view_cxt != NULL)
		MemoryContextReset(view_cxt);
	views = NULL;
	pass_agents_buf = NULL;
	pass_agents_size = 0;
}

static void
ensure_views(void)
{
	HASHCTL		ctl;

	if (views != NULL)
		return;
	if (view_cxt == NULL)
		view_cxt = AllocSetContextCreate(TopMemoryContext, "pg_helpdesk agent view",
										 ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(TenantView);
	ctl.hcxt = view_cxt;
	views = hash_create("pg_helpdesk agent view", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static void
add_dirty(TenantView *v, int64 agent_id)
{
	if (v->ndirty > v->n + 1024)
	{
		/* cheaper to read the tenant in full than to keep the list */
		v->verified_at = 0;
		v->ndirty = 0;
		return;
	}
	if (v->ndirty == v->dirty_size)
	{
		int			size = Max(16, v->dirty_size * 2);

		v->dirty = v->dirty
			? repalloc(v->dirty, sizeof(int64) * size)
			: MemoryContextAlloc(view_cxt, sizeof(int64) * size);
		v->dirty_size = size;
	}
	v->dirty[v->ndirty++] = agent_id;
}

/* An agent to read again next pass (the guarded UPDATE refused it). */
void
hd_agents_recheck(int64 tenant_id, int64 agent_id)
{
	TenantView *v;

	if (views == NULL)
		return;
	v = hash_search(views, &tenant_id, HASH_FIND, NULL);
	if (v != NULL)
		add_dirty(v, agent_id);
}

/*
 * Move the ring's new entries into the tenants' dirty lists. Entries for
 * tenants we do not hold are dropped (they are read in full when routed).
 */
static void
drain_ring(void)
{
	/* static: a pass with nothing in the ring allocates nothing */
	static int64 t[RING_BATCH],
				a[RING_BATCH];
	HdDbSlot   *slot = hd_find_db_slot(MyDatabaseId);
	int			n,
				i;

	if (slot == NULL)
	{
		hd_agents_reset();
		return;
	}
	if (!ring_attached)
	{
		/* everything before now is covered by the full reads to come */
		SpinLockAcquire(&slot->agent_changes.mutex);
		ring_tail = slot->agent_changes.head;
		SpinLockRelease(&slot->agent_changes.mutex);
		ring_attached = true;
		hd_agents_reset();
		return;
	}
	do
	{
		n = hd_agent_ring_read(slot, &ring_tail, t, a, RING_BATCH);
		if (n < 0)
		{
			ereport(DEBUG1, (errmsg("pg_helpdesk dispatcher: agent changes overflowed; reading all agents")));
			hd_agents_reset();
			break;
		}
		if (views == NULL)
			continue;
		for (i = 0; i < n; i++)
		{
			TenantView *v;

			if (t[i] == 0)
			{
				hd_agents_reset();
				ensure_views();
				continue;
			}
			v = hash_search(views, &t[i], HASH_FIND, NULL);
			if (v == NULL)
				continue;
			if (a[i] == 0)
				v->verified_at = 0;
			else
				add_dirty(v, a[i]);
		}
	} while (n == RING_BATCH);
}

static int
cmp_cached(const void *x, const void *y)
{
	int64		a = ((const CachedAgent *) x)->id;
	int64		b = ((const CachedAgent *) y)->id;

	return a < b ? -1 : a > b ? 1 : 0;
}

/* binary search over the first n (sorted) entries */
static int
find_cached(TenantView *v, int n, int64 id)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (v->a[mid].id == id)
			return mid;
		if (v->a[mid].id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/*
 * Apply the rows of read_tenants or read_agents (same columns): usable
 * eligible agents go into their tenant's view, the others out. An agent
 * with settings no arithmetic can use is marked (as the full load always
 * did) and left out; one usable again loses its 'settings:' mark.
 */
static void
apply_rows(Pass *p, bool sorted_later, bool *gone_flags)
{
	int			i;
	uint64		n = SPI_processed;
	HdDbSlot   *slot = hd_find_db_slot(MyDatabaseId);

	if (slot != NULL)
		pg_atomic_fetch_add_u64(&slot->workers[HD_WORKER_DISPATCHER].rows_read, n);
	for (i = 0; i < (int) n; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		tenant_id = get_int8(t, d, 1, 0);
		TenantView *v = hash_search(views, &tenant_id, HASH_FIND, NULL);
		CachedAgent c;
		char	   *mark;
		const char *bad = NULL;
		bool		eligible = DatumGetBool(SPI_getbinval(t, d, 11, &isnull)) && !isnull;

		if (v == NULL)
			continue;
		memset(&c, 0, sizeof(c));
		c.id = get_int8(t, d, 2, 0);
		if (!eligible)
			continue;			/* a full read has none; a re-read leaves it gone */
		mark = SPI_getvalue(t, d, 8);
		c.load = DatumGetInt32(SPI_getbinval(t, d, 3, &isnull));
		c.cap = DatumGetInt32(SPI_getbinval(t, d, 4, &isnull));
		c.last_activity = get_ts(t, d, 5, PG_INT64_MIN);
		c.status_changed = get_ts(t, d, 9, 0);
		c.last_seen = get_ts(t, d, 10, PG_INT64_MIN);
		c.sk = hd_agent_skills(tenant_id, c.id, SPI_getbinval(t, d, 6, &isnull),
							   SPI_getbinval(t, d, 7, &isnull));
		c.skill_word = c.sk->skill_word;
		c.lang_word = c.sk->lang_word;
		c.wide = c.sk->wide;
		c.levels = c.sk->levels;
		c.nlevels = c.sk->nlevels;
		if (c.sk->error)
			bad = c.sk->error;
		else if (c.load < 0 || c.load > 1000000 || c.cap < 0 || c.cap > 1000000)
			bad = "settings: load or max_sessions is out of range";
		if (bad)
		{
			if (mark == NULL || strcmp(mark, bad) != 0)
				hd_defer_mark(&p->marks, HD_MARK_AGENT, tenant_id, c.id, bad);
			continue;			/* left out (gone, on a re-read) */
		}
		if (hd_mark_is(mark, "settings:"))
			hd_defer_mark(&p->marks, HD_MARK_AGENT, tenant_id, c.id, NULL);
		if (!sorted_later)
		{
			int			k = find_cached(v, v->sorted_n, c.id);

			if (k >= 0)
			{
				v->a[k] = c;	/* in place: its "gone" flag is cleared below */
				gone_flags[k + v->gone_base] = false;
				continue;
			}
		}
		/* new to the view: appended, the array sorted once at the end */
		{
			if (v->n == v->size)
			{
				int			size = Max(16, v->size * 2);

				v->a = v->a
					? repalloc(v->a, sizeof(CachedAgent) * size)
					: MemoryContextAlloc(view_cxt, sizeof(CachedAgent) * size);
				v->size = size;
			}
			v->a[v->n++] = c;
		}
	}
}

/* tenants not routed for a while leave the view (bounded memory) */
static void
evict_unused(TimestampTz now)
{
	HASH_SEQ_STATUS seq;
	TenantView *v;
	int64	   *gone = NULL;
	int			ngone = 0,
				size = 0,
				i;

	hash_seq_init(&seq, views);
	while ((v = hash_seq_search(&seq)) != NULL)
		if (now - v->used_at > EVICT_AFTER_US)
		{
			if (ngone == size)
			{
				size = Max(16, size * 2);
				gone = gone ? repalloc(gone, sizeof(int64) * size) : palloc(sizeof(int64) * size);
			}
			gone[ngone++] = v->tenant_id;
		}
	for (i = 0; i < ngone; i++)
	{
		v = hash_search(views, &gone[i], HASH_FIND, NULL);
		if (v->a)
			pfree(v->a);
		if (v->dirty)
			pfree(v->dirty);
		hash_search(views, &gone[i], HASH_REMOVE, NULL);
	}
}

/*
 * Read the listed agents again: those still eligible are replaced or added,
 * the others (gone offline, disabled, deleted, marked) leave the view. Each
 * tenant's array is compacted and sorted once, so a burst of changes costs
 * O(n log n), not a shift per agent.
 */
static void
reread(Pass *p, const int64 *re_t, const int64 *re_a, int nre)
{
	HASH_SEQ_STATUS seq;
	TenantView *v;
	Datum		d[2];
	int			total = 0,
				i;
	bool	   *gone;
	int		   *old_n;
	int			nviews = 0,
				k;
	TenantView **vs;

	/* every view's entries get a slot in one flag array */
	hash_seq_init(&seq, views);
	while ((v = hash_seq_search(&seq)) != NULL)
	{
		v->gone_base = total;
		total += v->n;
		nviews++;
	}
	gone = palloc0(sizeof(bool) * Max(total, 1));
	for (i = 0; i < nre; i++)
	{
		v = hash_search(views, &re_t[i], HASH_FIND, NULL);
		if (v != NULL && (k = find_cached(v, v->n, re_a[i])) >= 0)
			gone[v->gone_base + k] = true;
	}
	vs = palloc(sizeof(TenantView *) * Max(nviews, 1));
	old_n = palloc(sizeof(int) * Max(nviews, 1));
	nviews = 0;
	hash_seq_init(&seq, views);
	while ((v = hash_seq_search(&seq)) != NULL)
	{
		vs[nviews] = v;
		v->sorted_n = v->n;
		old_n[nviews++] = v->n;
	}

	d[0] = hd_int8_array((int64 *) re_t, nre);
	d[1] = hd_int8_array((int64 *) re_a, nre);
	hd_exec(&read_agents, d, NULL, false, 0);
	apply_rows(p, false, gone);

	/*
	 * Which views lost an entry: only those, and those that gained one, are
	 * rewritten below. Each pass re-reads the agents it placed with (their
	 * load changed), and rewriting every view then made a pass O(agents).
	 */
	for (i = 0; i < nviews; i++)
		vs[i]->lost = false;
	for (i = 0; i < nre; i++)
	{
		v = hash_search(views, &re_t[i], HASH_FIND, NULL);
		if (v != NULL && (k = find_cached(v, v->sorted_n, re_a[i])) >= 0 &&
			gone[v->gone_base + k])
			v->lost = true;
	}

	for (i = 0; i < nviews; i++)
	{
		int			keep = 0,
					j;
		bool		added;

		v = vs[i];
		added = v->n > old_n[i];
		if (!added && !v->lost)
			continue;
		for (j = 0; j < v->n; j++)
			if (j >= old_n[i] || !gone[v->gone_base + j])
				v->a[keep++] = v->a[j];
		v->n = keep;
		if (added)
			qsort(v->a, v->n, sizeof(CachedAgent), cmp_cached);
		/* a repeated id in the list may have been added twice */
		for (j = 1, keep = v->n > 0 ? 1 : 0; j < v->n; j++)
			if (v->a[j].id != v->a[keep - 1].id)
				v->a[keep++] = v->a[j];
			else
				v->a[keep - 1] = v->a[j];
		v->n = keep;
	}
}

/*
 * The array a pass's agents are copied into, kept from pass to pass: a
 * fresh one every pass (800 kB with 10,000 agents online) cost its page
 * faults and zeroing, more than all the rest of the copy. Every field is
 * written by hd_agents_load; nothing points into it after the pass.
 */
static Agent *
pass_agents(int n)
{
	if (n > pass_agents_size || pass_agents_buf == NULL)
	{
		pass_agents_size = Max(Max(n, 64), pass_agents_size * 2);
		if (pass_agents_buf)
			pfree(pass_agents_buf);
		pass_agents_buf = MemoryContextAllocHuge(view_cxt, sizeof(Agent) * (Size) pass_agents_size);
	}
	return pass_agents_buf;
}

/*
 * Fill p->agents with the present, usable, eligible agents of the tenants
 * (sorted by tenant, then id; fresh[i] is tenant i's presence cut-off) and
 * add each tenant's free slots to free_slots[i]. Reads from the database
 * only what changed since the last pass (see the top of the file).
 */
void
hd_agents_load(Pass *p, const int64 *tenants, const TimestampTz *fresh, int ntenants,
			   int64 *free_slots)
{
	TimestampTz now = GetCurrentTimestamp();
	int64	   *full = palloc(sizeof(int64) * Max(ntenants, 1));
	int			nfull = 0,
				nre = 0,
				re_size = 64,
				i,
				j,
				total = 0;
	int64	   *re_t = palloc(sizeof(int64) * re_size);
	int64	   *re_a = palloc(sizeof(int64) * re_size);
	TenantView **tv = palloc(sizeof(TenantView *) * Max(ntenants, 1));
	bool	   *is_full = palloc0(sizeof(bool) * Max(ntenants, 1));

	ensure_views();
	drain_ring();
	ensure_views();
	evict_unused(now);

	for (i = 0; i < ntenants; i++)
	{
		bool		found;
		TenantView *v = hash_search(views, &tenants[i], HASH_ENTER, &found);

		if (!found)
		{
			memset(((char *) v) + sizeof(int64), 0, sizeof(TenantView) - sizeof(int64));
			v->tenant_id = tenants[i];
		}
		if (v->busy)
			v->verified_at = 0; /* the last load for it failed half way */
		v->busy = true;
		v->used_at = now;
		tv[i] = v;
		if (v->verified_at == 0 ||
			now - v->verified_at >= (int64) hd_dispatch_verify_interval_ms * 1000)
		{
			full[nfull++] = v->tenant_id;
			is_full[i] = true;
			v->n = 0;
			v->ndirty = 0;
			continue;
		}
		/*
		 * changed agents, and those whose presence looks out of date (none
		 * when even the oldest cached heartbeat is recent enough)
		 */
		for (j = 0; j < (v->min_seen > fresh[i] ? v->ndirty : v->n + v->ndirty); j++)
		{
			int64		id;

			if (j < v->ndirty)
				id = v->dirty[j];
			else
			{
				CachedAgent *c = &v->a[j - v->ndirty];

				if (c->last_seen > fresh[i] || now - c->stale_checked < STALE_RECHECK_US)
					continue;
				c->stale_checked = now;
				id = c->id;
			}
			if (nre == re_size)
			{
				re_size *= 2;
				re_t = repalloc(re_t, sizeof(int64) * re_size);
				re_a = repalloc(re_a, sizeof(int64) * re_size);
			}
			re_t[nre] = v->tenant_id;
			re_a[nre++] = id;
		}
		v->ndirty = 0;
	}

	if (nfull > 0)
	{
		Datum		v[1];

		v[0] = hd_int8_array(full, nfull);
		hd_exec(&read_tenants, v, NULL, false, 0);
		apply_rows(p, true, NULL);
		for (i = 0; i < ntenants; i++)
			if (is_full[i])
			{
				qsort(tv[i]->a, tv[i]->n, sizeof(CachedAgent), cmp_cached);
				tv[i]->verified_at = now;
			}
	}
	if (nre > 0)
		reread(p, re_t, re_a, nre);

	/* the pass's agents: present ones, tenant by tenant (tenants are sorted) */
	for (i = 0; i < ntenants; i++)
		total += tv[i]->n;
	p->agents = pass_agents(total);
	p->nagents = 0;
	for (i = 0; i < ntenants; i++)
	{
		TenantView *v = tv[i];

		v->min_seen = PG_INT64_MAX;
		for (j = 0; j < v->n; j++)
		{
			CachedAgent *c = &v->a[j];
			Agent	   *a;

			if (c->last_seen < v->min_seen)
				v->min_seen = c->last_seen;
			if (c->last_seen <= fresh[i])
				continue;
			a = &p->agents[p->nagents++];
			a->tenant_id = v->tenant_id;
			a->id = c->id;
			a->load = c->load;
			a->cap = c->cap;
			a->planned = 0;
			a->last_activity = c->last_activity;
			a->status_changed = c->status_changed;
			a->sk = c->sk;
			a->skill_word = c->skill_word;
			a->lang_word = c->lang_word;
			a->wide = c->wide;
			a->levels = c->levels;
			a->nlevels = c->nlevels;
			if (a->load < a->cap)
				free_slots[i] += a->cap - a->load;
		}
		v->busy = false;
	}
}

/* how many agents the view holds (bounds the skills cache) */
int
hd_agents_cached(void)
{
	HASH_SEQ_STATUS seq;
	TenantView *v;
	int			n = 0;

	if (views == NULL)
		return 0;
	hash_seq_init(&seq, views);
	while ((v = hash_seq_search(&seq)) != NULL)
		n += v->n;
	return n;
}

PG_FUNCTION_INFO_V1(hd_agent_routing_changed);

/*
 * Row trigger on helpdesk.agent (00_schema.sql): names the agent to the
 * dispatcher at COMMIT. Its WHEN clause leaves out updates that change
 * nothing routing reads (heartbeats).
 */
Datum
hd_agent_routing_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	HeapTuple	row;
	bool		isnull;
	int64		tenant_id,
				id;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("_agent_routing_changed() must be called as a row trigger on helpdesk.agent")));
	row = TRIGGER_FIRED_BY_DELETE(td->tg_event) ? td->tg_trigtuple
		: TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	tenant_id = DatumGetInt64(heap_getattr(row, 1, td->tg_relation->rd_att, &isnull));
	id = DatumGetInt64(heap_getattr(row, 2, td->tg_relation->rd_att, &isnull));
	hd_note_agent_change(tenant_id, id);
	return PointerGetDatum(NULL);
}
