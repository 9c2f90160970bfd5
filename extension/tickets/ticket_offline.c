/*
 * ticket_offline.c — helpdesk.contact_support: where a customer starts a
 * conversation when it may have to become an offline ticket.
 *
 * With the tenant's offline_tickets on, and no enabled agent online who
 * could serve the queue the conversation would go to (the given queue, the
 * issue type's, or the tenant's default; any queue when none), the first
 * message becomes a ticket on channel offline in that queue. Otherwise, and
 * always when the customer already has an open session, it is
 * helpdesk.start_session. A customer already waiting in a queue stays there;
 * the queue's max_wait_action 'ticket' covers waiting too long.
 */
#include "tickets.h"
#include "routing.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/builtins.h"

static HdPlan offline_facts = {
	"SELECT t.offline_tickets, "
	"       EXISTS (SELECT 1 FROM helpdesk.session s WHERE s.tenant_id = $1 "
	"               AND s.customer_id = $2 AND s.state <> 'closed'), "
	"       (SELECT q.id FROM helpdesk.queue q WHERE q.tenant_id = $1 AND q.is_default) "
	"FROM helpdesk.tenant t WHERE t.id = $1",
	2, {INT8OID, INT8OID}
};
/* eligible as the dispatcher sees it: skills present, a language in common */
static HdPlan anyone_online = {
	"SELECT EXISTS (SELECT 1 FROM helpdesk.agent a WHERE a.tenant_id = $1 "
	"  AND a.status = 'online' AND a.enabled AND a.role <> 'qa' "
	"  AND ($2::bigint IS NULL OR EXISTS (SELECT 1 FROM helpdesk.queue q "
	"      WHERE q.tenant_id = $1 AND q.id = $2 AND a.skills ?& q.required_skills "
	"        AND (cardinality(q.required_languages) = 0 "
	"             OR a.languages && q.required_languages))))",
	2, {INT8OID, INT8OID}
};
static HdPlan start_session = {
	"SELECT session_id, created, message_id FROM helpdesk.start_session($1, $2, $3, $4, $5, "
	"  $6, $7, 0, $8)",
	8, {INT8OID, INT8OID, TEXTOID, INT8OID, TEXTOID, TEXTOID, JSONBOID, TEXTOID}
};
/* a retry of a contact that became a ticket stays a ticket, whoever came online since */
static HdPlan created_before = {
	"SELECT m.ticket_id, m.id FROM helpdesk.ticket_message m "
	"WHERE m.tenant_id = $1 AND m.customer_id = $2 AND m.sender_kind = 'customer' "
	"  AND m.client_msg_id = $3 AND NOT EXISTS (SELECT 1 FROM helpdesk.ticket_message p "
	"    WHERE p.tenant_id = m.tenant_id AND p.ticket_id = m.ticket_id AND p.id < m.id) "
	"ORDER BY m.id LIMIT 1",
	3, {INT8OID, INT8OID, TEXTOID}
};

PG_FUNCTION_INFO_V1(hd_contact_support);

/*
 * helpdesk.contact_support(tenant_id, customer_id, body, channel, queue_id,
 *   issue_type, subject, client_msg_id, attributes, OUT kind, OUT session_id,
 *   OUT ticket_id, OUT message_id, OUT created)
 */
