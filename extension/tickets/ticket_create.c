/*
 * ticket_create.c — new tickets: helpdesk.create_ticket and the shared
 * hd_ticket_create used by escalation, the max-wait hook, offline messages
 * and follow-ups.
 *
 * Numbers: the tenant's ticket_counter row is advanced with INSERT .. ON
 * CONFLICT DO UPDATE, which keeps it locked until the creating transaction
 * ends. Concurrent creations in one tenant take turns there; one that rolls
 * back rolls its number back with it, so numbers are unique and gapless.
 */
#include "tickets.h"

#include "access/hash.h"
#include "access/htup_details.h"
#include "catalog/pg_collation.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"

static const char *const priorities[] = {"low", "normal", "high", "urgent", NULL};
static const char *const channels[] = {"chat", "player_api", "api", "offline", NULL};

#define MAX_TAGS 50
#define MAX_TAG_BYTES 50

static int
cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Tags as stored: lowercase, trimmed, 1..50 bytes each, distinct, sorted;
 * at most 50. NULL elements are refused.
 */
ArrayType *
hd_ticket_normalise_tags(ArrayType *tags)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i,
				kept = 0;
	char	  **s;
	Datum	   *out;

	if (ARR_NDIM(tags) > 1)
		hd_invalid("tags must be a one-dimensional text array");
	deconstruct_array(tags, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n > MAX_TAGS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a ticket has at most %d tags, got %d", MAX_TAGS, n)));
	s = palloc(sizeof(char *) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		char	   *t,
				   *end;

		if (nulls[i])
			hd_invalid("tags must not contain NULL");
		t = TextDatumGetCString(DirectFunctionCall1Coll(lower, DEFAULT_COLLATION_OID, elems[i]));
		while (*t == ' ' || *t == '\t')
			t++;
		end = t + strlen(t);
		while (end > t && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*t == '\0' || strlen(t) > MAX_TAG_BYTES)
			hd_invalid("each tag must be 1 to %d bytes (after trimming), got %s",
					   MAX_TAG_BYTES, hd_quote(t));
		s[i] = t;
	}
	qsort(s, n, sizeof(char *), cmp_cstr);
	out = palloc(sizeof(Datum) * Max(n, 1));
	for (i = 0; i < n; i++)
		if (kept == 0 || strcmp(s[i], TextDatumGetCString(out[kept - 1])) != 0)
			out[kept++] = CStringGetTextDatum(s[i]);
	return construct_array(out, kept, TEXTOID, -1, false, TYPALIGN_INT);
}

static HdPlan customer_exists = {
	"SELECT 1 FROM helpdesk.customer WHERE tenant_id = $1 AND id = $2", 2, {INT8OID, INT8OID}
};
static HdPlan queue_exists = {
	"SELECT 1 FROM helpdesk.queue WHERE tenant_id = $1 AND id = $2", 2, {INT8OID, INT8OID}
};

/*
 * A subject from a customer's text: its first line, cut to 100 bytes at a
 * character boundary; fallback (copied) when that leaves nothing. Tickets
 * from a chat (ticket_escalate.c) and from an offline message
 * (ticket_offline.c) are titled the same way.
 */
char *
hd_ticket_subject_from(const char *text, const char *fallback)
{
	char	   *s = pstrdup(text);
	int			len;

	for (len = 0; s[len]; len++)
		if (s[len] == '\n' || s[len] == '\r')
			break;
	s[len] = '\0';
	len = pg_mbcliplen(s, strlen(s), 100);
	s[len] = '\0';
	return s[0] ? s : pstrdup(fallback);
}

static void
require_row(HdPlan *p, int64 tenant_id, int64 id, const char *what)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(id)};

	hd_exec(p, v, NULL, false, 1);
	if (SPI_processed == 0)
	{
		hd_require_tenant(tenant_id);
		hd_not_found(what, id, tenant_id);
	}
}

/*
 * create_ticket calls with one client id take turns on a transaction-level
 * lock on a hash of (tenant, customer, client id) (an advisory lock tag
 * with objsubid 4; post_message uses 3, SQL's advisory functions 1 and 2),
 * so the later one finds the earlier's ticket instead of making a second.
 */
static void
lock_create_key(HdTicketNew *n)
{
	char	   *key = psprintf("ticket/%lld/%lld/%s", (long long) n->tenant_id,
							   (long long) n->customer_id, n->client_msg_id);
	uint64		h = DatumGetUInt64(hash_any_extended((unsigned char *) key, strlen(key), 0));
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (h >> 32), (uint32) h, 4);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	pfree(key);
}

