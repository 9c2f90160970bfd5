/*
 * transfer.c — an agent hands a session on (to a colleague or a queue), and
 * agents talk to each other without the customer seeing it.
 */
#include "message.h"
#include "routing.h"

#include "utils/builtins.h"
#include "utils/json.h"

static HdPlan agent_usable = {
	"SELECT enabled, role = 'qa' FROM helpdesk.agent WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};
static HdPlan queue_exists = {
	"SELECT 1 FROM helpdesk.queue WHERE tenant_id = $1 AND id = $2", 2, {INT8OID, INT8OID}
};

/* HD404 unless the agent exists in the tenant; returns whether it is enabled. */
static bool
require_agent(int64 tenant_id, int64 agent_id)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(agent_id)};

	hd_exec(&agent_usable, v, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_NOT_FOUND),
				 errmsg("agent %lld does not exist in tenant %lld",
						(long long) agent_id, (long long) tenant_id)));
	return hd_get_bool(1);
}

PG_FUNCTION_INFO_V1(hd_transfer_session);

/*
 * helpdesk.transfer_session: active -> queued, keeping the session's rank.
 * With to_agent_id only that agent is offered it (until it declines, lets
 * the offer time out, or stays unavailable for the queue's offer_timeout);
 * with to_queue_id it waits in that queue. The note becomes an internal
 * note in the conversation.
 */
Datum
hd_transfer_session(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "session_id", "agent_id"};
	int64		tenant_id,
				session_id,
				agent_id,
				to_agent = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT64(3),
				queue_id;
	char	   *note = hd_arg_text_or_null(fcinfo, 5);
	HdSessionRow s;

	hd_check_tenant_arg(fcinfo, 0);
	hd_dispatch_backpressure();	/* backpressure.c */
	hd_require_args(fcinfo, 3, names);
	tenant_id = PG_GETARG_INT64(0);
	session_id = PG_GETARG_INT64(1);
	agent_id = PG_GETARG_INT64(2);
	if (PG_ARGISNULL(3) && PG_ARGISNULL(4))
		hd_invalid("transfer_session needs to_agent_id or to_queue_id");
	if (to_agent == agent_id)
		hd_invalid("agent %lld cannot transfer a session to itself", (long long) agent_id);

	SPI_connect();
	hd_load_session(tenant_id, session_id, HD_LOCK_UPDATE, &s);
	hd_require_agent_may(tenant_id, agent_id, "transfer sessions");
	if (strcmp(s.state, "active") != 0 || !s.has_agent || s.agent_id != agent_id)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("agent %lld does not hold session %lld (it is %s)",
						(long long) agent_id, (long long) session_id, s.state),
				 errhint("Only the agent in an active session can transfer it.")));
	queue_id = s.queue_id;
	if (!PG_ARGISNULL(4))
	{
		Datum		v[2] = {Int64GetDatum(tenant_id), PG_GETARG_DATUM(4)};

		queue_id = PG_GETARG_INT64(4);
		hd_exec(&queue_exists, v, NULL, false, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_HD_NOT_FOUND),
					 errmsg("queue %lld does not exist in tenant %lld",
							(long long) queue_id, (long long) tenant_id)));
	}
	if (to_agent && !require_agent(tenant_id, to_agent))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("agent %lld is disabled", (long long) to_agent)));
	if (to_agent && hd_get_bool(2))
		hd_refuse_qa(to_agent, "take chats");
	if (note)
	{
		HdPostArgs	m = {0};

		m.tenant_id = tenant_id;
		m.session_id = session_id;
		m.sender_kind = "note";
		m.has_sender = true;
		m.sender_id = agent_id;
		m.type = "text";
		m.body = note;
		(void) hd_post_message(&m);
	}
	/*
	 * The transferring agent is excluded: the session goes to someone else,
	 * and back to it only when every capable agent with a free slot has
	 * declined or missed it and the cool-down passed (dispatch_match.c).
	 */
	hd_release_agent(tenant_id, session_id, agent_id, HD_END_TRANSFERRED);
	hd_requeue(tenant_id, session_id, "active", queue_id, agent_id, to_agent, true,
			   psprintf("transferred by agent " INT64_FORMAT, agent_id));
	hd_audit(tenant_id, session_id, queue_id, agent_id, "transfer",
			 to_agent ? psprintf("transferred to agent " INT64_FORMAT " via queue " INT64_FORMAT,
								 to_agent, queue_id)
			 : psprintf("transferred to queue " INT64_FORMAT, queue_id), 0);
	SPI_finish();
	PG_RETURN_INT64(queue_id);
}

static HdPlan session_exists = {
	"SELECT 1 FROM helpdesk.session WHERE tenant_id = $1 AND id = $2", 2, {INT8OID, INT8OID}
};

PG_FUNCTION_INFO_V1(hd_send_agent_message);

/*
 * helpdesk.send_agent_message: an internal message from one agent to
 * another, delivered as an agent.message event (never stored in the
 * conversation, never shown to the customer).
 */
Datum
hd_send_agent_message(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "from_agent_id", "to_agent_id", "body"};
	int64		tenant_id,
				from_agent,
				to_agent,
				session_id = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT64(4);
	char	   *body;
	StringInfoData p;

	hd_check_tenant_arg(fcinfo, 0);
	hd_dispatch_backpressure();	/* backpressure.c */
	hd_require_args(fcinfo, 4, names);
	tenant_id = PG_GETARG_INT64(0);
	from_agent = PG_GETARG_INT64(1);
	to_agent = PG_GETARG_INT64(2);
	body = text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (strlen(body) == 0)
		hd_invalid("body must not be empty");
	if (strlen(body) > (size_t) hd_max_message_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("message body is %zu bytes; the limit is %d (helpdesk.max_message_bytes)",
						strlen(body), hd_max_message_bytes)));
	if (from_agent == to_agent)
		hd_invalid("an agent cannot message itself");

	SPI_connect();
	if (!require_agent(tenant_id, from_agent))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("agent %lld is disabled", (long long) from_agent)));
	(void) require_agent(tenant_id, to_agent);
	if (session_id)
	{
		Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(session_id)};

		hd_exec(&session_exists, v, NULL, false, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_HD_NOT_FOUND),
					 errmsg("session %lld does not exist in tenant %lld",
							(long long) session_id, (long long) tenant_id)));
	}
	initStringInfo(&p);
	appendStringInfo(&p, "{\"from_agent_id\": " INT64_FORMAT ", \"body\": ", from_agent);
	escape_json(&p, body);
	appendStringInfoChar(&p, '}');
	hd_append_event(tenant_id, "agent", to_agent, session_id, 0, "agent.message", p.data);
	SPI_finish();
	PG_RETURN_VOID();
}
