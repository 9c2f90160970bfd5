/*
 * quick_reply_render.c — the placeholders of quick replies: checked when a
 * body is stored, filled in by helpdesk.render_quick_reply().
 *
 * A placeholder is {{name}} or {{name|fallback}} (spaces around the name
 * allowed). Names: customer.name, customer.external_id,
 * customer.attributes.KEY, agent.name, ticket.number, ticket.subject,
 * ticket.attributes.KEY, session.attributes.KEY (KEY: letters, digits, _ and
 * -, up to 64). A value that is missing when rendering (no ticket given, a
 * customer without a name, an attribute not set, JSON null) renders as the
 * fallback, or as nothing. Unknown names are refused when the body is
 * stored, so an agent never sends "{{custmer.name}}" to a customer; a body
 * written around the API keeps such text verbatim.
 *
 * Output is bounded: a body has at most HD_QR_MAX_BODY_CHARS characters and
 * HD_QR_MAX_PLACEHOLDERS placeholders, and each value is cut to
 * HD_QR_MAX_VALUE_CHARS characters (at a character boundary), whatever the
 * size of the attributes it comes from.
 */
#include "quick_reply.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

typedef enum QrField
{
	QR_CUSTOMER_NAME,
	QR_CUSTOMER_EXTERNAL_ID,
	QR_CUSTOMER_ATTR,
	QR_AGENT_NAME,
	QR_TICKET_NUMBER,
	QR_TICKET_SUBJECT,
	QR_TICKET_ATTR,
	QR_SESSION_ATTR
} QrField;

typedef struct QrPlaceholder
{
	QrField		field;
	const char *key;			/* attribute key (not NUL-terminated) */
	int			keylen;
	const char *fallback;		/* not NUL-terminated; NULL: none */
	int			fallbacklen;
	int			length;			/* bytes from "{{" to after "}}" */
} QrPlaceholder;

static const struct
{
	const char *name;
	QrField		field;
	bool		keyed;
}			qr_names[] = {
	{"customer.name", QR_CUSTOMER_NAME, false},
	{"customer.external_id", QR_CUSTOMER_EXTERNAL_ID, false},
	{"customer.attributes.", QR_CUSTOMER_ATTR, true},
	{"agent.name", QR_AGENT_NAME, false},
	{"ticket.number", QR_TICKET_NUMBER, false},
	{"ticket.subject", QR_TICKET_SUBJECT, false},
	{"ticket.attributes.", QR_TICKET_ATTR, true},
	{"session.attributes.", QR_SESSION_ATTR, true},
	{NULL, 0, false}
};

#define QR_MAX_PLACEHOLDER_BYTES 600

/*
 * Parse the placeholder that starts at p (p[0..1] == "{{"). False, with
 * *why set, when it is malformed or names nothing we know.
 */
static bool
parse_placeholder(const char *p, QrPlaceholder *ph, const char **why)
{
	const char *end = NULL,
			   *name,
			   *name_end,
			   *bar,
			   *q;
	int			i;

	for (q = p + 2; *q && q - p < QR_MAX_PLACEHOLDER_BYTES; q++)
		if (q[0] == '}' && q[1] == '}')
		{
			end = q;
			break;
		}
	if (end == NULL)
	{
		*why = "a \"{{\" without its closing \"}}\"";
		return false;
	}
	ph->length = (int) (end + 2 - p);
	name = p + 2;
	bar = memchr(name, '|', end - name);
	name_end = bar ? bar : end;
	while (name < name_end && *name == ' ')
		name++;
	while (name_end > name && name_end[-1] == ' ')
		name_end--;
	ph->fallback = NULL;
	ph->fallbacklen = 0;
	if (bar)
	{
		ph->fallback = bar + 1;
		ph->fallbacklen = (int) (end - bar - 1);
		for (q = ph->fallback; q < end; q++)
			if (*q == '{' || *q == '}')
			{
				*why = "a fallback containing { or }";
				return false;
			}
		if (pg_mbstrlen_with_len(ph->fallback, ph->fallbacklen) > HD_QR_MAX_FALLBACK_CHARS)
		{
			*why = "a fallback longer than 100 characters";
			return false;
		}
	}
	for (i = 0; qr_names[i].name; i++)
	{
		int			len = strlen(qr_names[i].name);

		if (!qr_names[i].keyed)
		{
			if (name_end - name == len && strncmp(name, qr_names[i].name, len) == 0)
			{
				ph->field = qr_names[i].field;
				ph->key = NULL;
				ph->keylen = 0;
				return true;
			}
			continue;
		}
		if (name_end - name > len && strncmp(name, qr_names[i].name, len) == 0)
		{
			ph->field = qr_names[i].field;
			ph->key = name + len;
			ph->keylen = (int) (name_end - ph->key);
			if (ph->keylen > 64)
			{
				*why = "an attribute key longer than 64 characters";
				return false;
			}
			for (q = ph->key; q < name_end; q++)
				if (!isalnum((unsigned char) *q) && *q != '_' && *q != '-')
				{
					*why = "an attribute key with characters other than letters, digits, _ and -";
					return false;
				}
			return true;
		}
	}
	*why = "an unknown placeholder";
	return false;
}

