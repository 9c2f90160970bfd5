/*
 * bot_source.c — the bot's job source for the HTTP worker (http_engine.h).
 *
 *   recover   jobs marked sending by a dead worker are pending again (the
 *             answer is posted with client_msg_id bot-job-<id>: once)
 *   prepare   drop jobs of sessions that left the bot (closed by the
 *             customer, handed off by the API); a webhook bot that did not
 *             answer by reply_due_at hands off (timeout)
 *   claim     the head of each session's open jobs, never a second one
 *             while one is being sent: one call in flight per session, in
 *             message order; the bot is the endpoint of the engine's cap
 *   build     dify: POST {base_url}/chat-messages with the Bearer key and
 *             query/inputs/user/conversation_id/response_mode blocking;
 *             webhook: our payload, signed like webhooks, to base_url
 *   complete  dify: a 2xx answer is applied (bot_answer.c), anything else
 *             hands off; webhook: a 2xx starts the reply deadline
 */
#include "bot.h"
#include "bot_json.h"
#include "dispatch.h"
#include "http_engine.h"
#include "http_webhook.h"


#include "access/xact.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

/*
 * A Dify answer is read whole (the engine keeps 4 KB of other bodies):
 * the answer text plus metadata (retriever resources can be long).
 */
#define BOT_MAX_ANSWER_BYTES (128 * 1024)

typedef struct BotJobData
{
	bool		dify;
	int			timeout_ms;
} BotJobData;

static HdPlan recover_jobs = {
	"UPDATE helpdesk.bot_job SET state = 'pending', reply_due_at = NULL "
	"WHERE state = 'sending'",
	0, {}
};

static void
bot_recover(void)
{
	hd_http_exec(&recover_jobs, NULL, NULL, false, 0);
	if (SPI_processed > 0)
		ereport(LOG,
				(errmsg("pg_helpdesk: %llu bot calls were in flight when the HTTP worker stopped; sending them again",
						(unsigned long long) SPI_processed)));
}

static HdPlan drop_orphans = {
	"UPDATE helpdesk.bot_job j SET state = 'dropped', finished_at = now(), "
	"       error = 'the session left the bot (' || s.state || ') before the call' "
	"FROM helpdesk.session s "
	"WHERE j.state = 'pending' AND s.tenant_id = j.tenant_id AND s.id = j.session_id "
	"  AND s.state <> 'bot' AND " HD_PLACED("j.tenant_id"),
	0, {}
};
static HdPlan overdue_replies = {
	"SELECT tenant_id, id FROM helpdesk.bot_job "
	"WHERE state = 'sending' AND reply_due_at <= now() AND " HD_PLACED("tenant_id") " "
	"ORDER BY reply_due_at LIMIT 100",
	0, {}
};

