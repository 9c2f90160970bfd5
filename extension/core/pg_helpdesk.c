/*
 * pg_helpdesk.c — module load: settings, shared memory, the launcher worker
 * and the utility hook. The library only works from shared_preload_libraries
 * because the workers and their shared registry must exist from startup.
 */
#include "shmem.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

int			hd_max_message_bytes = 16384;
int			hd_publisher_batch_size = 10000;
int			hd_max_databases = 32;
int			hd_launcher_naptime = 60;
int			hd_publisher_min_interval_ms = 2;
int			hd_dispatch_batch_size = 2000;
int			hd_position_interval_ms = 1000;

static void
define_settings(void)
{
	DefineCustomIntVariable("helpdesk.max_message_bytes",
							"Largest message body (and attachment/options JSON) post_message accepts, in bytes.",
							NULL, &hd_max_message_bytes, 16384, 64, 1048576,
							PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.publisher_batch_size",
							"Most events the publisher numbers in one transaction.",
							NULL, &hd_publisher_batch_size, 10000, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.publisher_min_interval",
							"Least time between two publishing passes; commits arriving meanwhile are published together.",
							"0 publishes after every commit. Bounds the added commit-to-NOTIFY latency under load.",
							&hd_publisher_min_interval_ms, 2, 0, 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.max_databases",
							"Most databases that can run pg_helpdesk workers at once.",
							NULL, &hd_max_databases, 32, 1, 4096,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.launcher_naptime",
							"Seconds between the launcher's checks for new or dropped databases.",
							NULL, &hd_launcher_naptime, 60, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.dispatch_batch_size",
							"Most waiting sessions per queue the dispatcher considers in one pass.",
							NULL, &hd_dispatch_batch_size, 2000, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.position_interval",
							"How often the dispatcher recomputes queue positions and pushes changed ones to customers.",
							NULL, &hd_position_interval_ms, 1000, 100, 60000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomStringVariable("helpdesk.token_secret",
							   "Secret that signs bridge tokens (HS256); helpdesk-bridge needs the same value.",
							   "At least 32 bytes. Readable by superusers only.",
							   &hd_token_secret, NULL, PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	MarkGUCPrefixReserved("helpdesk");
}

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_helpdesk must be loaded via shared_preload_libraries"),
				 errhint("Add pg_helpdesk to shared_preload_libraries in postgresql.conf "
						 "(for example shared_preload_libraries = 'pg_helpdesk, pg_cron') "
						 "and restart the server.")));
	define_settings();
	hd_shmem_request();
	hd_register_launcher();
	hd_install_utility_hook();
}

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
