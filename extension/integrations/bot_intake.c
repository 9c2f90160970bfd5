/*
 * bot_intake.c — a customer message in a session in state bot.
 *
 * post_message (core) calls hd_bot_message_hook after storing a customer's
 * (or a bot's, see webhook_answered) message in a bot session, in the
 * poster's transaction. Here, with the session row locked FOR KEY SHARE:
 *
 *   - no enabled bot of the session's scope: nothing (the application drives
 *     the session through the SQL API, as before bots existed here);
 *   - a hand-off keyword in the message: hand off now (bot_handoff.c), so
 *     "转人工" works even while a bot call is in flight;
 *   - the bot already had max_turns messages: hand off;
 *   - else one bot_job row, written without the executor like the message
 *     itself: the HTTP worker, woken at COMMIT, sends the session's jobs
 *     one at a time in id order.
 *
 * Why here and not from the event log through a worker's cursor (as the
 * webhooks are): the keyword check must be in the customer's transaction
 * anyway (a hand-off cannot wait for a bot call in flight), and the job row
 * written next to it costs only bot sessions, one INSERT: sessions with an
 * agent pay one pointer test and one strcmp (bench in extension/integrations/
 * README.md). Being in the same transaction also orders the jobs by message
 * id without a cursor.
 */
#include "bot.h"
#include "http_engine.h"
#include "message.h"
#include "direct.h"

#include "access/table.h"

#include "utils/array.h"
#include "utils/builtins.h"

/*
 * The bot for the session: the one it already talks to while that bot still
 * serves the session's scope, else the most specific enabled bot (queue and
 * issue type, queue, issue type, tenant-wide). Also: are its turns used up
 * (customer messages given to it, counted on bot_job_by_session), and is it
 * new to the session.
 */
static HdPlan session_bot = {
	"SELECT b.id, b.handoff_keywords, "
	"       (SELECT count(*) FROM helpdesk.bot_job j "
	"        WHERE j.tenant_id = s.tenant_id AND j.session_id = s.id) >= b.max_turns, "
	"       b.id IS DISTINCT FROM s.bot_id "
	"FROM helpdesk.session s JOIN helpdesk.bot b ON b.tenant_id = s.tenant_id AND b.enabled "
	"  AND (b.queue_id IS NULL OR b.queue_id = s.queue_id) "
	"  AND (b.issue_type IS NULL OR b.issue_type = s.issue_type) "
	"WHERE s.tenant_id = $1 AND s.id = $2 "
	"ORDER BY b.id IS NOT DISTINCT FROM s.bot_id DESC, b.queue_id IS NOT NULL DESC, "
	"         b.issue_type IS NOT NULL DESC LIMIT 1",
	2, {INT8OID, INT8OID}
};
static HdPlan set_session_bot = {
	"UPDATE helpdesk.session SET bot_id = $3 WHERE tenant_id = $1 AND id = $2",
	3, {INT8OID, INT8OID, INT8OID}
};

/*
 * The job row, written like post_message writes messages (direct.h): the
 * session's foreign key is not checked again, the caller holds FOR KEY
 * SHARE on it. Through SPI when the direct way could differ from an INSERT.
 */
static HdDirectTable job_table = {
	"bot_job", 14, {
		{"tenant_id", INT8OID, HD_FILL_CALLER},
		{"id", INT8OID, HD_FILL_IDENTITY},
		{"session_id", INT8OID, HD_FILL_CALLER},
		{"message_id", INT8OID, HD_FILL_CALLER},
		{"bot_id", INT8OID, HD_FILL_CALLER},
		{"state", TEXTOID, HD_FILL_CALLER},
		{"attempts", INT4OID, HD_FILL_CALLER},
		{"created_at", TIMESTAMPTZOID, HD_FILL_NOW},
		{"sent_at", TIMESTAMPTZOID, HD_FILL_CALLER},
		{"reply_due_at", TIMESTAMPTZOID, HD_FILL_CALLER},
		{"finished_at", TIMESTAMPTZOID, HD_FILL_CALLER},
		{"http_status", INT4OID, HD_FILL_CALLER},
		{"answer_message_id", INT8OID, HD_FILL_CALLER},
		{"error", TEXTOID, HD_FILL_CALLER}
	},
	{{"session", {"tenant_id", "session_id"}}}
};
static HdPlan insert_job = {
	"INSERT INTO helpdesk.bot_job (tenant_id, session_id, message_id, bot_id) "
	"VALUES ($1, $2, $3, $4)",
	4, {INT8OID, INT8OID, INT8OID, INT8OID}
};

