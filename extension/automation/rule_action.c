/*
 * rule_action.c — what a rule can do, each through the SQL or C API people
 * use (so the same checks, state machines, capacity, events and SLA rules apply):
 *   {"type": "send_message", "message"}           post_message as system into the session
 *   {"type": "close", "reason"}                   close_session (system)
 *   {"type": "add_note", "agent_id", "message"}   add_ticket_note / a note in the session
 *   {"type": "set_priority", "priority"}          ticket: set_ticket_priority (low, normal, high,
 *                                                 urgent); session: its routing priority (-1000..1000
 *                                                 s of head start, or those words: -120, 0, 300, 900)
 *   {"type": "add_tags", "tags": [...]}           set_ticket_tags with the ticket's tags plus these
 *   {"type": "set_status", "status"}              set_ticket_status: open, pending, resolved, closed
 *   {"type": "resolve"} / {"type": "pending"}     set_ticket_status resolved / pending; resolve on a
 *                                                 session closes it (reason resolved)
 *   {"type": "assign", "agent_id"}                ticket: assign_ticket (system); session: offered to
 *                                                 that agent only, capacity permitting (rule_session.c)
 *   {"type": "unassign"}                          ticket: assign_ticket null; session: back to its queue
 *   {"type": "transfer", "queue_id", "agent_id"}  session: transfer_session's path (either or both);
 *                                                 ticket: set_ticket_queue and/or assign_ticket
 *   {"type": "set_queue", "queue_id"}             set_ticket_queue; a session moves to that queue
 *   {"type": "set_issue_type", "issue_type"}      the ticket's (SLA policies follow) or the session's
 *   {"type": "send_webhook", "webhook"}           a delivery to the tenant's webhook (rule_notify.c)
 *   {"type": "ask_csat"}                          the session's or ticket's survey now (rule_notify.c)
 * The actions that act on either take "target": "session" | "ticket"; by
 * default the ticket on ticket.*, sla.* and time.pending events, else the
 * session (and whichever the event has when it has one only).
 * A message action's client_msg_id is rule:<rule>:<event position>:<index>,
 * so an event evaluated twice (a crash before the cursor moved) posts once.
 */
#include "rule.h"
#include "tickets.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

static const char *const action_types[] = {"send_message", "close", "add_note", "set_priority",
	"add_tags", "set_status", "assign", "unassign", "transfer", "set_queue", "set_issue_type", "resolve",
"pending", "send_webhook", "ask_csat", NULL};

/* the actions that act on a session or a ticket ("target") */
static const char *const either_types[] = {"add_note", "set_priority", "assign", "unassign", "transfer",
"set_queue", "set_issue_type", "resolve", "ask_csat", NULL};

static const char *const ticket_statuses[] = {"open", "pending", "resolved", "closed", NULL};

/* urgency words as a session's seconds of head start (as a bot's answer gives them) */
static const struct
{
	const char *word;
	int32		seconds;
}			priority_words[] = {
	{"low", -120}, {"normal", 0}, {"high", 300}, {"urgent", 900}, {NULL, 0}
};

static bool
in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

