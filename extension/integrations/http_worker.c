/*
 * http_worker.c — the per-database HTTP worker's loop (HD_WORKER_HTTP).
 *
 * Each turn, each phase in its own short transaction:
 *
 *   prepare   when woken (the publisher published, an API call added work)
 *             or every second: sources turn new input into due rows
 *             (webhooks: published events into deliveries)
 *   claim     when rows may be due and slots are free: claim and build
 *   complete  when requests finished: write their results
 *
 * then one wait on the latch, curl's sockets and the earliest of curl's
 * timer and the next due row (http_engine.c). HTTP never happens inside a
 * transaction. A failing phase is logged and retried with backoff; bad rows
 * are marked by the engine and skipped.
 */
#include "http_engine_int.h"
#include "worker.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

#define SWEEP_MS 1000			/* prepare at least this often without a wakeup */
#define WAKE_COALESCE_MS 20
#define WAKE_COALESCE_MAX_MS 100	/* after a run of turns that found nothing */
#define WAKE_EMPTY_TURNS 4		/* turns in a row that read nothing before coalescing */
#define BLOCKED_MS 200			/* due rows no claim could take (locked, caps) */
#define BACKOFF_MAX_MS 30000

typedef enum Phase
{
	PHASE_RECOVER,
	PHASE_PREPARE,
	PHASE_CLAIM,
	PHASE_COMPLETE,
	PHASE_COMPLETE_EACH,
	PHASE_COMPLETE_CLAIM,
	PHASE_TURN
} Phase;

static const char *const phase_names[] = {"recover", "prepare", "claim", "complete", "complete",
"complete and claim", "turn"};

static TimestampTz next_due = 0;
bool		hd_http_prepare_again = false;
bool		hd_http_prepare_found = false;

/* what PHASE_TURN does, in this order, in one transaction */
static bool turn_complete,
			turn_prepare,
			turn_claim;
static bool turn_more;			/* its prepare wants another round */

static void
claim_all(bool *flag)
{
	int			free_slots = hd_http_engine_free_slots();
	int			i;

	for (i = 0; i < hd_http_nsources && free_slots > 0; i++)
		free_slots -= hd_http_engine_claim(hd_http_sources[i], free_slots);
	*flag = free_slots == 0;
	next_due = 0;
	for (i = 0; i < hd_http_nsources; i++)
	{
		TimestampTz t = hd_http_sources[i]->next_due();

		if (t != 0 && (next_due == 0 || t < next_due))
			next_due = t;
	}
	/* due rows this claim could not take (caps, locks): look again soon, not at once */
	if (next_due != 0 && next_due <= GetCurrentTimestamp())
		next_due = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), BLOCKED_MS);
}

static bool
prepare_all(void)
{
	bool		more = false;
	int			i;

	for (i = 0; i < hd_http_nsources; i++)
		if (hd_http_sources[i]->prepare && hd_http_sources[i]->prepare())
			more = true;
	return more;
}

typedef struct PhaseRun
{
	Phase		phase;
	bool		flag;
} PhaseRun;

static void
phase_body(void *arg)
{
	PhaseRun   *r = (PhaseRun *) arg;
	int			i;

	pgstat_report_activity(STATE_RUNNING, psprintf("pg_helpdesk http: %s", phase_names[r->phase]));
	switch (r->phase)
	{
		case PHASE_RECOVER:
			for (i = 0; i < hd_http_nsources; i++)
				if (hd_http_sources[i]->recover)
					hd_http_sources[i]->recover();
			break;
		case PHASE_PREPARE:
			r->flag = prepare_all();
			break;
		case PHASE_COMPLETE_CLAIM:
			hd_http_engine_complete(false);
			/* FALLTHROUGH */
		case PHASE_CLAIM:
			claim_all(&r->flag);
			break;
		case PHASE_TURN:
			/* results first (slots and window room), then new input, then the claim */
			if (turn_complete)
				hd_http_engine_complete(false);
			turn_more = turn_prepare && prepare_all();
			if (turn_claim)
				claim_all(&r->flag);
			break;
		case PHASE_COMPLETE:
		case PHASE_COMPLETE_EACH:
			hd_http_engine_complete(r->phase == PHASE_COMPLETE_EACH);
			break;
	}
}

