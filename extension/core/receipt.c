/*
 * receipt.c — delivered and read receipts.
 *
 * A receipt covers every message of the other side up to a message id, the
 * way chat clients acknowledge: "I have everything up to N". Receipts are
 * accepted on closed sessions too (a client may come back online late).
 */
#include "hd.h"
#include "routing.h"

#include "utils/builtins.h"

static const char *const reader_kinds[] = {"customer", "agent", NULL};

/* customer reads staff and bot messages (never notes); agent reads the customer's */
static HdPlan mark_delivered = {
	"UPDATE helpdesk.message SET delivered_at = now() "
	"WHERE tenant_id = $1 AND session_id = $2 AND id <= $3 AND delivered_at IS NULL "
	"  AND CASE WHEN $4 = 'customer' THEN sender_kind IN ('agent', 'bot', 'system') "
	"           ELSE sender_kind = 'customer' END",
	4, {INT8OID, INT8OID, INT8OID, TEXTOID}
};
static HdPlan mark_read = {
	"UPDATE helpdesk.message SET read_at = now(), delivered_at = coalesce(delivered_at, now()) "
	"WHERE tenant_id = $1 AND session_id = $2 AND id <= $3 AND read_at IS NULL "
	"  AND CASE WHEN $4 = 'customer' THEN sender_kind IN ('agent', 'bot', 'system') "
	"           ELSE sender_kind = 'customer' END",
	4, {INT8OID, INT8OID, INT8OID, TEXTOID}
};

static Datum
mark(FunctionCallInfo fcinfo, bool read)
{
	static const char *const names[] = {"tenant_id", "session_id", "reader_kind",
	"reader_id", "up_to_message_id"};
	int64		tenant_id,
				session_id,
				reader_id,
				up_to;
	char	   *kind;
	HdSessionRow s;
	uint64		count;

	hd_require_args(fcinfo, 5, names);
	tenant_id = PG_GETARG_INT64(0);
	session_id = PG_GETARG_INT64(1);
	kind = text_to_cstring(PG_GETARG_TEXT_PP(2));
	reader_id = PG_GETARG_INT64(3);
	up_to = PG_GETARG_INT64(4);
	hd_check_enum("reader_kind", kind, reader_kinds);

	SPI_connect();
	hd_load_session(tenant_id, session_id, HD_LOCK_NONE, &s);
	if (strcmp(kind, "agent") == 0)
		hd_require_enabled_agent(tenant_id, reader_id);
	if (strcmp(kind, "customer") == 0 ? reader_id != s.customer_id
		: (!s.has_agent || reader_id != s.agent_id))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s %lld is not part of session %lld",
						kind, (long long) reader_id, (long long) session_id)));
	{
		Datum		v[4] = {Int64GetDatum(tenant_id), Int64GetDatum(session_id),
		Int64GetDatum(up_to), CStringGetTextDatum(kind)};

		hd_exec(read ? &mark_read : &mark_delivered, v, NULL, false, 0);
		count = SPI_processed;
	}
	if (count > 0)
	{
		char		payload[160];

		snprintf(payload, sizeof(payload),
				 "{\"reader_kind\": \"%s\", \"up_to\": " INT64_FORMAT ", \"count\": " UINT64_FORMAT "}",
				 kind, up_to, count);
		hd_append_event(tenant_id, "session", session_id, session_id, 0,
						read ? "message.read" : "message.delivered", payload);
	}
	SPI_finish();
	PG_RETURN_INT32((int32) count);
}

PG_FUNCTION_INFO_V1(hd_mark_delivered);
PG_FUNCTION_INFO_V1(hd_mark_read);

Datum
hd_mark_delivered(PG_FUNCTION_ARGS)
{
	hd_check_tenant_arg(fcinfo, 0);
	return mark(fcinfo, false);
}

Datum
hd_mark_read(PG_FUNCTION_ARGS)
{
	hd_check_tenant_arg(fcinfo, 0);
	return mark(fcinfo, true);
}
