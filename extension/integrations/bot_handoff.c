/*
 * bot_handoff.c — from the bot to a human.
 *
 * One function for every reason (the bot's marker or metadata flag, the
 * customer's keyword, max turns, a failed or timed-out call, the API): the
 * session row is locked FOR UPDATE, then, in the caller's transaction,
 * request_agent queues it (routing's own function, so the queue, boost and
 * the dispatcher's wakeup are exactly a human request's), the session
 * records when and why, and every open bot job of the session is dropped —
 * an answer still in flight finds its job dropped and is logged, not shown.
 */
#include "bot.h"
#include "dispatch.h"

#include "access/xact.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

static HdPlan session_state = {
	"SELECT state FROM helpdesk.session WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
	2, {INT8OID, INT8OID}
};
static HdPlan request_agent = {
	"SELECT helpdesk.request_agent($1, $2, $3, $4)",
	4, {INT8OID, INT8OID, INT8OID, INT4OID}
};
static HdPlan record_handoff = {
	"UPDATE helpdesk.session SET bot_handoff_at = now(), bot_handoff_reason = $3 "
	"WHERE tenant_id = $1 AND id = $2",
	3, {INT8OID, INT8OID, TEXTOID}
};
static HdPlan drop_open_jobs = {
	"UPDATE helpdesk.bot_job SET state = 'dropped', finished_at = now(), "
	"       error = 'handed off (' || $3 || ') before the bot answered' "
	"WHERE tenant_id = $1 AND session_id = $2 AND state IN ('pending', 'sending')",
	3, {INT8OID, INT8OID, TEXTOID}
};

typedef struct RequestAgentArgs
{
	Datum	   *v;
	const char *n;
} RequestAgentArgs;

static void
run_request_agent(void *arg)
{
	RequestAgentArgs *a = (RequestAgentArgs *) arg;

	hd_exec(&request_agent, a->v, a->n, false, 1);
}

/*
 * request_agent for a hand-off nobody asked for by API (a keyword in the
 * customer's post, the bot's signal, a failure): when it cannot queue the
 * session (the tenant has no default queue and the session none), the
 * customer's message must still be stored and the worker must go on, so
 * the error becomes a WARNING and the session stays with the bot.
 */
static bool
request_agent_or_warn(Datum *v, const char *n, int64 session_id, const char *reason)
{
	RequestAgentArgs a = {v, n};
	char	   *error = NULL;

	/* routing's subtransaction runner, as the dispatcher's stages use it */
	if (hd_run_in_subxact(run_request_agent, &a, &error))
		return true;
	ereport(WARNING,
			(errmsg("pg_helpdesk: session %lld could not be handed to a human (%s): %s",
					(long long) session_id, reason, error),
			 errhint("Give the tenant a default queue, or start bot sessions with a queue_id.")));
	return false;
}

/*
 * Hand the session to a human if it is still with the bot; false (nothing
 * done) when it is not in state bot any more — someone handed it off or
 * closed it first. Caller has SPI connected. *queue_out gets the queue.
 */
bool
hd_bot_handoff(int64 tenant_id, int64 session_id, const char *reason,
			   bool has_queue, int64 queue_id, bool has_priority, int32 priority,
			   int64 *queue_out)
{
	Datum		v[4] = {Int64GetDatum(tenant_id), Int64GetDatum(session_id),
		Int64GetDatum(queue_id), Int32GetDatum(priority)};
	char		n[5] = "    ";
	int64		queue = 0;

	hd_exec(&session_state, v, NULL, false, 1);
	if (SPI_processed == 0)
		hd_not_found("session", session_id, tenant_id);
	if (strcmp(hd_get_text(1), "bot") != 0)
		return false;
	n[2] = has_queue ? ' ' : 'n';
	n[3] = has_priority ? ' ' : 'n';
	if (strcmp(reason, HD_HANDOFF_API) == 0)
		hd_exec(&request_agent, v, n, false, 1);	/* the caller gets the error */
	else if (!request_agent_or_warn(v, n, session_id, reason))
		return false;
	hd_get_int64(1, &queue);
	v[2] = CStringGetTextDatum(reason);
	hd_exec(&record_handoff, v, NULL, false, 0);
	hd_exec(&drop_open_jobs, v, NULL, false, 0);
	if (queue_out)
		*queue_out = queue;
	return true;
}

PG_FUNCTION_INFO_V1(hd_handoff_to_agent);

/*
 * helpdesk.handoff_to_agent(tenant_id, session_id, queue_id): the API's
 * hand-off. A session not in state bot is refused (HD422) rather than
 * requeued: request_agent is the call for sessions with agents.
 */
Datum
hd_handoff_to_agent(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "session_id"};
	int64		tenant_id,
				session_id,
				queue = 0;
	HdSessionRow s;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	tenant_id = PG_GETARG_INT64(0);
	session_id = PG_GETARG_INT64(1);

	SPI_connect();
	hd_require_tenant(tenant_id);
	hd_load_session(tenant_id, session_id, HD_LOCK_UPDATE, &s);
	if (strcmp(s.state, "bot") != 0)
		ereport(ERROR,
				(errcode(strcmp(s.state, "closed") == 0 ? ERRCODE_HD_SESSION_CLOSED
						 : ERRCODE_HD_ILLEGAL_TRANSITION),
				 errmsg("session %lld is %s, not with the bot", (long long) session_id, s.state),
				 errhint("Use helpdesk.request_agent() to move a session between queues.")));
	(void) hd_bot_handoff(tenant_id, session_id, HD_HANDOFF_API, !PG_ARGISNULL(2),
						  PG_ARGISNULL(2) ? 0 : PG_GETARG_INT64(2), false, 0, &queue);
	SPI_finish();
	PG_RETURN_INT64(queue);
}