/*
 * Run one phase in a transaction; false after an error (rolled back,
 * logged). *flag: prepare wants another round / claim filled its slots.
 */
static bool
run_phase(Phase phase, bool *flag)
{
	PhaseRun	r = {phase, false};
	ErrorData  *edata = hd_worker_run_in_xact(NULL, phase_body, &r, -1);
	bool		ok = (edata == NULL);

	*flag = r.flag;
	if (edata)
	{
		ereport(WARNING,
				(errmsg("pg_helpdesk http worker: %s failed: %s", phase_names[phase], edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0));
		FreeErrorData(edata);
	}
	if (phase == PHASE_COMPLETE || phase == PHASE_COMPLETE_EACH || phase == PHASE_COMPLETE_CLAIM ||
		(phase == PHASE_TURN && turn_complete))
		hd_http_engine_completed(ok);
	if (phase == PHASE_CLAIM || phase == PHASE_COMPLETE_CLAIM || (phase == PHASE_TURN && turn_claim))
		hd_http_engine_claimed(ok);
	return ok;
}

static void
check_sigterm(void)
{
	if (hd_got_sigterm)
	{
		hd_http_engine_shutdown();
		hd_worker_check_sigterm();
	}
}

void
hd_http_worker_run(HdWorkerSlot *w)
{
	bool		recovered = false,
				prepare = true,
				claim = true,
				woken = false,
				found_work = true,
				prepare_after_complete = false;
	TimestampTz last_prepare = 0,
				retry_at = 0;
	int			failures = 0,
				empty_turns = 0;
	long		coalesce_ms = WAKE_COALESCE_MS;
	MemoryContext loop_cxt;

	/*
	 * A result lost in a crash means the request is sent again (at least
	 * once): our commits need not wait for the WAL flush.
	 */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	/* the feed's reading of the log has pessimistic estimates (as events_since): JIT cost seconds a batch */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	/* the worker's own statements are custom-planned: hd_http_exec() */
	hd_http_engine_init();
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "pg_helpdesk http loop",
									 ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		TimestampTz now;
		long		timeout = SWEEP_MS;
		bool		flag,
					ok = true;

		MemoryContextSwitchTo(loop_cxt);
		MemoryContextReset(loop_cxt);
		check_sigterm();
		if (pg_atomic_exchange_u32(&w->pending, 0) != 0)
			woken = true;
		now = GetCurrentTimestamp();

		/*
		 * Wakeups come from every publisher pass (hundreds a second under
		 * load, most with nothing for us): one right after an idle spell, or
		 * while the last prepare found work, is served at once; a burst of
		 * wakeups that bring nothing is coalesced into at most one turn per
		 * coalesce_ms, so an idle HTTP worker does not take the CPU the
		 * dispatcher's timers need on a small machine. The window doubles
		 * with every turn in a row that found nothing (20 ms up to 100 ms:
		 * a database without webhooks under the routing stress test took
		 * 50 turns a second, 4% of a core) and is back at 20 ms, and the
		 * next wakeup served at once, as soon as a turn finds work.
		 */
		if (woken && (found_work || now - last_prepare >= (int64) coalesce_ms * 1000))
		{
			prepare = claim = true;
			woken = false;
		}
		if (now - last_prepare >= (int64) SWEEP_MS * 1000)
			prepare = true;
		if (next_due != 0 && now >= next_due)
			claim = true;

		if (failures == 0 || now >= retry_at)
		{
			if (!recovered)
				ok = recovered = run_phase(PHASE_RECOVER, &flag);

			/*
			 * Results, new input and the next claim share one transaction
			 * (one commit per turn); if that fails, results are written one
			 * by one and the others run on their own.
			 */
			if (prepare_after_complete && hd_http_engine_complete_due(NULL))
			{
				prepare = true;
				prepare_after_complete = false;
			}
			if (ok && (prepare || hd_http_engine_complete_due(NULL) ||
					   (claim && hd_http_engine_free_slots() > 0)))
			{
				turn_complete = hd_http_engine_complete_due(NULL);
				turn_prepare = prepare;
				turn_claim = true;
				hd_http_prepare_again = hd_http_prepare_found = false;
				if (run_phase(PHASE_TURN, &flag))
				{
					if (turn_prepare)
					{
						last_prepare = now;
						/*
						 * A wakeup may come for events an earlier turn
						 * already read (its snapshot saw the publisher's
						 * commit before the wakeup arrived): only a run
						 * of turns that read nothing starts coalescing.
						 */
						empty_turns = hd_http_prepare_found ? 0 : empty_turns + 1;
						found_work = empty_turns < WAKE_EMPTY_TURNS;
						coalesce_ms = found_work ? WAKE_COALESCE_MS
							: Min(WAKE_COALESCE_MAX_MS, coalesce_ms * 2);
					}
					prepare = turn_more;
					claim = false;
				}
				else
				{
					if (turn_complete)
						ok = run_phase(PHASE_COMPLETE_EACH, &flag);
					if (ok && turn_prepare)
					{
						ok = run_phase(PHASE_PREPARE, &flag);
						last_prepare = now;
						prepare = ok && flag;
					}
					if (ok && hd_http_engine_free_slots() > 0)
						ok = run_phase(PHASE_CLAIM, &flag);
					claim = !ok;
				}
				/* the window had no room: read on once these results are written */
				if (hd_http_prepare_again)
					prepare_after_complete = true;
			}
			if (!ok)
			{
				failures++;
				retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   Min(BACKOFF_MAX_MS, 100L << Min(failures, 9)));
				prepare = claim = true;
			}
			else
				failures = 0;
		}

		now = GetCurrentTimestamp();
		if (failures > 0)
			timeout = Max(1L, (long) ((retry_at - now) / 1000));
		else if (prepare || hd_http_engine_complete_due(NULL))
			timeout = 0;
		else
		{
			if (next_due != 0)
			{
				long		t = (long) ((next_due - now + 999) / 1000);

				timeout = Min(timeout, Max(0L, t));
			}
			timeout = Min(timeout, Max(0L, SWEEP_MS - (long) ((now - last_prepare) / 1000)));
			if (woken)
				timeout = Min(timeout, Max(1L, coalesce_ms - (long) ((now - last_prepare) / 1000)));
		}
		check_sigterm();
		hd_http_engine_wait(timeout);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
}

