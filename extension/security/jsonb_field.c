/*
 * jsonb_field.c — the ->, ->> and ? operators of a top-level object key, for
 * the C ports of the player routes (player_call.c, upload_attachment.c),
 * with exactly the SQL operators' answers: a missing key or a non-object is
 * NULL, a JSON null is SQL NULL for ->> but the jsonb null for ->, numbers
 * and booleans as their text, containers as their JSON text.
 */
#include "security.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

/* The value under key, or NULL (no such key, or j is not an object). */
static JsonbValue *
field(Jsonb *j, const char *key)
{
	JsonbValue	k;

	if (j == NULL || !JB_ROOT_IS_OBJECT(j))
		return NULL;
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(&j->root, JB_FOBJECT, &k);
}

/* j ? key (for an object) */
bool
hd_jsonb_has(Jsonb *j, const char *key)
{
	return field(j, key) != NULL;
}

/* jsonb_typeof(j -> key) as a JsonbValue type (jbvObject, jbvArray, ...), -1 if absent */
int
hd_jsonb_field_type(Jsonb *j, const char *key)
{
	JsonbValue *v = field(j, key);

	if (v == NULL)
		return -1;
	if (v->type == jbvBinary)
		return JsonContainerIsObject(v->val.binary.data) ? jbvObject : jbvArray;
	return v->type;
}

/* j -> key, a palloc'd Jsonb, or NULL */
Jsonb *
hd_jsonb_field(Jsonb *j, const char *key)
{
	JsonbValue *v = field(j, key);

	return v ? JsonbValueToJsonb(v) : NULL;
}

/* j ->> key, a palloc'd C string, or NULL */
char *
hd_jsonb_field_text(Jsonb *j, const char *key)
{
	JsonbValue *v = field(j, key);

	if (v == NULL)
		return NULL;
	switch (v->type)
	{
		case jbvNull:
			return NULL;
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		default:
			return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
	}
}