static char *
astr(JsonbContainer *a, const char *k)
{
	JsonbValue *v = getKeyJsonValueFromContainer(a, k, strlen(k), NULL);

	if (v == NULL || v->type == jbvNull)
		return NULL;
	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	if (v->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	return NULL;
}

/* key k is there (any value, null too) */
static bool
ahas(JsonbContainer *a, const char *k)
{
	return getKeyJsonValueFromContainer(a, k, strlen(k), NULL) != NULL;
}

/* a positive id in key k: 0 when absent; 22023 naming the action and the field when not an id */
static int64
aid(JsonbContainer *a, const char *type, const char *k, bool required)
{
	char	   *s = astr(a, k);
	int64		v = 0;

	if (s == NULL && !ahas(a, k) && !required)
		return 0;
	if (s == NULL || !hd_parse_int64(s, 1, PG_INT64_MAX, &v))
		hd_invalid("a %s action's \"%s\" must be a positive id%s", type, k,
				   s == NULL && !ahas(a, k) ? ", and it is missing" : "");
	return v;
}

/* set_priority's value as a session's seconds; false when it is not one */
static bool
session_priority(const char *p, int32 *seconds)
{
	int64		v;
	int			i;

	for (i = 0; priority_words[i].word; i++)
		if (strcmp(p, priority_words[i].word) == 0)
		{
			*seconds = priority_words[i].seconds;
			return true;
		}
	if (!hd_parse_int64(p, -1000, 1000, &v))
		return false;
	*seconds = (int32) v;
	return true;
}

void
hd_rule_check_actions(Jsonb *actions)
{
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	int			n = 0;

	if (!JB_ROOT_IS_ARRAY(actions) || JB_ROOT_IS_SCALAR(actions))
		hd_invalid("actions must be a JSON array of {\"type\", ...}");
	it = JsonbIteratorInit(&actions->root);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		JsonbContainer *a;
		char	   *type,
				   *target,
				   *p;
		int32		seconds;

		if (tok != WJB_ELEM)
			continue;
		if (e.type != jbvBinary || !JsonContainerIsObject(e.val.binary.data))
			hd_invalid("every action must be a JSON object with \"type\"");
		a = e.val.binary.data;
		type = astr(a, "type");
		if (type == NULL)
			hd_invalid("every action needs \"type\"");
		hd_check_enum("action type", type, action_types);
		if (ahas(a, "target"))
		{
			target = astr(a, "target");
			if (!in_list(type, either_types))
				hd_invalid("a %s action takes no \"target\" (it acts on %s only)", type,
						   strcmp(type, "send_message") == 0 || strcmp(type, "close") == 0 ? "the session"
						   : strcmp(type, "send_webhook") == 0 ? "the webhook" : "the ticket");
			if (target == NULL || (strcmp(target, "session") != 0 && strcmp(target, "ticket") != 0))
				hd_invalid("a %s action's \"target\" must be \"session\" or \"ticket\"", type);
		}
		if ((strcmp(type, "send_message") == 0 || strcmp(type, "add_note") == 0) &&
			(astr(a, "message") == NULL || astr(a, "message")[0] == '\0'))
			hd_invalid("a %s action needs \"message\"", type);
		if (strcmp(type, "add_note") == 0 && astr(a, "agent_id") == NULL)
			hd_invalid("an add_note action needs \"agent_id\" (the note's author)");
		if (strcmp(type, "add_note") == 0)
			(void) aid(a, type, "agent_id", true);
		if (strcmp(type, "set_priority") == 0)
		{
			p = astr(a, "priority");
			if (p == NULL)
				hd_invalid("a set_priority action needs \"priority\"");
			if (!session_priority(p, &seconds))
				hd_invalid("a set_priority action's \"priority\" must be low, normal, high, urgent "
						   "or (a session's head start in seconds) an integer from -1000 to 1000, not %s",
						   hd_quote(p));
		}
		if (strcmp(type, "set_status") == 0)
		{
			p = astr(a, "status");
			if (p == NULL)
				hd_invalid("a set_status action needs \"status\"");
			if (!in_list(p, ticket_statuses))
				hd_invalid("a set_status action's \"status\" must be open, pending, resolved or closed, not %s",
						   hd_quote(p));
		}
		if (strcmp(type, "assign") == 0)
			(void) aid(a, type, "agent_id", true);
		if (strcmp(type, "set_queue") == 0)
			(void) aid(a, type, "queue_id", true);
		if (strcmp(type, "transfer") == 0)
		{
			int64		queue = aid(a, type, "queue_id", false),
						agent = aid(a, type, "agent_id", false);

			if (queue == 0 && agent == 0)
				hd_invalid("a transfer action needs \"queue_id\" or \"agent_id\" (or both)");
		}
		if (strcmp(type, "set_issue_type") == 0)
		{
			p = astr(a, "issue_type");
			if (p == NULL || strlen(p) < 1 || strlen(p) > 100)
				hd_invalid("a set_issue_type action needs \"issue_type\" (a code of 1 to 100 bytes)");
		}
		if (strcmp(type, "close") == 0 && ahas(a, "reason") &&
			(astr(a, "reason") == NULL || strlen(astr(a, "reason")) > 200))
			hd_invalid("a close action's \"reason\" must be a text of at most 200 bytes");
		if (strcmp(type, "send_webhook") == 0 && (astr(a, "webhook") == NULL || astr(a, "webhook")[0] == '\0'))
			hd_invalid("a send_webhook action needs \"webhook\" (the external id of one of the tenant's webhooks)");
		if (strcmp(type, "add_tags") == 0)
		{
			JsonbValue *t = getKeyJsonValueFromContainer(a, "tags", 4, NULL);

			if (t == NULL || t->type != jbvBinary || !JsonContainerIsArray(t->val.binary.data))
				hd_invalid("an add_tags action needs \"tags\" (an array)");
		}
		n++;
	}
	if (n < 1 || n > HD_RULE_MAX_ACTIONS)
		hd_invalid("a rule needs 1 to %d actions, got %d", HD_RULE_MAX_ACTIONS, n);
}