static void
enqueue_job(int64 tenant_id, int64 session_id, int64 message_id, int64 bot_id)
{
	Relation	rel = hd_direct_reads_ok() ? hd_direct_open(&job_table) : NULL;

	if (rel != NULL)
	{
		Datum		v[14];
		bool		n[14];

		memset(n, true, sizeof(n));
		v[0] = Int64GetDatum(tenant_id);
		v[2] = Int64GetDatum(session_id);
		v[3] = Int64GetDatum(message_id);
		v[4] = Int64GetDatum(bot_id);
		v[5] = CStringGetTextDatum("pending");
		v[6] = Int32GetDatum(0);
		n[0] = n[2] = n[3] = n[4] = n[5] = n[6] = false;
		(void) hd_direct_insert(&job_table, rel, v, n);	/* closes rel */
	}
	else
	{
		Datum		v[4] = {Int64GetDatum(tenant_id), Int64GetDatum(session_id),
		Int64GetDatum(message_id), Int64GetDatum(bot_id)};

		hd_exec(&insert_job, v, NULL, false, 0);
	}
}

static bool
ascii_letter(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * Does the message contain the keyword? ASCII letters compare without case;
 * a keyword that starts (ends) with an ASCII letter must not touch another
 * letter there, so "agent" matches "an agent please" but not "reagent",
 * while "人工" matches inside "我要转人工". Bytes, not characters: UTF-8 never
 * matches in the middle of a character.
 */
bool
hd_bot_keyword_match(const char *body, const char *keyword)
{
	size_t		klen = strlen(keyword),
				blen = strlen(body),
				i;

	if (klen == 0 || klen > blen)
		return false;
	for (i = 0; i + klen <= blen; i++)
	{
		size_t		j;

		for (j = 0; j < klen; j++)
			if (pg_ascii_tolower((unsigned char) body[i + j]) !=
				pg_ascii_tolower((unsigned char) keyword[j]))
				break;
		if (j < klen)
			continue;
		if (ascii_letter(keyword[0]) && i > 0 && ascii_letter(body[i - 1]))
			continue;
		if (ascii_letter(keyword[klen - 1]) && ascii_letter(body[i + klen]))
			continue;
		return true;
	}
	return false;
}

static bool
any_keyword(const char *body, ArrayType *keywords)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;

	if (body == NULL)
		return false;
	deconstruct_array(keywords, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
		if (!nulls[i] && hd_bot_keyword_match(body, TextDatumGetCString(elems[i])))
			return true;
	return false;
}

/*
 * A webhook bot may answer with post_message(..., 'bot', ...) instead of
 * bot_reply: its call being sent in that session is then answered (the
 * next message's call may go out, and the reply deadline does not hand the
 * session off). bot_reply's own post lands here too, harmlessly.
 */
static HdPlan webhook_answered = {
	"UPDATE helpdesk.bot_job j SET state = 'done', finished_at = now(), answer_message_id = $3, "
	"       reply_due_at = NULL "
	"FROM helpdesk.bot b "
	"WHERE j.tenant_id = $1 AND j.session_id = $2 AND j.state = 'sending' "
	"  AND b.tenant_id = j.tenant_id AND b.id = j.bot_id AND b.kind = 'webhook'",
	3, {INT8OID, INT8OID, INT8OID}
};

/* hd_bot_message_hook (core/message.h): see the file comment. */
static void
bot_message_posted(HdPostArgs *m, int64 customer_id, int64 message_id)
{
	Datum		v[4] = {Int64GetDatum(m->tenant_id), Int64GetDatum(m->session_id),
	Int64GetDatum(message_id), 0};
	int64		bot_id;
	bool		isnull;
	ArrayType  *keywords;
	bool		turns_used,
				new_bot;

	if (strcmp(m->sender_kind, "bot") == 0)
	{
		hd_exec(&webhook_answered, v, NULL, false, 0);
		if (SPI_processed > 0)
			hd_wake_at_commit(HD_WORKER_HTTP);
		return;
	}
	hd_exec(&session_bot, v, NULL, false, 1);
	if (SPI_processed == 0)
		return;
	hd_get_int64(1, &bot_id);
	keywords = DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 2, &isnull));
	turns_used = hd_get_bool(3);
	new_bot = hd_get_bool(4);
	if (any_keyword(m->body, keywords))
	{
		(void) hd_bot_handoff(m->tenant_id, m->session_id, HD_HANDOFF_KEYWORD,
							  false, 0, false, 0, NULL);
		return;
	}
	if (turns_used)
	{
		(void) hd_bot_handoff(m->tenant_id, m->session_id, HD_HANDOFF_TURNS,
							  false, 0, false, 0, NULL);
		return;
	}
	if (new_bot)
	{
		v[2] = Int64GetDatum(bot_id);
		hd_exec(&set_session_bot, v, NULL, false, 0);
	}
	enqueue_job(m->tenant_id, m->session_id, message_id, bot_id);
	hd_wake_at_commit(HD_WORKER_HTTP);
}

/* From hd_integrations_init (module load): the hook and the job source. */
void
hd_bot_init(void)
{
	hd_bot_message_hook = bot_message_posted;
	hd_http_register_source(&hd_bot_source);
}
