/*
 * sla_stage.c — the dispatcher stage of the SLA: fires warnings and
 * breaches when due and works through recompute requests after policy or
 * calendar edits, and the ticket observer that recomputes a ticket's clocks
 * on each of its changes.
 *
 * next_due is one index lookup (ticket_sla_next) and one for chat sessions
 * (session_sla_due) plus a look at the small sla_recompute table; run takes the due tickets in due order through the
 * same index, so nothing scans the open tickets, and a pass costs the same
 * at ten thousand open tickets as at a million.
 */
#include "sla.h"
#include "dispatch.h"
#include "routing.h"

#include "access/xact.h"

/*
 * Tickets per run: one transaction, so its events become visible together;
 * small enough that the first of a burst is not held back long.
 */
#define SLA_BATCH 200

static bool last_run_more = false;	/* the last run stopped early on purpose */

static HdPlan next_plan = {
	"SELECT least((SELECT t.sla_next_at FROM helpdesk.ticket t WHERE t.sla_next_at IS NOT NULL "
	"AND " HD_PLACED("t.tenant_id") " ORDER BY t.sla_next_at LIMIT 1), "
	"(SELECT s.sla_first_response_due FROM helpdesk.session s WHERE s.sla_first_response_due IS NOT NULL "
	"AND " HD_PLACED("s.tenant_id") " ORDER BY s.sla_first_response_due LIMIT 1)), "
	"EXISTS (SELECT 1 FROM helpdesk.sla_recompute r WHERE " HD_PLACED("r.tenant_id") ")",
	0, {InvalidOid}
};

/* The earliest due time of the SLA's work (now when a recompute request waits), 0 when none. */
static TimestampTz
earliest_due(TimestampTz now)
{
	TimestampTz due = 0;
	bool		isnull;
	Datum		d;

	hd_exec(&next_plan, NULL, NULL, true, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		due = DatumGetTimestampTz(d);
	if (hd_get_bool(2))
		due = now;
	return due;
}

/*
 * Called after every run. Something still due right after a run that did
 * not ask for more is held by a writer's row lock (the run skips locked
 * tickets): look again in 100 ms rather than spin.
 */
static TimestampTz
sla_next_due(void)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz due = earliest_due(now);

	if (due != 0 && due <= now && !last_run_more)
		due = TimestampTzPlusMilliseconds(now, 100);
	return due;
}

typedef struct SlaItem
{
	int64		tenant_id;
	int64		ticket_id;
	TimestampTz now;
	int			fired;
} SlaItem;

static void
fire_one(void *arg)
{
	SlaItem	   *it = arg;

	it->fired = hd_sla_fire(it->tenant_id, it->ticket_id, it->now);
}

static void
recompute_one(void *arg)
{
	SlaItem	   *it = arg;

	hd_sla_recompute(it->tenant_id, it->ticket_id, it->now);
}

static HdPlan due_plan = {
	"SELECT t.tenant_id, t.id FROM helpdesk.ticket t WHERE t.sla_next_at <= $1 AND " HD_PLACED("t.tenant_id") " "
	"ORDER BY t.sla_next_at LIMIT $2 FOR UPDATE SKIP LOCKED",
	2, {TIMESTAMPTZOID, INT4OID}
};
static HdPlan request_plan = {
	"SELECT r.tenant_id, r.after_id FROM helpdesk.sla_recompute r WHERE " HD_PLACED("r.tenant_id") " "
	"ORDER BY r.requested_at "
	"LIMIT 1 FOR UPDATE SKIP LOCKED",
	0, {InvalidOid}
};
static HdPlan batch_plan = {
	"SELECT t.id FROM helpdesk.ticket t WHERE t.tenant_id = $1 AND t.id > $2 "
	"AND t.status IN ('new', 'open', 'pending') ORDER BY t.id LIMIT $3 FOR UPDATE SKIP LOCKED",
	3, {INT8OID, INT8OID, INT4OID}
};
static HdPlan advance_plan = {
	"UPDATE helpdesk.sla_recompute SET after_id = $2 WHERE tenant_id = $1", 2, {INT8OID, INT8OID}
};
static HdPlan finish_plan = {
	"DELETE FROM helpdesk.sla_recompute WHERE tenant_id = $1", 1, {INT8OID}
};

static void
log_item(const char *what, const SlaItem *it, const char *err)
{
	ereport(LOG,
			(errmsg("pg_helpdesk dispatcher: SLA %s of ticket %lld (tenant %lld) failed: %s",
					what, (long long) it->ticket_id, (long long) it->tenant_id, err)));
}

/* Fire the due warnings and breaches (oldest first), then one recompute batch. */
static int
sla_run(TimestampTz now, bool *more)
{
	int			batch = SLA_BATCH;
	Datum		v[3];
	int64	   *ids;
	uint64		n,
				i;
	int			done = 0;

	/* woken for other stages' work, or early: one lookup and back */
	last_run_more = false;
	{
		TimestampTz due = earliest_due(now);

		if (due == 0 || due > now)
			return 0;
	}
	v[0] = TimestampTzGetDatum(now);
	v[1] = Int32GetDatum(batch);
	hd_exec(&due_plan, v, NULL, false, batch);
	n = SPI_processed;
	ids = palloc(sizeof(int64) * 2 * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		ids[2 * i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		ids[2 * i + 1] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
	}
	for (i = 0; i < n; i++)
	{
		SlaItem		it = {ids[2 * i], ids[2 * i + 1], now, 0};
		char	   *err = NULL;

		if (hd_run_in_subxact(fire_one, &it, &err))
			done += it.fired;
		else
			log_item("timer", &it, err);
	}
	if (n == (uint64) batch)
		*more = true;

	/* chat sessions whose first response fell due */
	done += hd_sla_sessions_due(now, batch, more);

	/* one batch of a recompute request */
	hd_exec(&request_plan, NULL, NULL, false, 1);
	if (SPI_processed == 1)
	{
		int64		tenant_id = 0,
					after_id = 0,
					last = 0;

		hd_get_int64(1, &tenant_id);
		hd_get_int64(2, &after_id);
		v[0] = Int64GetDatum(tenant_id);
		v[1] = Int64GetDatum(after_id);
		v[2] = Int32GetDatum(batch);
		hd_exec(&batch_plan, v, NULL, false, batch);
		n = SPI_processed;
		ids = palloc(sizeof(int64) * Max(n, 1));
		for (i = 0; i < n; i++)
		{
			bool		isnull;

			ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		}
		for (i = 0; i < n; i++)
		{
			SlaItem		it = {tenant_id, ids[i], now, 0};
			char	   *err = NULL;

			if (!hd_run_in_subxact(recompute_one, &it, &err))
				log_item("recompute", &it, err);
			last = ids[i];
			done++;
		}
		if (n == (uint64) batch)
		{
			v[1] = Int64GetDatum(last);
			hd_exec(&advance_plan, v, NULL, false, 0);
			*more = true;
		}
		else
			hd_exec(&finish_plan, v, NULL, false, 0);
	}
	last_run_more = *more;
	return done;
}

static const HdDispatchStage sla_stage = {"sla timers", sla_next_due, sla_run};

void
hd_sla_register_stage(void)
{
	hd_dispatch_register_stage(&sla_stage);
}