static HdPlan send_plan = {
	"SELECT helpdesk.post_message($1, $2, 'system', NULL, $3, 'text', $4)",
	4, {INT8OID, INT8OID, TEXTOID, TEXTOID}
};
static HdPlan note_session_plan = {
	"SELECT helpdesk.post_message($1, $2, 'note', $3, $4, 'text', $5)",
	5, {INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID}
};
static HdPlan note_ticket_plan = {
	"SELECT helpdesk.add_ticket_note($1, $2, $3, $4, $5)",
	5, {INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID}
};
static HdPlan close_plan = {
	"SELECT helpdesk.close_session($1, $2, $3, 'system')",
	3, {INT8OID, INT8OID, TEXTOID}
};
static HdPlan priority_plan = {
	"SELECT helpdesk.set_ticket_priority($1, $2, $3, 'system', NULL)",
	3, {INT8OID, INT8OID, TEXTOID}
};
static HdPlan tags_plan = {
	"SELECT helpdesk.set_ticket_tags($1, $2, "
	"  (SELECT array_agg(DISTINCT x) FROM unnest(t.tags || ARRAY(SELECT jsonb_array_elements_text($3))) x), "
	"  'system', NULL) FROM helpdesk.ticket t WHERE t.tenant_id = $1 AND t.id = $2",
	3, {INT8OID, INT8OID, JSONBOID}
};
static HdPlan status_plan = {
	"SELECT helpdesk.set_ticket_status($1, $2, $3, 'system', NULL, 'automation rule')",
	3, {INT8OID, INT8OID, TEXTOID}
};
static HdPlan assign_plan = {
	"SELECT helpdesk.assign_ticket($1, $2, $3, 'system', NULL)",
	3, {INT8OID, INT8OID, INT8OID}
};
static HdPlan ticket_queue_plan = {
	"SELECT helpdesk.set_ticket_queue($1, $2, $3, 'system', NULL)",
	3, {INT8OID, INT8OID, INT8OID}
};

/* NULL when the event has what the action needs; else why not (an ERROR unless a dry run) */
static char *
need(bool have, const char *what, const char *type, bool dry_run)
{
	if (have)
		return NULL;
	if (dry_run)
		return psprintf("error: a %s action needs a %s, and this object has none", type, what);
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("a %s action needs a %s, and this event has none", type, what)));
	return NULL;
}

