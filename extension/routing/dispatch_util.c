/*
 * dispatch_util.c — small tools of the dispatcher: array parameters for the
 * bulk statements, per-item subtransactions, and marking a bad row so the
 * dispatcher skips it instead of failing on it again and again.
 */
#include "dispatch.h"

#include "access/xact.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

Datum
hd_int8_array(const int64 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = Int64GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
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
 * transaction and SPI connection go on.
 */
bool
hd_run_in_subxact(void (*fn) (void *), void *arg, char **error)
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
		if (error)
			*error = pstrdup(edata->message);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
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
