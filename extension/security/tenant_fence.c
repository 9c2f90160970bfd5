/*
 * tenant_fence.c — refusing a tenant's calls while it moves to another node.
 *
 * scripts/move-tenant marks the tenant 'incoming' on the target node before
 * its rows arrive there (logical replication), fences it on its source node
 * (set_tenant_fence(t, 'fenced')) for the last seconds of the move, and
 * marks it 'moved_out' there once the proxy's directory names the new node.
 * While a fence row exists every API call for that tenant on this node fails
 * with 55000 and a message that says to retry (the proxy then sends it to
 * the node that serves it), and the workers leave its rows alone (HD_PLACED,
 * hd.h). The check sits in the tenant access check (access.c), which every
 * call with a tenant passes first.
 *
 * The single-node path must not pay for this: the fenced tenants are read
 * once per backend into a sorted array and kept until a relcache
 * invalidation of helpdesk.tenant_fence (its statement trigger sends one on
 * every change); a backend with no fence anywhere answers with one compare.
 * A transaction that starts after the fence committed processes that
 * invalidation at its start, so it sees the fence; scripts/move-tenant waits
 * for the transactions that started before it to end before it copies. A
 * worker woken by the change's own commit can start before the invalidation
 * is sent, so a shared generation bumped at commit is checked too
 * (fences_current).
 */
#include "postgres.h"

#include "hd.h"
#include "security.h"
#include "shmem.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/supportnodes.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/* tenant_fence's columns, as 31_tenant_fence.sql creates them */
#define FENCE_ATT_TENANT	1
#define FENCE_ATT_STATE		2

typedef enum FenceState
{
	FENCE_FENCED,				/* the move's last seconds on the source */
	FENCE_MOVED_OUT,			/* the tenant lives on another node now */
	FENCE_INCOMING				/* the target: rows arriving, not yet served */
} FenceState;

typedef struct Fence
{
	int64		tenant_id;
	FenceState	state;
} Fence;

/* A fence row's state (NULL is not stored: the column is NOT NULL). */
static FenceState
fence_state_of(const char *s)
{
	if (strcmp(s, "moved_out") == 0)
		return FENCE_MOVED_OUT;
	if (strcmp(s, "incoming") == 0)
		return FENCE_INCOMING;
	return FENCE_FENCED;
}

static bool known;				/* fences[] is what the table holds */
static uint64 shared_gen_seen;	/* hd_shared->fence_gen when it was read */
static uint64 generation;		/* bumped by every invalidation */
static int	nfences;
static Fence *fences;			/* sorted by tenant_id, TopMemoryContext */
static Oid	fence_relid;
static bool callback_registered;

static void
fence_relcache_cb(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == fence_relid)
	{
		known = false;
		generation++;
	}
}

static int
cmp_fence(const void *a, const void *b)
{
	int64		x = ((const Fence *) a)->tenant_id;
	int64		y = ((const Fence *) b)->tenant_id;

	return (x > y) - (x < y);
}

/*
 * Read the table. table_open() processes pending invalidations before the
 * scan's snapshot is taken, so a fence whose invalidation we have seen is
 * read. The list is kept (known) only when the read ended and no
 * invalidation arrived during it; an error leaves it unknown.
 */