/* the action acts on the ticket (else the session): "target", else the event's kind (see rule.h) */
static bool
on_ticket(JsonbContainer *a, const char *type, const char *kind, int64 session_id, int64 ticket_id)
{
	char	   *target = astr(a, "target");

	if (!in_list(type, either_types))
		return strcmp(type, "send_message") != 0 && strcmp(type, "close") != 0;
	if (target)
		return strcmp(target, "ticket") == 0;
	if (kind && (strncmp(kind, "ticket.", 7) == 0 || strncmp(kind, "sla.", 4) == 0 ||
				 strcmp(kind, "time.pending") == 0))
		return ticket_id != 0 || session_id == 0;
	return session_id == 0 && ticket_id != 0;
}

/* what a new action on a ticket or session does, for the dry run and the audit */
static char *
detail(JsonbContainer *a, const char *type)
{
	int64		agent = aid(a, type, "agent_id", false),
				queue = aid(a, type, "queue_id", false);

	if (strcmp(type, "assign") == 0)
		return psprintf(": to agent %lld", (long long) agent);
	if (strcmp(type, "transfer") == 0)
		return agent && queue ? psprintf(": to agent %lld via queue %lld", (long long) agent, (long long) queue)
			: agent ? psprintf(": to agent %lld", (long long) agent) : psprintf(": to queue %lld", (long long) queue);
	if (strcmp(type, "set_queue") == 0)
		return psprintf(": queue %lld", (long long) queue);
	if (strcmp(type, "set_issue_type") == 0)
		return psprintf(": %s", astr(a, "issue_type"));
	if (strcmp(type, "set_priority") == 0)
		return psprintf(": %s", astr(a, "priority"));
	return "";
}

/* the new actions on a session (rule_session.c) */
static char *
session_action(int64 tenant_id, JsonbContainer *a, const char *type, int64 session_id, int64 rule_id)
{
	if (strcmp(type, "resolve") == 0)
	{
		Datum		v[3] = {Int64GetDatum(tenant_id), Int64GetDatum(session_id), CStringGetTextDatum("resolved")};

		hd_exec(&close_plan, v, NULL, false, 1);
		return psprintf("resolve on session %lld: closed (reason resolved)", (long long) session_id);
	}
	if (strcmp(type, "set_priority") == 0)
	{
		int32		seconds = 0;

		(void) session_priority(astr(a, "priority"), &seconds);
		return hd_rule_session_priority(tenant_id, session_id, type, NULL, true, seconds, rule_id);
	}
	if (strcmp(type, "set_issue_type") == 0)
		return hd_rule_session_priority(tenant_id, session_id, type, astr(a, "issue_type"), false, 0, rule_id);
	return hd_rule_session_move(tenant_id, session_id, type, aid(a, type, "agent_id", false),
								aid(a, type, "queue_id", false), rule_id);
}


