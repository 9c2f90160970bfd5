/*
 * dispatch_util.c — small tools of the dispatcher: array parameters for the
 * bulk statements, per-item subtransactions, and marking a bad row so the
 * dispatcher skips it instead of failing on it again and again.
 */
#include "dispatch.h"

#include "access/xact.h"
#include "common/int.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

/* an array of a 64-bit type (int8, timestamptz: the same Datum) */
static Datum
int64_array(const int64 *v, int n, Oid type)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = Int64GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, type, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

Datum
hd_int8_array(const int64 *v, int n)
{
	return int64_array(v, n, INT8OID);
}

Datum
hd_int4_array(const int32 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = Int32GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, INT4OID, 4, true, TYPALIGN_INT));
}

Datum
hd_bool_array(const bool *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = BoolGetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, BOOLOID, 1, true, TYPALIGN_CHAR));
}

Datum
hd_float8_array(const double *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = Float8GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

Datum
hd_timestamptz_array(const TimestampTz *v, int n)
{
	return int64_array(v, n, TIMESTAMPTZOID);
}

Datum
hd_text_array(char *const *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

static HdPlan mark_error = {
	"UPDATE helpdesk.session SET dispatch_error = left($3 || ': ' || $4, 1000), "
	"  offer_expires_at = CASE WHEN offer_expires_at IS NOT NULL "
	"                     THEN now() + interval '60 s' END, "
	"  wait_due_at = CASE WHEN wait_due_at IS NOT NULL THEN now() + interval '60 s' END, "
	"  idle_check_at = CASE WHEN idle_check_at IS NOT NULL THEN now() + interval '60 s' END "
	"WHERE tenant_id = $1 AND id = $2",
	4, {INT8OID, INT8OID, TEXTOID, TEXTOID}
};

/*
 * Record that the dispatcher failed on a session: the assignment pass skips
 * rows with dispatch_error set (clear the column to retry), and its timers
 * move a minute out so a failing timer does not fire in a tight loop.
 */
void
hd_mark_session_error(int64 tenant_id, int64 session_id, const char *what, const char *message)
{
	Datum		v[4] = {Int64GetDatum(tenant_id), Int64GetDatum(session_id),
	CStringGetTextDatum(what), CStringGetTextDatum(message)};

	ereport(WARNING,
			(errmsg("pg_helpdesk dispatcher: %s failed for session %lld of tenant %lld: %s",
					what, (long long) session_id, (long long) tenant_id, message),
			 errhint("The session is marked (helpdesk.session.dispatch_error) and skipped; clear the column to retry.")));
	hd_exec(&mark_error, v, NULL, false, 0);
}

/*
 * Run fn(arg) in a subtransaction. On error the subtransaction is rolled
 * back, *error gets the message and false is returned; the caller's
 * transaction and SPI connection go on. With rethrow_cancel, a cancel or
 * shutdown (class 57) is re-raised after the rollback instead: it belongs
 * to the caller, not to one item.
 */
static bool
run_in_subxact(void (*fn) (void *), void *arg, char **error, bool rethrow_cancel)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		if (rethrow_cancel &&
			ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_OPERATOR_INTERVENTION)
			ReThrowError(edata);
		if (error)
			*error = pstrdup(edata->message);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

bool
hd_run_in_subxact(void (*fn) (void *), void *arg, char **error)
{
	return run_in_subxact(fn, arg, error, false);
}

/* as hd_run_in_subxact, but a cancel or shutdown (class 57) is re-raised */
bool
hd_run_in_subxact_rethrow_cancel(void (*fn) (void *), void *arg, char **error)
{
	return run_in_subxact(fn, arg, error, true);
}

/*
 * Run fn(arg) in a transaction of its own, committed at once, so that locks
 * taken for one timer are never held while waiting for the next one's
 * (holding them across items is what deadlocks against backends that lock
 * a session and then its agent). On error the transaction is rolled back,
 * *error gets the message and false is returned.
 */
bool
hd_in_own_xact(void (*fn) (void *), void *arg, char **error)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile bool ok = true;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		fn(arg);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextSwitchTo(oldcxt);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(oldcxt);
		if (error)
			*error = pstrdup(edata->message);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/* ---- settings the dispatcher can trust ---- */

/*
 * An interval as a delay in microseconds, measured as the input checks
 * measure it (hd_interval_usecs: a month 30 days, a day 24 hours, exact), or
 * false when it is negative or longer than HD_MAX_DELAY_US. A stored
 * interval can hold any value (an old input check summed its parts without
 * overflow checks, and a direct UPDATE or a restore checks nothing), and any
 * arithmetic on it in a statement that reads every tenant would fail for all
 * of them.
 */
bool
hd_delay_us(const Interval *iv, int64 *us)
{
	int64		total = hd_interval_usecs(iv);

	if (total < 0 || total > HD_MAX_DELAY_US)
		return false;
	*us = total;
	return true;
}

/* ts + us, or false when ts is not finite or the result leaves the valid range */
bool
hd_ts_plus_us(TimestampTz ts, int64 us, TimestampTz *out)
{
	TimestampTz r;

	if (TIMESTAMP_NOT_FINITE(ts) || pg_add_s64_overflow(ts, us, &r) || !IS_VALID_TIMESTAMP(r))
		return false;
	*out = r;
	return true;
}

/* An interval column (col) of the current SPI row as a delay; NULL gives dflt. */
static bool
delay_col(HeapTuple t, TupleDesc d, int col, int64 dflt, int64 *us)
{
	bool		isnull;
	Datum		x = SPI_getbinval(t, d, col, &isnull);

	if (isnull)
	{
		*us = dflt;
		return true;
	}
	return hd_delay_us(DatumGetIntervalP(x), us);
}

/*
 * A tenant's timing settings from the columns HD_TENANT_COLS, starting at
 * col. Returns NULL when all are usable, else the 'settings:' mark naming
 * the first bad one.
 */
const char *
hd_tenant_times(HeapTuple t, TupleDesc d, int col, HdTenantTimes *out)
{
	bool		isnull;
	int64		beat = 0;
	int32		misses;

	memset(out, 0, sizeof(*out));
	out->tenant_id = DatumGetInt64(SPI_getbinval(t, d, col, &isnull));
	out->mark = SPI_getvalue(t, d, col + 6);
	misses = DatumGetInt32(SPI_getbinval(t, d, col + 2, &isnull));
	if (!delay_col(t, d, col + 1, 0, &beat) || isnull || misses < 1 ||
		beat > HD_MAX_DELAY_US / misses)
		return "settings: heartbeat_interval x heartbeat_misses is out of range";
	out->presence_us = beat * misses;
	if (!delay_col(t, d, col + 3, 0, &out->grace_us))
		return "settings: presence_grace is out of range";
	if (!delay_col(t, d, col + 4, 300 * USECS_PER_SEC, &out->warn_us))
		return "settings: idle_warn_after is out of range";
	if (!delay_col(t, d, col + 5, 120 * USECS_PER_SEC, &out->close_us))
		return "settings: idle_close_after is out of range";
	return NULL;
}

/*
 * A queue's timing settings from the columns HD_QUEUE_COLS, starting at col;
 * the idle settings fall back to the tenant's (NULL: tenant unknown, then the
 * queue's own are only checked). Returns NULL or the 'settings:' mark.
 */
const char *
hd_queue_times(HeapTuple t, TupleDesc d, int col, const HdTenantTimes *tenant,
			   HdQueueTimes *out)
{
	memset(out, 0, sizeof(*out));
	out->mark = SPI_getvalue(t, d, col + 5);
	if (!delay_col(t, d, col, 30 * USECS_PER_SEC, &out->offer_timeout_us))
		return "settings: offer_timeout is out of range";
	if (!delay_col(t, d, col + 1, 0, &out->sticky_window_us))
		return "settings: sticky_window is out of range";
	if (!delay_col(t, d, col + 2, tenant ? tenant->warn_us : 0, &out->warn_us))
		return "settings: idle_warn_after is out of range";
	if (!delay_col(t, d, col + 3, tenant ? tenant->close_us : 0, &out->close_us))
		return "settings: idle_close_after is out of range";
	if (!delay_col(t, d, col + 4, 0, &out->max_wait_us))
		return "settings: max_wait is out of range";
	return NULL;
}

static HdPlan mark_tenant = {
	"WITH l AS (SELECT id FROM helpdesk.tenant WHERE id = $1 "
	"           AND dispatch_error IS DISTINCT FROM $3 FOR NO KEY UPDATE SKIP LOCKED) "
	"UPDATE helpdesk.tenant t SET dispatch_error = $3 FROM l WHERE t.id = l.id "
	"RETURNING 1",
	3, {INT8OID, INT8OID, TEXTOID}
};
static HdPlan mark_queue = {
	"WITH l AS (SELECT tenant_id, id FROM helpdesk.queue WHERE tenant_id = $1 AND id = $2 "
	"           AND dispatch_error IS DISTINCT FROM $3 FOR NO KEY UPDATE SKIP LOCKED) "
	"UPDATE helpdesk.queue q SET dispatch_error = $3 FROM l "
	"WHERE q.tenant_id = l.tenant_id AND q.id = l.id RETURNING 1",
	3, {INT8OID, INT8OID, TEXTOID}
};
static HdPlan mark_agent = {
	"WITH l AS (SELECT tenant_id, id FROM helpdesk.agent WHERE tenant_id = $1 AND id = $2 "
	"           AND dispatch_error IS DISTINCT FROM $3 FOR NO KEY UPDATE SKIP LOCKED) "
	"UPDATE helpdesk.agent a SET dispatch_error = $3 FROM l "
	"WHERE a.tenant_id = l.tenant_id AND a.id = l.id RETURNING 1",
	3, {INT8OID, INT8OID, TEXTOID}
};

static const char *const mark_names[] = {"tenant", "queue", "agent"};

/*
 * Set (error) or clear (NULL) the dispatch_error mark of a tenant, queue or
 * agent (for a tenant, id is its id too). Only a change is written and
 * logged, so a row that stays bad is logged once however many passes skip
 * it. A row some backend holds locked is left for the next look (never
 * waited for: the caller may hold agent locks).
 */
void
hd_mark_row(HdMarkKind kind, int64 tenant_id, int64 id, const char *error)
{
	HdPlan	   *plan = kind == HD_MARK_TENANT ? &mark_tenant
		: kind == HD_MARK_QUEUE ? &mark_queue : &mark_agent;
	Datum		v[3] = {Int64GetDatum(tenant_id), Int64GetDatum(id),
	error ? CStringGetTextDatum(error) : (Datum) 0};

	hd_exec(plan, v, error ? NULL : "  n", false, 0);
	if (SPI_processed == 0)
		return;
	if (error && kind == HD_MARK_TENANT)
		ereport(WARNING,
				(errmsg("pg_helpdesk dispatcher: skipping tenant %lld: %s", (long long) id, error),
				 errhint("The tenant is marked (helpdesk.tenant.dispatch_error, view helpdesk.dispatch_errors) and what needs the failing data is skipped for it; every other tenant goes on. Fix the data: the mark clears itself once it works again.")));
	else if (error)
		ereport(WARNING,
				(errmsg("pg_helpdesk dispatcher: skipping %s %lld of tenant %lld: %s",
						mark_names[kind], (long long) id, (long long) tenant_id, error),
				 errhint("The %s is marked (helpdesk.%s.dispatch_error, view helpdesk.dispatch_errors) and skipped; every other row goes on. Fix the data: the mark clears itself once it works again.",
						 mark_names[kind], mark_names[kind])));
	else if (kind == HD_MARK_TENANT)
		ereport(LOG,
				(errmsg("pg_helpdesk dispatcher: tenant %lld works again; its mark is cleared",
						(long long) id)));
	else
		ereport(LOG,
				(errmsg("pg_helpdesk dispatcher: %s %lld of tenant %lld works again; its mark is cleared",
						mark_names[kind], (long long) id, (long long) tenant_id)));
}

/* A mark wanted during a pass, written at its end (see hd_mark_row). */
void
hd_defer_mark(List **marks, HdMarkKind kind, int64 tenant_id, int64 id, const char *error)
{
	HdMark	   *m = palloc(sizeof(HdMark));

	m->kind = kind;
	m->tenant_id = tenant_id;
	m->id = id;
	m->error = error ? pstrdup(error) : NULL;
	*marks = lappend(*marks, m);
}

static void
write_marks(void *arg)
{
	ListCell   *lc;

	foreach(lc, (List *) arg)
	{
		HdMark	   *m = lfirst(lc);

		hd_mark_row(m->kind, m->tenant_id, m->id, m->error);
	}
}

/* Write deferred marks in a subtransaction: failing to mark never fails a pass. */
void
hd_write_marks(List *marks)
{
	char	   *err = NULL;

	if (marks != NIL && !hd_run_in_subxact(write_marks, marks, &err))
		ereport(LOG, (errmsg("pg_helpdesk dispatcher: could not write marks: %s", err)));
}

/* Is this stored mark one that the given prefix's check may clear? */
bool
hd_mark_is(const char *mark, const char *prefix)
{
	return mark != NULL && strncmp(mark, prefix, strlen(prefix)) == 0;
}

