/*
 * wake.c — wake background workers when, and only when, a transaction that
 * gave them work commits.
 *
 * A latch is not transactional: setting it inside the transaction would wake
 * the worker before the rows are visible (and for rolled-back work too). So
 * API functions only note what they did; a transaction callback, registered
 * once per backend, sets the workers' pending flags and latches after COMMIT,
 * when the rows are already visible to new snapshots.
 */
#include "shmem.h"

#include "access/xact.h"
#include "miscadmin.h"

static bool fence_changed = false;
static bool callback_registered = false;
static uint32 wake_mask = 0;
static uint32 skip_mask = 0;	/* hd_wake_skip_self_at_commit */
static bool launcher_requested = false;

/*
 * Agents this transaction changed (hd_note_agent_change), handed to the
 * dispatcher at COMMIT. More than fit become one "the whole tenant" entry,
 * or one "everything" entry (tenant 0) when they span tenants.
 */
#define MAX_NOTED_AGENTS 32
static int64 noted_tenant[MAX_NOTED_AGENTS];
static int64 noted_agent[MAX_NOTED_AGENTS];
static int	nnoted = 0;

static void
push_agent_changes(HdDbSlot *slot)
{
	HdAgentRing *r = &slot->agent_changes;
	int			i;

	SpinLockAcquire(&r->mutex);
	for (i = 0; i < nnoted; i++)
	{
		uint64		k = r->head % HD_AGENT_RING;

		r->tenant_id[k] = noted_tenant[i];
		r->agent_id[k] = noted_agent[i];
		r->head++;
	}
	SpinLockRelease(&r->mutex);
}

static void
hd_wake_now(void)
{
	HdDbSlot   *slot = hd_find_db_slot(MyDatabaseId);
	int			k;

	if (slot != NULL && slot->state == HD_DB_ABSENT)
	{
		/* the extension was (re)created since the launcher last looked */
		LWLockAcquire(hd_shared->lock, LW_EXCLUSIVE);
		if (slot->dboid == MyDatabaseId && slot->state == HD_DB_ABSENT)
			slot->state = HD_DB_UNKNOWN;
		LWLockRelease(hd_shared->lock);
	}
	if (slot != NULL && nnoted > 0)
		push_agent_changes(slot);
	if (slot == NULL || slot->state != HD_DB_ACTIVE)
	{
		/* No worker for this database yet: let the launcher start one. */
		hd_wake_launcher();
		return;
	}
	for (k = 0; k < HD_NUM_WORKER_KINDS; k++)
	{
		HdWorkerSlot *w = &slot->workers[k];
		Latch	   *latch;

		if ((wake_mask & (1u << k)) == 0)
			continue;
		if (k == HD_WORKER_DISPATCHER)
			hd_dispatch_stamp_wake(w);	/* backpressure.c */
		pg_atomic_write_u32(&w->pending, 1);
		latch = w->latch;
		if (latch)
			SetLatch(latch);
		else
			hd_wake_launcher();
	}
	if (launcher_requested)
		hd_wake_launcher();
}

static void
hd_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			/* before the wakes: see hd_fence_changed_at_commit */
			if (fence_changed && hd_shared != NULL)
				pg_atomic_fetch_add_u64(&hd_shared->fence_gen, 1);
			fence_changed = false;
			wake_mask &= ~skip_mask;
			if (wake_mask != 0 || launcher_requested || nnoted > 0)
				hd_wake_now();
			wake_mask = 0;
			skip_mask = 0;
			launcher_requested = false;
			nnoted = 0;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/*
			 * A prepared transaction commits later, maybe in another backend;
			 * the workers' periodic sweep picks its rows up.
			 */
			fence_changed = false;
			wake_mask = 0;
			skip_mask = 0;
			launcher_requested = false;
			nnoted = 0;
			break;
		default:
			break;
	}
}

static void
hd_ensure_callback(void)
{
	if (!callback_registered)
	{
		RegisterXactCallback(hd_xact_callback, NULL);
		callback_registered = true;
	}
}

void
hd_wake_at_commit(HdWorkerKind kind)
{
	hd_ensure_callback();
	wake_mask |= (1u << kind);
}

/*
 * The worker of this kind is the one committing, and it goes on by itself
 * after this commit: do not wake it for what its own transaction did. The
 * dispatcher's assignment pass changes the load of the agents it places
 * with, which names them to it (the ring entries are still pushed, so its
 * view re-reads them) and used to wake it for a second pass that found
 * nothing: 1.83 passes per assignment at 100 sessions/s, each with its due
 * times and the woken stages, and an enqueue arriving meanwhile waited.
 * Only for this transaction; a wake a backend's COMMIT sets is not touched.
 */
void
hd_wake_skip_self_at_commit(HdWorkerKind kind)
{
	hd_ensure_callback();
	skip_mask |= (1u << kind);
}

/*
 * helpdesk.tenant_fence changed in this transaction: bump the shared fence
 * generation at COMMIT, before the wakes. The relcache invalidation that
 * also tells every backend is sent only after the commit callbacks, so a
 * worker woken for a lifted fence could start its transaction before that
 * invalidation arrived, still see the fence in its cached list, and sleep
 * with the tenant's work due (e2e scale_move: an idle session of a tenant
 * whose move was called off did not close). The transaction is visible to
 * new snapshots by then, so a reader that sees the new generation and
 * reads the table finds the change.
 */
void
hd_fence_changed_at_commit(void)
{
	hd_ensure_callback();
	fence_changed = true;
}

void
hd_request_launcher_at_commit(void)
{
	hd_ensure_callback();
	launcher_requested = true;
}

/*
 * An agent's routing columns changed in this transaction (the trigger in
 * routing/00_schema.sql calls this): the dispatcher re-reads the agent
 * after COMMIT, and is woken for it. agent_id 0 means every agent of the
 * tenant, tenant_id 0 every agent.
 */
void
hd_note_agent_change(int64 tenant_id, int64 agent_id)
{
	int			i;

	hd_ensure_callback();
	wake_mask |= (1u << HD_WORKER_DISPATCHER);
	for (i = 0; i < nnoted; i++)
		if ((noted_tenant[i] == tenant_id || noted_tenant[i] == 0) &&
			(noted_agent[i] == agent_id || noted_agent[i] == 0))
			return;
	if (nnoted < MAX_NOTED_AGENTS)
	{
		noted_tenant[nnoted] = tenant_id;
		noted_agent[nnoted] = agent_id;
		nnoted++;
		return;
	}
	/* too many: one entry for the tenant if they all share it, else all */
	for (i = 0; i < nnoted; i++)
		if (noted_tenant[i] != tenant_id)
			break;
	noted_tenant[0] = i == nnoted ? tenant_id : 0;
	noted_agent[0] = 0;
	nnoted = 1;
}
