/*
 * bot_answer.c — applying a bot's answer to its job, in C.
 *
 * An answer is Dify's blocking chat response, or the same shape from a
 * webhook bot through bot_reply():
 *
 *   {"answer": "...", "conversation_id": "...", "message_id": "...",
 *    "metadata": {"handoff": true, "issue_type": "refund",
 *                 "urgency": "high" | "priority": 300,
 *                 "options": ["Recharge", {"id": "r2", "label": "Refund"}]}}
 *
 * In one transaction, session row locked FOR UPDATE first (the lock every
 * state change takes, so a hand-off by the customer's keyword and this
 * answer are ordered), then the job row: a job no longer being sent (handed
 * off, answered already) drops the answer and logs it — a late answer is
 * never shown. Otherwise: the conversation id is kept, issue type and
 * urgency go to the session (they feed request_agent's queue choice and
 * boost), the answer is posted as a bot message (a menu when options came
 * with it; client_msg_id "bot-job-<id>", so an answer applied twice after a
 * crash is posted once), and the marker text or the metadata flag hands off.
 */
#include "bot.h"
#include "http_engine.h"
#include "bot_json.h"
#include "message.h"


#include "utils/jsonb.h"

/* urgency words to seconds of head start (session.priority, -1000..1000) */
static const struct
{
	const char *word;
	int32		priority;
}			urgencies[] = {
	{"low", -120}, {"normal", 0}, {"high", 300}, {"urgent", 900}, {NULL, 0}
};

typedef struct BotAnswer
{
	char	   *answer;			/* may be "" */
	char	   *conversation_id;	/* NULL: none given */
	char	   *issue_type;		/* NULL: not set by the bot */
	bool		has_priority;
	int32		priority;
	bool		flag;			/* metadata[handoff_flag] was true */
	Jsonb	   *options;		/* NULL: a plain text answer */
} BotAnswer;

