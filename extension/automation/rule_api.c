/*
 * rule_api.c — upsert_rule, delete_rule and test_rule (the dry run).
 */
#include "rule.h"

#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "utils/builtins.h"

static const char *const rule_events[] = {"message.created", "session.created", "session.queued",
	"session.closed", "ticket.created", "ticket.updated", "sla.warning", "sla.breached",
"csat.submitted", "time.no_agent_reply", "time.queued", "time.pending", "time.no_customer_reply", NULL};

static HdPlan upsert_plan = {
	"INSERT INTO helpdesk.automation_rule AS r (tenant_id, name, event, conditions, actions, position, enabled, wait_for) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tenant_id, name) DO UPDATE SET "
	"  event = $3, conditions = $4, actions = $5, position = $6, enabled = $7, wait_for = $8, updated_at = now() "
	"RETURNING id",
	8, {INT8OID, TEXTOID, TEXTOID, JSONBOID, JSONBOID, INT4OID, BOOLOID, INTERVALOID}
};

PG_FUNCTION_INFO_V1(hd_upsert_rule);

Datum
hd_upsert_rule(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "name", "event", "conditions", "actions"};
	Datum		v[8];
	char		nulls[8] = "       ";
	char	   *name,
			   *event;
	int64		id;

	hd_check_tenant_arg(fcinfo, 0);	/* before any other argument is judged */
	hd_require_args(fcinfo, 5, names);
	name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	event = text_to_cstring(PG_GETARG_TEXT_PP(2));
	hd_check_length("name", name, 1, 200);
	hd_check_enum("event", event, rule_events);
	hd_check_json_document("conditions", PG_GETARG_JSONB_P(3));
	hd_rule_check_conditions(PG_GETARG_JSONB_P(3));
	hd_check_json_limits("actions", PG_GETARG_JSONB_P(4));
	hd_rule_check_actions(PG_GETARG_JSONB_P(4));
	v[0] = PG_GETARG_DATUM(0);
	v[1] = CStringGetTextDatum(name);
	v[2] = CStringGetTextDatum(event);
	v[3] = PG_GETARG_DATUM(3);
	v[4] = PG_GETARG_DATUM(4);
	v[5] = Int32GetDatum(PG_ARGISNULL(5) ? 0 : PG_GETARG_INT32(5));
	v[6] = BoolGetDatum(PG_ARGISNULL(6) ? true : PG_GETARG_BOOL(6));
	hd_check_range("position", DatumGetInt32(v[5]), 0, 1000000);
	/* a time rule waits wait_for (1 s .. 90 days, stored as its exact length); an event rule never */
	if (strncmp(event, "time.", 5) == 0)
	{
		if (PG_NARGS() < 8 || PG_ARGISNULL(7))
			hd_invalid("wait_for is required for the time rule event %s", event);
		(void) hd_interval_arg(fcinfo, 7, "wait_for", USECS_PER_SEC, 90 * USECS_PER_DAY, false, &v[7]);
	}
	else
	{
		if (PG_NARGS() >= 8 && !PG_ARGISNULL(7))
			hd_invalid("wait_for is only for the time rules (event time.*), not %s", event);
		v[7] = (Datum) 0;
		nulls[7] = 'n';
	}
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	hd_exec(&upsert_plan, v, nulls, false, 1);
	hd_get_int64(1, &id);
	/* the rules worker learns at once that it has work (its next due time) */
	hd_wake_at_commit(HD_WORKER_RULES);
	SPI_finish();
	PG_RETURN_INT64(id);
}

static HdPlan delete_plan = {
	"DELETE FROM helpdesk.automation_rule WHERE tenant_id = $1 AND name = $2",
	2, {INT8OID, TEXTOID}
};

PG_FUNCTION_INFO_V1(hd_delete_rule);

Datum
hd_delete_rule(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "name"};
	Datum		v[2];
	bool		found;

	hd_require_args(fcinfo, 2, names);
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	hd_exec(&delete_plan, v, NULL, false, 0);
	found = SPI_processed > 0;
	SPI_finish();
	PG_RETURN_BOOL(found);
}

