/*
 * bot_bridge.c — a webhook bot answering over helpdesk-bridge with a token
 * of kind bot (issue_bot_token: sub = the bot, ver = its token version).
 *
 * The bridge turns the bot's two frames into these calls, always with the
 * token's tenant, bot and version (a client never names who it is):
 *   bot_bridge_answer   bot_answer: the answer to the bot's request in a
 *                       session, applied by hd_bot_apply_answer — the C path
 *                       of bot_reply and of Dify answers, so a late answer
 *                       (handed off meanwhile) or a second answer to one
 *                       request is dropped, noted on the job and logged
 *   bot_bridge_handoff  bot_handoff: hand-off to a human (hd_bot_handoff,
 *                       reason api, as handoff_to_agent)
 * Both first check the token against the bot row (enabled, kind webhook,
 * token_version: revocation takes effect on an open socket's next frame),
 * then the scope: a session of the token's tenant that this bot serves
 * (session.bot_id). Everything else the bridge refuses before any call.
 */
#include "bot.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"

static HdPlan bot_row = {
	"SELECT enabled, kind, token_version FROM helpdesk.bot WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};
static HdPlan session_row = {
	"SELECT bot_id, state FROM helpdesk.session "
	"WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
	2, {INT8OID, INT8OID}
};
/* the request the bot answers: the one being sent, else the last one that ended */
static HdPlan current_job = {
	"SELECT id FROM helpdesk.bot_job WHERE tenant_id = $1 AND session_id = $2 AND bot_id = $3 "
	"  AND state <> 'pending' "
	"ORDER BY state = 'sending' DESC, id DESC LIMIT 1",
	3, {INT8OID, INT8OID, INT8OID}
};
static HdPlan named_job = {
	"SELECT id FROM helpdesk.bot_job WHERE tenant_id = $1 AND id = $4 AND session_id = $2 "
	"  AND bot_id = $3",
	4, {INT8OID, INT8OID, INT8OID, INT8OID}
};
static HdPlan session_after = {
	"SELECT state, bot_handoff_reason FROM helpdesk.session WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

/* 28000 unless the bot is an enabled webhook bot still at the token's version */
static void
check_bot_token(int64 tenant_id, int64 bot_id, int64 version)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(bot_id)};
	int64		current = 0;

	hd_exec(&bot_row, v, NULL, false, 1);
	if (SPI_processed == 0 || !hd_get_bool(1) || strcmp(hd_get_text(2), "webhook") != 0 ||
		!hd_get_int64(3, &current) || current != version)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid token: revoked (revoke_bot_tokens, or bot %lld disabled or deleted)",
						(long long) bot_id),
				 errhint("Issue a new one with helpdesk.issue_bot_token().")));
}

/*
 * Lock the session FOR UPDATE (the lock of every state change) and check
 * the bot serves it; 42501 otherwise, the same for a session that does not
 * exist in the tenant. Returns its state (palloc'd).
 */
static char *
check_bot_session(int64 tenant_id, int64 bot_id, int64 session_id)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(session_id)};
	int64		serving = 0;

	hd_exec(&session_row, v, NULL, false, 1);
	if (SPI_processed == 0 || !hd_get_int64(1, &serving) || serving != bot_id)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("session %lld is not a session bot %lld serves in tenant %lld",
						(long long) session_id, (long long) bot_id, (long long) tenant_id),
				 errhint("A bot token answers only the sessions its bot was given a customer message of.")));
	return hd_get_text(2);
}

static void
require_bridge_args(FunctionCallInfo fcinfo, int n)
{
	static const char *const names[] = {"tenant_id", "bot_id", "token_version", "session_id",
	"answer"};

	hd_require_args(fcinfo, n, names);
}

PG_FUNCTION_INFO_V1(hd_bot_bridge_answer);

/*
 * bot_bridge_answer(tenant_id, bot_id, token_version, session_id, answer,
 * job_id): see the file comment. The outcome is returned, not raised, so
 * that a dropped answer's note on its job commits.
 */
