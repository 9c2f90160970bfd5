/*
 * message.c — helpdesk.post_message: validate, store once, log an event.
 */
#include "message.h"
#include "routing.h"
#include "direct.h"

#include "access/table.h"
#include "common/hashfn.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/lock.h"

#include "utils/builtins.h"
#include "utils/numeric.h"

hd_bot_message_hook_type hd_bot_message_hook = NULL;
hd_attachment_hook_type hd_attachment_hook = NULL;
hd_customer_message_hook_type hd_customer_message_hook = NULL;

static const char *const sender_kinds[] = {"customer", "agent", "bot", "system", "note", NULL};
static const char *const message_types[] = {"text", "image", "file", "menu", "system", NULL};

/* A string member of a JSON object, or NULL when the key is absent. */
static char *
json_string(JsonbContainer *c, const char *what, const char *key)
{
	JsonbValue	v;

	if (getKeyJsonValueFromContainer(c, key, strlen(key), &v) == NULL)
		return NULL;
	if (v.type != jbvString)
		hd_invalid("%s.%s must be a string", what, key);
	return pnstrdup(v.val.string.val, v.val.string.len);
}

static char *
json_required_string(JsonbContainer *c, const char *what, const char *key, int maxlen)
{
	char	   *s = json_string(c, what, key);

	if (s == NULL || s[0] == '\0')
		hd_invalid("%s.%s is required", what, key);
	if ((int) strlen(s) > maxlen)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s.%s is longer than %d bytes", what, key, maxlen)));
	return s;
}

/*
 * Largest attachment size accepted: 2^53 - 1, the largest integer every
 * JSON client (JavaScript's numbers are doubles) reads exactly.
 */
#define MAX_ATTACHMENT_SIZE INT64CONST(9007199254740991)

/*
 * An absolute http(s) URL with a host: scheme://[userinfo@]host[:port][/?#...],
 * the host a DNS name or IPv4 address ([A-Za-z0-9._-], non-ASCII allowed for
 * internationalised names) or a bracketed IPv6 literal, the port 1..65535;
 * no whitespace or control characters anywhere. Clients open it as a link,
 * so "https://" or "https:///x" would be a broken one.
 */
static bool
url_has_host(const char *url)
{
	const char *p = strstr(url, "://") + 3;
	const char *end = p + strcspn(p, "/?#");
	const char *at = NULL,
			   *host,
			   *q;

	for (q = url; *q; q++)
		if ((unsigned char) *q <= 0x20 || *q == 0x7f)
			return false;
	for (q = p; q < end; q++)
		if (*q == '@')
			at = q;
	host = at ? at + 1 : p;
	if (*host == '[')
	{
		for (q = host + 1; q < end && *q != ']'; q++)
			if (!(isxdigit((unsigned char) *q) || *q == ':' || *q == '.'))
				return false;
		if (q >= end || q == host + 1)
			return false;
		q++;
	}
	else
	{
		for (q = host; q < end && *q != ':'; q++)
			if (!(isalnum((unsigned char) *q) || *q == '.' || *q == '-' || *q == '_' ||
				  (unsigned char) *q >= 0x80))
				return false;
		if (q == host)
			return false;
	}
	if (q < end)
	{
		char		port[8];
		int64		n;

		if (*q != ':' || end - q - 1 < 1 || end - q - 1 > 5)
			return false;
		memcpy(port, q + 1, end - q - 1);
		port[end - q - 1] = '\0';
		if (!hd_parse_int64(port, 1, 65535, &n))
			return false;
	}
	return true;
}

/*
 * Attachment of an image or file message: {"url","name","size","mime"}.
 * Also checks the attachments of ticket messages (tickets/).
 */
