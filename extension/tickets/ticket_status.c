/*
 * ticket_status.c — status and priority changes.
 *
 * Every change locks the ticket row FOR UPDATE first (hd_load_ticket), so
 * two agents changing one ticket at once take turns and the second is
 * judged on the status the first left (an isolation spec covers it).
 */
#include "tickets.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"

static const char *const statuses[] = {"new", "open", "pending", "resolved", "closed", NULL};
static const char *const priorities[] = {"low", "normal", "high", "urgent", NULL};

static HdPlan write_status = {
	"UPDATE helpdesk.ticket SET status = $3, updated_at = now(), "
	"  resolved_at = CASE WHEN $3 = 'resolved' THEN now() "
	"                     WHEN $3 = 'closed' THEN resolved_at END, "
	"  resolution_count = resolution_count + CASE WHEN $3 = 'resolved' THEN 1 ELSE 0 END, "
	"  resolved_by = CASE WHEN $3 = 'resolved' THEN $4 ELSE resolved_by END, "
	"  closed_at = CASE WHEN $3 = 'closed' THEN now() END "
	"WHERE tenant_id = $1 AND id = $2 RETURNING resolved_at",
	4, {INT8OID, INT8OID, TEXTOID, TEXTOID}
};

static void
append_actor(StringInfo p, const char *actor_kind, int64 actor_id)
{
	appendStringInfo(p, ", \"actor_kind\": \"%s\"", actor_kind);
	if (strcmp(actor_kind, "agent") == 0 || strcmp(actor_kind, "customer") == 0)
		appendStringInfo(p, ", \"actor_id\": %lld", (long long) actor_id);
}

bool
hd_ticket_set_status(int64 tenant_id, HdTicketRow *t, const char *to,
					 const char *actor_kind, int64 actor_id, const char *reason)
{
	Datum		v[4];
	StringInfoData p;
	const char *from = t->status;
	bool		isnull;
	Datum		d;

	to = hd_ticket_status_literal(to);
	if (strcmp(from, to) == 0)
		return false;
	hd_ticket_check_transition(t->id, from, to);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(t->id);
	v[2] = CStringGetTextDatum(to);
	v[3] = CStringGetTextDatum(actor_kind);
	hd_exec(&write_status, v, NULL, false, 0);
	t->status = to;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	t->has_resolved_at = !isnull;
	t->resolved_at = isnull ? 0 : DatumGetTimestampTz(d);

	initStringInfo(&p);
	appendStringInfo(&p, "{\"change\": \"status\", \"status\": \"%s\", \"previous\": \"%s\"",
					 to, from);
	append_actor(&p, actor_kind, actor_id);
	if (reason)
	{
		appendStringInfoString(&p, ", \"reason\": ");
		escape_json(&p, reason);
	}
	appendStringInfoChar(&p, '}');
	hd_ticket_event(tenant_id, t->id, "ticket.updated", p.data, true);
	hd_ticket_changed(tenant_id, t->id, HD_TICKET_STATUS);
	return true;
}

/* The arguments that set_ticket_status and set_ticket_priority share. */
typedef struct ChangeArgs
{
	int64		tenant_id;
	int64		ticket_id;
	char	   *value;			/* the new status or priority, checked */
	char	   *actor_kind;
	bool		has_actor;
	int64		actor_id;
} ChangeArgs;

/*
 * (tenant_id, ticket_id, value, actor_kind, actor_id): both setters take
 * their first five arguments in this order and check them the same way,
 * the value against its list under the name of its field.
 */
static void
read_change_args(FunctionCallInfo fcinfo, const char *field, const char *const *allowed,
				 ChangeArgs *a)
{
	const char *const names[] = {"tenant_id", "ticket_id", field, "actor_kind"};

	hd_require_args(fcinfo, 4, names);
	a->tenant_id = PG_GETARG_INT64(0);
	a->ticket_id = PG_GETARG_INT64(1);
	a->value = text_to_cstring(PG_GETARG_TEXT_PP(2));
	a->actor_kind = text_to_cstring(PG_GETARG_TEXT_PP(3));
	a->has_actor = !PG_ARGISNULL(4);
	a->actor_id = a->has_actor ? PG_GETARG_INT64(4) : 0;
	hd_check_enum(field, a->value, allowed);
}

PG_FUNCTION_INFO_V1(hd_set_ticket_status);

/*
 * helpdesk.set_ticket_status(tenant_id, ticket_id, status, actor_kind,
 * actor_id, reason): returns the status before. A customer may only
 * resolve its own ticket (reopening is a reply).
 */
Datum
hd_set_ticket_status(PG_FUNCTION_ARGS)
{
	ChangeArgs	a;
	char	   *reason;
	HdTicketRow t;
	const char *from;

	hd_check_tenant_arg(fcinfo, 0);
	read_change_args(fcinfo, "status", statuses, &a);
	reason = hd_arg_text_or_null(fcinfo, 5);
	if (reason)
		hd_check_length("reason", reason, 1, 500);

	SPI_connect();
	hd_load_ticket(a.tenant_id, a.ticket_id, HD_LOCK_UPDATE, &t);
	hd_ticket_check_actor(a.tenant_id, &t, a.actor_kind, a.has_actor, a.actor_id,
						  strcmp(a.value, "resolved") == 0);
	from = t.status;
	(void) hd_ticket_set_status(a.tenant_id, &t, a.value, a.actor_kind, a.actor_id, reason);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(from));
}

static HdPlan write_priority = {
	"UPDATE helpdesk.ticket SET priority = $3, updated_at = now() "
	"WHERE tenant_id = $1 AND id = $2",
	3, {INT8OID, INT8OID, TEXTOID}
};

PG_FUNCTION_INFO_V1(hd_set_ticket_priority);

/*
 * helpdesk.set_ticket_priority(tenant_id, ticket_id, priority, actor_kind,
 * actor_id): staff, system or api; returns the priority before.
 */
Datum
hd_set_ticket_priority(PG_FUNCTION_ARGS)
{
	ChangeArgs	a;
	HdTicketRow t;
	const char *from;

	hd_check_tenant_arg(fcinfo, 0);
	read_change_args(fcinfo, "priority", priorities, &a);

	SPI_connect();
	hd_load_ticket(a.tenant_id, a.ticket_id, HD_LOCK_UPDATE, &t);
	hd_ticket_check_actor(a.tenant_id, &t, a.actor_kind, a.has_actor, a.actor_id, false);
	hd_ticket_require_open(&t);
	from = t.priority;
	if (strcmp(from, a.value) != 0)
	{
		Datum		v[3] = {Int64GetDatum(a.tenant_id), Int64GetDatum(a.ticket_id),
		CStringGetTextDatum(a.value)};
		StringInfoData p;

		hd_exec(&write_priority, v, NULL, false, 0);
		initStringInfo(&p);
		appendStringInfo(&p, "{\"change\": \"priority\", \"priority\": \"%s\", \"previous\": \"%s\"",
						 a.value, from);
		append_actor(&p, a.actor_kind, a.actor_id);
		appendStringInfoChar(&p, '}');
		hd_ticket_event(a.tenant_id, a.ticket_id, "ticket.updated", p.data, false);
		hd_ticket_changed(a.tenant_id, a.ticket_id, HD_TICKET_PRIORITY);
	}
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(from));
}