/*
 * hd_exec for the worker's own statements with parameters, planned afresh
 * at every execution (CURSOR_OPT_CUSTOM_PLAN; those without are planned
 * once, like any saved plan, and again after an ANALYZE). The queue tables swing from empty to
 * a backlog of thousands and back: a generic plan made while
 * webhook_delivery was empty (a sequential scan) was kept for the backlog
 * and every claim read all of it (165 deliveries/s in the first bench
 * round). Only these statements: a worker-wide plan_cache_mode =
 * force_custom_plan also re-planned the foreign-key checks of every
 * inserted row (a tenth of the worker's time in a drain).
 */
int
hd_http_exec(HdPlan *p, Datum *values, const char *nulls, bool read_only, long count)
{
	if (p->plan == NULL)
	{
		/* without parameters a custom plan is the generic one, made again at every call */
		SPIPlanPtr	plan = SPI_prepare_cursor(p->sql, p->nargs, p->argtypes,
											  p->nargs > 0 ? CURSOR_OPT_CUSTOM_PLAN : 0);

		if (plan == NULL)
			elog(ERROR, "pg_helpdesk: SPI_prepare failed (%s) for: %s",
				 SPI_result_code_string(SPI_result), p->sql);
		SPI_keepplan(plan);
		p->plan = plan;
	}
	return hd_exec(p, values, nulls, read_only, count);
}