void
hd_check_attachment(Jsonb *a, bool image)
{
	char	   *url,
			   *mime,
			   *slash,
			   *digits;
	JsonbValue	size;
	int64		bytes;

	if (a == NULL)
		hd_invalid("%s messages need an attachment {\"url\", \"name\", \"size\", \"mime\"}",
				  image ? "image" : "file");
	if (!JB_ROOT_IS_OBJECT(a))
		hd_invalid("attachment must be a JSON object");
	url = json_required_string(&a->root, "attachment", "url", 2048);
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
		hd_invalid("attachment.url must be an http or https URL, got %s", hd_quote(url));
	if (!url_has_host(url))
		hd_invalid("attachment.url must name a host (https://host/path, no spaces), got %s",
				   hd_quote(url));
	(void) json_required_string(&a->root, "attachment", "name", 255);
	mime = json_required_string(&a->root, "attachment", "mime", 255);
	slash = strchr(mime, '/');
	if (slash == NULL || slash == mime || slash[1] == '\0')
		hd_invalid("attachment.mime must look like type/subtype, got %s", hd_quote(mime));
	if (image && strncmp(mime, "image/", 6) != 0)
		hd_invalid("image messages need an image/* mime type, got %s", hd_quote(mime));
	if (getKeyJsonValueFromContainer(&a->root, "size", 4, &size) == NULL ||
		size.type != jbvNumeric)
		hd_invalid("attachment.size is required and must be a number of bytes");
	if (!hd_json_int(&size, 0, MAX_ATTACHMENT_SIZE, &bytes, &digits))
		hd_invalid("attachment.size must be a whole number of bytes from 0 to " INT64_FORMAT ", got %s",
				   MAX_ATTACHMENT_SIZE, hd_clip(digits));
}

/*
 * Menu choices: a non-empty array (at most 20) of {"id", "label"} with
 * distinct ids (the answer names the id chosen).
 */
static void
check_options(Jsonb *o)
{
	int			n,
				i,
				j;
	char	   *ids[20];

	if (o == NULL || !JB_ROOT_IS_ARRAY(o) || JB_ROOT_IS_SCALAR(o))
		hd_invalid("menu messages need options: a JSON array of {\"id\", \"label\"}");
	n = JB_ROOT_COUNT(o);
	if (n < 1 || n > 20)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a menu has 1 to 20 options, got %d", n)));
	for (i = 0; i < n; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(&o->root, i);

		if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
			hd_invalid("each menu option must be an object {\"id\", \"label\"}");
		ids[i] = json_required_string(v->val.binary.data, "option", "id", 64);
		(void) json_required_string(v->val.binary.data, "option", "label", 200);
		for (j = 0; j < i; j++)
			if (strcmp(ids[j], ids[i]) == 0)
				hd_invalid("menu option ids must be distinct: %s appears twice", hd_quote(ids[i]));
	}
}

/*
 * The size limit of one message (body, attachment and options together),
 * helpdesk.max_message_bytes: chat messages and ticket thread entries
 * (tickets/ticket_thread.c) answer the same error for the same setting.
 */
void
hd_check_message_bytes(int64 bytes)
{
	if (bytes > hd_max_message_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("message is %lld bytes, more than the limit of %d",
						(long long) bytes, hd_max_message_bytes),
				 errhint("Split the text, send large content as a file attachment, "
						 "or raise helpdesk.max_message_bytes.")));
}

static void
check_content(HdPostArgs *m)
{
	int64		bytes = 0;

	hd_check_enum("sender_kind", m->sender_kind, sender_kinds);
	hd_check_enum("message type", m->type, message_types);
	if (strcmp(m->type, "text") == 0 || strcmp(m->type, "system") == 0)
	{
		if (m->body == NULL || m->body[0] == '\0')
			hd_invalid("%s messages need a non-empty body", m->type);
	}
	else if (strcmp(m->type, "image") == 0 || strcmp(m->type, "file") == 0)
	{
		if (m->attachment && hd_attachment_hook)
			m->attachment = hd_attachment_hook(m->tenant_id, m->attachment);
		hd_check_attachment(m->attachment, strcmp(m->type, "image") == 0);
	}
	else if (strcmp(m->type, "menu") == 0)
	{
		if (m->body == NULL || m->body[0] == '\0')
			hd_invalid("menu messages need a prompt: a non-empty body above the options");
		check_options(m->options);
	}
	if (m->attachment && strcmp(m->type, "image") != 0 && strcmp(m->type, "file") != 0)
		hd_invalid("only image and file messages take an attachment, not %s messages", m->type);
	if (m->options && strcmp(m->type, "menu") != 0)
		hd_invalid("only menu messages take options, not %s messages", m->type);
	if (strcmp(m->type, "system") == 0 && strcmp(m->sender_kind, "system") != 0)
		hd_invalid("only the system sender may post system messages, not %s", m->sender_kind);
	if (m->client_msg_id)
		hd_check_length("client_msg_id", m->client_msg_id, 1, 100);

	if (m->body)
		bytes += strlen(m->body);
	if (m->attachment)
		bytes += VARSIZE(m->attachment);
	if (m->options)
		bytes += VARSIZE(m->options);
	hd_check_message_bytes(bytes);
}

