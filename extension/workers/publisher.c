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
 * The newest event_batch row is the log's position and identity (log_id):
 * batches are dumped, the cursor is not. Every pass compares it with what
 * this publisher last wrote, so batches restored under a running publisher
 * (a restore's CREATE EXTENSION starts it on an empty log) make it rebuild
 * its state instead of numbering the restored events again.
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
/*
 * "Under load": the previous pass published at least this many events, so
 * commits are arriving much faster than passes run (a few events per pass
 * are normal at 1,000 commits/s on a busy machine; a lower threshold there
 * fed itself: the wait gathered enough events to keep waiting). Only then do the next
 * pass's commits gather for helpdesk.publisher_min_interval; below it a
 * commit is published as soon as the publisher is free (commits that
 * arrive during a pass still share the next one).
 */
#define GATHER_MIN_EVENTS 32
#define BACKOFF_MAX_MS 30000

/* An id we could not see yet, and the xid horizon that settles it. */
typedef struct Gap
{
	int64		id;
	TransactionId horizon;
} Gap;

/*
 * Publisher memory. "Committed" state is what the last committed pass left;
 * a pass builds the next gap list in the staging buffer and the two swap
 * only after COMMIT, so a failed pass changes nothing and leaks nothing.
 */
static bool loaded = false;
static int64 hwm = 0;			/* every id <= hwm is published, a gap, or dead */
static int64 published_max = 0;	/* after a reload: ids up to here may be in a batch */
static int64 committed_last_pos = -1;	/* cursor as our last pass left it */
static int64 committed_settled = -1;
static Gap *gaps = NULL;
static int	ngaps = 0;
static int	gaps_cap = 0;
static Gap *staging = NULL;
static int	nstaging = 0;
static int	staging_cap = 0;
static int64 staged_hwm,
			staged_last_pos,
			staged_settled;

static HdPlan lock_cursor = {
	"SELECT last_pos, settled_id, log_id::text FROM helpdesk.event_cursor FOR UPDATE", 0, {}
};
/* the newest batch: the log's position and identity (dumped, unlike the cursor) */
static HdPlan head_batch = {
	"SELECT last_pos, log_id::text, settled_id FROM helpdesk.event_batch ORDER BY last_pos DESC LIMIT 1", 0, {}
};
static HdPlan read_sequence = {
	"SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END, p.seqcache "
	"FROM helpdesk.event_id_seq s, pg_catalog.pg_sequence p "
	"WHERE p.seqrelid = 'helpdesk.event_id_seq'::pg_catalog.regclass", 0, {}
};
/* visible ids in a range, and whether a batch already holds them */
static HdPlan visible_range = {
	"SELECT id, false FROM helpdesk.event WHERE id > $1 AND id <= $2 ORDER BY id",
	2, {INT8OID, INT8OID}
};
/* after a reload, ids above settled_id may already be in a batch */
static HdPlan visible_range_after_reload = {
	"SELECT e.id, EXISTS (SELECT 1 FROM helpdesk.event_batch b "
	"                     WHERE b.max_id >= e.id AND b.ids @> e.id) "
	"FROM helpdesk.event e WHERE e.id > $1 AND e.id <= $2 ORDER BY e.id",
	2, {INT8OID, INT8OID}
};
static HdPlan batch_state = {
	"SELECT coalesce(max(max_id), 0), coalesce(max(last_pos), 0) FROM helpdesk.event_batch", 0, {}
};
static HdPlan visible_gaps = {
	"SELECT id, false FROM helpdesk.event WHERE id = ANY ($1) ORDER BY id", 1, {INT8ARRAYOID}
};
static HdPlan insert_batch = {
	"INSERT INTO helpdesk.event_batch (first_pos, last_pos, ids, max_id, log_id, settled_id) "
	"VALUES ($1, $2, $3::int8multirange, $4, $5::uuid, $6)",
	6, {INT8OID, INT8OID, TEXTOID, INT8OID, TEXTOID, INT8OID}
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
	return n > 0 && bsearch(&id, sorted, n, sizeof(int64), cmp_int64) != NULL;
}

static void
stage_gap(int64 id, TransactionId horizon)
{
	if (nstaging >= staging_cap)
	{
		staging_cap = Max(1024, staging_cap * 2);
		staging = staging ? repalloc(staging, sizeof(Gap) * staging_cap)
			: MemoryContextAlloc(TopMemoryContext, sizeof(Gap) * staging_cap);
	}
	staging[nstaging].id = id;
	staging[nstaging].horizon = horizon;
	nstaging++;
}

/* Forget the in-memory state: the next pass rebuilds it from the tables. */
static void
reload_state(int64 settled, int64 *last_pos)
{
	int64		batch_last = 0;

	hwm = settled;
	ngaps = 0;
	hd_exec(&batch_state, NULL, NULL, false, 1);
	hd_get_int64(1, &published_max);
	hd_get_int64(2, &batch_last);
	/* a restored dump may carry batches but a fresh cursor */
	*last_pos = Max(*last_pos, batch_last);
	loaded = true;
}

/* Record one event_batch row for ids[0..n) from position first, in log log_id. */
static void
insert_batch_row(int64 first, int64 *ids, int n, const char *log_id)
{
	Datum		v[6];

	v[0] = Int64GetDatum(first);
	v[1] = Int64GetDatum(first + n - 1);
	v[2] = CStringGetTextDatum(multirange_literal(ids, n));
	v[3] = Int64GetDatum(ids[n - 1]);
	v[4] = CStringGetTextDatum(log_id);
	v[5] = Int64GetDatum(staged_settled);
	hd_exec(&insert_batch, v, NULL, false, 0);
}

/*
 * One publishing pass, inside the caller's transaction: everything visible
 * in ONE snapshot is numbered in this pass (commit order needs that), stored
 * as event_batch rows of at most helpdesk.publisher_batch_size ids each. The
 * next state is staged; run_pass adopts it after COMMIT.
 */
static int64
publish_pass(bool *gone)
{
	int64		last_pos = 0,
				settled = 0,
				top = 0,
				cache = 1;
	TransactionId horizon;
	Snapshot	snap;
	int64	   *seen,
			   *found_gaps = NULL,
			   *publish;
	bool	   *seen_published,
			   *unused;
	int			nseen,
				nfound = 0,
				npublish = 0,
				i;
	int64		head_pos = 0,
				head_settled = 0,
				cursor_settled;
	char	   *log_id;

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
	cursor_settled = settled;
	log_id = hd_get_text(3);

	/*
	 * The log's head is its newest batch. Batches are dumped and the cursor
	 * is not: a restore (whose CREATE EXTENSION started us on an empty log)
	 * loads batches, events and the sequence under us without touching the
	 * cursor, so the cursor alone cannot tell us our memory is stale.
	 */
	hd_exec(&head_batch, NULL, NULL, false, 1);
	if (SPI_processed == 1)
	{
		hd_get_int64(1, &head_pos);
		log_id = hd_get_text(2);	/* the first batch inherited the cursor's */
		hd_get_int64(3, &head_settled);
	}
	/* someone else changed the cursor or the batches (restore, re-created extension): start over */
	if (loaded && (last_pos != committed_last_pos || settled != committed_settled ||
				   head_pos != committed_last_pos))
		loaded = false;
	if (!loaded)
	{
		/*
		 * A restored cursor says 0: without the newest batch's settled id
		 * every id of the pruned past would be examined (and held as a gap
		 * until the next pass). Either value is a safe lower bound.
		 */
		settled = Max(settled, head_settled);
		reload_state(settled, &last_pos);
	}

	/* 1. H, then X, then the snapshot */
	hd_exec(&read_sequence, NULL, NULL, false, 1);
	hd_get_int64(1, &top);
	hd_get_int64(2, &cache);
	if (cache != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("helpdesk.event_id_seq has CACHE %lld; the publisher needs CACHE 1",
						(long long) cache),
				 errhint("ALTER SEQUENCE helpdesk.event_id_seq CACHE 1;")));
	if (top < hwm)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("helpdesk.event_id_seq went backwards: %lld, but ids up to %lld were already examined",
						(long long) top, (long long) hwm),
				 errhint("Set it past the highest event id: SELECT setval('helpdesk.event_id_seq', "
						 "greatest((SELECT max(id) FROM helpdesk.event), "
						 "(SELECT settled_id FROM helpdesk.event_cursor)));")));
	horizon = ReadNextTransactionId();
	snap = RegisterSnapshot(GetLatestSnapshot());

	/* 2. what became visible */
	{
		Datum		v[2] = {Int64GetDatum(hwm), Int64GetDatum(top)};

		seen = collect_ids(hwm >= published_max ? &visible_range : &visible_range_after_reload,
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

	/* the next gap list: old gaps still open, plus ids nobody can see yet */
	nstaging = 0;
	for (i = 0; i < ngaps; i++)
	{
		if (contains(found_gaps, nfound, gaps[i].id))
			continue;			/* committed: published below */
		if (TransactionIdPrecedesOrEquals(gaps[i].horizon, snap->xmin))
			continue;			/* every possible owner ended: rolled back */
		stage_gap(gaps[i].id, gaps[i].horizon);
	}
	{
		int			k = 0;
		int64		id;

		for (id = hwm + 1; id <= top; id++)
		{
			while (k < nseen && seen[k] < id)
				k++;
			if (k < nseen && seen[k] == id)
				continue;
			if (TransactionIdPrecedesOrEquals(horizon, snap->xmin))
				continue;		/* no transaction was running: rolled back */
			stage_gap(id, horizon);
		}
	}
	UnregisterSnapshot(snap);

	/* 3. number and record them */
	publish = palloc(sizeof(int64) * (nseen + nfound + 1));
	for (i = 0; i < nseen; i++)
		if (!seen_published[i])
			publish[npublish++] = seen[i];
	for (i = 0; i < nfound; i++)
		publish[npublish++] = found_gaps[i];
	qsort(publish, npublish, sizeof(int64), cmp_int64);

	staged_settled = top;
	for (i = 0; i < nstaging; i++)
		staged_settled = Min(staged_settled, staging[i].id - 1);
	staged_settled = Max(staged_settled, settled);
	staged_hwm = top;
	staged_last_pos = last_pos + npublish;

	for (i = 0; i < npublish; i += hd_publisher_batch_size)
		insert_batch_row(last_pos + 1 + i, publish + i,
						 Min(hd_publisher_batch_size, npublish - i), log_id);
	if (npublish > 0)
	{
		char		buf[32];

		snprintf(buf, sizeof(buf), INT64_FORMAT, staged_last_pos);
		Async_Notify("helpdesk", buf);
		/* the HTTP worker feeds webhooks from published events */
		hd_wake_at_commit(HD_WORKER_HTTP);
		/* and the rollup worker, and the rules worker (automation/rule_worker.c) */
		hd_wake_at_commit(HD_WORKER_ROLLUP);
		hd_wake_at_commit(HD_WORKER_RULES);
	}
	if (npublish > 0 || staged_settled != cursor_settled || staged_last_pos != committed_last_pos)
	{
		Datum		v[2] = {Int64GetDatum(staged_last_pos), Int64GetDatum(staged_settled)};

		hd_exec(&save_cursor, v, NULL, false, 0);
	}
	return npublish;
}

/* After COMMIT: the staged state becomes ours (swap buffers, no allocation). */
static void
adopt_staged_state(void)
{
	Gap		   *tmp = gaps;
	int			tmp_cap = gaps_cap;

	gaps = staging;
	gaps_cap = staging_cap;
	ngaps = nstaging;
	staging = tmp;
	staging_cap = tmp_cap;
	nstaging = 0;
	hwm = staged_hwm;
	committed_last_pos = staged_last_pos;
	committed_settled = staged_settled;
}

/*
 * Run one pass in its own transaction. Returns events published, or -1 on
 * error (logged); after an error the state is rebuilt from the tables.
 */
#define PLAN_REFRESH_MS 1000
static TimestampTz last_plan_refresh = 0;

static int64
run_pass(bool *gone)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile int64 n = 0;

	*gone = false;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		hd_worker_in_pass = true;
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "pg_helpdesk: publishing events");
		n = publish_pass(gone);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		hd_worker_in_pass = false;
		if (!*gone)
			adopt_staged_state();
	}
	PG_CATCH();
	{
		ErrorData  *edata = hd_worker_abort_pass(oldcxt);

		ereport(WARNING,
				(errmsg("pg_helpdesk publisher: %s", edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
				 edata->hint ? errhint("%s", edata->hint)
				 : errhint("Publishing is retried with backoff; events are kept meanwhile.")));
		FreeErrorData(edata);
		loaded = false;
		n = -1;
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	return n;
}

/*
 * Every write path appends events, so traffic passes through the publisher:
 * about once a second it refreshes the plans of tables that doubled
 * (plan_refresh.c). That may ANALYZE a table (tens of milliseconds, 120 ms
 * measured at 1,000 messages/s): in its own transaction after a pass has
 * committed and notified, never inside one, so the events of that pass do
 * not wait for it.
 */
static void
run_plan_refresh(void)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	TimestampTz start = GetCurrentTimestamp();
	volatile int n = 0;
	long		ms;

	if (start - last_plan_refresh < PLAN_REFRESH_MS * 1000)
		return;
	last_plan_refresh = start;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		hd_worker_in_pass = true;
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "pg_helpdesk: refreshing plans");
		if (hd_extension_present())
			n = hd_refresh_stale_plans();
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		hd_worker_in_pass = false;
	}
	PG_CATCH();
	{
		ErrorData  *edata = hd_worker_abort_pass(oldcxt);

		ereport(WARNING,
				(errmsg("pg_helpdesk publisher: refreshing plans: %s", edata->message)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	/* publishing waited for this: say so when it was long (an ANALYZE) */
	ms = (long) ((GetCurrentTimestamp() - start) / 1000);
	if (ms >= 10)
		elog(LOG, "pg_helpdesk publisher: refreshing the plans of %d tables took %ld ms (publishing waited)",
			 n, ms);
}

typedef enum PassResult
{
	PASS_OK,
	PASS_FAILED,
	PASS_EXTENSION_GONE
} PassResult;

static PassResult
publish_all(int64 *published)
{
	bool		gone = false;
	int64		n = run_pass(&gone);

	*published = Max(n, 0);
	if (gone)
		return PASS_EXTENSION_GONE;
	return n < 0 ? PASS_FAILED : PASS_OK;
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
	int64		last_published = 0;	/* by the previous pass */
	TimestampTz next_attempt = 0;	/* during backoff, wakeups wait for this */

	for (;;)
	{
		long		timeout = SWEEP_MS;
		int			rc;
		TimestampTz now;

		hd_worker_check_sigterm();
		if (pg_atomic_exchange_u32(&w->pending, 0) != 0)
			work = true;
		now = GetCurrentTimestamp();
		if (work && failures > 0 && now < next_attempt)
		{
			/* backing off: committing backends keep waking us; let them */
			timeout = Max(1L, (long) ((next_attempt - now) / 1000));
			work = false;
			pg_atomic_write_u32(&w->pending, 1);
		}
		else if (work && hd_publisher_min_interval_ms > 0 &&
				 last_published >= GATHER_MIN_EVENTS)
		{
			/*
			 * Under load, let commits gather for a moment: one pass (and one
			 * WAL flush) per interval instead of one per committing backend.
			 * At low load (the previous pass had few events) there is no
			 * wait: an event is published as soon as its commit wakes us.
			 */
			long		since = (long) ((now - last_pass) / 1000);

			if (since < hd_publisher_min_interval_ms)
				pg_usleep((hd_publisher_min_interval_ms - since) * 1000L);
		}
		if (work)
		{
			PassResult r;

			last_pass = GetCurrentTimestamp();
			pg_atomic_write_u32(&w->pending, 0);
			r = publish_all(&last_published);
			work = false;
			if (r == PASS_EXTENSION_GONE)
				hd_worker_exit_absent();
			if (r == PASS_OK)
				run_plan_refresh();
			if (r == PASS_FAILED)
			{
				failures++;
				timeout = Min(BACKOFF_MAX_MS, 100L << Min(failures, 9));
				next_attempt = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout);
				work = true;
			}
			else
				failures = 0;
		}
		/* open gaps settle when their transactions end: look again soon */
		if (ngaps > 0 && failures == 0)
			timeout = Min(timeout, 100L);

		hd_worker_check_sigterm();	/* a lock wait in the pass may have eaten the latch */
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
