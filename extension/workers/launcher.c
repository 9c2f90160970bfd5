/*
 * launcher.c — one static background worker that keeps a set of per-database
 * workers running in every database where pg_helpdesk is installed.
 *
 * It connects to no database (it only reads the shared catalog pg_database),
 * probes each connectable database once by starting its workers (they exit
 * quietly where the extension is absent), restarts workers that die, with
 * exponential backoff so that a persistent failure never becomes a crash
 * loop, and is woken at COMMIT of CREATE EXTENSION to start workers at once.
 */
#include "shmem.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

PGDLLEXPORT void hd_launcher_main(Datum main_arg);

/* Launcher-local bookkeeping for the workers it started. */
typedef struct LocalWorker
{
	BackgroundWorkerHandle *handle;
	TimestampTz started_at;
} LocalWorker;

static LocalWorker *local_workers;	/* [nslots][HD_NUM_WORKER_KINDS] */
static bool warned_no_slots = false;
static bool warned_no_bgworkers = false;

#define LOCAL(i, k) (&local_workers[(i) * HD_NUM_WORKER_KINDS + (k)])
#define BACKOFF_MAX_MS 60000
#define HEALTHY_RUN_MS 60000

void
hd_register_launcher(void)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 5;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "pg_helpdesk");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "hd_launcher_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "pg_helpdesk launcher");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "pg_helpdesk launcher");
	RegisterBackgroundWorker(&bgw);
}

/* Read the connectable, non-template, valid databases from pg_database. */
static int
list_databases(Oid *oids, int max)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	int			n = 0;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		/* datconnlimit -2 marks a database left invalid by a failed DROP */
		if (!db->datallowconn || db->datistemplate || db->datconnlimit == -2)
			continue;
		if (n < max)
			oids[n++] = db->oid;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	return n;
}

/* Bring the slot table in line with pg_database. */
static void
scan_databases(void)
{
	int			max = 4096;
	Oid		   *oids = palloc(sizeof(Oid) * max);
	int			n = list_databases(oids, max);
	int			i,
				j;

	LWLockAcquire(hd_shared->lock, LW_EXCLUSIVE);
	/* forget databases that are gone and have no live worker */
	for (i = 0; i < hd_shared->nslots; i++)
	{
		HdDbSlot   *slot = &hd_shared->slots[i];
		bool		exists = false;
		int			k;
		bool		running = false;

		if (slot->state == HD_DB_FREE)
			continue;
		for (j = 0; j < n && !exists; j++)
			exists = (oids[j] == slot->dboid);
		for (k = 0; k < HD_NUM_WORKER_KINDS; k++)
			running |= (slot->workers[k].pid != 0 || LOCAL(i, k)->handle != NULL);
		if (!exists && !running)
		{
			slot->state = HD_DB_FREE;
			slot->dboid = InvalidOid;
		}
	}
	/* add new ones */
	for (j = 0; j < n; j++)
	{
		if (hd_find_db_slot(oids[j]) != NULL)
			continue;
		for (i = 0; i < hd_shared->nslots; i++)
			if (hd_shared->slots[i].state == HD_DB_FREE)
				break;
		if (i == hd_shared->nslots)
		{
			if (!warned_no_slots)
				ereport(WARNING,
						(errmsg("pg_helpdesk: more databases than helpdesk.max_databases (%d); some get no workers",
								hd_shared->nslots),
						 errhint("Raise helpdesk.max_databases and restart the server.")));
			warned_no_slots = true;
			break;
		}
		memset(&hd_shared->slots[i].workers, 0, sizeof(hd_shared->slots[i].workers));
		{
			int			k;

			for (k = 0; k < HD_NUM_WORKER_KINDS; k++)
			{
				pg_atomic_init_u32(&hd_shared->slots[i].workers[k].pending, 1);
				hd_worker_slot_init_counters(&hd_shared->slots[i].workers[k]);
			}
		}
		hd_shared->slots[i].dboid = oids[j];
		hd_shared->slots[i].state = HD_DB_UNKNOWN;
	}
	LWLockRelease(hd_shared->lock);
	pfree(oids);
}

static bool
start_worker(int slot_index, HdWorkerKind kind)
{
	BackgroundWorker bgw;
	HdDbSlot   *slot = &hd_shared->slots[slot_index];
	LocalWorker *lw = LOCAL(slot_index, kind);

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "pg_helpdesk");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "hd_worker_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "pg_helpdesk %s for database %u",
			 hd_worker_kind_names[kind], slot->dboid);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "pg_helpdesk %s", hd_worker_kind_names[kind]);
	bgw.bgw_main_arg = Int32GetDatum(slot_index);
	memcpy(bgw.bgw_extra, &slot->dboid, sizeof(Oid));
	memcpy(bgw.bgw_extra + sizeof(Oid), &kind, sizeof(int));
	bgw.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&bgw, &lw->handle))
	{
		lw->handle = NULL;
		if (!warned_no_bgworkers)
			ereport(WARNING,
					(errmsg("pg_helpdesk: no free background worker slot for the %s of database %u",
							hd_worker_kind_names[kind], slot->dboid),
					 errhint("Raise max_worker_processes (each database with pg_helpdesk needs %d).",
							 HD_NUM_WORKER_KINDS)));
		warned_no_bgworkers = true;
		return false;
	}
	lw->started_at = GetCurrentTimestamp();
	return true;
}

