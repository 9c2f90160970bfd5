/*
 * rule_action.c — what a rule can do, each through the SQL API people use
 * (so the same checks, state machines, events and SLA rules apply):
 *   {"type": "send_message", "message"}           post_message as system into the session
 *   {"type": "close", "reason"}                   close_session (system)
 *   {"type": "add_note", "agent_id", "message"}   add_ticket_note / a note in the session
 *   {"type": "set_priority", "priority"}          set_ticket_priority (system)
 *   {"type": "add_tags", "tags": [...]}           set_ticket_tags with the ticket's tags plus these
 *   {"type": "set_status", "status"}              set_ticket_status: open, pending, resolved, closed
 *   {"type": "assign", "agent_id"}                assign_ticket (system; null unassigns)
 *   {"type": "send_webhook", "webhook"}           a delivery to the tenant's webhook (rule_notify.c)
 *   {"type": "ask_csat"}                          the session's survey now (rule_notify.c)
 * A message action's client_msg_id is rule:<rule>:<event position>:<index>,
 * so an event evaluated twice (a crash before the cursor moved) posts once.
 */
#include "rule.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

static const char *const action_types[] = {"send_message", "close", "add_note", "set_priority",
"add_tags", "set_status", "assign", "send_webhook", "ask_csat", NULL};

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
		char	   *type;

		if (tok != WJB_ELEM)
			continue;
		if (e.type != jbvBinary || !JsonContainerIsObject(e.val.binary.data))
			hd_invalid("every action must be a JSON object with \"type\"");
		a = e.val.binary.data;
		type = astr(a, "type");
		if (type == NULL)
			hd_invalid("every action needs \"type\"");
		hd_check_enum("action type", type, action_types);
		if ((strcmp(type, "send_message") == 0 || strcmp(type, "add_note") == 0) &&
			(astr(a, "message") == NULL || astr(a, "message")[0] == '\0'))
			hd_invalid("a %s action needs \"message\"", type);
		if (strcmp(type, "add_note") == 0 && astr(a, "agent_id") == NULL)
			hd_invalid("an add_note action needs \"agent_id\" (the note's author)");
		if (strcmp(type, "set_priority") == 0 && astr(a, "priority") == NULL)
			hd_invalid("a set_priority action needs \"priority\"");
		if (strcmp(type, "set_status") == 0 && astr(a, "status") == NULL)
			hd_invalid("a set_status action needs \"status\"");
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

static int64
aint(JsonbContainer *a, const char *k)
{
	char	   *s = astr(a, k);
	int64		v = 0;

	if (s == NULL || !hd_parse_int64(s, 1, PG_INT64_MAX, &v))
		hd_invalid("action %s must be a positive id", k);
	return v;
}

/* Do (or, dry_run, describe) one action; returns a short description. */
char *
hd_rule_do_action(int64 tenant_id, JsonbContainer *a, int64 session_id, int64 ticket_id,
				  int64 rule_id, int64 event_pos, int index, bool dry_run)
{
	char	   *type = astr(a, "type");
	Datum		v[5];
	char		n[6] = "     ";
	char	   *what,
			   *missing;

	v[0] = Int64GetDatum(tenant_id);
	if (strcmp(type, "send_webhook") == 0)
		return hd_rule_send_webhook(tenant_id, astr(a, "webhook"), session_id, ticket_id, rule_id,
									event_pos, index, dry_run);
	if (strcmp(type, "ask_csat") == 0)
	{
		missing = need(session_id != 0, "session", type, dry_run);
		return missing ? missing : hd_rule_ask_csat(tenant_id, session_id, dry_run);
	}
	if (strcmp(type, "send_message") == 0 || strcmp(type, "close") == 0)
		missing = need(session_id != 0, "session", type, dry_run);
	else if (strcmp(type, "add_note") != 0)
		missing = need(ticket_id != 0, "ticket", type, dry_run);
	else
		missing = need(session_id != 0 || ticket_id != 0, "session or ticket", type, dry_run);
	if (missing)
		return missing;
	what = psprintf("%s on %s %lld", type, ticket_id && strcmp(type, "send_message") != 0 && strcmp(type, "close") != 0
					? "ticket" : "session", (long long) (ticket_id && strcmp(type, "send_message") != 0 &&
														 strcmp(type, "close") != 0 ? ticket_id : session_id));
	if (dry_run)
		return what;
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
		v[2] = Int64GetDatum(aint(a, "agent_id"));
		v[3] = CStringGetTextDatum(astr(a, "message"));
		v[4] = CStringGetTextDatum(psprintf("rule:%lld:%lld:%d", (long long) rule_id, (long long) event_pos, index));
		v[1] = Int64GetDatum(ticket_id ? ticket_id : session_id);
		hd_exec(ticket_id ? &note_ticket_plan : &note_session_plan, v, NULL, false, 1);
	}
	else
	{
		v[1] = Int64GetDatum(ticket_id);
		if (strcmp(type, "set_priority") == 0)
		{
			v[2] = CStringGetTextDatum(astr(a, "priority"));
			hd_exec(&priority_plan, v, NULL, false, 1);
		}
		else if (strcmp(type, "set_status") == 0)
		{
			v[2] = CStringGetTextDatum(astr(a, "status"));
			hd_exec(&status_plan, v, NULL, false, 1);
		}
		else if (strcmp(type, "assign") == 0)
		{
			char	   *agent = astr(a, "agent_id");

			v[2] = agent ? Int64GetDatum(aint(a, "agent_id")) : (Datum) 0;
			n[2] = agent ? ' ' : 'n';
			hd_exec(&assign_plan, v, n, false, 1);
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