static void
load_fences(void)
{
	Oid			nsp = get_namespace_oid("helpdesk", true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("tenant_fence", nsp) : InvalidOid;
	Relation	rel;
	SysScanDesc scan;
	Snapshot	snap;
	HeapTuple	tup;
	int			cap = 4,
				n = 0;
	Fence	   *f;
	uint64		gen_before;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(fence_relcache_cb, (Datum) 0);
		callback_registered = true;
	}
	if (!OidIsValid(relid))
	{
		/* an older install without the table: nothing is ever fenced */
		nfences = 0;
		return;
	}
	fence_relid = relid;
	rel = table_open(relid, AccessShareLock);
	gen_before = generation;
	/* read before the snapshot: a commit that bumps it later is read again */
	shared_gen_seen = hd_shared != NULL ? pg_atomic_read_u64(&hd_shared->fence_gen) : 0;
	f = MemoryContextAlloc(TopMemoryContext, cap * sizeof(Fence));
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(rel, InvalidOid, false, snap, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		t = heap_getattr(tup, FENCE_ATT_TENANT, RelationGetDescr(rel), &isnull);
		Datum		s;

		if (isnull)
			continue;
		s = heap_getattr(tup, FENCE_ATT_STATE, RelationGetDescr(rel), &isnull);
		if (n == cap)
		{
			cap *= 2;
			f = repalloc(f, cap * sizeof(Fence));
		}
		f[n].tenant_id = DatumGetInt64(t);
		f[n].state = isnull ? FENCE_FENCED : fence_state_of(TextDatumGetCString(s));
		n++;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	if (n > 1)
		qsort(f, n, sizeof(Fence), cmp_fence);
	if (fences != NULL)
		pfree(fences);
	fences = f;
	nfences = n;
	known = (generation == gen_before);
}

/*
 * Is fences[] current? The relcache invalidation says so for every change,
 * but it is sent after the changing transaction's commit callbacks, which
 * wake the workers: a worker woken for a lifted fence can start before it
 * arrives. The shared generation is bumped before those wakes
 * (hd_fence_changed_at_commit), so the worker reads the table again.
 */
static inline bool
fences_current(void)
{
	return known && (hd_shared == NULL ||
					 pg_atomic_read_u64(&hd_shared->fence_gen) == shared_gen_seen);
}

/* 55000 when tenant_id is fenced, incoming or has moved out of this node. */
void
hd_check_tenant_fence(int64 tenant_id)
{
	Fence		key = {tenant_id, FENCE_FENCED};
	Fence	   *hit;

	if (tenant_id == 0)
		return;
	if (!fences_current())
		load_fences();
	if (nfences == 0)
		return;
	hit = bsearch(&key, fences, nfences, sizeof(Fence), cmp_fence);
	if (hit == NULL)
		return;
	if (hit->state == FENCE_MOVED_OUT)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenant %lld has moved to another node", (long long) tenant_id),
				 errhint("Call it through pg_helpdesk_proxy, which sends it to the tenant's node, or on that node.")));
	if (hit->state == FENCE_INCOMING)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenant %lld is being moved to this node", (long long) tenant_id),
				 errhint("Retry in a few seconds: until the move has switched, the tenant is served by the node it is moving from.")));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("tenant %lld is being moved to another node", (long long) tenant_id),
			 errhint("Retry in a few seconds: once the move has switched, the call goes to the new node.")));
}

/*
 * _tenant_placed(tenant_id): false when the tenant is fenced, incoming or
 * moved out on this node. The workers' due-work statements filter with it
 * (HD_PLACED, hd.h) rather than with "tenant_id <> ALL (fence list)": the
 * planner estimated that filter from the column's statistics, and with one
 * tenant (n_distinct 1) it took the filter to keep no row, so min() over a
 * due-time index became a sequential scan of every active session (39% of
 * the dispatcher's CPU at 100 sessions/s with 2,000 active). This
 * function's selectivity is 1 (the support function below): fences are
 * rare and few. Per row it costs one compare while no fence exists.
 */
PG_FUNCTION_INFO_V1(hd_tenant_placed);
Datum
hd_tenant_placed(PG_FUNCTION_ARGS)
{
	Fence		key = {PG_GETARG_INT64(0), FENCE_FENCED};

	if (!fences_current())
		load_fences();
	if (nfences == 0)
		PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(bsearch(&key, fences, nfences, sizeof(Fence), cmp_fence) == NULL);
}

/* The planner's support of _tenant_placed: it keeps (nearly) every row. */
PG_FUNCTION_INFO_V1(hd_tenant_placed_support);
Datum
hd_tenant_placed_support(PG_FUNCTION_ARGS)
{
	Node	   *req = (Node *) PG_GETARG_POINTER(0);

	if (IsA(req, SupportRequestSelectivity))
	{
		((SupportRequestSelectivity *) req)->selectivity = 1.0;
		PG_RETURN_POINTER(req);
	}
	PG_RETURN_POINTER(NULL);
}

static const char *const fence_states[] = {"fenced", "moved_out", "incoming", NULL};

