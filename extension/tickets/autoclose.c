/*
 * autoclose.c — the auto-close rules of a tenant and the schedule they put
 * on each ticket.
 *
 * Three rules, each on or off with its own delay and optional warning:
 *   pending   a pending ticket the customer does not answer is resolved
 *             (the silence counts from becoming pending or from the agent's
 *             last public reply, whichever is later)
 *   replied   an open ticket whose last public message is the agent's is
 *             resolved when the customer does not answer
 *   resolved  a resolved ticket is closed
 * A ticket carries the rule that applies now, when it fires
 * (autoclose_due_at) and when the dispatcher acts next (autoclose_at: the
 * warning first, then the close), behind a partial index. The observer
 * below recomputes them inside every ticket change, so a customer reply
 * that commits first leaves nothing due, and the stage (autoclose_stage.c)
 * rechecks the due time under the row lock: a reply and an auto-close of
 * the same ticket are serialised by that lock, never both applied to the
 * same state.
 */
#include "autoclose.h"

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

const char *const hd_autoclose_rule_names[HD_AC_NUM_RULES] = {"pending", "replied", "resolved"};
bool		hd_autoclose_firing = false;

typedef struct AcRuleSetting
{
	bool		enabled;
	int64		close_us;
	int64		warn_us;		/* 0: no warning */
} AcRuleSetting;

#define AC_MAX_DELAY_US (INT64CONST(365) * USECS_PER_DAY)

static HdPlan load_settings = {
	"SELECT rule, enabled, close_after, warn_before FROM helpdesk.autoclose_setting "
	"WHERE tenant_id = $1",
	1, {INT8OID}
};

static int
rule_index(const char *name)
{
	int			i;

	for (i = 0; i < HD_AC_NUM_RULES; i++)
		if (strcmp(name, hd_autoclose_rule_names[i]) == 0)
			return i;
	return -1;
}

/* The tenant's rules with the defaults (72 h, 24 h, 4 days; on; no warning) filled in. */
static void
tenant_rules(int64 tenant_id, AcRuleSetting *r)
{
	Datum		v[1] = {Int64GetDatum(tenant_id)};
	uint64		i;

	r[HD_AC_PENDING] = (AcRuleSetting) {true, 72 * USECS_PER_HOUR, 0};
	r[HD_AC_REPLIED] = (AcRuleSetting) {true, 24 * USECS_PER_HOUR, 0};
	r[HD_AC_RESOLVED] = (AcRuleSetting) {true, 4 * USECS_PER_DAY, 0};
	hd_exec(&load_settings, v, NULL, false, 0);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		int			k = rule_index(TextDatumGetCString(SPI_getbinval(tup, d, 1, &isnull)));
		Datum		warn;

		if (k < 0)
			continue;
		r[k].enabled = DatumGetBool(SPI_getbinval(tup, d, 2, &isnull));
		r[k].close_us = hd_interval_usecs(DatumGetIntervalP(SPI_getbinval(tup, d, 3, &isnull)));
		warn = SPI_getbinval(tup, d, 4, &isnull);
		r[k].warn_us = isnull ? 0 : hd_interval_usecs(DatumGetIntervalP(warn));
		/* a row written around the API must not schedule nonsense */
		r[k].close_us = Max(USECS_PER_SEC, Min(r[k].close_us, AC_MAX_DELAY_US));
		if (r[k].warn_us <= 0 || r[k].warn_us >= r[k].close_us)
			r[k].warn_us = 0;
	}
}

/*
 * ---- the schedule on the ticket ----
 */

static HdPlan ticket_schedule = {
	"SELECT status, last_public_sender, last_agent_at, resolved_at, autoclose_rule, "
	"       autoclose_since, autoclose_warned, autoclose_at, now(), autoclose_due_at, "
	"       autoclose_error IS NOT NULL "
	"FROM helpdesk.ticket WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

static HdPlan write_schedule = {
	"UPDATE helpdesk.ticket SET autoclose_rule = $3, autoclose_since = $4, "
	"       autoclose_due_at = $5, autoclose_warned = $6, autoclose_at = $7, "
	"       autoclose_error = NULL "
	"WHERE tenant_id = $1 AND id = $2",
	7, {INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, BOOLOID, TIMESTAMPTZOID}
};

static TimestampTz
get_ts(int col, bool *isnull)
{
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, isnull);

	return *isnull ? 0 : DatumGetTimestampTz(d);
}

