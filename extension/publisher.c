/*
 * publisher.c — gives committed events their commit-order position.
 *
 * Writers insert helpdesk.event rows and wake this worker at COMMIT; nothing
 * ever updates an event row. Each pass, in one short transaction:
 *
 *   1. read H, the highest event id handed out so far (the sequence), then X,
 *      the next transaction id, then take a snapshot S;
 *   2. find the ids in (hwm, H] and the remembered "gaps" that S can see;
 *   3. number them after the last position, in id order, and store that as
 *      one helpdesk.event_batch row (a multirange of ids); NOTIFY helpdesk
 *      with the new high-water position.
 *
 * An id in (hwm, H] that S cannot see belongs to a transaction still running
 * or rolled back; it is remembered as a gap with horizon X. Every id is taken
 * by a transaction whose xid already exists (helpdesk._next_event_id), so the
 * transactions that could own a gap all have xids below its X; once a later
 * snapshot's xmin reaches X they have all ended, and a gap that is still
 * invisible was rolled back and is forgotten. Passes are serialised by the
 * row lock on helpdesk.event_cursor and each pass's snapshot is newer than
 * the previous pass's commit, so published positions always form a gap-free
 * prefix in commit order. helpdesk.event_cursor.settled_id persists the id up
 * to which nothing is pending, so a restarted publisher resumes exactly.
 *
 * Errors never kill the loop: a failed pass is logged and retried with
 * backoff; nothing is half-written because a pass is one transaction.
 */
#include "worker.h"

#include "access/transam.h"
#include "access/xact.h"
#include "commands/async.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#define SWEEP_MS 60000			/* safety net for two-phase commits */
#define BACKOFF_MAX_MS 30000

/* An id we could not see yet, and the xid horizon that settles it. */
typedef struct Gap
{
	int64		id;
	TransactionId horizon;
} Gap;

/* Publisher memory: valid only after a committed pass (or at start). */
static bool loaded = false;
static int64 hwm = 0;			/* every id <= hwm is published, a gap, or dead */
static int64 published_max = 0;	/* after a restart: ids up to here may be in a batch */
static Gap *gaps = NULL;
static int	ngaps = 0;

static HdPlan lock_cursor = {
	"SELECT last_pos, settled_id FROM helpdesk.event_cursor FOR UPDATE", 0, {}
};
static HdPlan read_sequence = {
	"SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END "
	"FROM helpdesk.event_id_seq", 0, {}
};
/* visible ids in a range, and whether a batch already holds them */
static HdPlan visible_range = {
	"SELECT id, false FROM helpdesk.event WHERE id > $1 AND id <= $2 ORDER BY id",
	2, {INT8OID, INT8OID}
};
/* after a restart, ids above settled_id may already be in a batch */
static HdPlan visible_range_after_restart = {
	"SELECT e.id, EXISTS (SELECT 1 FROM helpdesk.event_batch b "
	"                     WHERE b.max_id > $1 AND b.ids @> e.id) "
	"FROM helpdesk.event e WHERE e.id > $1 AND e.id <= $2 ORDER BY e.id",
	2, {INT8OID, INT8OID}
};
static HdPlan max_published = {
	"SELECT coalesce(max(max_id), 0) FROM helpdesk.event_batch", 0, {}
};
static HdPlan visible_gaps = {
	"SELECT id, false FROM helpdesk.event WHERE id = ANY ($1) ORDER BY id", 1, {INT8ARRAYOID}
};
static HdPlan insert_batch = {
	"INSERT INTO helpdesk.event_batch (first_pos, last_pos, ids, max_id) "
	"VALUES ($1, $2, $3::int8multirange, $4)",
	4, {INT8OID, INT8OID, TEXTOID, INT8OID}
};
static HdPlan save_cursor = {
	"UPDATE helpdesk.event_cursor SET last_pos = $1, settled_id = $2, published_at = now()",
	2, {INT8OID, INT8OID}
};

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a,
				y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/*
 * Run a read-only plan under the given snapshot; collect column 1, and in
 * *published column 2 (true: already in a batch).
 */
