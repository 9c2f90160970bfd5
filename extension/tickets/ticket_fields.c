/*
 * ticket_fields.c — tags, custom attributes and the queue of a ticket, and
 * the tenant's and queues' ticket settings.
 */
#include "tickets.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#define USECS_PER_DAY_ INT64CONST(86400000000)

static HdPlan write_tags = {
	"UPDATE helpdesk.ticket SET tags = $3, updated_at = now() "
	"WHERE tenant_id = $1 AND id = $2 AND tags IS DISTINCT FROM $3 "
	"RETURNING jsonb_build_object('change', 'tags', 'tags', tags)::text",
	3, {INT8OID, INT8OID, TEXTARRAYOID}
};
/* key by key, a null value removes the key (as upsert_customer) */
static HdPlan write_attributes = {
	"UPDATE helpdesk.ticket SET attributes = jsonb_strip_nulls(attributes || $3), "
	"  updated_at = now() "
	"WHERE tenant_id = $1 AND id = $2 "
	"RETURNING attributes, jsonb_build_object('change', 'attributes', 'attributes', attributes)::text",
	3, {INT8OID, INT8OID, JSONBOID}
};
static HdPlan write_queue = {
	"UPDATE helpdesk.ticket SET queue_id = $3, updated_at = now() "
	"WHERE tenant_id = $1 AND id = $2 AND queue_id IS DISTINCT FROM $3",
	3, {INT8OID, INT8OID, INT8OID}
};
static HdPlan queue_exists = {
	"SELECT 1 FROM helpdesk.queue WHERE tenant_id = $1 AND id = $2", 2, {INT8OID, INT8OID}
};

/* The common start of a field change: arguments, the row FOR UPDATE, the actor. */
static void
begin_change(FunctionCallInfo fcinfo, const char *field, HdTicketRow *t)
{
	const char *names[] = {"tenant_id", "ticket_id", field, "actor_kind"};
	bool		has_actor = !PG_ARGISNULL(4);

	hd_require_args(fcinfo, 4, names);
	SPI_connect();
	hd_load_ticket(PG_GETARG_INT64(0), PG_GETARG_INT64(1), HD_LOCK_UPDATE, t);
	hd_ticket_check_actor(PG_GETARG_INT64(0), t, text_to_cstring(PG_GETARG_TEXT_PP(3)),
						  has_actor, has_actor ? PG_GETARG_INT64(4) : 0, false);
	hd_ticket_require_open(t);
}

PG_FUNCTION_INFO_V1(hd_set_ticket_tags);

/* helpdesk.set_ticket_tags(tenant_id, ticket_id, tags, actor_kind, actor_id) -> the stored tags */
Datum
hd_set_ticket_tags(PG_FUNCTION_ARGS)
{
	HdTicketRow t;
	ArrayType  *tags;
	Datum		v[3];

	hd_check_tenant_arg(fcinfo, 0);
	/* before SPI_connect: the result outlives SPI_finish */
	tags = PG_ARGISNULL(2) ? NULL : hd_ticket_normalise_tags(PG_GETARG_ARRAYTYPE_P(2));
	begin_change(fcinfo, "tags", &t);
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	v[2] = PointerGetDatum(tags);
	hd_exec(&write_tags, v, NULL, false, 1);
	if (SPI_processed == 1)
	{
		hd_ticket_event(PG_GETARG_INT64(0), t.id, "ticket.updated", hd_get_text(1), false);
		hd_ticket_changed(PG_GETARG_INT64(0), t.id, HD_TICKET_ATTRIBUTES);
	}
	SPI_finish();
	PG_RETURN_ARRAYTYPE_P(tags);
}

PG_FUNCTION_INFO_V1(hd_set_ticket_attributes);

/*
 * helpdesk.set_ticket_attributes(tenant_id, ticket_id, attributes,
 * actor_kind, actor_id): merged key by key (null removes a key); returns the
 * stored attributes.
 */
