/*
 * ticket_read.c — reading tickets and their threads, and receipts.
 *
 * get_ticket returns the row as jsonb (so columns other parts of the folder
 * add appear without a new signature) plus its follow-ups; list_tickets
 * pages newest first by id with optional filters; ticket_messages pages a
 * thread oldest first. Receipts work as for chat: "everything of the other
 * side up to message N".
 */
#include "tickets.h"

#include "utils/builtins.h"

static HdPlan ticket_json = {
	"SELECT to_jsonb(t) || jsonb_build_object('follow_ups', coalesce(("
	"  SELECT jsonb_agg(f.id ORDER BY f.id) FROM helpdesk.ticket f "
	"  WHERE f.tenant_id = t.tenant_id AND f.follow_up_of = t.id), '[]')) "
	"FROM helpdesk.ticket t WHERE t.tenant_id = $1 AND t.id = $2",
	2, {INT8OID, INT8OID}
};

PG_FUNCTION_INFO_V1(hd_get_ticket);

/* helpdesk.get_ticket(tenant_id, ticket_id) -> jsonb */
Datum
hd_get_ticket(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "ticket_id"};
	Datum		v[2];
	Datum		d;
	bool		isnull;
	HdTicketRow t;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	SPI_connect();
	hd_load_ticket(PG_GETARG_INT64(0), PG_GETARG_INT64(1), HD_LOCK_NONE, &t);
	hd_exec(&ticket_json, v, NULL, true, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	d = SPI_datumTransfer(d, false, -1);
	SPI_finish();
	PG_RETURN_DATUM(d);
}

/*
 * Filters are NULL when unused. The plan is generic over them; the
 * (tenant_id, id) order of the primary key serves the paging, the filter
 * indexes serve selective filters.
 */
static HdPlan list_page = {
	"SELECT t.* FROM helpdesk.ticket t WHERE t.tenant_id = $1 "
	"  AND ($2::text[] IS NULL OR t.status = ANY ($2)) "
	"  AND ($3::bigint IS NULL OR t.queue_id = $3) "
	"  AND ($4::bigint IS NULL OR t.assignee_id = $4) "
	"  AND ($5::bigint IS NULL OR t.customer_id = $5) "
	"  AND ($6::text[] IS NULL OR t.priority = ANY ($6)) "
	"  AND ($7::text IS NULL OR t.tags @> ARRAY[$7]) "
	"  AND ($8::bigint IS NULL OR t.id < $8) "
	"  AND ($10::boolean IS NULL OR (t.assignee_id IS NULL) = $10) "
	"ORDER BY t.id DESC LIMIT $9",
	10, {INT8OID, TEXTARRAYOID, INT8OID, INT8OID, INT8OID, TEXTARRAYOID, TEXTOID, INT8OID,
	INT4OID, BOOLOID}
};

static void
check_values(const char *what, ArrayType *a, const char *const *allowed)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;

	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			hd_invalid("%s must not contain NULL", what);
		hd_check_enum(what, TextDatumGetCString(elems[i]), allowed);
	}
}

PG_FUNCTION_INFO_V1(hd_list_tickets);

/*
 * helpdesk.list_tickets(tenant_id, status[], queue_id, assignee_id,
 *   customer_id, priority[], tag, before_id, max_rows, unassigned)
 */
Datum
hd_list_tickets(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id"};
	static const char *const statuses[] = {"new", "open", "pending", "resolved", "closed", NULL};
	static const char *const priorities[] = {"low", "normal", "high", "urgent", NULL};
	Datum		v[10];
	char		n[11];
	int32		max_rows = PG_ARGISNULL(8) ? 50 : PG_GETARG_INT32(8);
	char	   *tag;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 1, names);
	hd_check_range("max_rows", max_rows, 1, 1000);
	if (!PG_ARGISNULL(1))
		check_values("status", PG_GETARG_ARRAYTYPE_P(1), statuses);
	if (!PG_ARGISNULL(5))
		check_values("priority", PG_GETARG_ARRAYTYPE_P(5), priorities);
	hd_args_to_params(fcinfo, v, n, 10);
	tag = hd_arg_text_or_null(fcinfo, 6);
	if (tag)
	{
		/* tags are stored lowercase and trimmed: look for the stored form */
		ArrayType  *one = construct_array(&v[6], 1, TEXTOID, -1, false, TYPALIGN_INT);
		ArrayType  *norm = hd_ticket_normalise_tags(one);
		Datum	   *e;
		bool	   *en;
		int			k;

		deconstruct_array(norm, TEXTOID, -1, false, TYPALIGN_INT, &e, &en, &k);
		v[6] = e[0];
	}
	v[8] = Int32GetDatum(max_rows);
	n[8] = ' ';
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	hd_return_query(fcinfo, &list_page, v, n);
	SPI_finish();
	return (Datum) 0;
}