static int64 *
collect_ids(HdPlan *p, Datum *values, Snapshot snap, int *n, bool **published)
{
	int64	   *ids;
	uint64		i;
	int			rc;

	rc = SPI_execute_snapshot(hd_plan(p), values, NULL, snap, InvalidSnapshot, true, false, 0);
	if (rc < 0)
		elog(ERROR, "pg_helpdesk: SPI_execute_snapshot failed (%s)", SPI_result_code_string(rc));
	*n = (int) SPI_processed;
	ids = palloc(sizeof(int64) * Max(*n, 1));
	*published = palloc(sizeof(bool) * Max(*n, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
											 1, &isnull));
		(*published)[i] = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 2, &isnull));
	}
	return ids;
}

/* Sorted ids as an int8multirange literal: {[1,4),[7,8)} */
static char *
multirange_literal(int64 *ids, int n)
{
	StringInfoData buf;
	int			i = 0;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	while (i < n)
	{
		int			j = i;

		while (j + 1 < n && ids[j + 1] == ids[j] + 1)
			j++;
		appendStringInfo(&buf, "%s[" INT64_FORMAT "," INT64_FORMAT ")",
						 i > 0 ? "," : "", ids[i], ids[j] + 1);
		i = j + 1;
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

static bool
contains(int64 *sorted, int n, int64 id)
{
	return bsearch(&id, sorted, n, sizeof(int64), cmp_int64) != NULL;
}

/*
 * One publishing transaction over ids up to at most hwm + batch. Returns the
 * number of events published, and in *more whether ids remain above the
 * range handled. New state is stored only once the transaction committed.
 */
static int64
publish_pass(bool *more, bool *gone)
{
	int64		last_pos = 0,
				settled = 0,
				top = 0,
				upper,
				new_hwm;
	TransactionId horizon;
	Snapshot	snap;
	int64	   *seen,
			   *found_gaps = NULL;
	bool	   *seen_published,
			   *unused;
	int			nseen,
				nfound = 0,
				i,
				nnew = 0;
	Gap		   *new_gaps;
	int64	   *publish;
	int			npublish = 0;
	MemoryContext worker_cxt = TopMemoryContext;

	*more = false;
	*gone = false;
	if (!hd_extension_present())
	{
		*gone = true;
		return 0;
	}
	hd_exec(&lock_cursor, NULL, NULL, false, 1);
	if (SPI_processed != 1)
		elog(ERROR, "helpdesk.event_cursor has no row");
	hd_get_int64(1, &last_pos);
	hd_get_int64(2, &settled);
	if (!loaded)
	{
		hwm = settled;
		ngaps = 0;
		hd_exec(&max_published, NULL, NULL, false, 1);
		hd_get_int64(1, &published_max);
	}

	/* 1. H, then X, then the snapshot */
	hd_exec(&read_sequence, NULL, NULL, false, 1);
	hd_get_int64(1, &top);
	horizon = ReadNextTransactionId();
	snap = RegisterSnapshot(GetLatestSnapshot());

	upper = Min(top, hwm + hd_publisher_batch_size);
	*more = (upper < top);

	/* 2. what became visible */
	{
		Datum		v[2] = {Int64GetDatum(hwm), Int64GetDatum(upper)};

		seen = collect_ids(hwm >= published_max ? &visible_range : &visible_range_after_restart,
						   v, snap, &nseen, &seen_published);
	}
	if (ngaps > 0)
	{
		Datum	   *elems = palloc(sizeof(Datum) * ngaps);
		Datum		v[1];

		for (i = 0; i < ngaps; i++)
			elems[i] = Int64GetDatum(gaps[i].id);
		v[0] = PointerGetDatum(construct_array(elems, ngaps, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		found_gaps = collect_ids(&visible_gaps, v, snap, &nfound, &unused);
	}

	/* the next gap list: old gaps still open, plus new invisible ids */
	new_gaps = MemoryContextAlloc(worker_cxt, sizeof(Gap) * (ngaps + (upper - hwm) + 1));
	for (i = 0; i < ngaps; i++)
	{
		if (contains(found_gaps, nfound, gaps[i].id))
			continue;			/* committed: published below */
		if (TransactionIdPrecedesOrEquals(gaps[i].horizon, snap->xmin))
			continue;			/* every possible owner ended: rolled back */
		new_gaps[nnew++] = gaps[i];
	}
	{
		int			k = 0;
		int64		id;

		for (id = hwm + 1; id <= upper; id++)
		{
			while (k < nseen && seen[k] < id)
				k++;
			if (k < nseen && seen[k] == id)
				continue;
			if (TransactionIdPrecedesOrEquals(horizon, snap->xmin))
				continue;		/* no transaction was running: rolled back */
			new_gaps[nnew].id = id;
			new_gaps[nnew].horizon = horizon;
			nnew++;
		}
	}
	new_hwm = upper;
	UnregisterSnapshot(snap);

	/* 3. number and record them */
	publish = palloc(sizeof(int64) * (nseen + nfound + 1));
	for (i = 0; i < nseen; i++)
		if (!seen_published[i])
			publish[npublish++] = seen[i];
	for (i = 0; i < nfound; i++)
		publish[npublish++] = found_gaps[i];
	qsort(publish, npublish, sizeof(int64), cmp_int64);
	{
		int64		new_settled = new_hwm;
		Datum		v[4];

		for (i = 0; i < nnew; i++)
			new_settled = Min(new_settled, new_gaps[i].id - 1);
		if (npublish > 0)
		{
			char		buf[32];

			v[0] = Int64GetDatum(last_pos + 1);
			v[1] = Int64GetDatum(last_pos + npublish);
			v[2] = CStringGetTextDatum(multirange_literal(publish, npublish));
			v[3] = Int64GetDatum(publish[npublish - 1]);
			hd_exec(&insert_batch, v, NULL, false, 0);
			last_pos += npublish;
			snprintf(buf, sizeof(buf), INT64_FORMAT, last_pos);
			Async_Notify("helpdesk", buf);
		}
		if (npublish > 0 || new_settled != settled)
		{
			v[0] = Int64GetDatum(last_pos);
			v[1] = Int64GetDatum(new_settled);
			hd_exec(&save_cursor, v, NULL, false, 0);
		}
	}

	/* caller commits; only then does the new state become ours */
	if (gaps)
		pfree(gaps);
	gaps = new_gaps;
	ngaps = nnew;
	hwm = new_hwm;
	return npublish;
}

/*
 * Run one pass in its own transaction. Returns events published, or -1 on
 * error (logged). On error the in-memory state is reloaded from the table.
 */
static int64
run_pass(bool *more, bool *gone)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile int64 n = 0;
	int64		saved_hwm = hwm;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "pg_helpdesk: publishing events");
		n = publish_pass(more, gone);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		loaded = true;
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
				 errhint("Publishing is retried with backoff; events are kept meanwhile.")));
		FreeErrorData(edata);
		/* the state may have advanced before the failure: start over from the table */
		loaded = false;
		hwm = saved_hwm;
		n = -1;
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	return n;
}

typedef enum PassResult
{
	PASS_OK,
	PASS_FAILED,
	PASS_EXTENSION_GONE
} PassResult;

static PassResult
publish_all(void)
{
	for (;;)
	{
		bool		more,
					gone;
		int64		n = run_pass(&more, &gone);

		if (gone)
			return PASS_EXTENSION_GONE;
		if (n < 0)
			return PASS_FAILED;
		if (!more)
			return PASS_OK;
		CHECK_FOR_INTERRUPTS();
		hd_worker_check_sigterm();
	}
}

/*
 * Main loop: sleep on the latch; publish when a committing backend set our
 * pending flag, after an error backoff, while gaps wait to be settled, or on
 * the slow safety sweep.
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
		/* open gaps settle when their transactions end: look again soon */
		if (ngaps > 0 && failures == 0)
			timeout = Min(timeout, 100L);

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