/* Do (or, dry_run, describe) one action; returns a short description. */
char *
hd_rule_do_action(int64 tenant_id, JsonbContainer *a, const char *event_kind, int64 session_id,
				  int64 ticket_id, int64 rule_id, int64 event_pos, int index, bool dry_run)
{
	char	   *type = astr(a, "type");
	Datum		v[5];
	char		n[6] = "     ";
	char	   *what,
			   *missing;
	bool		ticket;

	v[0] = Int64GetDatum(tenant_id);
	if (strcmp(type, "send_webhook") == 0)
		return hd_rule_send_webhook(tenant_id, astr(a, "webhook"), session_id, ticket_id, rule_id,
									event_pos, index, dry_run);
	ticket = on_ticket(a, type, event_kind, session_id, ticket_id);
	missing = ticket ? need(ticket_id != 0, "ticket", type, dry_run) : need(session_id != 0, "session", type, dry_run);
	if (missing)
		return missing;
	if (strcmp(type, "ask_csat") == 0)
		return ticket ? hd_rule_ask_ticket_csat(tenant_id, ticket_id, dry_run)
			: hd_rule_ask_csat(tenant_id, session_id, dry_run);
	what = psprintf("%s on %s %lld%s", type, ticket ? "ticket" : "session",
					(long long) (ticket ? ticket_id : session_id), detail(a, type));
	if (dry_run)
	{
		int32		seconds;
		int64		number;

		/* what the run would refuse for this target, known without looking */
		if (ticket && strcmp(type, "set_priority") == 0 &&
			hd_parse_int64(astr(a, "priority"), -1000, 1000, &number))
			return psprintf("error: a ticket's priority is low, normal, high or urgent, not %s", astr(a, "priority"));
		if (!ticket && strcmp(type, "set_priority") == 0 && session_priority(astr(a, "priority"), &seconds))
			return psprintf("%s (%d s of head start)", what, (int) seconds);
		return what;
	}
	if (!ticket && (strcmp(type, "send_message") != 0 && strcmp(type, "close") != 0 &&
					strcmp(type, "add_note") != 0))
		return session_action(tenant_id, a, type, session_id, rule_id);
	if (strcmp(type, "send_message") == 0)
	{
		v[1] = Int64GetDatum(session_id);
		v[2] = CStringGetTextDatum(astr(a, "message"));
		v[3] = CStringGetTextDatum(psprintf("rule:%lld:%lld:%d", (long long) rule_id, (long long) event_pos, index));
		hd_exec(&send_plan, v, NULL, false, 1);
	}
	else if (strcmp(type, "close") == 0)
	{
		char	   *reason = astr(a, "reason");

		v[1] = Int64GetDatum(session_id);
		v[2] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
		n[2] = reason ? ' ' : 'n';
		hd_exec(&close_plan, v, n, false, 1);
	}
	else if (strcmp(type, "add_note") == 0)
	{
		v[2] = Int64GetDatum(aid(a, type, "agent_id", true));
		v[3] = CStringGetTextDatum(astr(a, "message"));
		v[4] = CStringGetTextDatum(psprintf("rule:%lld:%lld:%d", (long long) rule_id, (long long) event_pos, index));
		v[1] = Int64GetDatum(ticket ? ticket_id : session_id);
		hd_exec(ticket ? &note_ticket_plan : &note_session_plan, v, NULL, false, 1);
	}
	else
	{
		v[1] = Int64GetDatum(ticket_id);
		if (strcmp(type, "set_priority") == 0)
		{
			v[2] = CStringGetTextDatum(astr(a, "priority"));
			hd_exec(&priority_plan, v, NULL, false, 1);
		}
		else if (strcmp(type, "set_status") == 0 || strcmp(type, "resolve") == 0 || strcmp(type, "pending") == 0)
		{
			v[2] = CStringGetTextDatum(strcmp(type, "set_status") == 0 ? astr(a, "status")
									   : strcmp(type, "resolve") == 0 ? "resolved" : "pending");
			hd_exec(&status_plan, v, NULL, false, 1);
		}
		else if (strcmp(type, "assign") == 0 || strcmp(type, "unassign") == 0 ||
				 (strcmp(type, "transfer") == 0 && aid(a, type, "agent_id", false)))
		{
			int64		agent = strcmp(type, "unassign") == 0 ? 0 : aid(a, type, "agent_id", false);

			v[2] = Int64GetDatum(agent);
			n[2] = agent ? ' ' : 'n';
			hd_exec(&assign_plan, v, n, false, 1);
		}
		if ((strcmp(type, "transfer") == 0 || strcmp(type, "set_queue") == 0) && aid(a, type, "queue_id", false))
		{
			v[2] = Int64GetDatum(aid(a, type, "queue_id", false));
			n[2] = ' ';
			hd_exec(&ticket_queue_plan, v, NULL, false, 1);
		}
		else if (strcmp(type, "set_issue_type") == 0)
		{
			if (!hd_ticket_set_issue_type(tenant_id, ticket_id, astr(a, "issue_type"), "system"))
				what = psprintf("%s (unchanged)", what);
		}
		else if (strcmp(type, "add_tags") == 0)
		{
			JsonbValue *t = getKeyJsonValueFromContainer(a, "tags", 4, NULL);

			v[2] = JsonbPGetDatum(JsonbValueToJsonb(t));
			hd_exec(&tags_plan, v, NULL, false, 1);
		}
	}
	return what;
}