/*
 * Recompute the ticket's auto-close schedule after a change. The silence of
 * the pending rule restarts on a status change and on an agent's reply; the
 * other rules count from the ticket's own timestamps. The warning already
 * sent for the same rule and start is not sent again.
 */
static void
autoclose_observer(int64 tenant_id, int64 ticket_id, HdTicketChange what)
{
	Datum		v[7] = {Int64GetDatum(tenant_id), Int64GetDatum(ticket_id)};
	char		n[8] = "       ";
	AcRuleSetting rules[HD_AC_NUM_RULES];
	char	   *status,
			   *sender,
			   *old_rule_name;
	bool		isnull,
				has_agent_at,
				has_resolved_at,
				has_old_since,
				has_old_at,
				old_warned,
				had_error,
				warned = false;
	TimestampTz agent_at,
				resolved_at,
				old_since,
				old_at,
				old_due,
				now,
				since = 0,
				due = 0,
				at = 0;
	int			rule = -1,
				old_rule;

	hd_exec(&ticket_schedule, v, NULL, false, 1);
	if (SPI_processed == 0)
		return;
	status = hd_get_text(1);
	sender = hd_get_text(2);
	agent_at = get_ts(3, &isnull);
	has_agent_at = !isnull;
	resolved_at = get_ts(4, &isnull);
	has_resolved_at = !isnull;
	old_rule_name = hd_get_text(5);
	old_rule = old_rule_name ? rule_index(old_rule_name) : -1;
	old_since = get_ts(6, &isnull);
	has_old_since = !isnull;
	old_warned = hd_get_bool(7);
	old_at = get_ts(8, &isnull);
	has_old_at = !isnull;
	now = get_ts(9, &isnull);
	old_due = get_ts(10, &isnull);
	had_error = hd_get_bool(11);

	if (strcmp(status, "pending") == 0)
	{
		rule = HD_AC_PENDING;
		if (old_rule == HD_AC_PENDING && has_old_since &&
			what != HD_TICKET_STATUS && what != HD_TICKET_AGENT_REPLY && what != HD_TICKET_CREATED)
			since = old_since;
		else
			since = now;
	}
	else if ((strcmp(status, "open") == 0 || strcmp(status, "new") == 0) &&
			 sender && strcmp(sender, "agent") == 0 && has_agent_at)
	{
		rule = HD_AC_REPLIED;
		since = agent_at;
	}
	else if (strcmp(status, "resolved") == 0 && has_resolved_at)
	{
		rule = HD_AC_RESOLVED;
		since = resolved_at;
	}
	if (rule >= 0)
	{
		tenant_rules(tenant_id, rules);
		if (!rules[rule].enabled)
			rule = -1;
	}
	if (rule >= 0)
	{
		due = since + rules[rule].close_us;
		warned = old_rule == rule && has_old_since && old_since == since && old_warned;
		at = (rules[rule].warn_us > 0 && !warned) ? due - rules[rule].warn_us : due;
	}
	/* nothing moved: no write (the change already wrote the row) */
	if (rule == old_rule && !had_error &&
		(rule < 0 || (since == old_since && due == old_due && warned == old_warned &&
					  has_old_at && at == old_at)))
		return;
	n[2] = n[3] = n[4] = n[6] = rule < 0 ? 'n' : ' ';
	v[2] = rule < 0 ? (Datum) 0 : CStringGetTextDatum(hd_autoclose_rule_names[rule]);
	v[3] = TimestampTzGetDatum(since);
	v[4] = TimestampTzGetDatum(due);
	v[5] = BoolGetDatum(warned);
	v[6] = TimestampTzGetDatum(at);
	hd_exec(&write_schedule, v, n, false, 0);
	/* the dispatcher sleeps until the earliest due time it knows */
	if (rule >= 0 && (!has_old_at || at < old_at))
		hd_wake_at_commit(HD_WORKER_DISPATCHER);
}

/*
 * Recompute a ticket's schedule outside a change: the stage calls it when
 * the row it locked no longer fits its rule (a write around the API).
 */
void
hd_autoclose_reschedule(int64 tenant_id, int64 ticket_id)
{
	autoclose_observer(tenant_id, ticket_id, HD_TICKET_ATTRIBUTES);
}

void		hd_autoclose_init(void);

/* From hd_tickets_init (in _PG_init): the observer and the dispatcher stage. */
void
hd_autoclose_init(void)
{
	hd_ticket_register_observer(autoclose_observer);
	hd_autoclose_register_stage();
}

/*
 * ---- settings ----
 */