Datum
hd_contact_support(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "customer_id", "body"};
	int64		tenant_id,
				customer_id,
				queue_id = 0,
				id = 0,
				message_id = 0;
	bool		has_queue = !PG_ARGISNULL(4);
	bool		offline,
				has_session,
				to_ticket = false,
				created = true;
	char	   *body,
			   *issue_type,
			   *client_msg_id;
	TupleDesc	desc;
	Datum		out[5];
	bool		onull[5] = {false, false, false, false, false};

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 3, names);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "pg_helpdesk: contact_support must return a record");
	tenant_id = PG_GETARG_INT64(0);
	customer_id = PG_GETARG_INT64(1);
	body = text_to_cstring(PG_GETARG_TEXT_PP(2));
	issue_type = hd_arg_text_or_null(fcinfo, 5);
	client_msg_id = hd_arg_text_or_null(fcinfo, 7);
	queue_id = has_queue ? PG_GETARG_INT64(4) : 0;

	SPI_connect();
	{
		Datum		v[3] = {Int64GetDatum(tenant_id), Int64GetDatum(customer_id), 0};

		hd_exec(&offline_facts, v, NULL, false, 1);
		if (SPI_processed == 0)
			hd_require_tenant(tenant_id);
		offline = hd_get_bool(1);
		has_session = hd_get_bool(2);
		if (!has_queue && issue_type)
			has_queue = hd_issue_type_queue(tenant_id, issue_type, &queue_id);
		if (!has_queue)
		{
			hd_exec(&offline_facts, v, NULL, false, 1);
			has_queue = hd_get_int64(3, &queue_id);
		}
		if (client_msg_id && offline && !has_session)
		{
			v[2] = CStringGetTextDatum(client_msg_id);
			hd_exec(&created_before, v, NULL, false, 1);
			if (SPI_processed == 1)
			{
				hd_get_int64(1, &id);
				hd_get_int64(2, &message_id);
				to_ticket = true;
			}
		}
		if (offline && !has_session && !to_ticket)
		{
			v[1] = Int64GetDatum(queue_id);
			hd_exec(&anyone_online, v, has_queue ? NULL : " n", false, 1);
			to_ticket = !hd_get_bool(1);
			if (to_ticket)
			{
				HdTicketNew n;

				memset(&n, 0, sizeof(n));
				n.tenant_id = tenant_id;
				n.customer_id = customer_id;
				n.subject = PG_ARGISNULL(6) ? hd_ticket_subject_from(body, "Offline message")
					: text_to_cstring(PG_GETARG_TEXT_PP(6));
				n.body = body;
				n.priority = "normal";
				n.issue_type = issue_type;
				n.has_queue = has_queue;
				n.queue_id = queue_id;
				n.channel = "offline";
				n.attributes = PG_ARGISNULL(8) ? NULL : PG_GETARG_JSONB_P(8);
				n.client_msg_id = client_msg_id;
				id = hd_ticket_create(&n, &message_id);
			}
		}
		else if (to_ticket)
			created = false;
	}
	if (to_ticket)
	{
		onull[1] = true;
		out[2] = Int64GetDatum(id);
	}
	else
	{
		Datum		v[8];
		char		n[9];

		v[0] = Int64GetDatum(tenant_id);
		v[1] = Int64GetDatum(customer_id);
		n[0] = n[1] = ' ';
		/* start_session(tenant, customer, channel, queue, issue_type, first_message, attributes, 0, client_msg_id) */
		v[2] = PG_ARGISNULL(3) ? CStringGetTextDatum("web") : PG_GETARG_DATUM(3);
		n[2] = ' ';
		v[3] = PG_GETARG_DATUM(4);
		n[3] = PG_ARGISNULL(4) ? 'n' : ' ';
		v[4] = PG_GETARG_DATUM(5);
		n[4] = PG_ARGISNULL(5) ? 'n' : ' ';
		v[5] = PG_GETARG_DATUM(2);
		n[5] = ' ';
		v[6] = PG_GETARG_DATUM(8);
		n[6] = PG_ARGISNULL(8) ? 'n' : ' ';
		v[7] = PG_GETARG_DATUM(7);
		n[7] = PG_ARGISNULL(7) ? 'n' : ' ';
		n[8] = '\0';
		hd_exec(&start_session, v, n, false, 1);
		hd_get_int64(1, &id);
		created = hd_get_bool(2);
		onull[3] = !hd_get_int64(3, &message_id);
		out[1] = Int64GetDatum(id);
		onull[2] = true;
	}
	SPI_finish();
	out[0] = CStringGetTextDatum(to_ticket ? "ticket" : "session");
	out[3] = Int64GetDatum(message_id);
	if (to_ticket)
		onull[3] = message_id == 0;
	out[4] = BoolGetDatum(created);
	desc = BlessTupleDesc(desc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, out, onull)));
}