static HdPlan note_author = {
	"SELECT enabled, role = 'qa' FROM helpdesk.agent WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

static void
not_participant(const char *fmt, int64 who, int64 session_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg(fmt, (long long) who, (long long) session_id)));
}

/* May this sender speak in this session right now? */
static void
check_sender(HdPostArgs *m, HdSessionRow *s)
{
	const char *k = m->sender_kind;
	bool		needs_id = (strcmp(k, "customer") == 0 || strcmp(k, "agent") == 0 ||
							strcmp(k, "note") == 0);

	if (needs_id && !m->has_sender)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("sender_id must not be NULL for %s messages", k)));
	if (!needs_id && m->has_sender)
		hd_invalid("sender_id must be NULL for %s messages", k);

	if (strcmp(s->state, "closed") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_SESSION_CLOSED),
				 errmsg("session %lld is closed", (long long) s->id),
				 errhint("Start a new session with helpdesk.start_session().")));

	if (strcmp(k, "customer") == 0)
	{
		if (m->sender_id != s->customer_id)
			not_participant("customer %lld is not part of session %lld", m->sender_id, s->id);
	}
	else if (strcmp(k, "agent") == 0)
	{
		hd_require_agent_may(m->tenant_id, m->sender_id, "post messages");
		if (!s->has_agent || s->agent_id != m->sender_id)
			not_participant("agent %lld is not assigned to session %lld", m->sender_id, s->id);
		if (strcmp(s->state, "active") != 0)
			not_participant("agent %lld has not accepted session %lld yet", m->sender_id, s->id);
	}
	else if (strcmp(k, "note") == 0)
	{
		Datum		v[2] = {Int64GetDatum(m->tenant_id), Int64GetDatum(m->sender_id)};

		hd_exec(&note_author, v, NULL, false, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_HD_NOT_FOUND),
					 errmsg("agent %lld does not exist in tenant %lld",
							(long long) m->sender_id, (long long) m->tenant_id)));
		if (!hd_get_bool(1))
			not_participant("agent %lld is disabled and cannot write notes in session %lld",
							m->sender_id, s->id);
		if (hd_get_bool(2))
			hd_refuse_qa(m->sender_id, "write notes");
	}
	else if (strcmp(k, "bot") == 0)
	{
		if (strcmp(s->state, "bot") != 0 && strcmp(s->state, "queued") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("the bot is not part of session %lld while it is %s",
							(long long) s->id, s->state)));
	}
}

/*
 * The message and its message.created event are written by one statement:
 * one executor start instead of two on the hottest path. With ON CONFLICT DO
 * NOTHING a replay inserts neither row and returns nothing.
 */
#define INSERT_MESSAGE(conflict) \
	"WITH m AS (" \
	"  INSERT INTO helpdesk.message (tenant_id, session_id, customer_id, sender_kind, " \
	"    sender_id, type, body, attachment, options, client_msg_id) " \
	"  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) " conflict " RETURNING id) " \
	"INSERT INTO helpdesk.event (tenant_id, audience, audience_id, session_id, message_id, type) " \
	"SELECT $1, $11, $2, $2, m.id, 'message.created' FROM m RETURNING message_id"
#define INSERT_TYPES \
	{INT8OID, INT8OID, INT8OID, TEXTOID, INT8OID, TEXTOID, TEXTOID, JSONBOID, JSONBOID, \
	TEXTOID, TEXTOID}

