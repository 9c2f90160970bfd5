/*
 * autoclose_stage.c — the dispatcher stage that fires auto-close warnings
 * and closes when their due time comes (the schedule: autoclose.c).
 *
 * next_due is one index lookup (ticket_autoclose_due); a pass takes the due
 * tickets in due order and handles each in its own subtransaction. Each
 * ticket is locked FOR UPDATE SKIP LOCKED with its due time checked again
 * on the locked row: a customer reply that holds the row is waited out (the
 * ticket is picked up again 20 ms later, until that transaction ends), and one that
 * committed first has moved or cleared the schedule, so nothing fires. A
 * reply that comes after a committed close finds a resolved (or closed)
 * ticket and reopens or follows up by the ticket rules. Everything a firing
 * writes (status, thread entry, events, the next schedule) commits in the
 * pass's transaction, so it happens exactly once.
 */
#include "autoclose.h"
#include "dispatch.h"
#include "routing.h"

#include "utils/builtins.h"
#include "utils/json.h"

static HdPlan next_due_plan = {
	"SELECT min(autoclose_at) FROM helpdesk.ticket WHERE autoclose_at IS NOT NULL AND " HD_PLACED("tenant_id"),
	0, {}
};

static HdPlan due_list = {
	"SELECT tenant_id, id FROM helpdesk.ticket WHERE autoclose_at <= $1 AND " HD_PLACED("tenant_id") " "
	"ORDER BY autoclose_at LIMIT $2",
	2, {TIMESTAMPTZOID, INT4OID}
};

static HdPlan lock_due = {
	"SELECT t.autoclose_rule, t.autoclose_due_at, t.autoclose_warned, t.autoclose_at, "
	"       c.language, t.autoclose_since, "
	"       CASE t.autoclose_rule WHEN 'pending' THEN t.status = 'pending' "
	"         WHEN 'replied' THEN t.status IN ('new', 'open') AND t.last_public_sender = 'agent' "
	"         ELSE t.status = 'resolved' END "
	"FROM helpdesk.ticket t JOIN helpdesk.customer c "
	"  ON c.tenant_id = t.tenant_id AND c.id = t.customer_id "
	"WHERE t.tenant_id = $1 AND t.id = $2 AND t.autoclose_at <= $3 "
	"FOR UPDATE OF t SKIP LOCKED",
	3, {INT8OID, INT8OID, TIMESTAMPTZOID}
};

static HdPlan mark_warned = {
	"UPDATE helpdesk.ticket SET autoclose_warned = true, autoclose_at = autoclose_due_at "
	"WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

/* a failed item is retried a minute later (a deadlock victim, a lock timeout) */
static HdPlan mark_failed = {
	"UPDATE helpdesk.ticket SET autoclose_at = $3::timestamptz + interval '1 minute', "
	"       autoclose_error = $4 "
	"WHERE tenant_id = $1 AND id = $2",
	4, {INT8OID, INT8OID, TIMESTAMPTZOID, TEXTOID}
};

typedef struct AcItem
{
	int64		tenant_id;
	int64		ticket_id;
	TimestampTz now;
	bool		fired;
	bool		skipped;		/* not due on the row as locked, or held by another */
} AcItem;

/*
 * Whether the last pass in this process left a due ticket alone because a
 * transaction held it: next_due then waits a little instead of waking the
 * dispatcher every millisecond until that transaction ends.
 */
static bool last_pass_skipped = false;

#define AC_LOCKED_RETRY_MS 20

static TimestampTz
col_ts(int col)
{
	bool		isnull;

	return DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											 col, &isnull));
}

/* A system entry on the ticket's thread, in the customer's language. */
static void
system_entry(AcItem *it, HdTicketRow *t, const char *key, const char *language,
			 int64 duration_us)
{
	HdTicketPost m;

	memset(&m, 0, sizeof(m));
	m.tenant_id = it->tenant_id;
	m.ticket_id = it->ticket_id;
	m.sender_kind = "system";
	m.type = "system";
	m.body = hd_system_text(it->tenant_id, key, language, duration_us);
	(void) hd_ticket_insert_message(&m, t);
}

static void
autoclose_event(AcItem *it, const char *rule, const char *action, TimestampTz due)
{
	char	   *payload = psprintf("{\"rule\": \"%s\", \"action\": \"%s\", \"due_at\": \"%s\"}",
								   rule, action,
								   JsonEncodeDateTime(NULL, TimestampTzGetDatum(due),
													  TIMESTAMPTZOID, NULL));

	hd_ticket_event(it->tenant_id, it->ticket_id, "ticket.autoclose", payload, false);
}