/* obj.<kind>.id as int64, 0 when absent */
static int64
object_id(Jsonb *obj, const char *kind)
{
	JsonbValue *o = getKeyJsonValueFromContainer(&obj->root, kind, strlen(kind), NULL);
	JsonbValue *id;
	int64		r = 0;
	char	   *digits;

	if (o == NULL || o->type != jbvBinary || !JsonContainerIsObject(o->val.binary.data))
		return 0;
	id = getKeyJsonValueFromContainer(o->val.binary.data, "id", 2, NULL);
	if (id == NULL || id->type != jbvNumeric || !hd_json_int(id, 1, PG_INT64_MAX, &r, &digits))
		return 0;
	return r;
}

/* obj.event.type, NULL when absent: the default target of actions that act on either */
static char *
event_type(Jsonb *obj)
{
	JsonbValue *o = getKeyJsonValueFromContainer(&obj->root, "event", 5, NULL);
	JsonbValue *t;

	if (o == NULL || o->type != jbvBinary || !JsonContainerIsObject(o->val.binary.data))
		return NULL;
	t = getKeyJsonValueFromContainer(o->val.binary.data, "type", 4, NULL);
	if (t == NULL || t->type != jbvString)
		return NULL;
	return pnstrdup(t->val.string.val, t->val.string.len);
}

PG_FUNCTION_INFO_V1(hd_test_rule);

/* helpdesk.test_rule(tenant_id, rule {"conditions", "actions"}, object) -> what would happen */
Datum
hd_test_rule(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "rule", "object"};
	Jsonb	   *rule,
			   *obj,
			   *conds,
			   *actions;
	JsonbValue *cv,
			   *av;
	json_t	   *trace = json_array(),
			   *done = json_array(),
			   *out;
	bool		matched;
	char	   *text;
	Datum		r;

	hd_check_tenant_arg(fcinfo, 0);	/* before any other argument is judged */
	hd_require_args(fcinfo, 3, names);
	rule = PG_GETARG_JSONB_P(1);
	obj = PG_GETARG_JSONB_P(2);
	if (!JB_ROOT_IS_OBJECT(rule) || !JB_ROOT_IS_OBJECT(obj))
		hd_invalid("rule and object must be JSON objects");
	cv = getKeyJsonValueFromContainer(&rule->root, "conditions", 10, NULL);
	av = getKeyJsonValueFromContainer(&rule->root, "actions", 7, NULL);
	if (cv == NULL || av == NULL)
		hd_invalid("rule needs \"conditions\" and \"actions\"");
	conds = JsonbValueToJsonb(cv);
	actions = JsonbValueToJsonb(av);
	hd_rule_check_conditions(conds);
	hd_rule_check_actions(actions);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	matched = hd_rule_eval(conds, obj, trace);
	if (matched)
	{
		JsonbIterator *it = JsonbIteratorInit(&actions->root);
		JsonbValue	e;
		JsonbIteratorToken tok;
		int			i = 0;

		while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		{
			char	   *what;

			if (tok != WJB_ELEM)
				continue;
			/* a dry run never raises for the object: it says what is missing */
			what = hd_rule_do_action(PG_GETARG_INT64(0), e.val.binary.data, event_type(obj), object_id(obj, "session"),
									 object_id(obj, "ticket"), 0, 0, i++, true);
			json_array_append_new(done, strncmp(what, "error: ", 7) == 0
								  ? json_pack("{s:s}", "error", what + 7) : json_pack("{s:s}", "would", what));
		}
	}
	out = json_pack("{s:b,s:o,s:o}", "matched", matched, "conditions", trace, "actions", done);
	text = hd_rule_json_text(out);
	json_decref(out);
	SPI_finish();
	r = DirectFunctionCall1(jsonb_in, CStringGetDatum(text));
	PG_RETURN_DATUM(r);
}
