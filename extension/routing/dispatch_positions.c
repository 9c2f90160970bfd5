/*
 * dispatch_positions.c — where each waiting session stands, and how long it
 * may still wait.
 *
 * The dispatcher recomputes positions every helpdesk.position_interval
 * (default 1 s) in one ordered scan of the waiting sessions (O(n) per pass,
 * whatever the number of changes), and writes and pushes only the positions
 * and estimates that changed enough to tell (position_changed,
 * estimate_changed), as queue.position events for the session's customer.
 * The estimate is position / (sessions the queue served in the last 5
 * minutes / 300 s); NULL until the queue served someone.
 */
#include "dispatch.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/builtins.h"

#define RATE_WINDOW_S 300

static HdPlan served_recently = {
	"SELECT w.tenant_id, w.queue_id, "
	"  (SELECT count(*) FROM helpdesk.session_assignment a WHERE a.tenant_id = w.tenant_id "
	"     AND a.queue_id = w.queue_id "
	"     AND a.started_at > now() - make_interval(secs => " CppAsString2(RATE_WINDOW_S) ")) "
	"FROM (SELECT DISTINCT tenant_id, queue_id FROM helpdesk.session WHERE state = 'queued' "
	"      AND " HD_PLACED("tenant_id") ") w "
	"ORDER BY 1, 2",
	0, {}
};
static HdPlan waiting_in_order = {
	"SELECT tenant_id, queue_id, id, queue_position, estimated_wait_s "
	"FROM helpdesk.session WHERE state = 'queued' AND " HD_PLACED("tenant_id") " "
	"ORDER BY tenant_id, queue_id, rank_at, id",
	0, {}
};
static HdPlan push_positions = {
	"WITH d AS (SELECT * FROM unnest($1::int8[], $2::int8[], $3::int4[], $4::int4[]) "
	"           AS d(tenant_id, id, pos, wait_s)), "
	"u AS (UPDATE helpdesk.session s SET queue_position = d.pos, estimated_wait_s = d.wait_s "
	"      FROM d WHERE s.tenant_id = d.tenant_id AND s.id = d.id AND s.state = 'queued' "
	"      RETURNING s.tenant_id, s.id, s.queue_id, d.pos, d.wait_s) "
	"INSERT INTO helpdesk.event (tenant_id, audience, audience_id, session_id, type, payload) "
	"SELECT tenant_id, 'session', id, id, 'queue.position', "
	"       jsonb_build_object('queue_id', queue_id, 'position', pos, "
	"                          'estimated_wait_s', wait_s) FROM u",
	4, {INT8ARRAYOID, INT8ARRAYOID, INT4ARRAYOID, INT4ARRAYOID}
};

static int32
estimate(int64 position, int64 served)
{
	if (served <= 0)
		return -1;
	return (int32) Min(86400, (position * RATE_WINDOW_S + served - 1) / served);
}

/*
 * Has the place moved enough to tell the customer? Within the first
 * POSITION_EXACT every move, at every pass. Further back, a move by a tenth,
 * and such a session is looked at only every POSITION_SLOW_EVERY-th pass
 * (chosen by its id, so the work spreads over the passes). Telling every
 * move rewrote every waiting session once a second whenever the head of a
 * long queue moved: with 5,000 waiting, 5,000 session updates and events a
 * second, 42% of the dispatcher's CPU under the routing stress test, and
 * that transaction's row locks stalled the clients' calls. Nobody 200th in
 * line needs to hear of each step the line takes.
 */
#define POSITION_EXACT 10
#define POSITION_SLOW_EVERY 10

static uint32 positions_pass = 0;

static bool
position_changed(int32 old, int64 new)
{
	if (old <= POSITION_EXACT || new <= POSITION_EXACT)
		return old != new;
	return Abs(new - old) * 10 >= old;
}

/* Has the estimate moved enough to tell the customer (10 % or 10 s)? */
static bool
estimate_changed(int32 old, int32 new)
{
	if (old < 0 || new < 0)
		return old != new;
	return Abs(new - old) >= Max(10, old / 10);
}