/* the ticket whose first message is the customer's with this client id */
static HdPlan find_created = {
	"SELECT m.ticket_id, m.id, t.subject = $4 AND m.type = $5 "
	"       AND m.body IS NOT DISTINCT FROM $6 AND m.attachment IS NOT DISTINCT FROM $7 "
	"FROM helpdesk.ticket_message m "
	"JOIN helpdesk.ticket t ON t.tenant_id = m.tenant_id AND t.id = m.ticket_id "
	"WHERE m.tenant_id = $1 AND m.customer_id = $2 AND m.sender_kind = 'customer' "
	"  AND m.client_msg_id = $3 AND NOT EXISTS (SELECT 1 FROM helpdesk.ticket_message p "
	"    WHERE p.tenant_id = m.tenant_id AND p.ticket_id = m.ticket_id AND p.id < m.id) "
	"ORDER BY m.id LIMIT 1",
	7, {INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID}
};

static bool
replayed_creation(HdTicketNew *n, int64 *ticket_id, int64 *message_id)
{
	Datum		v[7];
	char		nl[8] = "       ";

	v[0] = Int64GetDatum(n->tenant_id);
	v[1] = Int64GetDatum(n->customer_id);
	v[2] = CStringGetTextDatum(n->client_msg_id);
	v[3] = CStringGetTextDatum(n->subject);
	v[4] = CStringGetTextDatum(n->type);
	v[5] = n->body ? CStringGetTextDatum(n->body) : (Datum) 0;
	nl[5] = n->body ? ' ' : 'n';
	v[6] = n->attachment ? JsonbPGetDatum(n->attachment) : (Datum) 0;
	nl[6] = n->attachment ? ' ' : 'n';
	hd_exec(&find_created, v, nl, false, 1);
	if (SPI_processed == 0)
		return false;
	hd_get_int64(1, ticket_id);
	hd_get_int64(2, message_id);
	if (!hd_get_bool(3))
		ereport(ERROR,
				(errcode(ERRCODE_HD_IDEMPOTENCY_CONFLICT),
				 errmsg("client_msg_id %s was already used by customer %lld for a different ticket",
						hd_quote(n->client_msg_id), (long long) n->customer_id),
				 errhint("Use a new client_msg_id for each new ticket; resend the same content to retry.")));
	return true;
}

static HdPlan next_number = {
	"INSERT INTO helpdesk.ticket_counter AS c (tenant_id, next_number) VALUES ($1, 1002) "
	"ON CONFLICT (tenant_id) DO UPDATE SET next_number = c.next_number + 1 "
	"RETURNING c.next_number - 1",
	1, {INT8OID}
};

static HdPlan insert_ticket = {
	"INSERT INTO helpdesk.ticket (tenant_id, number, customer_id, subject, priority, issue_type, "
	"  queue_id, tags, channel, attributes, session_id, follow_up_of, last_customer_at, "
	"  last_public_sender) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, '{}'), $9, coalesce($10, '{}'), $11, $12, "
	"  CASE WHEN $13 THEN now() END, CASE WHEN $13 THEN 'customer' END) "
	"RETURNING id, jsonb_build_object('change', 'created', 'status', status, "
	"  'priority', priority, 'subject', subject, 'channel', channel, "
	"  'customer_id', customer_id, 'queue_id', queue_id, 'session_id', session_id, "
	"  'follow_up_of', follow_up_of, 'tags', tags)::text",
	13, {INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, INT8OID, TEXTARRAYOID,
	TEXTOID, JSONBOID, INT8OID, INT8OID, BOOLOID}
};

