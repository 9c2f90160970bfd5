/*
 * ticket_escalate.c — tickets from chat sessions: helpdesk.escalate_session
 * and the queue max-wait action 'ticket' (a hook routing calls, registered
 * here so that routing never names tickets).
 *
 * The ticket keeps the transcript by reference (ticket.session_id); the
 * session closes through routing's own close path (hd_close) with reason
 * 'escalated', which frees the agent's slot and logs session.state. A
 * session escalates at most once (unique ticket_by_session): a second call
 * returns the same ticket.
 */
#include "tickets.h"
#include "routing.h"

#include "utils/builtins.h"

static HdPlan ticket_of_session = {
	"SELECT id, number FROM helpdesk.ticket WHERE tenant_id = $1 AND session_id = $2",
	2, {INT8OID, INT8OID}
};
static HdPlan session_facts = {
	"SELECT s.issue_type, s.attributes FROM helpdesk.session s "
	"WHERE s.tenant_id = $1 AND s.id = $2",
	2, {INT8OID, INT8OID}
};
/* the chat's last public activity carries over (auto-close and SLA read it) */
static HdPlan carry_activity = {
	"UPDATE helpdesk.ticket t SET last_customer_at = m.last_customer, "
	"  last_agent_at = m.last_agent, last_public_sender = m.last_sender "
	"FROM (SELECT max(created_at) FILTER (WHERE sender_kind = 'customer') AS last_customer, "
	"             max(created_at) FILTER (WHERE sender_kind = 'agent') AS last_agent, "
	"             (array_agg(sender_kind ORDER BY id DESC) "
	"                FILTER (WHERE sender_kind IN ('customer', 'agent')))[1] AS last_sender "
	"      FROM helpdesk.message WHERE tenant_id = $1 AND session_id = $2) m "
	"WHERE t.tenant_id = $1 AND t.id = $3",
	3, {INT8OID, INT8OID, INT8OID}
};

/* A subject from the chat's first customer message, cut to 100 bytes at a character boundary. */
static char *
default_subject(int64 tenant_id, int64 session_id)
{
	char	   *first = hd_first_customer_message(tenant_id, session_id);
	char	   *fallback = psprintf("Chat %lld", (long long) session_id);

	if (first == NULL || first[0] == '\0')
		return fallback;
	return hd_ticket_subject_from(first, fallback);
}

typedef struct Escalation
{
	const char *subject;		/* NULL: from the first customer message */
	const char *priority;
	const char *issue_type;		/* NULL: the session's */
	bool		has_queue;		/* false: the session's */
	int64		queue_id;
	const char *closed_by;		/* agent or system */
	int64		agent_id;		/* closed_by agent */
	const char *note;			/* an internal note of the agent, may be NULL */
} Escalation;

/* The session row is locked FOR UPDATE by the caller. */
static int64
escalate(int64 tenant_id, HdSessionRow *s, Escalation *e)
{
	Datum		v[3] = {Int64GetDatum(tenant_id), Int64GetDatum(s->id), 0};
	HdTicketNew n;
	int64		id = 0,
				number = 0,
				message_id;

	hd_exec(&ticket_of_session, v, NULL, false, 1);
	if (SPI_processed == 1)
	{
		hd_get_int64(1, &id);
		return id;
	}
	hd_exec(&session_facts, v, NULL, false, 1);
	memset(&n, 0, sizeof(n));
	n.tenant_id = tenant_id;
	n.customer_id = s->customer_id;
	n.issue_type = e->issue_type ? e->issue_type : hd_get_text(1);
	n.subject = e->subject ? e->subject : default_subject(tenant_id, s->id);
	n.priority = e->priority;
	n.has_queue = e->has_queue || s->has_queue;
	n.queue_id = e->has_queue ? e->queue_id : s->queue_id;
	n.channel = "chat";
	n.has_session = true;
	n.session_id = s->id;
	id = hd_ticket_create(&n, &message_id);

	v[2] = Int64GetDatum(id);
	hd_exec(&carry_activity, v, NULL, false, 0);
	if (e->note)
	{
		HdTicketPost m;
		HdTicketRow t;

		memset(&m, 0, sizeof(m));
		m.tenant_id = tenant_id;
		m.ticket_id = id;
		m.sender_kind = "note";
		m.has_sender = true;
		m.sender_id = e->agent_id;
		m.type = "text";
		m.body = e->note;
		hd_ticket_check_content(&m);
		hd_load_ticket(tenant_id, id, HD_LOCK_NONE, &t);
		(void) hd_ticket_insert_message(&m, &t);
	}
	hd_exec(&ticket_of_session, v, NULL, false, 1);
	hd_get_int64(2, &number);
	/* the chat's participants learn the ticket's number before the session closes */
	hd_append_event(tenant_id, "session", s->id, s->id, 0, "session.escalated",
					psprintf("{\"ticket_id\": %lld, \"number\": %lld}",
							 (long long) id, (long long) number));
	if (strcmp(s->state, "closed") != 0)
		hd_close(tenant_id, s, "escalated", e->closed_by);
	return id;
}

