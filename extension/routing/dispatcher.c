/*
 * dispatcher.c — the per-database dispatcher worker: the only writer of
 * assignments, and the clock of every routing timer.
 *
 * Backends that change something routing depends on (a session enters a
 * queue, a slot frees up, an agent comes online, capacity or skills change)
 * set our pending flag and latch at COMMIT. Each loop iteration runs, each
 * in its own short transaction:
 *
 *   timers     when the earliest due time has come (dispatch_timers.c)
 *   assign     when woken, or when the last pass left work (dispatch_match.c)
 *   registered the stages other subsystems add (routing.h,
 *              dispatch_stages.c), each when due, when it asked for more,
 *              or when woken
 *   positions  every helpdesk.position_interval while sessions wait
 *
 * and then sleeps until the next due time, the next position refresh or a
 * wakeup. A failing stage is logged and retried with backoff; per-row
 * failures are handled inside the stages, so a bad row never stops routing.
 */
#include "dispatch.h"
#include "worker.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#define IDLE_SLEEP_MS 60000
#define BACKOFF_MAX_MS 30000

typedef enum Stage
{
	STAGE_ASSIGN,
	STAGE_DUE,					/* the due times, after an assignment pass */
	STAGE_POSITIONS,
	STAGE_REGISTERED			/* one of hd_dispatch_stage(): run_stage's ext */
} Stage;

static const char *const stage_names[] = {"assignment", "due times", "positions", "registered"};

/*
 * How long the work after an assignment pass (its due times, the stages
 * woken with it, positions) may wait while wakes keep coming: see
 * serve_wake_first.
 */
#define DEFER_AFTER_PASS_US 10000

static TimestampTz next_due = 0;	/* 0: nothing scheduled */
static TimestampTz timers_began = 0;	/* when the latest timers run started */
static bool have_waiting = true;

/* per registered stage (routing.h): its next due time, and whether it wants more */
static TimestampTz ext_due[HD_MAX_DISPATCH_STAGES];
static bool ext_more[HD_MAX_DISPATCH_STAGES];

static void
stage_next_due(void *arg)
{
	int			i = *(int *) arg;

	ext_due[i] = hd_dispatch_stage(i)->next_due();
}

/*
 * Every registered stage's next due time, each in a subtransaction: a
 * lookup that fails keeps the stage's old due time (it runs then and fails
 * or succeeds on its own) and does not fail the assignment pass.
 */
static void
refresh_registered_due(void)
{
	int			i;

	for (i = 0; i < hd_dispatch_stage_count(); i++)
	{
		char	   *err = NULL;

		if (!hd_run_in_subxact(stage_next_due, &i, &err))
			ereport(WARNING,
					(errmsg("pg_helpdesk dispatcher: next due time of %s failed: %s",
							hd_dispatch_stage(i)->name, err)));
	}
}

/*
 * Run one stage in its own transaction. Returns false after an error (the
 * transaction is rolled back and the error logged). *gone is set when the
 * extension was dropped.
 */
