/*
 * publisher.c — gives committed events their commit-order position.
 *
 * Writers insert helpdesk.event rows with pos NULL and wake this worker at
 * COMMIT. Each pass, in one short transaction, takes the committed rows that
 * have no position yet, numbers them after the highest position handed out,
 * and sends one NOTIFY on channel "helpdesk" whose payload is the new high
 * water mark. Passes are serialised by the row lock on helpdesk.event_cursor,
 * and each pass's snapshot is taken after the previous pass committed, so the
 * published positions always form a gap-free prefix: a reader that follows
 * pos never skips a row that committed after a higher-id row.
 *
 * Errors never kill the loop: a failing batch is retried row by row; a row
 * that fails alone while its successor publishes is quarantined with its
 * error; a failure that hits every row (disk full, lock timeout) is retried
 * with backoff.
 */
#include "worker.h"

#include "access/xact.h"
#include "commands/async.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#define SWEEP_MS 60000			/* safety net for two-phase commits */
#define BACKOFF_MAX_MS 30000

static HdPlan lock_cursor = {
	"SELECT last_pos FROM helpdesk.event_cursor FOR UPDATE", 0, {}
};
static HdPlan max_pos = {
	"SELECT coalesce(max(pos), 0) FROM helpdesk.event", 0, {}
};

/* $1 base position, $2 batch size */
static HdPlan number_batch = {
	"UPDATE helpdesk.event e SET pos = $1 + b.rn "
	"FROM (SELECT p.id, row_number() OVER (ORDER BY p.id) AS rn "
	"      FROM helpdesk.event p "
	"      WHERE p.pos IS NULL "
	"        AND NOT EXISTS (SELECT 1 FROM helpdesk.event_quarantine q "
	"                        WHERE q.event_id = p.id) "
	"      ORDER BY p.id LIMIT $2) b "
	"WHERE e.id = b.id AND e.pos IS NULL",
	2, {INT8OID, INT4OID}
};

/* $1 base position, $2 event id */
static HdPlan number_one = {
	"UPDATE helpdesk.event SET pos = $1 + 1 WHERE id = $2 AND pos IS NULL",
	2, {INT8OID, INT8OID}
};

static HdPlan save_cursor = {
	"UPDATE helpdesk.event_cursor SET last_pos = $1, published_at = now()",
	1, {INT8OID}
};

static HdPlan first_pending = {
	"SELECT p.id FROM helpdesk.event p WHERE p.pos IS NULL "
	"  AND NOT EXISTS (SELECT 1 FROM helpdesk.event_quarantine q WHERE q.event_id = p.id) "
	"ORDER BY p.id LIMIT 2",
	0, {}
};

static HdPlan quarantine = {
	"INSERT INTO helpdesk.event_quarantine (event_id, error) VALUES ($1, $2) "
	"ON CONFLICT (event_id) DO NOTHING",
	2, {INT8OID, TEXTOID}
};

typedef enum PassResult
{
	PASS_OK,
	PASS_FAILED,
	PASS_EXTENSION_GONE
} PassResult;

/* Body of a publishing transaction: number rows and NOTIFY. */
static int64
number_rows(int64 only_id, int limit)
{
	int64		base = 0,
				top = 0,
				n;
	char		buf[32];

	hd_exec(&lock_cursor, NULL, NULL, false, 1);
	if (SPI_processed != 1)
		elog(ERROR, "helpdesk.event_cursor has no row");
	hd_get_int64(1, &base);
	/* never reuse a position, even if someone wrote pos by hand */
	hd_exec(&max_pos, NULL, NULL, true, 1);
	hd_get_int64(1, &top);
	base = Max(base, top);

	if (only_id > 0)
	{
		Datum		v[2] = {Int64GetDatum(base), Int64GetDatum(only_id)};

		hd_exec(&number_one, v, NULL, false, 0);
	}
	else
	{
		Datum		v[2] = {Int64GetDatum(base), Int32GetDatum(limit)};

		hd_exec(&number_batch, v, NULL, false, 0);
	}
	n = (int64) SPI_processed;
	if (n > 0)
	{
		Datum		v[1] = {Int64GetDatum(base + n)};

		hd_exec(&save_cursor, v, NULL, false, 0);
		snprintf(buf, sizeof(buf), INT64_FORMAT, base + n);
		Async_Notify("helpdesk", buf);
	}
	return n;
}

