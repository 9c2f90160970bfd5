/*
 * ticket_event.c — events about a ticket, one row per audience.
 *
 * A ticket has no session audience: the bridge relays by the subjects it
 * knows (customer, agent, queue, tenant), so the event is appended once for
 * each of the ticket's customer (public events only), assignee, queue and
 * the tenant's supervisors, all in the changing transaction.
 */
#include "tickets.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"

static HdPlan ticket_audiences = {
	"SELECT number, customer_id, assignee_id, queue_id FROM helpdesk.ticket "
	"WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

void
hd_ticket_event(int64 tenant_id, int64 ticket_id, const char *type,
				const char *payload_json, bool is_public)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(ticket_id)};
	int64		number = 0,
				customer_id = 0,
				assignee_id = 0,
				queue_id = 0;
	bool		has_assignee,
				has_queue;
	StringInfoData p;
	const char *rest;

	hd_exec(&ticket_audiences, v, NULL, false, 1);
	if (SPI_processed != 1)
		elog(ERROR, "pg_helpdesk: ticket %lld of tenant %lld vanished",
			 (long long) ticket_id, (long long) tenant_id);
	hd_get_int64(1, &number);
	hd_get_int64(2, &customer_id);
	has_assignee = hd_get_int64(3, &assignee_id);
	has_queue = hd_get_int64(4, &queue_id);

	initStringInfo(&p);
	appendStringInfo(&p, "{\"ticket_id\": %lld, \"number\": %lld",
					 (long long) ticket_id, (long long) number);
	rest = payload_json ? payload_json : "{}";
	while (*rest == ' ')
		rest++;
	if (*rest != '{')
		elog(ERROR, "pg_helpdesk: ticket event payload must be a JSON object");
	rest++;
	while (*rest == ' ')
		rest++;
	if (*rest != '}')
		appendStringInfoString(&p, ", ");
	appendStringInfoString(&p, rest);

	if (is_public)
		hd_append_event(tenant_id, "customer", customer_id, 0, 0, type, p.data);
	if (has_assignee)
		hd_append_event(tenant_id, "agent", assignee_id, 0, 0, type, p.data);
	if (has_queue)
		hd_append_event(tenant_id, "queue", queue_id, 0, 0, type, p.data);
	hd_append_event(tenant_id, "tenant", tenant_id, 0, 0, type, p.data);
	hd_wake_at_commit(HD_WORKER_PUBLISHER);
	pfree(p.data);
}