static HdPlan thread_page = {
	"SELECT id, ticket_id, sender_kind, sender_id, type, body, attachment, client_msg_id, "
	"       created_at, delivered_at, read_at FROM helpdesk.ticket_message "
	"WHERE tenant_id = $1 AND ticket_id = $2 AND id > $3 AND ($5 OR sender_kind <> 'note') "
	"ORDER BY id LIMIT $4",
	5, {INT8OID, INT8OID, INT8OID, INT4OID, BOOLOID}
};

PG_FUNCTION_INFO_V1(hd_ticket_messages);

/* helpdesk.ticket_messages(tenant_id, ticket_id, after_id, max_rows, include_notes) */
Datum
hd_ticket_messages(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "ticket_id", "after_id", "max_rows"};
	HdTicketRow t;
	Datum		v[5];
	int32		max_rows;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 4, names);
	max_rows = PG_GETARG_INT32(3);
	hd_check_range("max_rows", max_rows, 1, 1000);
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	v[2] = PG_GETARG_DATUM(2);
	v[3] = Int32GetDatum(max_rows);
	v[4] = BoolGetDatum(!PG_ARGISNULL(4) && PG_GETARG_BOOL(4));
	SPI_connect();
	hd_load_ticket(PG_GETARG_INT64(0), PG_GETARG_INT64(1), HD_LOCK_NONE, &t);
	hd_return_query(fcinfo, &thread_page, v, NULL);
	SPI_finish();
	return (Datum) 0;
}

/* customer receipts cover staff and system entries (never notes); agents' the customer's */
static HdPlan mark_delivered = {
	"UPDATE helpdesk.ticket_message SET delivered_at = now() "
	"WHERE tenant_id = $1 AND ticket_id = $2 AND id <= $3 AND delivered_at IS NULL "
	"  AND CASE WHEN $4 = 'customer' THEN sender_kind IN ('agent', 'bot', 'system') "
	"           ELSE sender_kind = 'customer' END",
	4, {INT8OID, INT8OID, INT8OID, TEXTOID}
};
static HdPlan mark_read = {
	"UPDATE helpdesk.ticket_message SET read_at = now(), delivered_at = coalesce(delivered_at, now()) "
	"WHERE tenant_id = $1 AND ticket_id = $2 AND id <= $3 AND read_at IS NULL "
	"  AND CASE WHEN $4 = 'customer' THEN sender_kind IN ('agent', 'bot', 'system') "
	"           ELSE sender_kind = 'customer' END",
	4, {INT8OID, INT8OID, INT8OID, TEXTOID}
};

static Datum
receipt(FunctionCallInfo fcinfo, bool read)
{
	static const char *const names[] = {"tenant_id", "ticket_id", "reader_kind",
	"reader_id", "up_to_message_id"};
	static const char *const reader_kinds[] = {"customer", "agent", NULL};
	int64		tenant_id,
				reader_id,
				up_to;
	char	   *kind;
	HdTicketRow t;
	uint64		count;

	hd_require_args(fcinfo, 5, names);
	tenant_id = PG_GETARG_INT64(0);
	kind = text_to_cstring(PG_GETARG_TEXT_PP(2));
	reader_id = PG_GETARG_INT64(3);
	up_to = PG_GETARG_INT64(4);
	hd_check_enum("reader_kind", kind, reader_kinds);

	SPI_connect();
	/* KEY SHARE: receipts do not wait for, nor block, other readers' receipts */
	hd_load_ticket(tenant_id, PG_GETARG_INT64(1), HD_LOCK_KEY_SHARE, &t);
	if (strcmp(kind, "agent") == 0)
		hd_require_enabled_agent(tenant_id, reader_id);
	else if (reader_id != t.customer_id)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("customer %lld is not the customer of ticket %lld",
						(long long) reader_id, (long long) t.id)));
	{
		Datum		v[4] = {Int64GetDatum(tenant_id), Int64GetDatum(t.id),
		Int64GetDatum(up_to), CStringGetTextDatum(kind)};

		hd_exec(read ? &mark_read : &mark_delivered, v, NULL, false, 0);
		count = SPI_processed;
	}
	if (count > 0)
		hd_ticket_event(tenant_id, t.id, read ? "ticket.read" : "ticket.delivered",
						psprintf("{\"reader_kind\": \"%s\", \"reader_id\": %lld, \"up_to\": %lld, \"count\": %llu}",
								 kind, (long long) reader_id, (long long) up_to,
								 (unsigned long long) count), true);
	SPI_finish();
	PG_RETURN_INT32((int32) count);
}

PG_FUNCTION_INFO_V1(hd_mark_ticket_delivered);
PG_FUNCTION_INFO_V1(hd_mark_ticket_read);

Datum
hd_mark_ticket_delivered(PG_FUNCTION_ARGS)
{
	hd_check_tenant_arg(fcinfo, 0);
	return receipt(fcinfo, false);
}

Datum
hd_mark_ticket_read(PG_FUNCTION_ARGS)
{
	hd_check_tenant_arg(fcinfo, 0);
	return receipt(fcinfo, true);
}
