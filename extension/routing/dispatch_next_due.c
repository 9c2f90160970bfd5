/*
 * dispatch_next_due.c — when the dispatcher must wake next: the earliest due
 * time of every timer (dispatch_timers.c), each an index lookup, and the
 * presence due times computed per tenant in C (see below).
 */
#include "dispatch.h"

#include "utils/builtins.h"

/* column col of the first result row as a timestamp; 0 when NULL */
static TimestampTz
first_ts(int col)
{
	bool		isnull;
	Datum		x = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetTimestampTz(x);
}

/* per tenant: its settings, its oldest heartbeat and oldest loss of presence */
static HdPlan next_presence_due = {
	"SELECT " HD_TENANT_COLS ", "
	"  (SELECT min(a.last_seen_at) FROM helpdesk.agent a "
	"   WHERE a.tenant_id = t.id AND a.status <> 'offline'), "
	"  (SELECT min(a.presence_lost_at) FROM helpdesk.agent a "
	"   WHERE a.tenant_id = t.id AND a.presence_lost_at IS NOT NULL) "
	"FROM helpdesk.tenant t WHERE " HD_PLACED("t.id"),
	0, {}
};
static HdPlan next_session_due = {
	"SELECT least("
	"  (SELECT min(offer_expires_at) FROM helpdesk.session WHERE state = 'offered' "
	"     AND dispatch_error IS NULL AND " HD_PLACED("tenant_id") "), "
	"  (SELECT min(wait_due_at) FROM helpdesk.session WHERE state = 'queued' "
	"     AND dispatch_error IS NULL AND " HD_PLACED("tenant_id") "), "
	"  (SELECT min(idle_check_at) FROM helpdesk.session WHERE state = 'active' "
	"     AND dispatch_error IS NULL AND " HD_PLACED("tenant_id") ")), "
	"  EXISTS (SELECT 1 FROM helpdesk.session WHERE state = 'queued' AND " HD_PLACED("tenant_id") ")",
	0, {}
};

static void
earliest(TimestampTz *due, TimestampTz t)
{
	if (t != 0 && (*due == 0 || t < *due))
		*due = t;
}

/*
 * When the next timer is due (0: none), and whether any session waits (so
 * positions need refreshing). An agent with offers pending keeps the grace
 * due time in the past until the offers are withdrawn, which the timers
 * stage does first. Presence due times are computed here in C, per tenant:
 * a tenant whose settings cannot be used has none (the timers stage marks
 * it), and one whose presence statements failed ('presence:' mark) is
 * looked at again within a minute rather than in a loop.
 */
TimestampTz
hd_dispatch_next_due(bool *have_waiting)
{
	TimestampTz due = 0,
				now = GetCurrentTimestamp();
	int			i;
	bool		retry = false;

	hd_exec(&next_presence_due, NULL, NULL, false, 0);
	for (i = 0; i < (int) SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		HdTenantTimes tt;
		TimestampTz x;
		bool		isnull;

		if (hd_tenant_times(t, d, 1, &tt) != NULL)
			continue;
		if (hd_mark_is(tt.mark, "presence:") || hd_mark_is(tt.mark, "grace:"))
		{
			retry = true;
			continue;
		}
		x = DatumGetTimestampTz(SPI_getbinval(t, d, 8, &isnull));
		if (!isnull && hd_ts_plus_us(x, tt.presence_us, &x))
			earliest(&due, x);
		x = DatumGetTimestampTz(SPI_getbinval(t, d, 9, &isnull));
		if (!isnull && hd_ts_plus_us(x, tt.grace_us, &x))
			earliest(&due, x);
	}
	if (retry)
		earliest(&due, now + 60 * USECS_PER_SEC);
	hd_exec(&next_session_due, NULL, NULL, false, 1);
	*have_waiting = hd_get_bool(2);
	earliest(&due, first_ts(1));
	return due;
}
