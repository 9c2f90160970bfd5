/*
 * status.c — what SQL sees of the workers: worker_status() reads the shared
 * registry, _activate() (called by the install script) has the launcher
 * start this database's workers as soon as CREATE EXTENSION commits.
 */
#include "shmem.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(hd_activate);

/*
 * Called by the install script: once CREATE EXTENSION commits, the launcher
 * starts this database's workers without waiting for its next scan.
 */
Datum
hd_activate(PG_FUNCTION_ARGS)
{
	hd_request_launcher_at_commit();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(hd_worker_status);

/* helpdesk.worker_status(): what the shared registry says about this database. */
Datum
hd_worker_status(PG_FUNCTION_ARGS)
{
	static const char *const states[] = {"free", "probing", "active", "absent", "paused"};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HdDbSlot   *slot;
	int			k;

	InitMaterializedSRF(fcinfo, 0);
	slot = hd_find_db_slot(MyDatabaseId);
	if (slot == NULL)
		return (Datum) 0;
	LWLockAcquire(hd_shared->lock, LW_SHARED);
	for (k = 0; k < HD_NUM_WORKER_KINDS; k++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum(hd_worker_kind_names[k]);
		values[1] = CStringGetTextDatum(states[slot->state]);
		values[2] = Int32GetDatum(slot->workers[k].pid);
		nulls[2] = (slot->workers[k].pid == 0);
		values[3] = Int32GetDatum(slot->workers[k].failures);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(hd_shared->lock);
	return (Datum) 0;
}