Datum
hd_set_ticket_attributes(PG_FUNCTION_ARGS)
{
	HdTicketRow t;
	Datum		v[3];
	Datum		d;
	bool		isnull;

	hd_check_tenant_arg(fcinfo, 0);
	begin_change(fcinfo, "attributes", &t);
	hd_check_json_document("attributes", PG_GETARG_JSONB_P(2));
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	v[2] = PG_GETARG_DATUM(2);
	hd_exec(&write_attributes, v, NULL, false, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	/* merged with the stored ones, they can outgrow the limit: refuse (the row rolls back) */
	hd_check_json_limits("attributes merged with the stored ones", DatumGetJsonbP(d));
	d = SPI_datumTransfer(d, false, -1);
	hd_ticket_event(PG_GETARG_INT64(0), t.id, "ticket.updated", hd_get_text(2), false);
	hd_ticket_changed(PG_GETARG_INT64(0), t.id, HD_TICKET_ATTRIBUTES);
	SPI_finish();
	PG_RETURN_DATUM(d);
}

PG_FUNCTION_INFO_V1(hd_set_ticket_queue);

/*
 * helpdesk.set_ticket_queue(tenant_id, ticket_id, queue_id, actor_kind,
 * actor_id): move the ticket to another queue (the assignee stays; the
 * assignment part decides what a move means for it).
 */
Datum
hd_set_ticket_queue(PG_FUNCTION_ARGS)
{
	HdTicketRow t;
	Datum		v[3];
	int64		tenant_id;
	int64		queue_id;

	hd_check_tenant_arg(fcinfo, 0);
	begin_change(fcinfo, "queue_id", &t);
	tenant_id = PG_GETARG_INT64(0);
	queue_id = PG_GETARG_INT64(2);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(queue_id);
	hd_exec(&queue_exists, v, NULL, false, 1);
	if (SPI_processed == 0)
		hd_not_found("queue", queue_id, tenant_id);
	v[1] = Int64GetDatum(t.id);
	v[2] = Int64GetDatum(queue_id);
	hd_exec(&write_queue, v, NULL, false, 0);
	if (SPI_processed == 1)
	{
		StringInfoData p;

		initStringInfo(&p);
		appendStringInfo(&p, "{\"change\": \"queue\", \"queue_id\": %lld", (long long) queue_id);
		if (t.has_queue)
			appendStringInfo(&p, ", \"previous\": %lld", (long long) t.queue_id);
		appendStringInfoChar(&p, '}');
		/* the old queue hears of it too */
		if (t.has_queue)
			hd_append_event(tenant_id, "queue", t.queue_id, 0, 0, "ticket.updated",
							psprintf("{\"ticket_id\": %lld, \"number\": %lld, %s",
									 (long long) t.id, (long long) t.number, p.data + 1));
		hd_ticket_event(tenant_id, t.id, "ticket.updated", p.data, false);
		hd_ticket_changed(tenant_id, t.id, HD_TICKET_QUEUE);
	}
	SPI_finish();
	PG_RETURN_VOID();
}

static HdPlan write_issue_type = {
	"UPDATE helpdesk.ticket t SET issue_type = $3, updated_at = now() FROM (SELECT issue_type FROM helpdesk.ticket "
	"  WHERE tenant_id = $1 AND id = $2) o "
	"WHERE t.tenant_id = $1 AND t.id = $2 AND t.issue_type IS DISTINCT FROM $3 "
	"RETURNING jsonb_build_object('change', 'issue_type', 'issue_type', t.issue_type, 'previous', o.issue_type, "
	"  'actor_kind', $4::text)::text",
	4, {INT8OID, INT8OID, TEXTOID, TEXTOID}
};

/*
 * The ticket's issue type (1..100 bytes, as create_ticket takes it), for the
 * automation rules' set_issue_type: the row FOR UPDATE, refused when closed,
 * ticket.updated {"change": "issue_type"} and the observers (SLA policies
 * match on it). SPI connected. False when it was that already.
 */
bool
hd_ticket_set_issue_type(int64 tenant_id, int64 ticket_id, const char *issue_type, const char *actor_kind)
{
	HdTicketRow t;
	Datum		v[4];

	hd_check_length("issue_type", issue_type, 1, 100);
	hd_load_ticket(tenant_id, ticket_id, HD_LOCK_UPDATE, &t);
	hd_ticket_require_open(&t);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(ticket_id);
	v[2] = CStringGetTextDatum(issue_type);
	v[3] = CStringGetTextDatum(actor_kind);
	hd_exec(&write_issue_type, v, NULL, false, 1);
	if (SPI_processed != 1)
		return false;
	hd_ticket_event(tenant_id, ticket_id, "ticket.updated", hd_get_text(1), false);
	hd_ticket_changed(tenant_id, ticket_id, HD_TICKET_ATTRIBUTES);
	return true;
}

static HdPlan write_settings = {
	"UPDATE helpdesk.tenant SET reopen_window = coalesce($2, reopen_window), "
	"  offline_tickets = coalesce($3, offline_tickets), updated_at = now() WHERE id = $1",
	3, {INT8OID, INTERVALOID, BOOLOID}
};

PG_FUNCTION_INFO_V1(hd_set_ticket_settings);

/* helpdesk.set_ticket_settings(tenant_id, reopen_window, offline_tickets): NULL keeps a setting */
Datum
hd_set_ticket_settings(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id"};
	Datum		v[3];
	char		n[4];

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 1, names);
	/* 0 .. 10 years; 0: every reply after a resolve opens a follow-up */
	(void) hd_interval_arg(fcinfo, 1, "reopen_window", 0, 3650 * USECS_PER_DAY_, true, NULL);
	hd_args_to_params(fcinfo, v, n, 3);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	hd_exec(&write_settings, v, n, false, 0);
	SPI_finish();
	PG_RETURN_VOID();
}

static HdPlan write_max_wait_action = {
	"UPDATE helpdesk.queue SET max_wait_action = $3, updated_at = now() "
	"WHERE tenant_id = $1 AND id = $2",
	3, {INT8OID, INT8OID, TEXTOID}
};

PG_FUNCTION_INFO_V1(hd_set_queue_max_wait_action);

/* helpdesk.set_queue_max_wait_action(tenant_id, queue_id, action) */
Datum
hd_set_queue_max_wait_action(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "queue_id", "max_wait_action"};
	static const char *const actions[] = {"overflow", "close", "ticket", NULL};
	Datum		v[3];
	char		n[4];

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 3, names);
	hd_check_enum("max_wait_action", text_to_cstring(PG_GETARG_TEXT_PP(2)), actions);
	hd_args_to_params(fcinfo, v, n, 3);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	hd_exec(&write_max_wait_action, v, n, false, 0);
	if (SPI_processed == 0)
		hd_not_found("queue", PG_GETARG_INT64(1), PG_GETARG_INT64(0));
	/* the dispatcher reads the queue's settings at each pass */
	hd_wake_at_commit(HD_WORKER_DISPATCHER);
	SPI_finish();
	PG_RETURN_VOID();
}