static bool
run_stage(Stage stage, int ext, int *result, bool *more, bool *gone)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile bool ok = true;

	*result = 0;
	*more = false;
	*gone = false;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		hd_worker_in_pass = true;
		if (!hd_extension_present())
			*gone = true;
		else
		{
			SPI_connect();
			PushActiveSnapshot(GetTransactionSnapshot());
			pgstat_report_activity(STATE_RUNNING, stage == STAGE_ASSIGN
									? "pg_helpdesk: assigning sessions"
									: stage == STAGE_DUE
									? "pg_helpdesk: due times"
									: stage == STAGE_POSITIONS
									? "pg_helpdesk: queue positions"
									: hd_dispatch_stage(ext)->name);
			switch (stage)
			{
				case STAGE_ASSIGN:
					*result = hd_dispatch_assign(more);
					/* our own load changes need no second pass (wake.c) */
					hd_wake_skip_self_at_commit(HD_WORKER_DISPATCHER);
					break;
				case STAGE_DUE:

					/*
					 * The placements committed in a transaction of their
					 * own, before this one, so that nobody waits for the
					 * due times to hear of an assignment (they were a
					 * third of a pass's time at 100 sessions/s). They
					 * see the offers just made.
					 */
					refresh_registered_due();
					next_due = hd_dispatch_next_due((bool *) &have_waiting);
					break;
				case STAGE_POSITIONS:
					*result = hd_dispatch_positions();
					break;
				case STAGE_REGISTERED:

					/*
					 * "Now" is the transaction's start, the time now() writes
					 * into what the stage records: with the clock read here
					 * instead, a row due between the two fired with events
					 * stamped before its due time (e2e autoclose_timers saw
					 * 54 of 2,000 on a loaded machine). A row due meanwhile
					 * is still due at the next wake, a moment later.
					 */
					*result = hd_dispatch_stage(ext)->run(GetCurrentTransactionStartTimestamp(), more);
					ext_due[ext] = hd_dispatch_stage(ext)->next_due();
					break;
			}

			SPI_finish();
			PopActiveSnapshot();
		}
		CommitTransactionCommand();
		hd_worker_in_pass = false;
	}
	PG_CATCH();
	{
		ErrorData  *edata = hd_worker_abort_pass(oldcxt);

		ereport(WARNING,
				(errmsg("pg_helpdesk dispatcher: %s stage failed: %s",
						stage == STAGE_REGISTERED ? hd_dispatch_stage(ext)->name
						: stage_names[stage],
						edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
				 errhint("Retried with backoff; nothing of the failed stage was written.")));
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}

/*
 * Timers commit item by item (dispatch_timers.c), so they run outside
 * run_stage's single transaction, in a memory context reset every time.
 */
static bool
run_timers(bool *retry_soon)
{
	static MemoryContext cxt = NULL;
	MemoryContext oldcxt;
	volatile bool ok = true;

	if (cxt == NULL)
		cxt = AllocSetContextCreate(TopMemoryContext, "pg_helpdesk timers",
									ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);
	timers_began = GetCurrentTimestamp();
	pgstat_report_activity(STATE_RUNNING, "pg_helpdesk: routing timers");
	PG_TRY();
	{
		hd_worker_in_pass = true;
		*retry_soon = hd_dispatch_timers() < 0;
		hd_worker_in_pass = false;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		hd_worker_in_pass = false;
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		if (IsTransactionState())
			AbortCurrentTransaction();
		ereport(WARNING,
				(errmsg("pg_helpdesk dispatcher: timers stage failed: %s", edata->message),
				 errhint("Retried with backoff; timers that fired before the failure are kept.")));
		ok = false;
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(cxt);
	return ok;
}

/*
 * Run every registered stage that is due, asked for more, or (woken, and
 * run_on_wake) may have new work. Each runs in its own transaction, so one stage's failure
 * neither rolls back nor delays another's work beyond the shared backoff.
 */
static bool
run_registered(bool woken, bool *gone)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		ok = true;
	int			i;

	for (i = 0; i < hd_dispatch_stage_count() && !*gone; i++)
	{
		int			result;
		bool		more = false;

		if (!(woken && hd_dispatch_stage(i)->run_on_wake) && !ext_more[i] &&
			(ext_due[i] == 0 || now < ext_due[i]))
			continue;
		if (run_stage(STAGE_REGISTERED, i, &result, &more, gone))
			ext_more[i] = more;
		else
		{
			ext_more[i] = false;
			ok = false;
		}
	}
	return ok;
}

static bool
registered_want_more(void)
{
	int			i;

	for (i = 0; i < hd_dispatch_stage_count(); i++)
		if (ext_more[i])
			return true;
	return false;
}

/* the earliest due time over the registered stages, 0 when none */
static TimestampTz
registered_next_due(void)
{
	TimestampTz due = 0;
	int			i;

	for (i = 0; i < hd_dispatch_stage_count(); i++)
		if (ext_due[i] != 0 && (due == 0 || ext_due[i] < due))
			due = ext_due[i];
	return due;
}

/*
 * Tell the backends how far behind we are (backpressure.c): since the
 * oldest due timer that no timers run has begun after, or the oldest wake
 * no assignment pass has begun after, whichever is older. A timer due
 * before the latest run began was that run's to fire: if it is still due, a
 * backend holds its row locked (it is retried in 20 ms) or the run had more
 * than a batch; neither is a reason for the clients to wait, and a client
 * that keeps a session locked in a long transaction must not make every
 * other call wait. So a timer counts from the later of its due time and the
 * latest run's start; 0 when neither is pending, or when unseen_since is
 * -1 (a stage failed and we back off).
 */
static void
publish_behind(HdWorkerSlot *w, TimestampTz now, TimestampTz unseen_since)
{
	TimestampTz since = next_due != 0 && now >= next_due ? Max(next_due, timers_began) : 0;

	if (unseen_since < 0)
		since = 0;				/* failing: backing off */
	else if (unseen_since != 0 && (since == 0 || unseen_since < since))
		since = unseen_since;
	hd_dispatch_set_behind(w, since);
}

/*
 * Whether to go straight back to an assignment pass, leaving the work after
 * the last one (its due times, the stages woken with it, positions) for
 * later: a backend's wake arrived during the pass, and that work has not
 * waited DEFER_AFTER_PASS_US yet. At 100 sessions/s an enqueue that came
 * during that work waited for all of it (its p99 was twice the pass's);
 * under load it now runs every 10 ms rather than after every pass. The
 * timers' next due time may be up to that much stale: timers already known
 * still fire on time, and the new ones are offers and idle checks due
 * seconds away.
 */
static bool
serve_wake_first(HdWorkerSlot *w, TimestampTz *deferred_since)
{
	TimestampTz now;

	if (pg_atomic_read_u32(&w->pending) == 0)
		return false;
	now = GetCurrentTimestamp();
	if (*deferred_since == 0)
		*deferred_since = now;
	return now - *deferred_since < DEFER_AFTER_PASS_US;
}

void
hd_dispatcher_run(HdWorkerSlot *w)
{
	bool		assign = true;	/* place what queued up while we were down */
	bool		timers = true;	/* and fire what came due */
	bool		woken = true;	/* registered stages: run them all once at start */
	TimestampTz last_positions = 0;
	TimestampTz retry_at = 0;
	TimestampTz unseen_since = 0;	/* oldest wake no pass has begun after */
	TimestampTz deferred_since = 0; /* the work after a pass waits since */
	bool		due_owed = true;	/* a pass ran since the due times were read */
	int			failures = 0;

	/*
	 * The dispatcher's commits need not wait for the WAL flush: a decision
	 * lost in a crash left its rows as they were (still queued, still due),
	 * so it is simply taken again; and nobody hears of a decision before the
	 * publisher's batch naming its events commits, synchronously, which
	 * flushes the WAL past ours. This keeps a burst of due timers (one
	 * transaction each) from queueing behind fsyncs.
	 */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * Our statements take arrays of keys and their plans do not depend on
	 * the values, but the plan cache keeps building custom plans for them
	 * (a fifth of a pass went to the planner). Generic plans are rebuilt
	 * when the tables they read double in size (plan_refresh.c, run by
	 * the publisher).
	 */
	SetConfigOption("plan_cache_mode", "force_generic_plan", PGC_SUSET, PGC_S_OVERRIDE);

	for (;;)
	{
		TimestampTz now;
		long		timeout = IDLE_SLEEP_MS;
		bool		ok = true,
					more = false,
					gone = false,
					retry_soon = false;
		int			result;
		int			rc;

		hd_worker_check_sigterm();
		now = GetCurrentTimestamp();
		if (pg_atomic_exchange_u32(&w->pending, 0) != 0)
		{
			TimestampTz woke = hd_dispatch_take_wake(w, now);

			assign = woken = true;
			if (unseen_since == 0 || woke < unseen_since)
				unseen_since = woke;
		}
		if (next_due != 0 && now >= next_due)
			timers = true;
		publish_behind(w, now, failures > 0 ? -1 : unseen_since);
		if (hd_dispatch_retry_at != 0 && now >= hd_dispatch_retry_at)
			assign = true;		/* a cool-down of declined sessions ended */

		if (failures > 0 && now < retry_at)
			timeout = Max(1L, (long) ((retry_at - now) / 1000));
		else
		{
			if (timers)
			{
				ok = run_timers(&retry_soon);
				if (ok)
				{
					timers = false;
					assign = true;	/* requeued sessions; also refreshes next_due */
				}
			}
			if (ok && !gone && assign)
			{
				TimestampTz pass_start = GetCurrentTimestamp();

				unseen_since = 0;	/* this pass's snapshot sees those changes */

				ok = run_stage(STAGE_ASSIGN, 0, &result, &more, &gone);
				hd_worker_count_pass(w, GetCurrentTimestamp() - pass_start);
				if (ok)
				{
					assign = more;
					due_owed = true;
				}
			}
			if (ok && !gone && serve_wake_first(w, &deferred_since))
				continue;
			deferred_since = 0;

			/*
			 * Only the assignment pass moves the routing timers' next due
			 * time (it makes offers), besides the timers themselves, which
			 * are followed by a pass. Positions never do, and a registered
			 * stage that closes or requeues a session does it through the
			 * API, which wakes us for a pass. Looking it up after every
			 * stage cost two queries per stage per wakeup (9% of the
			 * dispatcher's CPU under the routing stress test).
			 */
			if (ok && !gone && due_owed)
			{
				ok = run_stage(STAGE_DUE, 0, &result, &more, &gone);
				if (ok)
					due_owed = false;
			}

			/*
			 * A pass under load can take a hundred milliseconds and more;
			 * timers that came due meanwhile fire now, before the other
			 * stages, rather than after them and a sleep.
			 */
			if (ok && !gone && next_due != 0 && GetCurrentTimestamp() >= next_due)
			{
				ok = run_timers(&retry_soon);
				if (ok)
					assign = true;
				else
					timers = true;
			}
			ok = ok && !gone && run_registered(woken, &gone);
			if (ok)
				woken = false;
			now = GetCurrentTimestamp();
			if (ok && !gone && have_waiting &&
				now - last_positions >= (int64) hd_position_interval_ms * 1000)
			{
				ok = run_stage(STAGE_POSITIONS, 0, &result, &more, &gone);
				last_positions = now;
			}
			if (gone)
				hd_worker_exit_absent();
			if (!ok)
			{
				failures++;
				timeout = Min(BACKOFF_MAX_MS, 100L << Min(failures, 9));
				retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout);
				timers = true;
				assign = true;
				woken = true;
			}
			else
				failures = 0;
		}

		if (ok)
		{
			now = GetCurrentTimestamp();
			if (assign || timers || registered_want_more())
				timeout = 0;
			else
			{
				TimestampTz ext = registered_next_due();

				if (ext != 0)
					timeout = Min(timeout, Max(1L, (long) ((ext - now + 999) / 1000)));
				if (next_due != 0)
					timeout = Min(timeout, Max(retry_soon ? 20L : 0L,
											   (long) ((next_due - now + 999) / 1000)));
				if (have_waiting)
					timeout = Min(timeout, Max(1L, (long) ((last_positions - now) / 1000) +
											   hd_position_interval_ms));
				if (hd_dispatch_retry_at != 0)
					timeout = Min(timeout, Max(1L, (long) ((hd_dispatch_retry_at - now + 999) / 1000)));
			}
		}
		if (timeout == 0)
			continue;
		/* clients waiting would not help a failing stage: they wait not */
		publish_behind(w, GetCurrentTimestamp(), failures > 0 ? -1 : unseen_since);
		hd_worker_check_sigterm();
		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		(void) rc;
	}
}
