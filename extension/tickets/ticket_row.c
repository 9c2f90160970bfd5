/*
 * ticket_row.c — the row every ticket call starts from: the ticket by key,
 * locked as the caller's next step needs (FOR UPDATE for any change: replies
 * too, since a reply can move the status and always moves the activity
 * timestamps), and the check of who acts on it.
 */
#include "tickets.h"

#include "utils/builtins.h"

#define TICKET_COLUMNS \
	"SELECT number, customer_id, status, priority, queue_id, assignee_id, resolved_at " \
	"FROM helpdesk.ticket WHERE tenant_id = $1 AND id = $2"

static HdPlan load_ticket = {TICKET_COLUMNS, 2, {INT8OID, INT8OID}};
static HdPlan load_ticket_key_share = {TICKET_COLUMNS " FOR KEY SHARE", 2, {INT8OID, INT8OID}};
static HdPlan load_ticket_for_update = {TICKET_COLUMNS " FOR UPDATE", 2, {INT8OID, INT8OID}};

void
hd_load_ticket(int64 tenant_id, int64 ticket_id, HdRowLock lock, HdTicketRow *t)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(ticket_id)};
	HdPlan	   *p = lock == HD_LOCK_UPDATE ? &load_ticket_for_update
		: lock == HD_LOCK_KEY_SHARE ? &load_ticket_key_share : &load_ticket;
	bool		isnull;
	Datum		d;

	hd_exec(p, v, NULL, false, 1);
	if (SPI_processed == 0)
	{
		hd_require_tenant(tenant_id);
		hd_not_found("ticket", ticket_id, tenant_id);
	}
	memset(t, 0, sizeof(*t));
	t->id = ticket_id;
	hd_get_int64(1, &t->number);
	hd_get_int64(2, &t->customer_id);
	t->status = hd_ticket_status_literal(hd_get_text(3));
	t->priority = hd_ticket_priority_literal(hd_get_text(4));
	t->has_queue = hd_get_int64(5, &t->queue_id);
	t->has_assignee = hd_get_int64(6, &t->assignee_id);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 7, &isnull);
	t->has_resolved_at = !isnull;
	t->resolved_at = isnull ? 0 : DatumGetTimestampTz(d);
}

/*
 * May this actor change the ticket? agent: an enabled agent of the tenant
 * (any of them: tickets are worked by teams, not held like chats);
 * customer: the ticket's own, where the call allows customers at all;
 * system and api: no id.
 */
void
hd_ticket_check_actor(int64 tenant_id, HdTicketRow *t, const char *actor_kind,
					  bool has_actor, int64 actor_id, bool customer_ok)
{
	static const char *const kinds[] = {"agent", "customer", "system", "api", NULL};

	hd_check_enum("actor_kind", actor_kind, kinds);
	if (strcmp(actor_kind, "agent") == 0 || strcmp(actor_kind, "customer") == 0)
	{
		if (!has_actor)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("actor_id must not be NULL when actor_kind is %s", actor_kind)));
	}
	else if (has_actor)
		hd_invalid("actor_id must be NULL when actor_kind is %s", actor_kind);

	if (strcmp(actor_kind, "agent") == 0)
		hd_require_agent_may(tenant_id, actor_id, "change tickets");
	else if (strcmp(actor_kind, "customer") == 0)
	{
		if (!customer_ok)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("a customer cannot make this change to ticket %lld",
							(long long) t->id)));
		if (actor_id != t->customer_id)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("customer %lld is not the customer of ticket %lld",
							(long long) actor_id, (long long) t->id)));
	}
}

/* Refuse changes to a closed ticket (HD410, as for a closed session). */
void
hd_ticket_require_open(HdTicketRow *t)
{
	if (strcmp(t->status, "closed") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_SESSION_CLOSED),
				 errmsg("ticket %lld is closed", (long long) t->id),
				 errhint("A closed ticket is final; a customer reply opens a follow-up ticket.")));
}