/* Fire one ticket's warning or close, if it is still due on the locked row. */
static void
fire_one(void *arg)
{
	AcItem	   *it = (AcItem *) arg;
	Datum		v[3] = {Int64GetDatum(it->tenant_id), Int64GetDatum(it->ticket_id),
	TimestampTzGetDatum(it->now)};
	char	   *rule,
			   *language;
	TimestampTz due,
				at,
				since;
	bool		warned;
	HdTicketRow t;

	hd_exec(&lock_due, v, NULL, false, 1);
	if (SPI_processed == 0)
	{
		it->skipped = true;		/* changed since (or held by a reply now) */
		return;
	}
	rule = hd_get_text(1);
	due = col_ts(2);
	warned = hd_get_bool(3);
	at = col_ts(4);
	language = hd_get_text(5);
	since = col_ts(6);
	if (!hd_get_bool(7))
	{
		/* the row no longer fits its rule (written around the API): reschedule */
		hd_autoclose_reschedule(it->tenant_id, it->ticket_id);
		it->skipped = true;
		return;
	}
	hd_load_ticket(it->tenant_id, it->ticket_id, HD_LOCK_UPDATE, &t);
	if (!warned && at < due && it->now < due)
	{
		/* the warning: the time left is the configured warn_before */
		system_entry(it, &t, strcmp(rule, "resolved") == 0
					 ? "autoclose_close_warning" : "autoclose_resolve_warning",
					 language, due - at);
		hd_exec(&mark_warned, v, NULL, false, 0);
		autoclose_event(it, rule, "warning", due);
		it->fired = true;
		return;
	}
	{
		bool		closing = strcmp(rule, "resolved") == 0;

		/* the entry first: it explains the status change that follows */
		system_entry(it, &t, psprintf("autoclose_%s", rule), language, due - since);
		hd_autoclose_firing = true;
		(void) hd_ticket_set_status(it->tenant_id, &t, closing ? "closed" : "resolved",
									"system", 0, psprintf("autoclose_%s", rule));
		hd_autoclose_firing = false;
		autoclose_event(it, rule, closing ? "closed" : "resolved", due);
		it->fired = true;
	}
}

int
hd_autoclose_pass(TimestampTz now, int max_rows, bool *more)
{
	Datum		v[2] = {TimestampTzGetDatum(now), Int32GetDatum(max_rows)};
	AcItem	   *items;
	int			n,
				i,
				fired = 0;

	last_pass_skipped = false;
	hd_exec(&due_list, v, NULL, false, 0);
	n = (int) SPI_processed;
	*more = n >= max_rows;
	items = palloc0(sizeof(AcItem) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		items[i].tenant_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
														 SPI_tuptable->tupdesc, 1, &isnull));
		items[i].ticket_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
														 SPI_tuptable->tupdesc, 2, &isnull));
		items[i].now = now;
	}
	for (i = 0; i < n; i++)
	{
		char	   *error = NULL;

		hd_autoclose_firing = false;
		if (hd_run_in_subxact(fire_one, &items[i], &error))
		{
			fired += items[i].fired ? 1 : 0;
			last_pass_skipped |= items[i].skipped;
			continue;
		}
		hd_autoclose_firing = false;
		ereport(WARNING,
				(errmsg("pg_helpdesk: auto-close of ticket %lld in tenant %lld failed: %s",
						(long long) items[i].ticket_id, (long long) items[i].tenant_id,
						error ? error : "unknown error"),
				 errhint("Retried in a minute; the message is kept in helpdesk.ticket.autoclose_error.")));
		{
			Datum		mv[4] = {Int64GetDatum(items[i].tenant_id),
				Int64GetDatum(items[i].ticket_id), TimestampTzGetDatum(now),
			CStringGetTextDatum(hd_clip_message(pstrdup(error ? error : "unknown error"), 500))};

			hd_exec(&mark_failed, mv, NULL, false, 0);
		}
	}
	return fired;
}

/* a ticket held by another transaction: look again shortly, not at once */
static TimestampTz
stage_next_due(void)
{
	return hd_dispatch_due_with_floor(&next_due_plan, last_pass_skipped,
									  AC_LOCKED_RETRY_MS);
}

static int
stage_run(TimestampTz now, bool *more)
{
	return hd_autoclose_pass(now, 200, more);
}

static const HdDispatchStage autoclose_stage = {
	"pg_helpdesk: auto-closing tickets", stage_next_due, stage_run
};

void
hd_autoclose_register_stage(void)
{
	hd_dispatch_register_stage(&autoclose_stage);
}

PG_FUNCTION_INFO_V1(hd_autoclose_pass_sql);

/* helpdesk._autoclose_pass(now, max_rows): one pass as the dispatcher runs it */
Datum
hd_autoclose_pass_sql(PG_FUNCTION_ARGS)
{
	TimestampTz now = PG_ARGISNULL(0) ? GetCurrentTimestamp() : PG_GETARG_TIMESTAMPTZ(0);
	int32		max_rows = PG_ARGISNULL(1) ? 200 : PG_GETARG_INT32(1);
	bool		more;
	int			fired;

	hd_check_range("max_rows", max_rows, 1, 100000);
	SPI_connect();
	fired = hd_autoclose_pass(now, max_rows, &more);
	SPI_finish();
	PG_RETURN_INT32(fired);
}