static HdPlan upsert_setting = {
	"INSERT INTO helpdesk.autoclose_setting AS s (tenant_id, rule, enabled, close_after, warn_before) "
	"VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, rule) DO UPDATE SET "
	"  enabled = excluded.enabled, close_after = excluded.close_after, "
	"  warn_before = excluded.warn_before, updated_at = now()",
	5, {INT8OID, TEXTOID, BOOLOID, INTERVALOID, INTERVALOID}
};

static Interval *
usecs_interval(int64 us)
{
	Interval   *i = palloc0(sizeof(Interval));

	/* whole days as days, as people write them ('3 days', not '72:00:00') */
	i->day = (int32) (us / USECS_PER_DAY);
	i->time = us % USECS_PER_DAY;
	return i;
}

PG_FUNCTION_INFO_V1(hd_set_autoclose);

/*
 * helpdesk.set_autoclose(tenant_id, rule, enabled, close_after, warn_before):
 * NULL keeps the stored (or default) value; warn_before 0 removes the
 * warning. The warning must come before the close.
 */
Datum
hd_set_autoclose(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "rule"};
	static const char *const rule_list[] = {"pending", "replied", "resolved", NULL};
	int64		tenant_id;
	char	   *rule_name;
	int			rule;
	AcRuleSetting rules[HD_AC_NUM_RULES];
	AcRuleSetting r;
	Datum		v[5];
	char		n[6] = "     ";

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	tenant_id = PG_GETARG_INT64(0);
	rule_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	hd_check_enum("rule", rule_name, rule_list);
	rule = rule_index(rule_name);
	if (!PG_ARGISNULL(3))
		hd_check_interval("close_after", PG_GETARG_INTERVAL_P(3), USECS_PER_SEC, AC_MAX_DELAY_US);
	if (!PG_ARGISNULL(4) && hd_interval_usecs(PG_GETARG_INTERVAL_P(4)) != 0)
		hd_check_interval("warn_before", PG_GETARG_INTERVAL_P(4), USECS_PER_SEC, AC_MAX_DELAY_US);
	SPI_connect();
	hd_require_tenant(tenant_id);
	tenant_rules(tenant_id, rules);
	r = rules[rule];
	if (!PG_ARGISNULL(2))
		r.enabled = PG_GETARG_BOOL(2);
	if (!PG_ARGISNULL(3))
		r.close_us = hd_interval_usecs(PG_GETARG_INTERVAL_P(3));
	if (!PG_ARGISNULL(4))
		r.warn_us = hd_interval_usecs(PG_GETARG_INTERVAL_P(4));
	if (r.warn_us != 0 && r.warn_us >= r.close_us)
		hd_invalid("warn_before (%lld s) must be shorter than close_after (%lld s) of rule %s",
				   (long long) (r.warn_us / USECS_PER_SEC),
				   (long long) (r.close_us / USECS_PER_SEC), rule_name);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = CStringGetTextDatum(rule_name);
	v[2] = BoolGetDatum(r.enabled);
	v[3] = IntervalPGetDatum(usecs_interval(r.close_us));
	v[4] = r.warn_us ? IntervalPGetDatum(usecs_interval(r.warn_us)) : (Datum) 0;
	n[4] = r.warn_us ? ' ' : 'n';
	hd_exec(&upsert_setting, v, n, false, 0);
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(hd_autoclose_settings);

/* helpdesk.autoclose_settings(tenant_id): the three rules as they apply */
Datum
hd_autoclose_settings(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id"};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AcRuleSetting rules[HD_AC_NUM_RULES];
	MemoryContext caller = CurrentMemoryContext;
	int			i;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 1, names);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	tenant_rules(PG_GETARG_INT64(0), rules);
	{
		MemoryContext old = MemoryContextSwitchTo(caller);

		InitMaterializedSRF(fcinfo, 0);
		for (i = 0; i < HD_AC_NUM_RULES; i++)
		{
			Datum		cols[4];
			bool		nulls[4] = {false, false, false, rules[i].warn_us == 0};

			cols[0] = CStringGetTextDatum(hd_autoclose_rule_names[i]);
			cols[1] = BoolGetDatum(rules[i].enabled);
			cols[2] = IntervalPGetDatum(usecs_interval(rules[i].close_us));
			cols[3] = rules[i].warn_us ? IntervalPGetDatum(usecs_interval(rules[i].warn_us)) : (Datum) 0;
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, cols, nulls);
		}
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return (Datum) 0;
}
