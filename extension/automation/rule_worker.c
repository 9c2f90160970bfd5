/*
 * rule_worker.c — the per-database rules worker (HD_WORKER_RULES): follows
 * the event log for the automation rules and fires the time rules
 * (rule_stage.c, rule_time.c), started and restarted by the launcher like
 * the other workers (workers/launcher.c).
 *
 * A worker of its own rather than a dispatcher stage (which it was): rule
 * actions call the API as a person would, so an action on a session or
 * ticket that a transaction holds waits for that transaction, and 100 rules
 * evaluated for every event of a busy tenant take CPU time in slices; in the
 * dispatcher both delayed routing and trigger-task actions (p99 264-308 ms
 * at 100 triggers/s with 100 rules, bench/trigger_tasks.md).
 *
 * Woken by the publisher after each pass that numbered events (publisher.c:
 * nothing in the posting transactions, one latch a publishing pass, which
 * under load covers many commits), and by upsert_rule. It then runs until
 * it has reached the log's head, one transaction a slice (rule_stage.c),
 * and sleeps until the first time rule's due time (automation_rule_due, its
 * min(due_at) read in the same statement as the cursor), the next wakeup,
 * or a sweep every SWEEP_MS (a prepared transaction that committed later
 * wakes no one). No poll while idle.
 *
 * Failures: one event that cannot be evaluated is skipped in its
 * subtransaction (rule_stage.c); a run that fails as a whole is rolled back,
 * logged and retried with backoff in the same process, and a position that
 * keeps failing is stepped through and its event skipped
 * (hd_rule_follow_failed): never a crash loop. SIGTERM: at the next loop
 * iteration, and inside a run by interrupting lock waits (hd_worker_in_pass).
 */
#include "rule.h"
#include "worker.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#define SWEEP_MS		10000
#define BACKOFF_MAX_MS	30000

typedef struct RulePass
{
	int			done;
	bool		more;
	TimestampTz next_due;
} RulePass;

static void
rule_pass_body(void *arg)
{
	RulePass   *r = (RulePass *) arg;

	/*
	 * Only when there is work: behind the log's head, or a time rule due
	 * (one read; no row locked, no transaction id taken). A database
	 * without enabled rules costs a publishing pass's wake this lookup.
	 */
	r->next_due = hd_rule_next_due();
	if (r->next_due != 0 && r->next_due <= GetCurrentTimestamp())
	{
		pgstat_report_activity(STATE_RUNNING, "pg_helpdesk: automation rules");
		r->done = hd_rule_follow(GetCurrentTimestamp(), &r->more);
		r->next_due = hd_rule_next_due();
	}
}

/*
 * One run in its own transaction: the time rules due, a slice of events, the
 * next due time. False after an error (logged; the transaction rolled back).
 */
static bool
run_pass(HdWorkerSlot *w, int *done, bool *more, TimestampTz *next_due)
{
	TimestampTz start = GetCurrentTimestamp();
	RulePass	r = {0, false, 0};
	ErrorData  *edata = hd_worker_run_in_xact(NULL, rule_pass_body, &r, -1);

	*done = r.done;
	*more = r.more;
	*next_due = r.next_due;
	if (edata)
	{
		hd_rule_follow_failed();
		ereport(WARNING,
				(errmsg("pg_helpdesk rules worker: run failed: %s", edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
				 errhint("Retried with backoff; nothing of the failed run was written.")));
		FreeErrorData(edata);
	}
	hd_worker_count_pass(w, GetCurrentTimestamp() - start);
	return edata == NULL;
}

static void
hd_rule_worker_run(HdWorkerSlot *w)
{
	TimestampTz last_run = 0,
				retry_at = 0,
				next_due = 0;
	bool		due = true;		/* look once at start: what was logged while we were down */
	bool		more = false;
	int			failures = 0;
	MemoryContext loop_cxt;

	/*
	 * As in the dispatcher, where the rules ran before: a run lost in a crash
	 * left the cursor where it was, so it is simply evaluated again (message
	 * actions replay by client_msg_id, webhook deliveries keep their id), and
	 * nobody hears of an action before the publisher's batch naming its
	 * events commits, synchronously, which flushes the WAL past ours.
	 */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	/* the statements' plans do not depend on the values (as in the dispatcher) */
	SetConfigOption("plan_cache_mode", "force_generic_plan", PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * The batch query's estimates (1000 rows of events_since, a subplan per
	 * row) pass the JIT threshold: compiling it took 1.8 s a run on a loaded
	 * machine for 21 events.
	 */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "pg_helpdesk rules loop",
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
		if (more || (next_due != 0 && now >= next_due) ||
			now - last_run >= (int64) SWEEP_MS * 1000)
			due = true;

		if (due && (failures == 0 || now >= retry_at))
		{
			int			done;

			due = false;
			last_run = now;
			if (run_pass(w, &done, &more, &next_due))
				failures = 0;
			else
			{
				failures++;
				more = false;
				due = true;		/* again after the backoff */
				retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   Min(BACKOFF_MAX_MS, 100L << Min(failures, 9)));
			}
		}

		now = GetCurrentTimestamp();
		if (failures > 0)
			timeout = Max(1L, (long) ((retry_at - now) / 1000));
		else if (more)
			continue;			/* behind: the next slice at once (the wake flag is read first) */
		else if (next_due != 0)
			timeout = Min(timeout, Max(0L, (long) ((next_due - now + 999) / 1000)));
		if (timeout == 0)
			continue;
		hd_worker_check_sigterm();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
}

void
hd_rule_register_worker(void)
{
	hd_register_worker(HD_WORKER_RULES, hd_rule_worker_run);
}
