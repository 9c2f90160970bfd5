/*
 * worker.c — entry point of the per-database workers started by the
 * launcher: claim the shared slot, connect, make sure the extension is
 * installed (exit quietly if not) at the library's version (wait if not),
 * then run the loop registered for the worker's kind.
 */
#include "shmem.h"
#include "worker.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/guc.h"

PGDLLEXPORT void hd_worker_main(Datum main_arg);

volatile sig_atomic_t hd_got_sigterm = false;
volatile sig_atomic_t hd_worker_in_pass = false;

/*
 * The loop of each worker kind, registered at module load (pg_helpdesk.c):
 * this entry names no subsystem, so a subsystem adds a worker kind without
 * workers/ calling up into it.
 */
static HdWorkerLoop worker_loops[HD_NUM_WORKER_KINDS];

void
hd_register_worker(HdWorkerKind kind, HdWorkerLoop loop)
{
	worker_loops[kind] = loop;
}

static HdDbSlot *my_slot = NULL;
static HdWorkerSlot *my_worker = NULL;

static void
worker_detach(int code, Datum arg)
{
	LWLockAcquire(hd_shared->lock, LW_EXCLUSIVE);
	my_worker->pid = 0;
	my_worker->latch = NULL;
	LWLockRelease(hd_shared->lock);
}

/*
 * SIGTERM asks for a quiet exit at the next loop iteration (planned stops:
 * server shutdown, DROP DATABASE, pg_terminate_backend) instead of die()'s
 * FATAL log line. Work in progress is a short transaction and finishes first.
 */
static void
hd_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	hd_got_sigterm = true;
	/* inside a pass, behave like die(): a lock wait must not outlast SIGTERM */
	if (hd_worker_in_pass)
	{
		InterruptPending = true;
		ProcDiePending = true;
	}
	SetLatch(MyLatch);
	errno = save_errno;
}

/* Leave quietly if SIGTERM arrived. */
void
hd_worker_check_sigterm(void)
{
	if (hd_got_sigterm)
	{
		elog(DEBUG1, "pg_helpdesk worker exits on SIGTERM");
		proc_exit(0);
	}
}

/*
 * Workers run as the bootstrap superuser: with the default search_path an
 * unprivileged role that may CREATE in public could shadow a built-in
 * function or operator our statements use (public.*(numeric, integer) beats
 * pg_catalog's numeric * numeric for "extract(...) * 1000000") and have it
 * run as superuser. Only pg_catalog is searched (pg_temp last, so it never
 * shadows); our own objects are always written helpdesk.name. Overrides
 * ALTER DATABASE/ROLE SET and survives SIGHUP. Before any plan is made.
 */
void
hd_worker_pin_search_path(void)
{
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
}

/* Is pg_helpdesk installed in this database? Needs a transaction. */
bool
hd_extension_present(void)
{
	return OidIsValid(get_extension_oid("pg_helpdesk", true));
}

/*
 * The extension was dropped (or never created): record that so the launcher
 * stops restarting us, and exit without an error.
 */
void
hd_worker_exit_absent(void)
{
	LWLockAcquire(hd_shared->lock, LW_EXCLUSIVE);
	if (my_slot->state == HD_DB_ACTIVE || my_slot->state == HD_DB_UNKNOWN)
		my_slot->state = HD_DB_ABSENT;
	LWLockRelease(hd_shared->lock);
	elog(DEBUG1, "pg_helpdesk is not installed in this database; worker exits");
	proc_exit(0);
}

/*
 * The version of pg_helpdesk installed in this database (NULL: none), read
 * in the caller's transaction.
 */