PG_FUNCTION_INFO_V1(hd_escalate_session);

/*
 * helpdesk.escalate_session(tenant_id, session_id, subject, priority,
 *   issue_type, queue_id, actor_kind, actor_id, note) -> ticket id
 */
Datum
hd_escalate_session(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "session_id"};
	static const char *const actors[] = {"agent", "system", NULL};
	int64		tenant_id,
				session_id,
				id;
	char	   *actor_kind;
	bool		has_actor = !PG_ARGISNULL(7);
	Escalation	e;
	HdSessionRow s;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	tenant_id = PG_GETARG_INT64(0);
	session_id = PG_GETARG_INT64(1);
	memset(&e, 0, sizeof(e));
	e.subject = hd_arg_text_or_null(fcinfo, 2);
	e.priority = PG_ARGISNULL(3) ? "normal" : text_to_cstring(PG_GETARG_TEXT_PP(3));
	e.issue_type = hd_arg_text_or_null(fcinfo, 4);
	e.has_queue = !PG_ARGISNULL(5);
	e.queue_id = e.has_queue ? PG_GETARG_INT64(5) : 0;
	actor_kind = PG_ARGISNULL(6) ? "system" : text_to_cstring(PG_GETARG_TEXT_PP(6));
	e.note = hd_arg_text_or_null(fcinfo, 8);
	hd_check_enum("actor_kind", actor_kind, actors);
	if (strcmp(actor_kind, "agent") == 0 && !has_actor)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("actor_id must not be NULL when actor_kind is agent")));
	if (strcmp(actor_kind, "system") == 0 && has_actor)
		hd_invalid("actor_id must be NULL when actor_kind is system");
	if (e.note && strcmp(actor_kind, "agent") != 0)
		hd_invalid("a note needs an agent: actor_kind agent and its actor_id");
	e.closed_by = actor_kind;
	e.agent_id = has_actor ? PG_GETARG_INT64(7) : 0;

	SPI_connect();
	hd_load_session(tenant_id, session_id, HD_LOCK_UPDATE, &s);
	if (has_actor)
	{
		hd_require_agent_may(tenant_id, e.agent_id, "escalate sessions");
		if (strcmp(s.state, "closed") != 0 && (!s.has_agent || s.agent_id != e.agent_id))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("agent %lld is not assigned to session %lld",
							(long long) e.agent_id, (long long) session_id)));
	}
	id = escalate(tenant_id, &s, &e);
	SPI_finish();
	PG_RETURN_INT64(id);
}

/* routing's max-wait hook: the waiting session becomes a ticket of its queue */
static void
max_wait_ticket(int64 tenant_id, HdSessionRow *s, TimestampTz due)
{
	Escalation	e;

	memset(&e, 0, sizeof(e));
	e.priority = "normal";
	e.closed_by = "system";
	(void) escalate(tenant_id, s, &e);
}

/* From hd_tickets_init: routing's timers reach tickets through this hook only. */
void
hd_ticket_escalate_init(void)
{
	hd_max_wait_ticket_hook = max_wait_ticket;
}