static const char *
event_audience(HdPostArgs *m)
{
	return strcmp(m->sender_kind, "note") == 0 ? "session_staff" : "session";
}

static HdPlan insert_plain = {INSERT_MESSAGE(""), 11, INSERT_TYPES};
static HdPlan insert_once = {
	INSERT_MESSAGE("ON CONFLICT (tenant_id, session_id, sender_kind, client_msg_id) DO NOTHING"),
	11, INSERT_TYPES
};
static HdPlan find_by_client_id = {
	"SELECT id, type = $5 AND body IS NOT DISTINCT FROM $6 "
	"       AND sender_id IS NOT DISTINCT FROM $7 "
	"       AND attachment IS NOT DISTINCT FROM $8 AND options IS NOT DISTINCT FROM $9 "
	"FROM helpdesk.message "
	"WHERE tenant_id = $1 AND session_id = $2 AND sender_kind = $3 AND client_msg_id = $4",
	9, {INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, JSONBOID, JSONBOID}
};

/*
 * A client message id seen before: return the stored message if it is the
 * same message, refuse if the id was reused for different content.
 */
static int64
replayed_message(HdPostArgs *m, bool *found)
{
	Datum		v[9];
	char		n[10] = "         ";
	int64		id = 0;

	v[0] = Int64GetDatum(m->tenant_id);
	v[1] = Int64GetDatum(m->session_id);
	v[2] = CStringGetTextDatum(m->sender_kind);
	v[3] = CStringGetTextDatum(m->client_msg_id);
	v[4] = CStringGetTextDatum(m->type);
	v[5] = m->body ? CStringGetTextDatum(m->body) : (Datum) 0;
	n[5] = m->body ? ' ' : 'n';
	v[6] = Int64GetDatum(m->sender_id);
	n[6] = m->has_sender ? ' ' : 'n';
	v[7] = m->attachment ? JsonbPGetDatum(m->attachment) : (Datum) 0;
	n[7] = m->attachment ? ' ' : 'n';
	v[8] = m->options ? JsonbPGetDatum(m->options) : (Datum) 0;
	n[8] = m->options ? ' ' : 'n';
	hd_exec(&find_by_client_id, v, n, false, 1);
	*found = (SPI_processed == 1);
	if (!*found)
		return 0;
	hd_get_int64(1, &id);
	if (!hd_get_bool(2))
		ereport(ERROR,
				(errcode(ERRCODE_HD_IDEMPOTENCY_CONFLICT),
				 errmsg("client_msg_id %s was already used for a different message in session %lld",
						hd_quote(m->client_msg_id), (long long) m->session_id),
				 errhint("Use a new client_msg_id for each new message; resend the same content to retry.")));
	return id;
}

/* The message table as post_message writes it directly (direct.h). */
static HdDirectTable message_table = {
	"message", 14, {
		{"tenant_id", INT8OID, HD_FILL_CALLER},
		{"id", INT8OID, HD_FILL_IDENTITY},
		{"session_id", INT8OID, HD_FILL_CALLER},
		{"customer_id", INT8OID, HD_FILL_CALLER},
		{"sender_kind", TEXTOID, HD_FILL_CALLER},
		{"sender_id", INT8OID, HD_FILL_CALLER},
		{"type", TEXTOID, HD_FILL_CALLER},
		{"body", TEXTOID, HD_FILL_CALLER},
		{"attachment", JSONBOID, HD_FILL_CALLER},
		{"options", JSONBOID, HD_FILL_CALLER},
		{"client_msg_id", TEXTOID, HD_FILL_CALLER},
		{"created_at", TIMESTAMPTZOID, HD_FILL_NOW},
		{"delivered_at", TIMESTAMPTZOID, HD_FILL_CALLER},
		{"read_at", TIMESTAMPTZOID, HD_FILL_CALLER}
	},
	{{"session", {"tenant_id", "session_id"}}}
};

/*
 * Posts that carry the same client_msg_id for one session and sender kind
 * take turns: a transaction-level lock on a hash of the four (an advisory
 * lock tag with objsubid 3, which SQL's advisory functions never use). The
 * later post then finds the earlier one's row and replays it instead of
 * failing on the unique index. Both insert paths take it.
 */