static HdPlan fence_set = {
	"INSERT INTO helpdesk.tenant_fence AS f (tenant_id, state) VALUES ($1, $2) "
	"ON CONFLICT (tenant_id) DO UPDATE SET state = excluded.state, since = now()",
	2, {INT8OID, TEXTOID}
};
static HdPlan fence_get = {
	"SELECT state FROM helpdesk.tenant_fence WHERE tenant_id = $1 FOR UPDATE", 1, {INT8OID}
};
static HdPlan fence_drop = {
	"DELETE FROM helpdesk.tenant_fence WHERE tenant_id = $1", 1, {INT8OID}
};
static HdPlan tenant_known = {
	"SELECT 1 FROM helpdesk.tenant WHERE id = $1", 1, {INT8OID}
};

/*
 * set_tenant_fence(tenant_id, state): on the source, 'fenced' (a move's
 * last seconds) then 'moved_out' (the directory names the new node); on
 * the target, 'incoming' (before the tenant's rows arrive, so that nothing
 * there acts on them until the switch); NULL lifts a fence (a move called
 * off on the source, the switch on the target). Returns the previous state.
 * A tenant that moved out stays moved out (its rows may be purged already):
 * calling a move off then is refused; it may only come back ('incoming')
 * once its rows are gone. 'incoming' and 'fenced' never follow each other:
 * one node is the source, the other the target. The check of the caller's
 * access is the every-tenant one: a fence concerns the node, not one
 * tenant's data.
 */
PG_FUNCTION_INFO_V1(hd_set_tenant_fence);
Datum
hd_set_tenant_fence(PG_FUNCTION_ARGS)
{
	int64		tenant_id;
	char	   *state = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *before = NULL;
	Datum		v[2];

	/* the role checks without the fence's own (it is what is being changed) */
	if (!PG_ARGISNULL(0))
		hd_check_tenant_role(PG_GETARG_INT64(0));
	hd_check_tenant_role(0);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tenant_id must not be NULL")));
	tenant_id = PG_GETARG_INT64(0);
	if (state != NULL)
		hd_check_enum("state", state, fence_states);
	v[0] = Int64GetDatum(tenant_id);
	SPI_connect();
	hd_exec(&fence_get, v, NULL, false, 1);
	if (SPI_processed > 0)
	{
		char	   *s = hd_get_text(1);

		/* copied out of SPI's memory, which SPI_finish frees */
		before = s != NULL ? MemoryContextStrdup(CurTransactionContext, s) : NULL;
	}
	if (state != NULL && strcmp(state, "incoming") == 0)
	{
		if (before != NULL && strcmp(before, "fenced") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("tenant %lld is being moved away from this node", (long long) tenant_id),
					 errhint("A node is either a move's source or its target; call the move off first.")));
		if (before == NULL || strcmp(before, "incoming") != 0)
		{
			hd_exec(&tenant_known, v, NULL, false, 1);
			if (SPI_processed > 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("tenant %lld is on this node already", (long long) tenant_id),
						 errhint("A move's target must not hold the tenant's rows: delete them (or move to another node).")));
		}
	}
	else if (before != NULL && strcmp(before, "incoming") == 0 && state != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenant %lld is being moved to this node", (long long) tenant_id),
				 errhint("Lift the incoming fence (NULL) once the move has switched, or call the move off.")));
	else if (before == NULL && state != NULL)
	{
		hd_exec(&tenant_known, v, NULL, false, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_HD_NOT_FOUND),
					 errmsg("tenant %lld does not exist", (long long) tenant_id)));
	}
	if (before != NULL && strcmp(before, "moved_out") == 0 &&
		(state == NULL || strcmp(state, "fenced") == 0))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenant %lld has moved out of this node", (long long) tenant_id),
				 errhint("A move that has switched cannot be called off; move the tenant back instead.")));
	if (state == NULL)
		hd_exec(&fence_drop, v, NULL, false, 0);
	else
	{
		v[1] = CStringGetTextDatum(state);
		hd_exec(&fence_set, v, NULL, false, 0);
	}
	SPI_finish();

	/*
	 * The workers skip a fenced tenant and sleep until the next due work
	 * they can see; when a fence is lifted (a move called off, or switched
	 * to this node) the tenant's work may be due already, so every worker
	 * of this database looks again at commit.
	 */
	for (int k = 0; k < HD_NUM_WORKER_KINDS; k++)
		hd_wake_at_commit((HdWorkerKind) k);
	if (before == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(before));
}