/*
 * Run one publishing transaction. Returns the number of rows numbered, or -1
 * on error (the error is logged and its message copied to *errmsg_out).
 */
static int64
run_pass(int64 only_id, int limit, bool *gone, char **errmsg_out)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile int64 n = 0;

	*gone = false;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "pg_helpdesk: publishing events");
		if (!hd_extension_present())
			*gone = true;
		else
			n = number_rows(only_id, limit);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(WARNING,
				(errmsg("pg_helpdesk publisher: %s", edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
				 only_id > 0 ? errcontext("publishing event %lld", (long long) only_id) : 0));
		if (errmsg_out)
			*errmsg_out = pstrdup(edata->message);
		FreeErrorData(edata);
		n = -1;
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	return n;
}

/* Read the first two unpublished event ids (0 when absent). */
static void
pending_ids(int64 *ids)
{
	uint64		i;

	ids[0] = ids[1] = 0;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	hd_exec(&first_pending, NULL, NULL, true, 2);
	for (i = 0; i < SPI_processed && i < 2; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
											 SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

static void
quarantine_event(int64 id, const char *error)
{
	Datum		v[2] = {Int64GetDatum(id), CStringGetTextDatum(error)};

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	hd_exec(&quarantine, v, NULL, false, 0);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	ereport(WARNING,
			(errmsg("pg_helpdesk publisher: event %lld quarantined: %s", (long long) id, error),
			 errhint("See helpdesk.event_quarantine; fix or delete the row, then delete its quarantine entry.")));
}

/*
 * A batch failed. Find out whether one row is to blame: if the first pending
 * row fails alone and the second publishes, quarantine the first. Returns
 * false when the failure is not row-specific.
 */
static bool
isolate_bad_row(bool *gone)
{
	int64		ids[2];
	char	   *err0 = NULL;

	pending_ids(ids);
	if (ids[0] == 0)
		return true;
	if (run_pass(ids[0], 1, gone, &err0) >= 0)
		return true;			/* it went through this time */
	if (ids[1] == 0)
		return false;			/* cannot tell yet: retry later */
	if (run_pass(ids[1], 1, gone, NULL) < 0)
		return false;			/* everything fails: not the row's fault */
	quarantine_event(ids[0], err0);
	return true;
}

static PassResult
publish_all(void)
{
	for (;;)
	{
		bool		gone;
		int64		n = run_pass(0, hd_publisher_batch_size, &gone, NULL);

		if (gone)
			return PASS_EXTENSION_GONE;
		if (n >= 0)
		{
			if (n < hd_publisher_batch_size)
				return PASS_OK;
			CHECK_FOR_INTERRUPTS();
			hd_worker_check_sigterm();
			continue;
		}
		if (!isolate_bad_row(&gone))
			return gone ? PASS_EXTENSION_GONE : PASS_FAILED;
		if (gone)
			return PASS_EXTENSION_GONE;
	}
}

/*
 * Main loop: sleep on the latch; publish when a committing backend set our
 * pending flag, after an error backoff, or on the slow safety sweep.
 */
void
hd_publisher_run(HdWorkerSlot *w)
{
	bool		work = true;	/* publish what accumulated while we were down */
	int			failures = 0;
	TimestampTz last_pass = 0;

	for (;;)
	{
		long		timeout = SWEEP_MS;
		int			rc;

		hd_worker_check_sigterm();
		if (pg_atomic_exchange_u32(&w->pending, 0) != 0)
			work = true;
		if (work && hd_publisher_min_interval_ms > 0)
		{
			/*
			 * Under load, let commits gather for a moment: one pass (and one
			 * WAL flush) per interval instead of one per committing backend.
			 * An idle system still publishes at once.
			 */
			long		since = (long) ((GetCurrentTimestamp() - last_pass) / 1000);

			if (since < hd_publisher_min_interval_ms)
				pg_usleep((hd_publisher_min_interval_ms - since) * 1000L);
		}
		if (work)
		{
			PassResult r;

			last_pass = GetCurrentTimestamp();
			pg_atomic_write_u32(&w->pending, 0);
			r = publish_all();

			work = false;
			if (r == PASS_EXTENSION_GONE)
				hd_worker_exit_absent();
			if (r == PASS_FAILED)
			{
				failures++;
				timeout = Min(BACKOFF_MAX_MS, 100L << Min(failures, 9));
				work = true;
			}
			else
				failures = 0;
		}

		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (rc & WL_TIMEOUT)
			work = true;
	}
}