int64
hd_ticket_create(HdTicketNew *n, int64 *message_id)
{
	HdTicketPost m;
	bool		has_message = n->body != NULL || n->attachment != NULL;
	Datum		v[13];
	char		nl[14] = "             ";
	int64		number = 0,
				id = 0;
	char	   *payload;
	HdTicketRow t;

	*message_id = 0;
	if (n->type == NULL)
		n->type = "text";
	hd_check_length("subject", n->subject, 1, 300);
	hd_check_enum("priority", n->priority, priorities);
	hd_check_enum("channel", n->channel, channels);
	if (n->issue_type)
		hd_check_length("issue_type", n->issue_type, 1, 100);
	if (n->attributes)
		hd_check_json_document("attributes", n->attributes);
	if (n->tags)
		n->tags = hd_ticket_normalise_tags(n->tags);
	memset(&m, 0, sizeof(m));
	m.tenant_id = n->tenant_id;
	m.sender_kind = "customer";
	m.has_sender = true;
	m.sender_id = n->customer_id;
	m.type = n->type;
	m.body = n->body;
	m.attachment = n->attachment;
	m.client_msg_id = n->client_msg_id;
	if (has_message)
		hd_ticket_check_content(&m);
	else if (n->client_msg_id)
		hd_invalid("client_msg_id names the first message: give a body");

	require_row(&customer_exists, n->tenant_id, n->customer_id, "customer");
	if (n->has_queue)
		require_row(&queue_exists, n->tenant_id, n->queue_id, "queue");
	if (n->client_msg_id && !n->has_follow_up)
	{
		lock_create_key(n);
		if (replayed_creation(n, &id, message_id))
			return id;
	}

	v[0] = Int64GetDatum(n->tenant_id);
	hd_exec(&next_number, v, NULL, false, 1);
	hd_get_int64(1, &number);

	v[1] = Int64GetDatum(number);
	v[2] = Int64GetDatum(n->customer_id);
	v[3] = CStringGetTextDatum(n->subject);
	v[4] = CStringGetTextDatum(n->priority);
	v[5] = n->issue_type ? CStringGetTextDatum(n->issue_type) : (Datum) 0;
	nl[5] = n->issue_type ? ' ' : 'n';
	v[6] = Int64GetDatum(n->queue_id);
	nl[6] = n->has_queue ? ' ' : 'n';
	v[7] = n->tags ? PointerGetDatum(n->tags) : (Datum) 0;
	nl[7] = n->tags ? ' ' : 'n';
	v[8] = CStringGetTextDatum(n->channel);
	v[9] = n->attributes ? JsonbPGetDatum(n->attributes) : (Datum) 0;
	nl[9] = n->attributes ? ' ' : 'n';
	v[10] = Int64GetDatum(n->session_id);
	nl[10] = n->has_session ? ' ' : 'n';
	v[11] = Int64GetDatum(n->follow_up_of);
	nl[11] = n->has_follow_up ? ' ' : 'n';
	v[12] = BoolGetDatum(has_message);
	hd_exec(&insert_ticket, v, nl, false, 1);
	hd_get_int64(1, &id);
	payload = hd_get_text(2);
	hd_ticket_event(n->tenant_id, id, "ticket.created", payload, true);

	if (has_message)
	{
		memset(&t, 0, sizeof(t));
		t.id = id;
		t.customer_id = n->customer_id;
		m.ticket_id = id;
		*message_id = hd_ticket_insert_message(&m, &t);
	}
	hd_ticket_changed(n->tenant_id, id, HD_TICKET_CREATED);
	return id;
}

PG_FUNCTION_INFO_V1(hd_create_ticket);

/*
 * helpdesk.create_ticket(tenant_id, customer_id, subject, body, priority,
 *   issue_type, queue_id, channel, tags, attributes, client_msg_id, type,
 *   attachment, OUT ticket_id, OUT number, OUT message_id)
 */
Datum
hd_create_ticket(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "customer_id", "subject"};
	HdTicketNew n;
	int64		id,
				message_id,
				number = 0;
	TupleDesc	desc;
	Datum		out[3];
	bool		onull[3] = {false, false, false};
	static HdPlan number_of = {
		"SELECT number FROM helpdesk.ticket WHERE tenant_id = $1 AND id = $2", 2, {INT8OID, INT8OID}
	};

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 3, names);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "pg_helpdesk: create_ticket must return a record");
	memset(&n, 0, sizeof(n));
	n.tenant_id = PG_GETARG_INT64(0);
	n.customer_id = PG_GETARG_INT64(1);
	n.subject = text_to_cstring(PG_GETARG_TEXT_PP(2));
	n.body = hd_arg_text_or_null(fcinfo, 3);
	n.priority = PG_ARGISNULL(4) ? "normal" : text_to_cstring(PG_GETARG_TEXT_PP(4));
	n.issue_type = hd_arg_text_or_null(fcinfo, 5);
	n.has_queue = !PG_ARGISNULL(6);
	n.queue_id = n.has_queue ? PG_GETARG_INT64(6) : 0;
	n.channel = PG_ARGISNULL(7) ? "api" : text_to_cstring(PG_GETARG_TEXT_PP(7));
	n.tags = PG_ARGISNULL(8) ? NULL : PG_GETARG_ARRAYTYPE_P(8);
	n.attributes = PG_ARGISNULL(9) ? NULL : PG_GETARG_JSONB_P(9);
	n.client_msg_id = hd_arg_text_or_null(fcinfo, 10);
	n.type = PG_ARGISNULL(11) ? "text" : text_to_cstring(PG_GETARG_TEXT_PP(11));
	n.attachment = PG_ARGISNULL(12) ? NULL : PG_GETARG_JSONB_P(12);
	if (strcmp(n.channel, "chat") == 0)
		hd_invalid("chat tickets come from helpdesk.escalate_session(), not create_ticket");

	SPI_connect();
	id = hd_ticket_create(&n, &message_id);
	{
		Datum		v[2] = {Int64GetDatum(n.tenant_id), Int64GetDatum(id)};

		hd_exec(&number_of, v, NULL, false, 1);
		hd_get_int64(1, &number);
	}
	SPI_finish();
	out[0] = Int64GetDatum(id);
	out[1] = Int64GetDatum(number);
	out[2] = Int64GetDatum(message_id);
	onull[2] = message_id == 0;
	desc = BlessTupleDesc(desc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, out, onull)));
}
