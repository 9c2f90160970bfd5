/*
 * http_webhook_body.c — a webhook payload {type, timestamp, data} built in C
 * (jansson) from the columns the feed reads: the event, its message, its
 * session, or the ticket of a ticket's event, and their customer.
 *
 * Building it in SQL (jsonb_build_object over the event, the message, the
 * session and the customer, then jsonb to text) was most of the feed's
 * time: ~160 us an event, more than everything else the worker does for a
 * delivery. The shape is the same as replay_webhooks' SQL one
 * (HD_WEBHOOK_EVENT_BODY); timestamps inside data are written as jsonb
 * writes them (JsonEncodeDateTime), the top-level one as UTC with
 * microseconds and a Z.
 */
#include "http_webhook.h"
#include "bot_json.h"

#include "catalog/pg_type.h"
#include "utils/json.h"

/* Column j of t as a JSON value (NULL -> null; json columns parsed). */
static json_t *
col_value(HeapTuple t, TupleDesc d, int j)
{
	bool		isnull;
	Datum		v = SPI_getbinval(t, d, j, &isnull);
	Oid			type = SPI_gettypeid(d, j);

	if (isnull)
		return json_null();
	switch (type)
	{
		case INT8OID:
			return json_integer((json_int_t) DatumGetInt64(v));
		case INT4OID:
			return json_integer((json_int_t) DatumGetInt32(v));
		case INT2OID:
			return json_integer((json_int_t) DatumGetInt16(v));
		case BOOLOID:
			return json_boolean(DatumGetBool(v));
		case TIMESTAMPTZOID:
			return json_string(JsonEncodeDateTime(NULL, v, TIMESTAMPTZOID, NULL));
		case JSONOID:
		case JSONBOID:
			{
				char	   *s = SPI_getvalue(t, d, j);
				json_error_t err;
				json_t	   *r = json_loads(s, JSON_DECODE_ANY, &err);

				if (r == NULL)
					elog(ERROR, "pg_helpdesk: column %d of an event is not JSON: %s", j, err.text);
				return r;
			}
		default:
			{
				char	   *s = SPI_getvalue(t, d, j);
				json_t	   *r = json_stringn(s, strlen(s));

				/* not UTF-8 (a database in another encoding): as it is */
				return r ? r : json_stringn_nocheck(s, strlen(s));
			}
	}
}

/* An object of n columns from j on, or null when its first (the id) is NULL. */
static json_t *
col_object(HeapTuple t, TupleDesc d, int j, const char *const *keys, int n)
{
	json_t	   *o;
	int			i;

	if (heap_attisnull(t, j, d))
		return json_null();
	o = hd_json_new_object();
	for (i = 0; i < n; i++)
		json_object_set_new(o, keys[i], col_value(t, d, j + i));
	return o;
}

static const char *const message_keys[] = {"id", "session_id", "sender_kind", "sender_id", "type", "body",
"attachment", "options", "client_msg_id", "created_at"};
static const char *const session_keys[] = {"id", "state", "channel", "queue_id", "agent_id", "issue_type",
"priority", "created_at", "closed_at"};
static const char *const customer_keys[] = {"id", "external_id", "display_name", "vip_level", "language"};
static const char *const ticket_keys[] = {"id", "number", "subject", "status", "priority", "issue_type",
	"queue_id", "assignee_id", "channel", "tags", "session_id", "created_at", "updated_at",
"resolved_at", "closed_at"};

static char *
dump(json_t *body)
{
	char	   *s = json_dumps(body, JSON_COMPACT);
	char	   *r;

	if (s == NULL)
		elog(ERROR, "pg_helpdesk: could not write a webhook payload");
	r = pstrdup(s);
	free(s);
	return r;
}

/*
 * The payload from the columns at col (see HD_WEBHOOK_BODY_COLUMNS); over
 * HD_WEBHOOK_MAX_BODY it keeps the message's metadata without its body,
 * attachment and options, and the event's payload becomes
 * {"truncated": true}.
 */
char *
hd_webhook_build_body(HeapTuple t, TupleDesc d, int col)
{
	json_t	   *body = hd_json_new_object(),
			   *data = hd_json_new_object(),
			   *msg,
			   *session;
	char	   *out;

	json_object_set_new(body, "type", col_value(t, d, col));
	json_object_set_new(body, "timestamp", col_value(t, d, col + 4));
	json_object_set_new(data, "tenant_id", col_value(t, d, col + 5));
	json_object_set_new(data, "position", col_value(t, d, col + 6));
	json_object_set_new(data, "audience", col_value(t, d, col + 1));
	json_object_set_new(data, "audience_id", col_value(t, d, col + 2));
	json_object_set_new(data, "event", col_value(t, d, col + 3));
	msg = col_object(t, d, col + 7, message_keys, lengthof(message_keys));
	json_object_set_new(data, "message", msg);
	session = col_object(t, d, col + 17, session_keys, lengthof(session_keys));
	json_object_set_new(data, "session", session);
	/* an event of a ticket without a session (ticket.*, its csat and SLA events) */
	json_object_set_new(data, "ticket", col_object(t, d, col + 31, ticket_keys, lengthof(ticket_keys)));
	/* the session's customer, or the ticket's */
	json_object_set_new(data, "customer", col_object(t, d, col + 26, customer_keys, lengthof(customer_keys)));
	json_object_set_new(body, "data", data);
	out = dump(body);
	if (strlen(out) > HD_WEBHOOK_MAX_BODY)
	{
		if (json_is_object(msg))
		{
			json_object_del(msg, "body");
			json_object_del(msg, "attachment");
			json_object_del(msg, "options");
			json_object_set_new(msg, "truncated", json_true());
		}
		json_object_set_new(data, "event", json_pack("{s:b}", "truncated", 1));
		pfree(out);
		out = dump(body);
	}
	json_decref(body);
	return out;
}