void
hd_qr_check_body(const char *body)
{
	const char *p;
	int			count = 0;

	for (p = strstr(body, "{{"); p; p = strstr(p, "{{"))
	{
		QrPlaceholder ph;
		const char *why;

		if (!parse_placeholder(p, &ph, &why))
		{
			int			shown = Min((int) strnlen(p, 40), 40);

			hd_invalid("body has %s at %s", why,
					   hd_quote(pnstrdup(p, pg_mbcliplen(p, shown, shown))));
		}
		if (++count > HD_QR_MAX_PLACEHOLDERS)
			hd_invalid("body may hold at most %d placeholders", HD_QR_MAX_PLACEHOLDERS);
		p += ph.length;
	}
}

/* What the placeholders can draw on, loaded once per render. */
typedef struct QrContext
{
	char	   *agent_name;
	char	   *customer_name;
	char	   *customer_external_id;
	Jsonb	   *customer_attributes;
	char	   *ticket_number;
	char	   *ticket_subject;
	Jsonb	   *ticket_attributes;
	Jsonb	   *session_attributes;
} QrContext;

/* attrs->key as text: strings as they are, other scalars and documents as JSON; NULL if absent or null */
static char *
attribute_text(Jsonb *attrs, const char *key, int keylen)
{
	JsonbValue	v;

	if (attrs == NULL || !JB_ROOT_IS_OBJECT(attrs))
		return NULL;
	if (getKeyJsonValueFromContainer(&attrs->root, key, keylen, &v) == NULL)
		return NULL;
	switch (v.type)
	{
		case jbvNull:
			return NULL;
		case jbvString:
			return pnstrdup(v.val.string.val, v.val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v.val.numeric)));
		case jbvBool:
			return pstrdup(v.val.boolean ? "true" : "false");
		default:
			return JsonbToCString(NULL, v.val.binary.data, v.val.binary.len);
	}
}

static char *
field_value(const QrContext *c, const QrPlaceholder *ph)
{
	switch (ph->field)
	{
		case QR_CUSTOMER_NAME:
			return c->customer_name;
		case QR_CUSTOMER_EXTERNAL_ID:
			return c->customer_external_id;
		case QR_CUSTOMER_ATTR:
			return attribute_text(c->customer_attributes, ph->key, ph->keylen);
		case QR_AGENT_NAME:
			return c->agent_name;
		case QR_TICKET_NUMBER:
			return c->ticket_number;
		case QR_TICKET_SUBJECT:
			return c->ticket_subject;
		case QR_TICKET_ATTR:
			return attribute_text(c->ticket_attributes, ph->key, ph->keylen);
		case QR_SESSION_ATTR:
			return attribute_text(c->session_attributes, ph->key, ph->keylen);
	}
	return NULL;
}

/* The body with every known placeholder replaced (bounded, see the file comment). */
static char *
render_body(const char *body, const QrContext *c)
{
	StringInfoData out;
	const char *p = body;
	int			done = 0;

	initStringInfo(&out);
	while (*p)
	{
		const char *next = strstr(p, "{{");
		QrPlaceholder ph;
		const char *why;
		char	   *value;

		if (next == NULL)
		{
			appendStringInfoString(&out, p);
			break;
		}
		appendBinaryStringInfo(&out, p, next - p);
		if (done >= HD_QR_MAX_PLACEHOLDERS || !parse_placeholder(next, &ph, &why))
		{
			appendStringInfoString(&out, "{{");	/* verbatim */
			p = next + 2;
			continue;
		}
		value = field_value(c, &ph);
		if (value != NULL && *value != '\0')
		{
			int			len = strlen(value);

			appendBinaryStringInfo(&out, value,
								   pg_mbcharcliplen(value, len, HD_QR_MAX_VALUE_CHARS));
		}
		else if (ph.fallback)
			appendBinaryStringInfo(&out, ph.fallback, ph.fallbacklen);
		done++;
		p = next + ph.length;
	}
	return out.data;
}

