/*
 * dispatch_tenant_timers.c — the dispatcher's set-based timers, one
 * statement per kind for all tenants: presence expiry (agents whose last
 * heartbeat is too old go offline) and the end of the grace periods of
 * agents who lost presence. Each tenant's settings are converted in C once
 * per timers run; a statement that fails is retried tenant by tenant, so
 * one tenant's data (a DBA's trigger, a value no arithmetic survives) never
 * stops the others' timers (dispatch_timers.c runs them, with the
 * per-session timers).
 */
#include "dispatch.h"

#include "utils/builtins.h"
#include "utils/memutils.h"

/* ---- presence ---- */

/*
 * $1/$2/$3: the tenants whose settings are usable, the time before which an
 * agent's last heartbeat is too old, and the presence timeout (all from C:
 * no arithmetic on stored intervals here, so no tenant's value can fail the
 * statement for the others).
 */
static HdPlan expire_presence = {
	"WITH k AS (SELECT * FROM unnest($1::int8[], $2::timestamptz[], $3::int8[]) "
	"           k(tenant_id, seen_before, presence_us)), "
	"due AS ("
	"  SELECT a.tenant_id, a.id FROM k JOIN helpdesk.agent a ON a.tenant_id = k.tenant_id "
	"  WHERE a.status <> 'offline' AND a.last_seen_at <= k.seen_before "
	"  ORDER BY a.tenant_id, a.id FOR NO KEY UPDATE OF a SKIP LOCKED), "
	"exp AS ("
	"  UPDATE helpdesk.agent a SET status = 'offline', status_before_loss = a.status, "
	"    presence_lost_at = now(), status_changed_at = now() "
	"  FROM k, due "
	"  WHERE k.tenant_id = a.tenant_id AND a.tenant_id = due.tenant_id AND a.id = due.id "
	"  RETURNING a.tenant_id, a.id, a.status_before_loss AS previous, a.last_seen_at, "
	"            a.last_seen_at + k.presence_us * interval '1 microsecond' AS due), "
	"ev AS (INSERT INTO helpdesk.event (tenant_id, audience, audience_id, type, payload) "
	"  SELECT tenant_id, 'agent', id, 'agent.status', jsonb_build_object('status', 'offline', "
	"         'previous', previous, 'reason', 'heartbeats stopped') FROM exp "
	"  UNION ALL "
	"  SELECT tenant_id, 'tenant', tenant_id, 'agent.status', jsonb_build_object('agent_id', id, "
	"         'status', 'offline', 'previous', previous, 'reason', 'heartbeats stopped') FROM exp), "
	"au AS (INSERT INTO helpdesk.dispatch_audit (tenant_id, agent_id, action, reason, due_at) "
	"  SELECT tenant_id, id, 'presence_offline', 'no heartbeat since ' || last_seen_at, due FROM exp) "
	"SELECT count(*) FROM exp",
	3, {INT8ARRAYOID, TIMESTAMPTZARRAYOID, INT8ARRAYOID}
};

static HdPlan end_grace = {
	"UPDATE helpdesk.agent a SET presence_lost_at = NULL "
	"FROM unnest($1::int8[], $2::timestamptz[], $3::int8[]) k(tenant_id, lost_before, grace_us) "
	"WHERE a.tenant_id = k.tenant_id AND a.presence_lost_at IS NOT NULL "
	"  AND a.presence_lost_at <= k.lost_before "
	"  AND NOT EXISTS (SELECT 1 FROM helpdesk.session s WHERE s.tenant_id = a.tenant_id "
	"    AND s.agent_id = a.id AND s.state IN ('offered', 'active') AND s.dispatch_error IS NULL)",
	3, {INT8ARRAYOID, TIMESTAMPTZARRAYOID, INT8ARRAYOID}
};

/*
 * The tenants whose presence settings are usable, with what the presence
 * and grace statements need, as arrays; read once per timers run.
 */