static char *
installed_version(void)
{
	char	   *v = NULL;

	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	if (SPI_execute("SELECT extversion FROM pg_catalog.pg_extension "
					"WHERE extname OPERATOR(pg_catalog.=) 'pg_helpdesk'", true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
		v = MemoryContextStrdup(TopMemoryContext,
								SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	SPI_finish();
	PopActiveSnapshot();
	return v;
}

/*
 * The library's SQL and the database's tables go together: after the
 * library was upgraded, a database still at the older version (until ALTER
 * EXTENSION pg_helpdesk UPDATE) must not run the new loops against the old
 * schema, nor crash-loop on it. The worker waits, says so once, and looks
 * again every second (the DDL hook also wakes it at ALTER EXTENSION).
 * Returns false when the extension is gone meanwhile.
 */
static bool
wait_for_version(void)
{
	bool		said = false;

	for (;;)
	{
		char	   *v;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		v = installed_version();
		CommitTransactionCommand();
		if (v == NULL)
			return false;
		if (strcmp(v, HD_EXTVERSION) == 0)
		{
			if (said)
				elog(LOG, "pg_helpdesk %s worker: the extension is at %s now; starting",
					 hd_worker_kind_names[my_worker - my_slot->workers], v);
			pfree(v);
			return true;
		}
		if (!said)
			ereport(LOG,
					(errmsg("pg_helpdesk %s worker: this database has pg_helpdesk %s and the library is %s; "
							"waiting for ALTER EXTENSION pg_helpdesk UPDATE",
							hd_worker_kind_names[my_worker - my_slot->workers], v, HD_EXTVERSION)));
		said = true;
		pfree(v);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		hd_worker_check_sigterm();
	}
}

void
hd_worker_main(Datum main_arg)
{
	int			slot_index = DatumGetInt32(main_arg);
	Oid			dboid;
	int			kind;
	bool		present;

	memcpy(&dboid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	memcpy(&kind, MyBgworkerEntry->bgw_extra + sizeof(Oid), sizeof(int));

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, hd_sigterm);
	BackgroundWorkerUnblockSignals();

	if (slot_index < 0 || slot_index >= hd_shared->nslots ||
		kind < 0 || kind >= HD_NUM_WORKER_KINDS)
		elog(ERROR, "pg_helpdesk: bad worker arguments");
	my_slot = &hd_shared->slots[slot_index];
	my_worker = &my_slot->workers[kind];

	/* claim the slot; a second copy, or a stale start, just leaves */
	LWLockAcquire(hd_shared->lock, LW_EXCLUSIVE);
	if (my_slot->dboid != dboid || my_worker->pid != 0 ||
		(my_slot->state != HD_DB_ACTIVE && my_slot->state != HD_DB_UNKNOWN))
	{
		LWLockRelease(hd_shared->lock);
		proc_exit(0);
	}
	my_worker->pid = MyProcPid;
	my_worker->latch = MyLatch;
	LWLockRelease(hd_shared->lock);
	before_shmem_exit(worker_detach, 0);

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	hd_worker_pin_search_path();

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	present = hd_extension_present();
	CommitTransactionCommand();
	if (!present || !wait_for_version())
		hd_worker_exit_absent();

	LWLockAcquire(hd_shared->lock, LW_EXCLUSIVE);
	if (my_slot->state == HD_DB_UNKNOWN)
		my_slot->state = HD_DB_ACTIVE;
	if (my_slot->state != HD_DB_ACTIVE)
	{
		/* paused (DROP DATABASE ...) while we were connecting: leave */
		LWLockRelease(hd_shared->lock);
		proc_exit(0);
	}
	LWLockRelease(hd_shared->lock);

	if (worker_loops[kind])
		worker_loops[kind] (my_worker);
	proc_exit(0);
}

/*
 * See worker.h: the recovery the worker loops (publisher, dispatcher, HTTP
 * worker, rollup worker) share after a failed pass; each reports the error
 * its own way.
 */
ErrorData *
hd_worker_abort_pass(MemoryContext cxt)
{
	ErrorData  *edata;

	hd_worker_in_pass = false;
	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	AbortCurrentTransaction();
	return edata;
}

/* See worker.h: the transaction frame the rules, rollup and HTTP workers share. */
ErrorData *
hd_worker_run_in_xact(HdXactStep before, HdXactStep body, void *arg, int isolation)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ErrorData  *volatile edata = NULL;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		hd_worker_in_pass = true;
		if (isolation >= 0)
			XactIsoLevel = isolation;
		if (!hd_extension_present())
			hd_worker_exit_absent();
		if (before)
			before(arg);
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		body(arg);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		hd_worker_in_pass = false;
	}
	PG_CATCH();
	{
		edata = hd_worker_abort_pass(oldcxt);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	pgstat_report_activity(STATE_IDLE, NULL);
	return edata;
}