/*
 * Start missing workers, notice dead ones, schedule restarts. Returns how
 * long the launcher may sleep before something here needs doing again.
 */
static long
supervise(void)
{
	TimestampTz now = GetCurrentTimestamp();
	long		sleep_ms = (long) hd_launcher_naptime * 1000L;
	int			i,
				k;

	for (i = 0; i < hd_shared->nslots; i++)
	{
		HdDbSlot   *slot = &hd_shared->slots[i];

		if (slot->state == HD_DB_PAUSED && now < slot->paused_until)
		{
			long		secs;
			int			usecs;

			TimestampDifference(now, slot->paused_until, &secs, &usecs);
			sleep_ms = Min(sleep_ms, secs * 1000L + usecs / 1000 + 1);
		}
		if (slot->state == HD_DB_PAUSED && now >= slot->paused_until)
		{
			LWLockAcquire(hd_shared->lock, LW_EXCLUSIVE);
			if (slot->state == HD_DB_PAUSED)
				slot->state = HD_DB_UNKNOWN;
			LWLockRelease(hd_shared->lock);
			pg_atomic_write_u32(&hd_shared->rescan, 1);
			sleep_ms = 0;
		}

		for (k = 0; k < HD_NUM_WORKER_KINDS; k++)
		{
			LocalWorker *lw = LOCAL(i, k);
			HdWorkerSlot *w = &slot->workers[k];

			if (lw->handle != NULL)
			{
				pid_t		pid;

				if (GetBackgroundWorkerPid(lw->handle, &pid) != BGWH_STOPPED)
					continue;
				pfree(lw->handle);
				lw->handle = NULL;
				/* it stopped: was that expected? */
				if (slot->state == HD_DB_ACTIVE || slot->state == HD_DB_UNKNOWN)
				{
					int			delay;

					if (TimestampDifferenceExceeds(lw->started_at, now, HEALTHY_RUN_MS))
						w->failures = 0;
					w->failures++;
					pg_atomic_write_u64(&w->restarts, pg_atomic_read_u64(&w->restarts) + 1);
					delay = Min(BACKOFF_MAX_MS, 1000 * (1 << Min(w->failures - 1, 6)));
					w->restart_after = TimestampTzPlusMilliseconds(now, delay);
					/* the database may be gone: look before restarting */
					pg_atomic_write_u32(&hd_shared->rescan, 1);
					ereport(w->failures > 1 ? WARNING : LOG,
							(errmsg("pg_helpdesk: %s of database %u exited; restarting in %d ms",
									hd_worker_kind_names[k], slot->dboid, delay)));
				}
			}

			if (slot->state != HD_DB_ACTIVE && slot->state != HD_DB_UNKNOWN)
				continue;
			if (w->pid != 0)
				continue;		/* still winding down */
			if (now < w->restart_after)
			{
				long		secs;
				int			usecs;

				TimestampDifference(now, w->restart_after, &secs, &usecs);
				sleep_ms = Min(sleep_ms, secs * 1000L + usecs / 1000 + 1);
				continue;
			}
			if (!start_worker(i, k))
				sleep_ms = Min(sleep_ms, 5000L);
		}
	}
	return sleep_ms;
}

static void
launcher_detach(int code, Datum arg)
{
	LWLockAcquire(hd_shared->lock, LW_EXCLUSIVE);
	hd_shared->launcher_latch = NULL;
	hd_shared->launcher_pid = 0;
	LWLockRelease(hd_shared->lock);
}

void
hd_launcher_main(Datum main_arg)
{
	TimestampTz last_scan = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	local_workers = MemoryContextAllocZero(TopMemoryContext,
										   sizeof(LocalWorker) * hd_shared->nslots *
										   HD_NUM_WORKER_KINDS);
	LWLockAcquire(hd_shared->lock, LW_EXCLUSIVE);
	hd_shared->launcher_pid = MyProcPid;
	hd_shared->launcher_latch = MyLatch;
	LWLockRelease(hd_shared->lock);
	before_shmem_exit(launcher_detach, 0);
	ereport(LOG, (errmsg("pg_helpdesk launcher started")));

	for (;;)
	{
		long		sleep_ms;
		TimestampTz now = GetCurrentTimestamp();

		if (pg_atomic_exchange_u32(&hd_shared->rescan, 0) != 0 ||
			TimestampDifferenceExceeds(last_scan, now, hd_launcher_naptime * 1000))
		{
			scan_databases();
			last_scan = now;
		}
		sleep_ms = supervise();
		if (pg_atomic_read_u32(&hd_shared->rescan) != 0)
			sleep_ms = 0;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
}