static void
lock_client_msg_id(HdPostArgs *m)
{
	char	   *key = psprintf("%lld/%lld/%s/%s", (long long) m->tenant_id,
							   (long long) m->session_id, m->sender_kind, m->client_msg_id);
	uint64		h = DatumGetUInt64(hash_any_extended((unsigned char *) key, strlen(key), 0));
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (h >> 32), (uint32) h, 3);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	pfree(key);
}

/* Is the client_msg_id already stored? UNUSABLE if the unique index is not as expected. */
static HdFetch
client_id_taken(Relation rel, HdPostArgs *m)
{
	static const char *const key[] = {"tenant_id", "session_id", "sender_kind", "client_msg_id"};
	Datum		keys[4];
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	HdFetch		r;

	keys[0] = Int64GetDatum(m->tenant_id);
	keys[1] = Int64GetDatum(m->session_id);
	keys[2] = CStringGetTextDatum(m->sender_kind);
	keys[3] = CStringGetTextDatum(m->client_msg_id);
	r = hd_fetch_by_key(rel, hd_relation_oid("message_client_id"), 4, key, keys, NULL, slot);
	ExecDropSingleTupleTableSlot(slot);
	return r;
}

/*
 * The message row and its event, written directly. The session's foreign
 * key is not checked again: the caller holds FOR KEY SHARE on that session
 * row, which is all the check would do.
 */
static int64
insert_direct(Relation rel, HdPostArgs *m, HdSessionRow *s)
{
	Datum		v[14];
	bool		n[14];
	int64		id;

	memset(n, 0, sizeof(n));
	v[0] = Int64GetDatum(m->tenant_id);
	v[2] = Int64GetDatum(m->session_id);
	v[3] = Int64GetDatum(s->customer_id);
	v[4] = CStringGetTextDatum(m->sender_kind);
	v[5] = Int64GetDatum(m->sender_id);
	n[5] = !m->has_sender;
	v[6] = CStringGetTextDatum(m->type);
	v[7] = m->body ? CStringGetTextDatum(m->body) : (Datum) 0;
	n[7] = m->body == NULL;
	v[8] = JsonbPGetDatum(m->attachment);
	n[8] = m->attachment == NULL;
	v[9] = JsonbPGetDatum(m->options);
	n[9] = m->options == NULL;
	v[10] = m->client_msg_id ? CStringGetTextDatum(m->client_msg_id) : (Datum) 0;
	n[10] = m->client_msg_id == NULL;
	n[12] = n[13] = true;
	id = hd_direct_insert(&message_table, rel, v, n);
	hd_append_event(m->tenant_id, event_audience(m), m->session_id, m->session_id, id,
					"message.created", NULL);
	return id;
}

/* The same through SPI, with ON CONFLICT for a client_msg_id (*replayed). */
static int64
insert_with_spi(HdPostArgs *m, HdSessionRow *s, bool *replayed)
{
	Datum		v[11];
	char		n[12] = "           ";
	int64		id = 0;
	bool		found;

	v[0] = Int64GetDatum(m->tenant_id);
	v[1] = Int64GetDatum(m->session_id);
	v[2] = Int64GetDatum(s->customer_id);
	v[3] = CStringGetTextDatum(m->sender_kind);
	v[4] = Int64GetDatum(m->sender_id);
	n[4] = m->has_sender ? ' ' : 'n';
	v[5] = CStringGetTextDatum(m->type);
	v[6] = m->body ? CStringGetTextDatum(m->body) : (Datum) 0;
	n[6] = m->body ? ' ' : 'n';
	v[7] = m->attachment ? JsonbPGetDatum(m->attachment) : (Datum) 0;
	n[7] = m->attachment ? ' ' : 'n';
	v[8] = m->options ? JsonbPGetDatum(m->options) : (Datum) 0;
	n[8] = m->options ? ' ' : 'n';
	v[9] = m->client_msg_id ? CStringGetTextDatum(m->client_msg_id) : (Datum) 0;
	n[9] = m->client_msg_id ? ' ' : 'n';
	v[10] = CStringGetTextDatum(event_audience(m));

	hd_exec(m->client_msg_id ? &insert_once : &insert_plain, v, n, false, 1);
	*replayed = SPI_processed == 0;
	if (SPI_processed == 0)
	{
		id = replayed_message(m, &found);
		if (!found)
			elog(ERROR, "pg_helpdesk: message with client_msg_id %s vanished", hd_quote(m->client_msg_id));
		return id;
	}
	hd_get_int64(1, &id);
	hd_wake_at_commit(HD_WORKER_PUBLISHER);
	return id;
}

