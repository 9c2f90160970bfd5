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

static bool callback_registered = false;
static uint32 wake_mask = 0;
static bool launcher_requested = false;

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
			if (wake_mask != 0 || launcher_requested)
				hd_wake_now();
			wake_mask = 0;
			launcher_requested = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/*
			 * A prepared transaction commits later, maybe in another backend;
			 * the workers' periodic sweep picks its rows up.
			 */
			wake_mask = 0;
			launcher_requested = false;
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

void
hd_request_launcher_at_commit(void)
{
	hd_ensure_callback();
	launcher_requested = true;
}
