/*
 * rule_cond.c — a rule's conditions: {"all": [...]}, {"any": [...]},
 * {"not": cond} and leaves {"field": "message.body", "op": "contains",
 * "value": "退款"}. Fields are dotted paths into the event's object
 * ({event, message, session, customer, ticket}); operators equal,
 * not_equal, contains (text inside text, or an element of an array such as
 * tags), starts_with, regex (POSIX, as ~), in (value is an array), gt, lt
 * (numbers as numbers, else text), present (there, not null, not ""). An
 * empty group: all = true, any = false. Evaluated in C on the jsonb, with a
 * trace of every leaf (field, op, value, actual, result) for the audit.
 */
#include "rule.h"

#include "catalog/pg_collation.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

static const char *const ops[] = {"equal", "not_equal", "contains", "starts_with", "regex", "in",
"gt", "lt", "present", NULL};

static JsonbValue *
key(JsonbContainer *c, const char *k)
{
	return getKeyJsonValueFromContainer(c, k, strlen(k), NULL);
}

char *
hd_rule_json_text(json_t *j)
{
	char	   *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	char	   *out = pstrdup(s ? s : "null");

	free(s);
	return out;
}

static void
check_node(JsonbContainer *c, int depth, int *leaves)
{
	JsonbValue *v;

	if (depth > 8)
		hd_invalid("conditions are nested more than 8 deep");
	if (!JsonContainerIsObject(c))
		hd_invalid("every condition must be a JSON object");
	if ((v = key(c, "all")) != NULL || (v = key(c, "any")) != NULL)
	{
		JsonbIterator *it;
		JsonbValue	e;
		JsonbIteratorToken tok;

		if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
			hd_invalid("\"all\" and \"any\" take an array of conditions");
		it = JsonbIteratorInit(v->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			if (e.type != jbvBinary)
				hd_invalid("every condition must be a JSON object");
			check_node(e.val.binary.data, depth + 1, leaves);
		}
		return;
	}
	if ((v = key(c, "not")) != NULL)
	{
		if (v->type != jbvBinary)
			hd_invalid("\"not\" takes one condition object");
		check_node(v->val.binary.data, depth + 1, leaves);
		return;
	}
	v = key(c, "field");
	if (v == NULL || v->type != jbvString || v->val.string.len < 1 || v->val.string.len > 100)
		hd_invalid("a condition needs \"field\" (a dotted path such as message.body) or \"all\"/\"any\"/\"not\"");
	v = key(c, "op");
	if (v == NULL || v->type != jbvString)
		hd_invalid("a condition needs \"op\" (equal, not_equal, contains, starts_with, regex, in, gt, lt, present)");
	hd_check_enum("op", pnstrdup(v->val.string.val, v->val.string.len), ops);
	if (strncmp(v->val.string.val, "present", v->val.string.len) != 0)
	{
		JsonbValue *val = key(c, "value");

		if (val == NULL)
			hd_invalid("a condition with op %s needs \"value\"", pnstrdup(v->val.string.val, v->val.string.len));
		if (strncmp(v->val.string.val, "in", v->val.string.len) == 0 &&
			(val->type != jbvBinary || !JsonContainerIsArray(val->val.binary.data)))
			hd_invalid("op in takes an array as value");
		if (strncmp(v->val.string.val, "regex", v->val.string.len) == 0)
		{
			if (val->type != jbvString)
				hd_invalid("op regex takes a string");
			/* compile it now: a bad pattern is refused here, not at every event */
			(void) DirectFunctionCall2Coll(textregexeq, C_COLLATION_OID, CStringGetTextDatum(""),
										   PointerGetDatum(cstring_to_text_with_len(val->val.string.val,
																					val->val.string.len)));
		}
	}
	if (++(*leaves) > HD_RULE_MAX_CONDITIONS)
		hd_invalid("a rule has more than %d conditions", HD_RULE_MAX_CONDITIONS);
}

void
hd_rule_check_conditions(Jsonb *conds)
{
	int			leaves = 0;

	if (!JB_ROOT_IS_OBJECT(conds))
		hd_invalid("conditions must be a JSON object such as {\"all\": [...]}");
	check_node(&conds->root, 0, &leaves);
}

/* the value at a dotted path of obj, or NULL */
static JsonbValue *
lookup(Jsonb *obj, const char *path)
{
	JsonbContainer *c = &obj->root;
	char	   *p = pstrdup(path),
			   *seg,
			   *save = NULL;
	JsonbValue *v = NULL;

	for (seg = strtok_r(p, ".", &save); seg; seg = strtok_r(NULL, ".", &save))
	{
		if (c == NULL || !JsonContainerIsObject(c))
			return NULL;
		v = key(c, seg);
		if (v == NULL)
			return NULL;
		c = v->type == jbvBinary ? v->val.binary.data : NULL;
	}
	return v;
}

/* a scalar as text (NULL for null, objects and arrays) */
static char *
scalar_text(JsonbValue *v)
{
	if (v == NULL)
		return NULL;
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		default:
			return NULL;
	}
}