static bool
bot_prepare(void)
{
	int64	   *tenants,
			   *jobs;
	uint64		n,
				i;

	hd_http_exec(&drop_orphans, NULL, NULL, false, 0);
	hd_http_exec(&overdue_replies, NULL, NULL, false, 0);
	n = SPI_processed;
	tenants = palloc(sizeof(int64) * (n + 1));
	jobs = palloc(sizeof(int64) * (n + 1));
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		tenants[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		jobs[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
	}
	for (i = 0; i < n; i++)
		hd_bot_fail(tenants[i], jobs[i], HD_HANDOFF_TIMEOUT, 0,
					"the webhook bot did not answer within its timeout");
	return n == 100;
}

/*
 * Heads only: a pending job with no open job before it in its session. The
 * NOT EXISTS is an index probe on bot_job_open.
 */
static HdPlan claimable = {
	"SELECT j.tenant_id, j.id, j.bot_id, j.attempts + 1 FROM helpdesk.bot_job j "
	"WHERE j.state = 'pending' AND " HD_PLACED("j.tenant_id") " AND NOT EXISTS ("
	"  SELECT 1 FROM helpdesk.bot_job o WHERE o.tenant_id = j.tenant_id "
	"    AND o.session_id = j.session_id AND o.state IN ('pending', 'sending') AND o.id < j.id) "
	"ORDER BY j.id LIMIT $1 FOR UPDATE OF j SKIP LOCKED",
	1, {INT4OID}
};
static HdPlan mark_sending = {
	"UPDATE helpdesk.bot_job SET state = 'sending', sent_at = now(), attempts = attempts + 1 "
	"WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

/* a bot at its cap: its rows stay pending */
static int
bot_claim(HdHttpClaim *claim, int max)
{
	Datum		v[2] = {Int32GetDatum(max)};

	hd_exec(&claimable, v, NULL, false, 0);
	return hd_http_claim_rows(claim, SPI_tuptable, SPI_processed, 3, 4, &mark_sending);
}

static HdPlan job_facts = {
	"SELECT b.kind, b.base_url, b.secret, "
	"       (extract(epoch FROM b.timeout) * 1000)::int4, "
	"       m.type, m.body, m.attachment::text, c.external_id, c.vip_level::int4, "
	"       c.attributes::text, c.language, s.issue_type, s.bot_conversation_id, s.id, "
	"       s.channel, m.id, s.attributes::text "
	"FROM helpdesk.bot_job j "
	"JOIN helpdesk.bot b ON b.tenant_id = j.tenant_id AND b.id = j.bot_id "
	"JOIN helpdesk.session s ON s.tenant_id = j.tenant_id AND s.id = j.session_id "
	"JOIN helpdesk.customer c ON c.tenant_id = s.tenant_id AND c.id = s.customer_id "
	"JOIN helpdesk.message m ON m.tenant_id = j.tenant_id AND m.id = j.message_id "
	"WHERE j.tenant_id = $1 AND j.id = $2",
	2, {INT8OID, INT8OID}
};

/* text column i of the single fetched row, as a jansson string or null */
static json_t *
col_json_string(int col)
{
	char	   *s = hd_get_text(col);

	return s ? json_string(s) : json_null();
}

/* a column holding JSON text, parsed (null when NULL or unparsable) */
static json_t *
col_json_value(int col)
{
	char	   *s = hd_get_text(col);
	json_t	   *j = s ? json_loads(s, 0, NULL) : NULL;

	return j ? j : json_null();
}

/*
 * What the bot is asked: the text, or for an image or file message a line
 * naming it (Dify needs a non-empty query).
 */
static char *
query_text(void)
{
	char	   *type = hd_get_text(5);
	char	   *body = hd_get_text(6);

	if (body && *body)
		return body;
	return psprintf("[%s]", type);
}

/* malloc'd JSON from jansson, copied into the job's context */
static char *
dump_to(MemoryContext cxt, json_t *root, size_t *len)
{
	char	   *s = json_dumps(root, JSON_COMPACT);
	char	   *out;

	json_decref(root);
	if (s == NULL)
		elog(ERROR, "pg_helpdesk: out of memory encoding a bot request");
	*len = strlen(s);
	out = MemoryContextStrdup(cxt, s);
	free(s);
	return out;
}

static void
bot_build(HdHttpJob *job)
{
	Datum		v[2] = {Int64GetDatum(job->tenant_id), Int64GetDatum(job->row_id)};
	BotJobData *d = MemoryContextAllocZero(job->cxt, sizeof(BotJobData));
	char	   *kind,
			   *base_url,
			   *key;
	bytea	   *sealed;
	bool		isnull;
	int			keylen;
	json_t	   *root;
	size_t		len;
	int64		session_id = 0,
				message_id = 0;

	hd_http_exec(&job_facts, v, NULL, false, 1);
	if (SPI_processed == 0)
		elog(ERROR, "pg_helpdesk: bot job %lld vanished", (long long) job->row_id);
	kind = hd_get_text(1);
	base_url = hd_get_text(2);
	sealed = DatumGetByteaP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	d->timeout_ms = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));
	d->dify = strcmp(kind, "dify") == 0;
	hd_get_int64(14, &session_id);
	hd_get_int64(16, &message_id);
	key = hd_decrypt_secret(sealed, hd_bot_secret_context(job->tenant_id), &keylen);
	job->data = d;
	job->request.method = "POST";
	job->request.timeout_ms = d->timeout_ms;
	if (d->dify)
	{
		job->request.response_cap = BOT_MAX_ANSWER_BYTES;
		job->request.response_buf = MemoryContextAllocZero(job->cxt, BOT_MAX_ANSWER_BYTES + 1);
	}
	hd_http_add_header(job, "Content-Type", "application/json");

	if (d->dify)
	{
		json_t	   *inputs = hd_json_new_object();
		char	   *conv = hd_get_text(13);

		json_object_set_new(inputs, "vip_level",
							json_integer(DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
																	 SPI_tuptable->tupdesc, 9, &isnull))));
		json_object_set_new(inputs, "issue_type", col_json_string(12));
		json_object_set_new(inputs, "language", col_json_string(11));
		json_object_set_new(inputs, "channel", col_json_string(15));
		json_object_set_new(inputs, "attributes", col_json_value(10));
		json_object_set_new(inputs, "session_attributes", col_json_value(17));
		root = hd_json_new_object();
		json_object_set_new(root, "query", json_string(query_text()));
		json_object_set_new(root, "inputs", inputs);
		json_object_set_new(root, "user", col_json_string(8));
		json_object_set_new(root, "conversation_id", json_string(conv ? conv : ""));
		json_object_set_new(root, "response_mode", json_string("blocking"));
		job->request.url = MemoryContextStrdup(job->cxt, psprintf("%s/chat-messages", base_url));
		hd_http_add_header(job, "Authorization", psprintf("Bearer %.*s", keylen, key));
	}
	else
	{
		json_t	   *data = hd_json_new_object(),
				   *msg = hd_json_new_object(),
				   *cust = hd_json_new_object();

		json_object_set_new(msg, "id", json_integer(message_id));
		json_object_set_new(msg, "type", col_json_string(5));
		json_object_set_new(msg, "body", col_json_string(6));
		json_object_set_new(msg, "attachment", col_json_value(7));
		json_object_set_new(cust, "external_id", col_json_string(8));
		json_object_set_new(cust, "vip_level",
							json_integer(DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
																	 SPI_tuptable->tupdesc, 9, &isnull))));
		json_object_set_new(cust, "language", col_json_string(11));
		json_object_set_new(cust, "attributes", col_json_value(10));
		json_object_set_new(data, "tenant_id", json_integer(job->tenant_id));
		json_object_set_new(data, "job_id", json_integer(job->row_id));
		json_object_set_new(data, "session_id", json_integer(session_id));
		json_object_set_new(data, "issue_type", col_json_string(12));
		json_object_set_new(data, "conversation_id", col_json_string(13));
		json_object_set_new(data, "message", msg);
		json_object_set_new(data, "customer", cust);
		root = hd_json_new_object();
		json_object_set_new(root, "type", json_string("bot.message"));
		json_object_set_new(root, "timestamp",
							json_string(timestamptz_to_str(GetCurrentTimestamp())));
		json_object_set_new(root, "data", data);
		job->request.url = MemoryContextStrdup(job->cxt, base_url);
	}
	job->request.body = dump_to(job->cxt, root, &len);
	job->request.body_len = len;
	/* signed as webhook deliveries are; webhook-id bot_<tenant>_<job>, the same on every retry */
	if (!d->dify)
		hd_http_sign_job(job, key, "bot");
	memset(key, 0, keylen);
}