typedef struct TenantSet
{
	int			n;
	int64	   *ids;
	TimestampTz *seen_before;	/* now - heartbeat_interval x misses */
	int64	   *presence_us;
	TimestampTz *lost_before;	/* now - presence_grace */
	int64	   *grace_us;
	char	  **marks;			/* stored dispatch_error */
	MemoryContext cxt;			/* where the arrays live (outlives the read) */
} TenantSet;

static HdPlan all_tenants = {
	"SELECT " HD_TENANT_COLS " FROM helpdesk.tenant t WHERE " HD_PLACED("t.id") " ORDER BY t.id", 0, {}
};

/*
 * Read every tenant's settings; a tenant with one no arithmetic can use is
 * marked (logged once) and left out of the presence and grace timers, one
 * whose settings are usable again loses its 'settings:' mark.
 */
static void
load_tenant_set(void *arg)
{
	TenantSet  *ts = (TenantSet *) arg;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	int			i,
				n;
	List	   *marks = NIL;
	MemoryContext spi_cxt;

	hd_exec(&all_tenants, NULL, NULL, false, 0);
	n = (int) SPI_processed;
	/* the set lives in the caller's memory, not SPI's */
	spi_cxt = MemoryContextSwitchTo(ts->cxt);
	ts->ids = palloc(sizeof(int64) * Max(n, 1));
	ts->seen_before = palloc(sizeof(TimestampTz) * Max(n, 1));
	ts->presence_us = palloc(sizeof(int64) * Max(n, 1));
	ts->lost_before = palloc(sizeof(TimestampTz) * Max(n, 1));
	ts->grace_us = palloc(sizeof(int64) * Max(n, 1));
	ts->marks = palloc(sizeof(char *) * Max(n, 1));
	ts->n = 0;
	for (i = 0; i < n; i++)
	{
		HdTenantTimes t;
		const char *bad = hd_tenant_times(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &t);

		if (bad)
		{
			if (t.mark == NULL || strcmp(t.mark, bad) != 0)
				hd_defer_mark(&marks, HD_MARK_TENANT, t.tenant_id, t.tenant_id, bad);
			continue;
		}
		if (hd_mark_is(t.mark, "settings:"))
		{
			hd_defer_mark(&marks, HD_MARK_TENANT, t.tenant_id, t.tenant_id, NULL);
			t.mark = NULL;
		}
		ts->ids[ts->n] = t.tenant_id;
		ts->seen_before[ts->n] = now - t.presence_us;
		ts->presence_us[ts->n] = t.presence_us;
		ts->lost_before[ts->n] = now - t.grace_us;
		ts->grace_us[ts->n] = t.grace_us;
		ts->marks[ts->n++] = t.mark ? pstrdup(t.mark) : NULL;
	}
	MemoryContextSwitchTo(spi_cxt);
	hd_write_marks(marks);
}