static HdPlan reply_row = {
	"SELECT body, agent_id FROM helpdesk.quick_reply WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};
static HdPlan agent_row = {
	"SELECT display_name FROM helpdesk.agent WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};
static HdPlan session_row = {
	"SELECT customer_id, attributes FROM helpdesk.session WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};
static HdPlan ticket_row = {
	"SELECT customer_id, '#' || number, subject, attributes FROM helpdesk.ticket "
	"WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};
static HdPlan customer_row = {
	"SELECT display_name, external_id, attributes FROM helpdesk.customer "
	"WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};
static HdPlan count_use = {
	"WITH r AS (UPDATE helpdesk.quick_reply SET use_count = use_count + 1 "
	"           WHERE tenant_id = $1 AND id = $2) "
	"INSERT INTO helpdesk.quick_reply_use AS u (tenant_id, quick_reply_id, agent_id, uses, "
	"  last_used_at) VALUES ($1, $2, $3, 1, clock_timestamp()) "
	"ON CONFLICT (tenant_id, agent_id, quick_reply_id) "
	"DO UPDATE SET uses = u.uses + 1, last_used_at = excluded.last_used_at",
	3, {INT8OID, INT8OID, INT8OID}
};

/* The jsonb in column col of the first row, copied out of SPI's memory by the caller's context; NULL if null. */
static Jsonb *
get_jsonb(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? NULL : DatumGetJsonbPCopy(d);
}

PG_FUNCTION_INFO_V1(hd_render_quick_reply);

/*
 * helpdesk.render_quick_reply(tenant_id, quick_reply_id, agent_id,
 * session_id, ticket_id, count_use): a personal quick reply renders only for
 * its owner (HD404 for another agent, as if it did not exist).
 */
Datum
hd_render_quick_reply(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "quick_reply_id", "agent_id"};
	int64		tenant_id,
				reply_id,
				agent_id,
				owner,
				customer_id = 0;
	bool		has_customer = false;
	QrContext	c;
	char	   *body,
			   *result;
	MemoryContext caller = CurrentMemoryContext,
				old;
	text	   *out;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 3, names);
	tenant_id = PG_GETARG_INT64(0);
	reply_id = PG_GETARG_INT64(1);
	agent_id = PG_GETARG_INT64(2);
	if (!PG_ARGISNULL(3) && !PG_ARGISNULL(4))
		hd_invalid("give session_id or ticket_id, not both");
	memset(&c, 0, sizeof(c));
	SPI_connect();
	hd_require_tenant(tenant_id);
	{
		Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(agent_id)};

		hd_exec(&agent_row, v, NULL, false, 1);
		if (SPI_processed == 0)
			hd_not_found("agent", agent_id, tenant_id);
		c.agent_name = hd_get_text(1);
	}
	{
		Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(reply_id)};

		hd_exec(&reply_row, v, NULL, false, 1);
		if (SPI_processed == 0 || (hd_get_int64(2, &owner) && owner != agent_id))
			ereport(ERROR,
					(errcode(ERRCODE_HD_NOT_FOUND),
					 errmsg("quick reply %lld does not exist for agent %lld in tenant %lld",
							(long long) reply_id, (long long) agent_id,
							(long long) tenant_id)));
		body = hd_get_text(1);
	}
	if (!PG_ARGISNULL(3))
	{
		Datum		v[2] = {Int64GetDatum(tenant_id), PG_GETARG_DATUM(3)};

		hd_exec(&session_row, v, NULL, false, 1);
		if (SPI_processed == 0)
			hd_not_found("session", PG_GETARG_INT64(3), tenant_id);
		has_customer = hd_get_int64(1, &customer_id);
		c.session_attributes = get_jsonb(2);
	}
	if (!PG_ARGISNULL(4))
	{
		Datum		v[2] = {Int64GetDatum(tenant_id), PG_GETARG_DATUM(4)};

		hd_exec(&ticket_row, v, NULL, false, 1);
		if (SPI_processed == 0)
			hd_not_found("ticket", PG_GETARG_INT64(4), tenant_id);
		has_customer = hd_get_int64(1, &customer_id);
		c.ticket_number = hd_get_text(2);
		c.ticket_subject = hd_get_text(3);
		c.ticket_attributes = get_jsonb(4);
	}
	if (has_customer)
	{
		Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(customer_id)};

		hd_exec(&customer_row, v, NULL, false, 1);
		if (SPI_processed > 0)
		{
			c.customer_name = hd_get_text(1);
			c.customer_external_id = hd_get_text(2);
			c.customer_attributes = get_jsonb(3);
		}
	}
	if (PG_ARGISNULL(5) || PG_GETARG_BOOL(5))
	{
		Datum		v[3] = {Int64GetDatum(tenant_id), Int64GetDatum(reply_id),
		Int64GetDatum(agent_id)};

		hd_exec(&count_use, v, NULL, false, 0);
	}
	result = render_body(body, &c);
	old = MemoryContextSwitchTo(caller);
	out = cstring_to_text(result);
	MemoryContextSwitchTo(old);
	SPI_finish();
	PG_RETURN_TEXT_P(out);
}