static HdPlan start_reply_deadline = {
	"UPDATE helpdesk.bot_job SET http_status = $3, "
	"       reply_due_at = now() + make_interval(secs => $4 / 1000.0) "
	"WHERE tenant_id = $1 AND id = $2 AND state = 'sending'",
	4, {INT8OID, INT8OID, INT4OID, INT4OID}
};

typedef struct ApplyArgs
{
	HdHttpJob  *job;
	const HdHttpResult *r;
} ApplyArgs;

static void
run_apply(void *arg)
{
	ApplyArgs  *a = (ApplyArgs *) arg;
	int64		message_id;

	(void) hd_bot_apply_answer(a->job->tenant_id, a->job->row_id, a->r->body, a->r->body_len,
							   a->r->status, &message_id);
}

/*
 * A result applied in a subtransaction (routing's hd_run_in_subxact, as the
 * dispatcher's stages use it): a bad answer fails the job instead.
 */
static void
apply_in_subxact(HdHttpJob *job, const HdHttpResult *r)
{
	ApplyArgs	a = {job, r};
	char	   *error = NULL;

	if (!hd_run_in_subxact(run_apply, &a, &error))
		hd_bot_fail(job->tenant_id, job->row_id, HD_HANDOFF_FAILURE, r->status,
					psprintf("bad answer: %s", error));
}

static void
bot_complete(HdHttpJob *job, const HdHttpResult *r)
{
	BotJobData *d = (BotJobData *) job->data;
	bool		ok = r->error == NULL && !r->bad_row && r->status >= 200 && r->status < 300;

	if (!ok)
	{
		const char *why = r->timed_out ? HD_HANDOFF_TIMEOUT : HD_HANDOFF_FAILURE;
		char	   *error = r->error ? pstrdup(r->error) : psprintf("HTTP status %d", r->status);

		hd_bot_fail(job->tenant_id, job->row_id, why, r->status, error);
		return;
	}
	if (r->body_truncated && (d == NULL || d->dify))
		hd_bot_fail(job->tenant_id, job->row_id, HD_HANDOFF_FAILURE, r->status,
					psprintf("the answer is longer than %d bytes", BOT_MAX_ANSWER_BYTES));
	else if (d == NULL || d->dify)
		apply_in_subxact(job, r);
	else
	{
		Datum		v[4] = {Int64GetDatum(job->tenant_id), Int64GetDatum(job->row_id),
		Int32GetDatum(r->status), Int32GetDatum(d->timeout_ms)};

		hd_http_exec(&start_reply_deadline, v, NULL, false, 0);
	}
}

/*
 * The earliest due work: a claimable pending job (now), or a webhook bot's
 * reply deadline. Pending jobs behind one being sent are not due: they
 * become heads when it completes, in the same worker.
 */
static HdPlan next_due = {
	"SELECT least((SELECT min(j.created_at) FROM helpdesk.bot_job j "
	"              WHERE j.state = 'pending' AND " HD_PLACED("j.tenant_id") " AND NOT EXISTS ("
	"                SELECT 1 FROM helpdesk.bot_job o WHERE o.tenant_id = j.tenant_id "
	"                  AND o.session_id = j.session_id AND o.state = 'sending')), "
	"             (SELECT min(reply_due_at) FROM helpdesk.bot_job "
	"              WHERE state = 'sending' AND reply_due_at IS NOT NULL AND " HD_PLACED("tenant_id") "))",
	0, {}
};

static TimestampTz
bot_next_due(void)
{
	bool		isnull;
	Datum		d;

	hd_http_exec(&next_due, NULL, NULL, false, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetTimestampTz(d);
}

const HdHttpSource hd_bot_source = {
	.name = "bot",
	.recover = bot_recover,
	.prepare = bot_prepare,
	.claim = bot_claim,
	.build = bot_build,
	.complete = bot_complete,
	.next_due = bot_next_due,
};