/*
 * Validate, insert (once per client_msg_id) and log a message.created event.
 * Caller has done SPI_connect. Returns the message id.
 */
int64
hd_post_message(HdPostArgs *m)
{
	HdSessionRow s;
	Relation	rel;
	int64		id = 0;
	bool		found = false;

	check_content(m);
	hd_load_session(m->tenant_id, m->session_id, HD_LOCK_KEY_SHARE, &s);
	/* a retry of a stored message succeeds even if the session closed since */
	if (m->client_msg_id && strcmp(s.state, "closed") == 0)
	{
		id = replayed_message(m, &found);
		if (found)
			return id;
	}
	check_sender(m, &s);
	if (m->client_msg_id)
		lock_client_msg_id(m);

	rel = hd_direct_reads_ok() ? hd_direct_open(&message_table) : NULL;
	if (rel != NULL && m->client_msg_id)
	{
		HdFetch		taken = client_id_taken(rel, m);

		if (taken != HD_FETCH_NONE)
		{
			table_close(rel, NoLock);
			rel = NULL;
		}
		if (taken == HD_FETCH_FOUND)
		{
			id = replayed_message(m, &found);
			if (!found)
				elog(ERROR, "pg_helpdesk: message with client_msg_id %s vanished", hd_quote(m->client_msg_id));
			return id;
		}
	}
	id = rel != NULL ? insert_direct(rel, m, &s) : insert_with_spi(m, &s, &found);
	if (rel == NULL && found)
		return id;				/* a replay: the bot has it already */
	if (hd_bot_message_hook != NULL && strcmp(s.state, "bot") == 0 &&
		(strcmp(m->sender_kind, "customer") == 0 || strcmp(m->sender_kind, "bot") == 0))
		hd_bot_message_hook(m, s.customer_id, id);
	if (hd_customer_message_hook != NULL && m->body != NULL &&
		strcmp(m->sender_kind, "customer") == 0)
		hd_customer_message_hook(m, s.customer_id, id);
	return id;
}

PG_FUNCTION_INFO_V1(hd_post_message_sql);

/*
 * helpdesk.post_message(tenant_id, session_id, sender_kind, sender_id, body,
 *                       type, client_msg_id, attachment, options)
 */
Datum
hd_post_message_sql(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "session_id", "sender_kind"};
	HdPostArgs	m;
	int64		id;

	hd_check_tenant_arg(fcinfo, 0);
	hd_dispatch_backpressure();	/* backpressure.c */
	hd_require_args(fcinfo, 3, names);
	memset(&m, 0, sizeof(m));
	m.tenant_id = PG_GETARG_INT64(0);
	m.session_id = PG_GETARG_INT64(1);
	m.sender_kind = text_to_cstring(PG_GETARG_TEXT_PP(2));
	m.has_sender = !PG_ARGISNULL(3);
	m.sender_id = m.has_sender ? PG_GETARG_INT64(3) : 0;
	m.body = hd_arg_text_or_null(fcinfo, 4);
	m.type = PG_ARGISNULL(5) ? "text" : text_to_cstring(PG_GETARG_TEXT_PP(5));
	m.client_msg_id = hd_arg_text_or_null(fcinfo, 6);
	m.attachment = PG_ARGISNULL(7) ? NULL : PG_GETARG_JSONB_P(7);
	m.options = PG_ARGISNULL(8) ? NULL : PG_GETARG_JSONB_P(8);

	SPI_connect();
	id = hd_post_message(&m);
	SPI_finish();
	PG_RETURN_INT64(id);
}
