/*
 * task_cache.c — the shared generation counters behind every backend's
 * compiled task indexes (task_match.c): HD_TASK_GEN_SLOTS counters in shared
 * memory, a tenant's being slot tenant_id % HD_TASK_GEN_SLOTS. A transaction
 * that adds live tasks or changes a tenant's payment phrases bumps that
 * tenant's slot when it commits; a backend compares the slot before each
 * match and rebuilds the tenant's index when it moved. A task received for
 * one tenant makes no backend recompile another's (unless they share a slot).
 *
 * The counter is read before the index is loaded and bumped after the
 * writer's commit is visible (XACT_EVENT_COMMIT), so a task committed after
 * the loader's snapshot always leaves the counter ahead of the loaded
 * generation: the next message reloads. Tasks that leave the live states
 * (fired, cancelled, expired) do not bump it: the matcher's UPDATE checks the
 * status on the locked row, and a stale entry only costs that one lookup once
 * per backend (it is then marked dead locally).
 */
#include "automation.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "port/atomics.h"

#define HD_TASK_GEN_SLOTS 1024
#define HD_TASK_DIRTY_MAX 16

static pg_atomic_uint64 *task_gen = NULL;	/* HD_TASK_GEN_SLOTS counters */
static shmem_request_hook_type prev_request_hook = NULL;
static shmem_startup_hook_type prev_startup_hook = NULL;
static bool xact_dirty = false;
static int	ndirty = 0;			/* > HD_TASK_DIRTY_MAX: bump every slot */
static int64 dirty[HD_TASK_DIRTY_MAX];
static bool callback_registered = false;

static void
task_shmem_request(void)
{
	if (prev_request_hook)
		prev_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(pg_atomic_uint64) * HD_TASK_GEN_SLOTS));
}

static void
task_shmem_startup(void)
{
	bool		found;

	if (prev_startup_hook)
		prev_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	task_gen = ShmemInitStruct("pg_helpdesk trigger task generations",
							   sizeof(pg_atomic_uint64) * HD_TASK_GEN_SLOTS, &found);
	if (!found)
		for (int i = 0; i < HD_TASK_GEN_SLOTS; i++)
			pg_atomic_init_u64(&task_gen[i], 1);
	LWLockRelease(AddinShmemInitLock);
}

void
hd_task_shmem_init(void)
{
	prev_request_hook = shmem_request_hook;
	shmem_request_hook = task_shmem_request;
	prev_startup_hook = shmem_startup_hook;
	shmem_startup_hook = task_shmem_startup;
}

static void
task_xact_callback(XactEvent event, void *arg)
{
	if (!xact_dirty)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		xact_dirty = false;
		if (task_gen)
		{
			if (ndirty > HD_TASK_DIRTY_MAX)
				for (int i = 0; i < HD_TASK_GEN_SLOTS; i++)
					pg_atomic_fetch_add_u64(&task_gen[i], 1);
			else
				for (int i = 0; i < ndirty; i++)
					pg_atomic_fetch_add_u64(&task_gen[dirty[i] % HD_TASK_GEN_SLOTS], 1);
		}
		ndirty = 0;
	}
}

/* The tenant's tasks or phrases changed in this transaction. */
void
hd_task_index_changed(int64 tenant_id)
{
	int			i;

	if (!callback_registered)
	{
		RegisterXactCallback(task_xact_callback, NULL);
		callback_registered = true;
	}
	xact_dirty = true;
	for (i = 0; i < Min(ndirty, HD_TASK_DIRTY_MAX); i++)
		if (dirty[i] == tenant_id)
			return;
	if (ndirty < HD_TASK_DIRTY_MAX)
		dirty[ndirty] = tenant_id;
	ndirty++;
}

/*
 * The generation to compare a cached index with. Inside a transaction that
 * changed tasks, always a fresh one: the changing backend sees its own
 * uncommitted tasks (a number no commit will produce: the top bit).
 */
uint64
hd_task_index_gen(int64 tenant_id)
{
	uint64		g = task_gen ? pg_atomic_read_u64(&task_gen[(uint64) tenant_id % HD_TASK_GEN_SLOTS]) : 0;

	if (xact_dirty)
		return g | (UINT64CONST(1) << 63);
	return g;
}
