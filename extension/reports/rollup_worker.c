/*
 * rollup_worker.c — the per-database rollup worker (HD_WORKER_ROLLUP): its
 * settings and its loop. The work of a step is rollup_step.c.
 *
 * A worker of its own rather than a dispatcher stage: a step recomputes
 * buckets from raw rows (tens of milliseconds after a busy quarter hour),
 * which would delay every timer the dispatcher fires; and following the log
 * needs no lock any backend takes, so it cannot slow post_message. The
 * publisher wakes it after each pass that numbered events; wakeups are
 * coalesced into at most one step per helpdesk.rollup_interval, so under
 * load a step covers many commits (the reports are at most that stale).
 */
#include "reports.h"
#include "worker.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include <sys/resource.h>


int			hd_rollup_interval_ms = 1000;
int			hd_rollup_batch = 5000;
bool		hd_rollup_enabled = true;
int			hd_rollup_max_share = 5;
int			hd_rollup_max_lag_ms = 3000;

#define SWEEP_MS		10000
#define BACKOFF_MAX_MS	30000

void
hd_reports_init(void)
{
	DefineCustomIntVariable("helpdesk.rollup_interval",
							"Least time between two steps of the rollup worker (how stale reports may be under load).",
							NULL, &hd_rollup_interval_ms, 1000, 10, 600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.rollup_batch",
							"Most events one rollup step (one transaction) reads.",
							NULL, &hd_rollup_batch, 5000, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.rollup_max_share",
							"Most share of one CPU the rollup worker's steps may take, in percent (it waits longer between steps instead).",
							NULL, &hd_rollup_max_share, 5, 1, 100,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.rollup_max_lag",
							"Longest wait between two steps that rollup_max_share may impose (how stale reports may get under load).",
							NULL, &hd_rollup_max_lag_ms, 3000, 10, 600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomBoolVariable("helpdesk.rollup_enabled",
							 "Whether the rollup worker follows the event log (off: it waits; it catches up when turned on).",
							 NULL, &hd_rollup_enabled, true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	hd_register_worker(HD_WORKER_ROLLUP, hd_rollup_worker_run);
}

typedef struct RollupStep
{
	int64		nread;
	int64		nbuckets;
} RollupStep;

/* before the snapshot: a rebuild that held the lock has committed when we look */
static void
rollup_step_lock(void *arg)
{
	(void) arg;
	hd_rollup_lock();
}

static void
rollup_step_body(void *arg)
{
	RollupStep *r = (RollupStep *) arg;

	pgstat_report_activity(STATE_RUNNING, "pg_helpdesk rollup: step");
	r->nread = hd_rollup_step(&r->nbuckets);
}

/* One step in its own REPEATABLE READ transaction; false after an error (logged). */
static bool
run_step(int64 *nread, int64 *nbuckets)
{
	RollupStep	r = {0, 0};
	ErrorData  *edata = hd_worker_run_in_xact(rollup_step_lock, rollup_step_body, &r,
											  XACT_REPEATABLE_READ);

	*nread = r.nread;
	*nbuckets = r.nbuckets;
	if (edata)
	{
		ereport(WARNING,
				(errmsg("pg_helpdesk rollup worker: step failed: %s", edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0));
		FreeErrorData(edata);
	}
	return edata == NULL;
}

/* this process's CPU time so far (user + system), microseconds */
static int64
cpu_time_us(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (int64) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000
		+ ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/*
 * The least time from the start of one step to the start of the next, from
 * the CPU time the step took (getrusage: on a saturated machine its wall
 * time is mostly waiting for a CPU, which costs no one anything).
 * Under load every step recomputes the same few current buckets (and their
 * day), whatever the number of events it read, so its cost is per step,
 * not per event: waiting longer between steps gathers more events into one
 * step and cuts the worker's CPU in proportion. The wait is the step's own
 * CPU time scaled to helpdesk.rollup_max_share (a step of 100 ms at 5 %:
 * 2 s), at least helpdesk.rollup_interval, at most helpdesk.rollup_max_lag
 * (the staleness bound wins over the share). A step that recomputed nothing
 * costs little and does not stretch the wait; nor does a full batch: the
 * log is ahead by more than a batch (a backlog, or more events per gap than
 * a batch holds), and stretching the wait then would let the lag grow
 * without bound. So under steady load the worker alternates gathered steps
 * with full ones, and a backlog is read at rollup_interval.
 */
static long
step_gap_ms(int64 cpu_us, int64 nbuckets, bool full)
{
	long		took_ms = (long) (cpu_us / 1000);
	long		gap = hd_rollup_interval_ms;

	if (nbuckets > 0 && took_ms > 0 && !full)
		gap = Max(gap, Min((long) hd_rollup_max_lag_ms, took_ms * 100 / hd_rollup_max_share));
	return gap;
}

void
hd_rollup_worker_run(HdWorkerSlot *w)
{
	TimestampTz last_step = 0,
				retry_at = 0;
	long		gap_ms = 0;
	bool		due = true;
	int			failures = 0;
	MemoryContext loop_cxt;

	/* a step lost in a crash is redone from the cursor: no need to wait for the WAL flush */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * The batch expansion's row estimates are pessimistic (millions), which
	 * made every step JIT-compile its statements: seconds on a loaded
	 * machine for a step that runs in milliseconds (events_since sets the
	 * same for the same reason).
	 */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * Reports may lag; routing may not. Recomputing buckets under load took
	 * CPU from the dispatcher on a 2-core machine (routing_stress timers up
	 * to 1.6 s late), so the rollup worker yields the CPU to every other
	 * process of the cluster (workers/priority.c: its scheduling group's
	 * priority, since nice alone weighs nothing between PostgreSQL
	 * processes).
	 */
	hd_worker_lower_priority(10);
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "pg_helpdesk rollup loop",
									 ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		TimestampTz now;
		long		timeout = SWEEP_MS;

		MemoryContextSwitchTo(loop_cxt);
		MemoryContextReset(loop_cxt);
		hd_worker_check_sigterm();
		if (pg_atomic_exchange_u32(&w->pending, 0) != 0)
			due = true;
		now = GetCurrentTimestamp();
		if (now - last_step >= (int64) SWEEP_MS * 1000)
			due = true;

		if (hd_rollup_enabled && due
			&& now - last_step >= (int64) gap_ms * 1000
			&& (failures == 0 || now >= retry_at))
		{
			int64		nread,
						nbuckets;

			int64		cpu0 = cpu_time_us();

			last_step = now;
			if (run_step(&nread, &nbuckets))
			{
				failures = 0;
				/* a full batch: more may wait, go on after the gap */
				due = nread >= hd_rollup_batch;
				gap_ms = step_gap_ms(cpu_time_us() - cpu0, nbuckets, due);
			}
			else
			{
				failures++;
				retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   Min(BACKOFF_MAX_MS, 100L << Min(failures, 9)));
			}
		}

		now = GetCurrentTimestamp();
		if (failures > 0)
			timeout = Max(1L, (long) ((retry_at - now) / 1000));
		else if (due && hd_rollup_enabled)
			timeout = Max(1L, gap_ms - (long) ((now - last_step) / 1000));
		hd_worker_check_sigterm();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			due = true;
		}
	}
}