static json_t *
value_json(JsonbValue *v)
{
	char	   *t;

	if (v == NULL || v->type == jbvNull)
		return json_null();
	if (v->type == jbvBinary)
	{
		Jsonb	   *j = JsonbValueToJsonb(v);
		char	   *s = JsonbToCString(NULL, &j->root, VARSIZE(j));

		return json_loads(s, JSON_DECODE_ANY, NULL);
	}
	if (v->type == jbvBool)
		return json_boolean(v->val.boolean);
	t = scalar_text(v);
	if (v->type == jbvNumeric)
		return json_loads(t, JSON_DECODE_ANY, NULL);
	return json_string(t);
}

static bool
values_equal(JsonbValue *a, JsonbValue *b)
{
	char	   *x = scalar_text(a),
			   *y = scalar_text(b);

	if (a && b && a->type == jbvNumeric && b->type == jbvNumeric)
		return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(a->val.numeric),
												 NumericGetDatum(b->val.numeric))) == 0;
	return x != NULL && y != NULL && strcmp(x, y) == 0;
}

/* does the array container hold an element equal to v? */
static bool
array_has(JsonbContainer *arr, JsonbValue *v)
{
	JsonbIterator *it = JsonbIteratorInit(arr);
	JsonbValue	e;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		if (tok == WJB_ELEM && values_equal(&e, v))
			return true;
	return false;
}

static bool
eval_leaf(JsonbContainer *c, Jsonb *obj, json_t *trace)
{
	JsonbValue *fv = key(c, "field"),
			   *ov = key(c, "op"),
			   *val = key(c, "value");
	char	   *field = pnstrdup(fv->val.string.val, fv->val.string.len);
	char	   *op = pnstrdup(ov->val.string.val, ov->val.string.len);
	JsonbValue *actual = lookup(obj, field);
	char	   *at = scalar_text(actual),
			   *vt = scalar_text(val);
	bool		r = false;

	if (strcmp(op, "present") == 0)
		r = actual != NULL && actual->type != jbvNull && !(at != NULL && at[0] == '\0');
	else if (strcmp(op, "equal") == 0)
		r = values_equal(actual, val);
	else if (strcmp(op, "not_equal") == 0)
		r = !values_equal(actual, val);
	else if (strcmp(op, "contains") == 0)
	{
		if (actual && actual->type == jbvBinary && JsonContainerIsArray(actual->val.binary.data))
			r = array_has(actual->val.binary.data, val);
		else
			r = at != NULL && vt != NULL && strstr(at, vt) != NULL;
	}
	else if (strcmp(op, "starts_with") == 0)
		r = at != NULL && vt != NULL && strncmp(at, vt, strlen(vt)) == 0;
	else if (strcmp(op, "regex") == 0)
		r = at != NULL && DatumGetBool(DirectFunctionCall2Coll(textregexeq, C_COLLATION_OID,
															   CStringGetTextDatum(at), CStringGetTextDatum(vt)));
	else if (strcmp(op, "in") == 0)
		r = actual != NULL && actual->type != jbvBinary && array_has(val->val.binary.data, actual);
	else if (strcmp(op, "gt") == 0 || strcmp(op, "lt") == 0)
	{
		int			cmp;

		if (at == NULL || vt == NULL)
			r = false;
		else
		{
			if (actual->type == jbvNumeric && val->type == jbvNumeric)
				cmp = DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(actual->val.numeric),
														NumericGetDatum(val->val.numeric)));
			else
				cmp = strcmp(at, vt);
			r = strcmp(op, "gt") == 0 ? cmp > 0 : cmp < 0;
		}
	}
	if (trace)
		json_array_append_new(trace, json_pack("{s:s,s:s,s:o,s:o,s:b}", "field", field, "op", op,
											   "value", value_json(val), "actual", value_json(actual),
											   "result", r));
	return r;
}

/* Every leaf is evaluated (no short cut), so the trace says what each test gave. */
static bool
eval_node(JsonbContainer *c, Jsonb *obj, json_t *trace)
{
	JsonbValue *v;
	bool		all;

	if ((v = key(c, "all")) != NULL || (v = key(c, "any")) != NULL)
	{
		JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
		JsonbValue	e;
		JsonbIteratorToken tok;
		bool		acc;

		all = key(c, "all") != NULL;
		acc = all;
		while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		{
			bool		r;

			if (tok != WJB_ELEM)
				continue;
			r = eval_node(e.val.binary.data, obj, trace);
			acc = all ? (acc && r) : (acc || r);
		}
		return acc;
	}
	if ((v = key(c, "not")) != NULL)
		return !eval_node(v->val.binary.data, obj, trace);
	return eval_leaf(c, obj, trace);
}

bool
hd_rule_eval(Jsonb *conds, Jsonb *obj, json_t *trace)
{
	return eval_node(&conds->root, obj, trace);
}
