/*
 * history.c — paging through a session's or a customer's messages by id.
 *
 * session_history is what helpdesk-bridge's history frame calls: it checks
 * the reader against who holds the session now, not against what a client
 * has seen, so a reconnecting agent cannot read a session transferred away
 * from it or only ever offered to it.
 */
#include "hd.h"
#include "routing.h"

#include "utils/builtins.h"

#define HISTORY_COLUMNS \
	"SELECT id, session_id, sender_kind, sender_id, type, body, attachment, options, " \
	"       client_msg_id, created_at, delivered_at, read_at FROM helpdesk.message "

/* oldest first, after a message id */
static HdPlan session_page = {
	HISTORY_COLUMNS
	"WHERE tenant_id = $1 AND session_id = $2 AND id > $3 AND ($5 OR sender_kind <> 'note') "
	"ORDER BY id LIMIT $4",
	5, {INT8OID, INT8OID, INT8OID, INT4OID, BOOLOID}
};
/* newest first, before a message id: how a chat scrolls back */
static HdPlan customer_page = {
	HISTORY_COLUMNS
	"WHERE tenant_id = $1 AND customer_id = $2 AND id < $3 AND ($5 OR sender_kind <> 'note') "
	"ORDER BY id DESC LIMIT $4",
	5, {INT8OID, INT8OID, INT8OID, INT4OID, BOOLOID}
};
static HdPlan customer_exists = {
	"SELECT 1 FROM helpdesk.customer WHERE tenant_id = $1 AND id = $2", 2, {INT8OID, INT8OID}
};

static int32
page_size(FunctionCallInfo fcinfo, int arg)
{
	int32		n = PG_GETARG_INT32(arg);

	hd_check_range("max_rows", n, 1, 1000);
	return n;
}

PG_FUNCTION_INFO_V1(hd_session_messages);

/* helpdesk.session_messages(tenant_id, session_id, after_id, max_rows, include_notes) */
Datum
hd_session_messages(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "session_id", "after_id", "max_rows"};
	HdSessionRow s;
	Datum		v[5];

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 4, names);
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	v[2] = PG_GETARG_DATUM(2);
	v[3] = Int32GetDatum(page_size(fcinfo, 3));
	v[4] = BoolGetDatum(!PG_ARGISNULL(4) && PG_GETARG_BOOL(4));
	SPI_connect();
	hd_load_session(PG_GETARG_INT64(0), PG_GETARG_INT64(1), HD_LOCK_NONE, &s);
	hd_return_query(fcinfo, &session_page, v, NULL);
	SPI_finish();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(hd_customer_messages);

/* helpdesk.customer_messages(tenant_id, customer_id, before_id, max_rows, include_notes) */
Datum
hd_customer_messages(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "customer_id"};
	Datum		v[5];

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	v[2] = PG_ARGISNULL(2) ? Int64GetDatum(PG_INT64_MAX) : PG_GETARG_DATUM(2);
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("max_rows must not be NULL")));
	v[3] = Int32GetDatum(page_size(fcinfo, 3));
	v[4] = BoolGetDatum(!PG_ARGISNULL(4) && PG_GETARG_BOOL(4));
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	hd_exec(&customer_exists, v, NULL, true, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_NOT_FOUND),
				 errmsg("customer %lld does not exist in tenant %lld",
						(long long) PG_GETARG_INT64(1), (long long) PG_GETARG_INT64(0))));
	hd_return_query(fcinfo, &customer_page, v, NULL);
	SPI_finish();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(hd_session_history);

/*
 * helpdesk.session_history(tenant_id, session_id, reader_kind, reader_id,
 * after_id, max_rows): session_messages for one reader. A customer reads
 * its own sessions, never notes; an agent the session it holds now (active,
 * or closed while it held it), with notes; a supervisor (an enabled agent
 * with a supervisor token) any session of the tenant, with notes. Anyone
 * else gets 42501; a disabled agent 55000.
 */
Datum
hd_session_history(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "session_id", "reader_kind", "reader_id",
	"after_id", "max_rows"};
	static const char *const readers[] = {"customer", "agent", "supervisor", NULL};
	HdSessionRow s;
	Datum		v[5];
	int64		tenant_id,
				reader_id;
	char	   *kind;
	bool		staff;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 6, names);
	tenant_id = PG_GETARG_INT64(0);
	kind = text_to_cstring(PG_GETARG_TEXT_PP(2));
	reader_id = PG_GETARG_INT64(3);
	hd_check_enum("reader_kind", kind, readers);
	staff = strcmp(kind, "customer") != 0;
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	v[2] = PG_GETARG_DATUM(4);
	v[3] = Int32GetDatum(page_size(fcinfo, 5));
	v[4] = BoolGetDatum(staff);
	SPI_connect();
	hd_load_session(tenant_id, PG_GETARG_INT64(1), HD_LOCK_NONE, &s);
	if (staff)
		hd_require_enabled_agent(tenant_id, reader_id);
	if (strcmp(kind, "customer") == 0 ? s.customer_id != reader_id
		: strcmp(kind, "agent") == 0 &&
		(!s.has_agent || s.agent_id != reader_id ||
		 (strcmp(s.state, "active") != 0 && strcmp(s.state, "closed") != 0)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s %lld may not read session %lld", kind, (long long) reader_id,
						(long long) s.id),
				 errhint(staff ? "An agent reads the sessions it holds now (accepted, not only offered)."
						 : "A customer reads its own sessions.")));
	hd_return_query(fcinfo, &session_page, v, NULL);
	SPI_finish();
	return (Datum) 0;
}