static HdPlan job_session = {
	"SELECT session_id FROM helpdesk.bot_job WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};
static HdPlan lock_job = {
	"SELECT j.state, b.handoff_marker, b.handoff_flag "
	"FROM helpdesk.bot_job j JOIN helpdesk.bot b ON b.tenant_id = j.tenant_id AND b.id = j.bot_id "
	"WHERE j.tenant_id = $1 AND j.id = $2 FOR UPDATE OF j",
	2, {INT8OID, INT8OID}
};
/* a job still being sent (its session left the bot) is dropped with it */
static HdPlan note_late = {
	"UPDATE helpdesk.bot_job SET http_status = coalesce($3, http_status), "
	"       error = left(coalesce(error || '; ', '') || $4, 1000), "
	"       state = CASE WHEN state = 'sending' THEN 'dropped' ELSE state END, "
	"       finished_at = coalesce(finished_at, now()), reply_due_at = NULL "
	"WHERE tenant_id = $1 AND id = $2",
	4, {INT8OID, INT8OID, INT4OID, TEXTOID}
};
static HdPlan finish_job = {
	"UPDATE helpdesk.bot_job SET state = $3, finished_at = now(), http_status = $4, "
	"       answer_message_id = $5, error = left($6, 1000), reply_due_at = NULL "
	"WHERE tenant_id = $1 AND id = $2",
	6, {INT8OID, INT8OID, TEXTOID, INT4OID, INT8OID, TEXTOID}
};
static HdPlan set_session_bot_facts = {
	"UPDATE helpdesk.session SET bot_conversation_id = coalesce($3, bot_conversation_id), "
	"       issue_type = coalesce($4, issue_type), priority = coalesce($5, priority) "
	"WHERE tenant_id = $1 AND id = $2",
	5, {INT8OID, INT8OID, TEXTOID, TEXTOID, INT4OID}
};

/* A string member, NULL when absent or null; other types are an error. */
static const char *
member_string(json_t *obj, const char *key, int maxlen)
{
	json_t	   *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return NULL;
	if (!json_is_string(v))
		hd_invalid("the bot's answer: %s must be a string", key);
	if (maxlen > 0 && (int) json_string_length(v) > maxlen)
		hd_invalid("the bot's answer: %s is longer than %d bytes", key, maxlen);
	return json_string_value(v);
}

/* metadata.options: strings or {"id", "label"} objects, as a menu's options */
static Jsonb *
menu_options(json_t *opts)
{
	json_t	   *out,
			   *item;
	size_t		i;
	char	   *text;
	Jsonb	   *j;

	if (!json_is_array(opts) || json_array_size(opts) == 0)
		return NULL;
	out = json_array();
	json_array_foreach(opts, i, item)
	{
		char		id[24];

		if (json_is_string(item))
		{
			snprintf(id, sizeof(id), "%zu", i + 1);
			json_array_append_new(out, json_pack("{s:s, s:O}", "id", id, "label", item));
		}
		else if (json_is_object(item))
			json_array_append(out, item);
		else
		{
			json_decref(out);
			hd_invalid("the bot's answer: metadata.options must hold strings or {\"id\", \"label\"} objects");
		}
	}
	text = json_dumps(out, JSON_COMPACT);
	json_decref(out);
	if (text == NULL)
		elog(ERROR, "pg_helpdesk: out of memory encoding menu options");
	PG_TRY();
	{
		j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
	}
	PG_FINALLY();
	{
		free(text);
	}
	PG_END_TRY();
	return j;
}

/*
 * Parse an answer into palloc'd pieces; ERROR (22023) for one that is not
 * the expected shape. Jansson's objects live on malloc: freed before any
 * ERROR can leave (errors are raised after json_decref, or wrapped).
 */
static void
parse_answer(const char *json, size_t len, const char *flag_key, BotAnswer *a)
{
	json_error_t err;
	json_t	   *root = json_loadb(json, len, 0, &err);
	json_t	   *meta;

	memset(a, 0, sizeof(*a));
	if (root == NULL || !json_is_object(root))
	{
		if (root)
			json_decref(root);
		hd_invalid("the bot's answer is not a JSON object%s%s", root ? "" : ": ",
				   root ? "" : hd_quote(err.text));
	}
	PG_TRY();
	{
		const char *s;

		s = member_string(root, "answer", 0);
		a->answer = pstrdup(s ? s : "");
		s = member_string(root, "conversation_id", 200);
		a->conversation_id = (s && *s) ? pstrdup(s) : NULL;
		meta = json_object_get(root, "metadata");
		if (meta != NULL && json_is_object(meta))
		{
			json_t	   *v;
			int			i;

			if (flag_key && (v = json_object_get(meta, flag_key)) != NULL)
				a->flag = json_is_true(v) ||
					(json_is_string(v) && strcmp(json_string_value(v), "true") == 0);
			s = member_string(meta, "issue_type", 0);
			if (s && *s)
			{
				hd_check_length("the bot's metadata.issue_type", s, 1, 100);
				a->issue_type = pstrdup(s);
			}
			s = member_string(meta, "urgency", 0);
			for (i = 0; s && urgencies[i].word; i++)
				if (strcmp(urgencies[i].word, s) == 0)
				{
					a->has_priority = true;
					a->priority = urgencies[i].priority;
				}
			if (s && !a->has_priority)
				hd_invalid("the bot's metadata.urgency must be low, normal, high or urgent, got %s",
						   hd_quote(s));
			v = json_object_get(meta, "priority");
			if (v != NULL && !json_is_null(v))
			{
				if (!json_is_integer(v) || json_integer_value(v) < -1000 ||
					json_integer_value(v) > 1000)
					hd_invalid("the bot's metadata.priority must be a whole number from -1000 to 1000");
				a->has_priority = true;
				a->priority = (int32) json_integer_value(v);
			}
			a->options = menu_options(json_object_get(meta, "options"));
		}
	}
	PG_FINALLY();
	{
		json_decref(root);
	}
	PG_END_TRY();
}

/* Cut every occurrence of the marker; trim the white space left at the ends. */
static char *
cut_marker(const char *answer, const char *marker, bool *found)
{
	StringInfoData out;
	const char *p = answer,
			   *hit;
	size_t		mlen = strlen(marker);
	int			start = 0,
				end;

	*found = false;
	initStringInfo(&out);
	while ((hit = strstr(p, marker)) != NULL)
	{
		appendBinaryStringInfo(&out, p, hit - p);
		p = hit + mlen;
		*found = true;
	}
	appendStringInfoString(&out, p);
	end = out.len;
	while (start < end && isspace((unsigned char) out.data[start]))
		start++;
	while (end > start && isspace((unsigned char) out.data[end - 1]))
		end--;
	return pnstrdup(out.data + start, end - start);
}

/*
 * Lock the session FOR UPDATE, then the job; true when the job is still
 * being sent in a session with the bot. Otherwise the answer is late: the
 * job notes it, the server log says so, and the caller drops it.
 */
static bool
lock_open_job(int64 tenant_id, int64 job_id, int http_status, const char *what,
			  int64 *session_id, char **marker, char **flag)
{
	Datum		v[4] = {Int64GetDatum(tenant_id), Int64GetDatum(job_id), 0, 0};
	char		n[5] = "    ";
	HdSessionRow s;
	char	   *job_state;

	hd_http_exec(&job_session, v, NULL, false, 1);
	if (SPI_processed == 0)
		hd_not_found("bot job", job_id, tenant_id);
	hd_get_int64(1, session_id);
	hd_load_session(tenant_id, *session_id, HD_LOCK_UPDATE, &s);
	hd_http_exec(&lock_job, v, NULL, false, 1);
	job_state = hd_get_text(1);
	if (marker)
		*marker = hd_get_text(2);
	if (flag)
		*flag = hd_get_text(3);
	if (strcmp(job_state, "sending") == 0 && strcmp(s.state, "bot") == 0)
		return true;
	v[2] = Int32GetDatum(http_status);
	n[2] = http_status ? ' ' : 'n';
	v[3] = CStringGetTextDatum(psprintf("late %s dropped (job %s, session %s)", what,
										job_state, s.state));
	hd_http_exec(&note_late, v, n, false, 0);
	ereport(LOG,
			(errmsg("pg_helpdesk: bot %s for session %lld of tenant %lld dropped: the job is %s and the session %s",
					what, (long long) *session_id, (long long) tenant_id, job_state, s.state)));
	return false;
}

static void
finish(int64 tenant_id, int64 job_id, const char *state, int http_status, int64 message_id,
	   const char *error)
{
	Datum		v[6] = {Int64GetDatum(tenant_id), Int64GetDatum(job_id),
		CStringGetTextDatum(state), Int32GetDatum(http_status), Int64GetDatum(message_id),
	error ? CStringGetTextDatum(error) : (Datum) 0};
	char		n[7] = "      ";

	n[3] = http_status ? ' ' : 'n';
	n[4] = message_id ? ' ' : 'n';
	n[5] = error ? ' ' : 'n';
	hd_http_exec(&finish_job, v, n, false, 0);
}

/*
 * Apply an answer to job_id (caller: a transaction, SPI connected). A
 * malformed answer raises 22023 before anything is written; the HTTP
 * source catches that and fails the job (hand-off), bot_reply passes it to
 * the webhook bot that sent it.
 */
HdBotOutcome
hd_bot_apply_answer(int64 tenant_id, int64 job_id, const char *json, size_t len,
					int http_status, int64 *message_id)
{
	int64		session_id;
	char	   *marker,
			   *flag;
	BotAnswer	a;
	char	   *text;
	bool		marked = false;
	const char *handoff = NULL;

	*message_id = 0;
	if (!lock_open_job(tenant_id, job_id, http_status, "answer", &session_id, &marker, &flag))
		return HD_BOT_DROPPED;
	parse_answer(json, len, flag, &a);
	text = marker ? cut_marker(a.answer, marker, &marked) : a.answer;
	if (marked)
		handoff = HD_HANDOFF_MARKER;
	else if (a.flag)
		handoff = HD_HANDOFF_METADATA;
	{
		Datum		v[5] = {Int64GetDatum(tenant_id), Int64GetDatum(session_id),
			a.conversation_id ? CStringGetTextDatum(a.conversation_id) : (Datum) 0,
			a.issue_type ? CStringGetTextDatum(a.issue_type) : (Datum) 0,
		Int32GetDatum(a.priority)};
		char		n[6] = "     ";

		n[2] = a.conversation_id ? ' ' : 'n';
		n[3] = a.issue_type ? ' ' : 'n';
		n[4] = a.has_priority ? ' ' : 'n';
		hd_http_exec(&set_session_bot_facts, v, n, false, 0);
	}
	if (text[0] != '\0')
	{
		HdPostArgs	m = {0};

		m.tenant_id = tenant_id;
		m.session_id = session_id;
		m.sender_kind = "bot";
		m.type = a.options ? "menu" : "text";
		m.body = text;
		m.options = a.options;
		m.client_msg_id = psprintf("bot-job-%lld", (long long) job_id);
		*message_id = hd_post_message(&m);
	}
	else if (handoff == NULL)
	{
		/* an empty answer would leave the customer with a silent bot */
		finish(tenant_id, job_id, "failed", http_status, 0, "empty answer");
		(void) hd_bot_handoff(tenant_id, session_id, HD_HANDOFF_FAILURE, false, 0, false, 0, NULL);
		return HD_BOT_HANDED_OFF;
	}
	finish(tenant_id, job_id, "done", http_status, *message_id, NULL);
	if (handoff)
		(void) hd_bot_handoff(tenant_id, session_id, handoff, false, 0, false, 0, NULL);
	return *message_id ? HD_BOT_POSTED : HD_BOT_HANDED_OFF;
}

/*
 * The call failed (transport error, timeout, non-2xx, malformed answer):
 * the job fails and the session goes to a human at once. A job that is no
 * longer open (handed off meanwhile) only notes it.
 */
void
hd_bot_fail(int64 tenant_id, int64 job_id, const char *reason, int http_status,
			const char *error)
{
	int64		session_id;

	if (!lock_open_job(tenant_id, job_id, http_status, "failure", &session_id, NULL, NULL))
		return;
	finish(tenant_id, job_id, "failed", http_status, 0, error);
	(void) hd_bot_handoff(tenant_id, session_id, reason, false, 0, false, 0, NULL);
	ereport(LOG,
			(errmsg("pg_helpdesk: bot call for session %lld of tenant %lld failed (%s), handed off",
					(long long) session_id, (long long) tenant_id, error ? error : reason)));
}

PG_FUNCTION_INFO_V1(hd_bot_reply);

/* helpdesk.bot_reply(tenant_id, job_id, answer): a webhook bot's answer. */
Datum
hd_bot_reply(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "job_id", "answer"};
	int64		tenant_id,
				job_id,
				message_id = 0;
	Jsonb	   *answer;
	char	   *text;
	HdBotOutcome r;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 3, names);
	tenant_id = PG_GETARG_INT64(0);
	job_id = PG_GETARG_INT64(1);
	answer = PG_GETARG_JSONB_P(2);
	hd_check_json_document("answer", answer);
	text = JsonbToCString(NULL, &answer->root, VARSIZE(answer));

	SPI_connect();
	hd_require_tenant(tenant_id);
	r = hd_bot_apply_answer(tenant_id, job_id, text, strlen(text), 0, &message_id);
	SPI_finish();
	if (r != HD_BOT_POSTED)
		PG_RETURN_NULL();
	PG_RETURN_INT64(message_id);
}