int
hd_dispatch_positions(void)
{
	int			nq,
				n,
				i,
				k = 0,
				out = 0;
	int64	   *qt,
			   *qid,
			   *qserved;
	int64	   *t,
			   *id;
	int32	   *pos,
			   *wait;
	int64		cur_t = -1,
				cur_q = -1,
				position = 0,
				served = 0;
	bool	   *wait_null;

	positions_pass++;
	hd_exec(&served_recently, NULL, NULL, false, 0);
	nq = (int) SPI_processed;
	qt = palloc(sizeof(int64) * Max(nq, 1));
	qid = palloc(sizeof(int64) * Max(nq, 1));
	qserved = palloc(sizeof(int64) * Max(nq, 1));
	for (i = 0; i < nq; i++)
	{
		bool		isnull;

		qt[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		qid[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		qserved[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull));
	}

	hd_exec(&waiting_in_order, NULL, NULL, false, 0);
	n = (int) SPI_processed;
	t = palloc(sizeof(int64) * Max(n, 1));
	id = palloc(sizeof(int64) * Max(n, 1));
	pos = palloc(sizeof(int32) * Max(n, 1));
	wait = palloc(sizeof(int32) * Max(n, 1));
	wait_null = palloc(sizeof(bool) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull,
					pnull,
					wnull;
		int64		tenant = DatumGetInt64(SPI_getbinval(tup, d, 1, &isnull));
		int64		queue = DatumGetInt64(SPI_getbinval(tup, d, 2, &isnull));
		int32		old_pos = DatumGetInt32(SPI_getbinval(tup, d, 4, &pnull));
		int32		old_wait = DatumGetInt32(SPI_getbinval(tup, d, 5, &wnull));
		int32		est;

		if (tenant != cur_t || queue != cur_q)
		{
			cur_t = tenant;
			cur_q = queue;
			position = 0;
			served = 0;
			/* both lists are ordered by (tenant, queue): advance the other one */
			while (k < nq && (qt[k] < tenant || (qt[k] == tenant && qid[k] < queue)))
				k++;
			if (k < nq && qt[k] == tenant && qid[k] == queue)
				served = qserved[k];
		}
		position++;
		id[out] = DatumGetInt64(SPI_getbinval(tup, d, 3, &isnull));
		if (!pnull && position > POSITION_EXACT && old_pos > POSITION_EXACT &&
			(uint64) id[out] % POSITION_SLOW_EVERY != positions_pass % POSITION_SLOW_EVERY)
			continue;
		est = estimate(position, served);
		if (!pnull && !position_changed(old_pos, position) &&
			!estimate_changed(wnull ? -1 : old_wait, est))
			continue;
		t[out] = tenant;
		pos[out] = (int32) position;
		wait[out] = est;
		wait_null[out++] = est < 0;
	}
	if (out > 0)
	{
		Datum		v[4];
		Datum	   *wd = palloc(sizeof(Datum) * out);
		int			dims[1] = {out};
		int			lbs[1] = {1};
		ArrayType  *wa;

		for (i = 0; i < out; i++)
			wd[i] = Int32GetDatum(wait[i]);
		wa = construct_md_array(wd, wait_null, 1, dims, lbs, INT4OID, 4, true, TYPALIGN_INT);
		v[0] = hd_int8_array(t, out);
		v[1] = hd_int8_array(id, out);
		v[2] = hd_int4_array(pos, out);
		v[3] = PointerGetDatum(wa);
		hd_exec(&push_positions, v, NULL, false, 0);
		hd_wake_at_commit(HD_WORKER_PUBLISHER);
	}
	return out;
}

static HdPlan live_position = {
	"SELECT s.state, s.queue_id, "
	"  (SELECT count(*) FROM helpdesk.session x WHERE x.tenant_id = s.tenant_id "
	"     AND x.queue_id = s.queue_id AND x.state = 'queued' "
	"     AND (x.rank_at, x.id) < (s.rank_at, s.id)) + 1, "
	"  (SELECT count(*) FROM helpdesk.session_assignment a WHERE a.tenant_id = s.tenant_id "
	"     AND a.queue_id = s.queue_id "
	"     AND a.started_at > now() - make_interval(secs => " CppAsString2(RATE_WINDOW_S) ")) "
	"FROM helpdesk.session s WHERE s.tenant_id = $1 AND s.id = $2",
	2, {INT8OID, INT8OID}
};

PG_FUNCTION_INFO_V1(hd_queue_position);

/* helpdesk.queue_position(tenant_id, session_id): computed now, not cached. */
Datum
hd_queue_position(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "session_id"};
	TupleDesc	tupdesc;
	Datum		out[3] = {0, 0, 0};
	bool		nulls[3] = {true, true, true};
	Datum		v[2];

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "queue_position must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	SPI_connect();
	hd_exec(&live_position, v, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_NOT_FOUND),
				 errmsg("session %lld does not exist in tenant %lld",
						(long long) PG_GETARG_INT64(1), (long long) PG_GETARG_INT64(0))));
	if (strcmp(hd_get_text(1), "queued") == 0)
	{
		int64		q = 0,
					position = 0,
					served = 0;
		int32		est;

		hd_get_int64(2, &q);
		hd_get_int64(3, &position);
		hd_get_int64(4, &served);
		est = estimate(position, served);
		out[0] = Int64GetDatum(q);
		nulls[0] = false;
		out[1] = Int32GetDatum((int32) position);
		nulls[1] = false;
		if (est >= 0)
		{
			Interval   *iv = palloc0(sizeof(Interval));

			iv->time = (int64) est * USECS_PER_SEC;
			out[2] = IntervalPGetDatum(iv);
			nulls[2] = false;
		}
	}
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, out, nulls)));
}