Datum
hd_bot_bridge_answer(PG_FUNCTION_ARGS)
{
	int64		tenant_id,
				bot_id,
				session_id,
				job_id = 0,
				message_id = 0;
	Jsonb	   *answer;
	char	   *text,
			   *state,
			   *reason = NULL,
			   *json;
	HdBotOutcome r;
	Datum		v[4];

	hd_check_tenant_arg(fcinfo, 0);
	require_bridge_args(fcinfo, 5);
	tenant_id = PG_GETARG_INT64(0);
	bot_id = PG_GETARG_INT64(1);
	session_id = PG_GETARG_INT64(3);
	answer = PG_GETARG_JSONB_P(4);
	hd_check_json_document("answer", answer);
	text = JsonbToCString(NULL, &answer->root, VARSIZE(answer));

	SPI_connect();
	hd_require_tenant(tenant_id);
	check_bot_token(tenant_id, bot_id, PG_GETARG_INT64(2));
	(void) check_bot_session(tenant_id, bot_id, session_id);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(session_id);
	v[2] = Int64GetDatum(bot_id);
	if (!PG_ARGISNULL(5))
	{
		v[3] = PG_GETARG_DATUM(5);
		hd_exec(&named_job, v, NULL, false, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("job %lld is not a request of bot %lld in session %lld",
							(long long) PG_GETARG_INT64(5), (long long) bot_id, (long long) session_id)));
	}
	else
	{
		hd_exec(&current_job, v, NULL, false, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_HD_NOT_FOUND),
					 errmsg("bot %lld has no request to answer in session %lld yet",
							(long long) bot_id, (long long) session_id),
					 errhint("Answer the job_id of the bot.message webhook once it arrives.")));
	}
	hd_get_int64(1, &job_id);

	r = hd_bot_apply_answer(tenant_id, job_id, text, strlen(text), 0, &message_id);

	hd_exec(&session_after, v, NULL, false, 1);
	state = hd_get_text(1);
	reason = hd_get_text(2);
	json = psprintf("{\"outcome\": \"%s\", \"job_id\": %lld, \"message_id\": %s, "
					"\"session_state\": \"%s\", \"handoff_reason\": %s%s%s}",
					r == HD_BOT_POSTED ? "posted" : r == HD_BOT_HANDED_OFF ? "handed_off" : "dropped",
					(long long) job_id,
					message_id ? psprintf("%lld", (long long) message_id) : "null",
					state, reason ? "\"" : "", reason ? reason : "null", reason ? "\"" : "");
	SPI_finish();
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

PG_FUNCTION_INFO_V1(hd_bot_bridge_handoff);

/*
 * bot_bridge_handoff(tenant_id, bot_id, token_version, session_id,
 * queue_id): the bot asks for a human. Refused like handoff_to_agent for a
 * session no longer with the bot.
 */
Datum
hd_bot_bridge_handoff(PG_FUNCTION_ARGS)
{
	int64		tenant_id,
				bot_id,
				session_id,
				queue = 0;
	char	   *state;

	hd_check_tenant_arg(fcinfo, 0);
	require_bridge_args(fcinfo, 4);
	tenant_id = PG_GETARG_INT64(0);
	bot_id = PG_GETARG_INT64(1);
	session_id = PG_GETARG_INT64(3);

	SPI_connect();
	hd_require_tenant(tenant_id);
	check_bot_token(tenant_id, bot_id, PG_GETARG_INT64(2));
	state = check_bot_session(tenant_id, bot_id, session_id);
	if (strcmp(state, "bot") != 0)
		ereport(ERROR,
				(errcode(strcmp(state, "closed") == 0 ? ERRCODE_HD_SESSION_CLOSED
						 : ERRCODE_HD_ILLEGAL_TRANSITION),
				 errmsg("session %lld is %s, not with the bot", (long long) session_id, state)));
	(void) hd_bot_handoff(tenant_id, session_id, HD_HANDOFF_API, !PG_ARGISNULL(4),
						  PG_ARGISNULL(4) ? 0 : PG_GETARG_INT64(4), false, 0, &queue);
	SPI_finish();
	PG_RETURN_INT64(queue);
}
