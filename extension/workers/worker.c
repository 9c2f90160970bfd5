/*
 * worker.c — entry point of the per-database workers started by the
 * launcher: claim the shared slot, connect, make sure the extension is
 * installed (exit quietly if not), then run the worker's loop.
 */
#include "shmem.h"
#include "worker.h"
#include "routing.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"

PGDLLEXPORT void hd_worker_main(Datum main_arg);

volatile sig_atomic_t hd_got_sigterm = false;
volatile sig_atomic_t hd_worker_in_pass = false;

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
	if (!present)
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

	switch ((HdWorkerKind) kind)
	{
		case HD_WORKER_PUBLISHER:
			hd_publisher_run(my_worker);
			break;
		case HD_WORKER_DISPATCHER:
			hd_dispatcher_run(my_worker);
			break;
		default:
			break;
	}
	proc_exit(0);
}