/* The statement parameters for the tenants idx[0..n) of ts. */
static void
set_params(const TenantSet *ts, const int *idx, int n, bool grace, Datum *v)
{
	int64	   *ids = palloc(sizeof(int64) * Max(n, 1));
	TimestampTz *before = palloc(sizeof(TimestampTz) * Max(n, 1));
	int64	   *us = palloc(sizeof(int64) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
	{
		ids[i] = ts->ids[idx[i]];
		before[i] = grace ? ts->lost_before[idx[i]] : ts->seen_before[idx[i]];
		us[i] = grace ? ts->grace_us[idx[i]] : ts->presence_us[idx[i]];
	}
	v[0] = hd_int8_array(ids, n);
	v[1] = hd_timestamptz_array(before, n);
	v[2] = hd_int8_array(us, n);
}

typedef struct Step
{
	HdPlan	   *plan;
	Datum		v[3];
	int64		n;				/* rows the statement counted */
} Step;

static void
step_fn(void *arg)
{
	Step	   *st = (Step *) arg;

	hd_exec(st->plan, st->v, NULL, false, 1);
	if (st->plan == &expire_presence && hd_get_int64(1, &st->n) && st->n > 0)
		hd_wake_at_commit(HD_WORKER_PUBLISHER);
}

/* hd_write_marks for hd_in_own_xact */
static void
write_marks_fn(void *arg)
{
	hd_write_marks((List *) arg);
}

/*
 * Run a statement over every tenant of ts in one transaction; if it fails,
 * tenant by tenant, marking (prefix, e.g. 'presence: ...') the ones it fails for. A
 * tenant marked so runs alone every time (its mark cleared when that
 * works), so a failure no check foresaw costs the others nothing.
 */
static int64
run_per_tenant(const TenantSet *ts, HdPlan *plan, bool grace, const char *what,
			   const char *prefix)
{
	int		   *bulk = palloc(sizeof(int) * Max(ts->n, 1));
	int		   *alone = palloc(sizeof(int) * Max(ts->n, 1));
	int			nbulk = 0,
				nalone = 0,
				i;
	int64		total = 0;
	char	   *err = NULL;
	Step		st;

	for (i = 0; i < ts->n; i++)
	{
		if (hd_mark_is(ts->marks[i], prefix))
			alone[nalone++] = i;
		else
			bulk[nbulk++] = i;
	}
	st.plan = plan;
	if (nbulk > 0)
	{
		st.n = 0;
		set_params(ts, bulk, nbulk, grace, st.v);
		if (hd_in_own_xact(step_fn, &st, &err))
			total += st.n;
		else
		{
			ereport(LOG,
					(errmsg("pg_helpdesk dispatcher: %s failed (%s); trying tenant by tenant",
							what, hd_clip_message(pstrdup(err), 400))));
			for (i = 0; i < nbulk; i++)
				alone[nalone++] = bulk[i];
		}
	}
	for (i = 0; i < nalone; i++)
	{
		int64		tid = ts->ids[alone[i]];
		char	   *mark;

		st.n = 0;
		set_params(ts, &alone[i], 1, grace, st.v);
		if (hd_in_own_xact(step_fn, &st, &err))
		{
			total += st.n;
			mark = NULL;
			/* clear only this step's own mark */
			if (!hd_mark_is(ts->marks[alone[i]], prefix))
				continue;
		}
		else
			mark = psprintf("%s %s", prefix, hd_clip_message(pstrdup(err), 400));
		if (mark != NULL && ts->marks[alone[i]] != NULL && strcmp(mark, ts->marks[alone[i]]) == 0)
			continue;
		{
			HdMark		m = {HD_MARK_TENANT, tid, tid, mark};

			(void) hd_in_own_xact(write_marks_fn, list_make1(&m), NULL);
		}
	}
	return total;
}

/* the tenants' settings for this timers run, in the caller's memory context */
HdTimerTenants *
hd_timer_tenants_load(void)
{
	TenantSet  *ts = palloc0(sizeof(TenantSet));
	char	   *err = NULL;

	ts->cxt = CurrentMemoryContext;
	if (!hd_in_own_xact(load_tenant_set, ts, &err))
		elog(ERROR, "could not read the tenants' settings: %s", err);
	return ts;
}

/* agents past their presence timeout go offline; returns how many */
int64
hd_timer_expire_presence(const HdTimerTenants *ts)
{
	return run_per_tenant(ts, &expire_presence, false, "presence expiry", "presence:");
}

/* grace periods that ended are closed */
void
hd_timer_end_grace(const HdTimerTenants *ts)
{
	(void) run_per_tenant(ts, &end_grace, true, "ending grace periods", "grace:");
}

/* every tenant's (ids, lost_before, grace_us) arrays: the agent-loss timer's $1..$3 */
void
hd_timer_grace_params(const HdTimerTenants *ts, Datum *v)
{
	int		   *all = palloc(sizeof(int) * Max(ts->n, 1));
	int			i;

	for (i = 0; i < ts->n; i++)
		all[i] = i;
	set_params(ts, all, ts->n, true, v);
}
