/*
 * shmem.c — allocation of the worker registry in shared memory.
 */
#include "shmem.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"

HdShared   *hd_shared = NULL;

const char *const hd_worker_kind_names[HD_NUM_WORKER_KINDS] = {"publisher", "dispatcher", "http", "rollup", "rules"};

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size
hd_shmem_size(void)
{
	return add_size(offsetof(HdShared, slots),
					mul_size(sizeof(HdDbSlot), hd_max_databases));
}

/* PG15 requires shared memory and LWLocks to be requested from this hook. */
static void
hd_shmem_request_hook(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(hd_shmem_size());
	RequestNamedLWLockTranche("pg_helpdesk", 1);
}

static void
hd_shmem_startup_hook(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	hd_shared = ShmemInitStruct("pg_helpdesk", hd_shmem_size(), &found);
	if (!found)
	{
		int			i,
					k;

		memset(hd_shared, 0, hd_shmem_size());
		hd_shared->lock = &(GetNamedLWLockTranche("pg_helpdesk"))->lock;
		pg_atomic_init_u32(&hd_shared->rescan, 1);
		pg_atomic_init_u64(&hd_shared->fence_gen, 0);
		hd_shared->nslots = hd_max_databases;
		for (i = 0; i < hd_shared->nslots; i++)
		{
			for (k = 0; k < HD_NUM_WORKER_KINDS; k++)
			{
				pg_atomic_init_u32(&hd_shared->slots[i].workers[k].pending, 0);
				hd_worker_slot_init_counters(&hd_shared->slots[i].workers[k]);
			}
			SpinLockInit(&hd_shared->slots[i].agent_changes.mutex);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

void
hd_shmem_request(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = hd_shmem_request_hook;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = hd_shmem_startup_hook;
}

/* Lock-free lookup; callers that change the slot take hd_shared->lock. */
HdDbSlot *
hd_find_db_slot(Oid dboid)
{
	int			i;

	if (hd_shared == NULL)
		return NULL;
	for (i = 0; i < hd_shared->nslots; i++)
		if (hd_shared->slots[i].dboid == dboid &&
			hd_shared->slots[i].state != HD_DB_FREE)
			return &hd_shared->slots[i];
	return NULL;
}

void
hd_wake_launcher(void)
{
	Latch	   *latch;

	if (hd_shared == NULL)
		return;
	pg_atomic_write_u32(&hd_shared->rescan, 1);
	latch = hd_shared->launcher_latch;
	if (latch)
		SetLatch(latch);
}

/* the counters helpdesk.metrics() reads start at zero for a fresh slot */
void
hd_worker_slot_init_counters(HdWorkerSlot *w)
{
	pg_atomic_init_u64(&w->restarts, 0);
	pg_atomic_init_u64(&w->passes, 0);
	pg_atomic_init_u64(&w->pass_us, 0);
	pg_atomic_init_u64(&w->last_pass_us, 0);
	pg_atomic_init_u64(&w->rows_read, 0);
	pg_atomic_init_u64(&w->wake_since, 0);
	pg_atomic_init_u64(&w->behind_since, 0);
	pg_atomic_init_u64(&w->backpressure_waits, 0);
	pg_atomic_init_u64(&w->backpressure_us, 0);
}

/*
 * The reader copies under the spinlock, 64 entries at a time at most
 * (a few hundred bytes), so writers never wait long.
 */
int
hd_agent_ring_read(HdDbSlot *slot, uint64 *tail, int64 *tenants, int64 *agents, int max)
{
	HdAgentRing *r = &slot->agent_changes;
	int			n = 0;

	while (n < max)
	{
		uint64		head;
		int			chunk;
		int			i;

		SpinLockAcquire(&r->mutex);
		head = r->head;
		if (head - *tail > HD_AGENT_RING)
		{
			SpinLockRelease(&r->mutex);
			*tail = head;
			return -1;
		}
		chunk = (int) Min((uint64) Min(64, max - n), head - *tail);
		for (i = 0; i < chunk; i++)
		{
			uint64		k = (*tail + i) % HD_AGENT_RING;

			tenants[n + i] = r->tenant_id[k];
			agents[n + i] = r->agent_id[k];
		}
		SpinLockRelease(&r->mutex);
		*tail += chunk;
		n += chunk;
		if (chunk == 0)
			break;
	}
	return n;
}

/* Only the worker itself writes these, so plain read-add-write is enough. */
void
hd_worker_count_pass(HdWorkerSlot *w, int64 us)
{
	if (us < 0)
		us = 0;
	pg_atomic_write_u64(&w->passes, pg_atomic_read_u64(&w->passes) + 1);
	pg_atomic_write_u64(&w->pass_us, pg_atomic_read_u64(&w->pass_us) + (uint64) us);
	pg_atomic_write_u64(&w->last_pass_us, (uint64) us);
}
