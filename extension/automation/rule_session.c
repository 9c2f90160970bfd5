/*
 * rule_session.c — the rule actions that move a chat session or change its
 * routing priority, through routing's own paths (so capacity, the single
 * dispatcher and the state machine apply as for people):
 *
 * move (assign, unassign, transfer, set_queue): an active session goes
 *   through helpdesk.transfer_session as its agent would call it (the agent
 *   is excluded, the session keeps its rank; with an agent named, only that
 *   agent is offered it, when it has a free slot, until it declines, misses
 *   the offer or stays unavailable for the queue's offer_timeout). An offered
 *   session is released as a transfer and requeued the same way (the offered
 *   agent excluded); a queued one is requeued (a directed assignment: the
 *   dispatcher offers it to that agent only, capacity permitting); a bot
 *   session is handed to agents with helpdesk.request_agent. The dispatcher
 *   alone makes the offer or the assignment: a rule never writes one.
 * priority (set_priority, set_issue_type): session.priority (-1000..1000
 *   seconds of head start) or issue_type, and for a queued session its boost
 *   and rank_at again (priority.c's hd_session_boost: VIP, issue type, urgency
 *   rules, priority), so aging goes on from the new head start.
 */
#include "rule.h"
#include "routing.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

static HdPlan queue_exists = {
	"SELECT 1 FROM helpdesk.queue WHERE tenant_id = $1 AND id = $2", 2, {INT8OID, INT8OID}
};

static HdPlan transfer_plan = {
	"SELECT helpdesk.transfer_session($1, $2, $3, $4, $5)",
	5, {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID}
};

static HdPlan request_plan = {
	"SELECT helpdesk.request_agent($1, $2, $3)",
	3, {INT8OID, INT8OID, INT8OID}
};

static void
require_open(HdSessionRow *s, const char *type)
{
	if (strcmp(s->state, "closed") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_SESSION_CLOSED),
				 errmsg("session %lld is closed: a %s action needs an open session", (long long) s->id, type)));
}

/* see rule.h */
char *
hd_rule_session_move(int64 tenant_id, int64 session_id, const char *type, int64 to_agent,
					 int64 to_queue, int64 rule_id)
{
	HdSessionRow s;
	bool		unassign = strcmp(type, "unassign") == 0;
	char	   *why = psprintf("%s by automation rule " INT64_FORMAT, type, rule_id);
	int64		queue_id;

	hd_load_session(tenant_id, session_id, HD_LOCK_UPDATE, &s);
	require_open(&s, type);
	if (to_agent)
		hd_require_agent_may(tenant_id, to_agent, "take chats");
	if (to_queue)
	{
		Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(to_queue)};

		hd_exec(&queue_exists, v, NULL, false, 1);
		if (SPI_processed == 0)
			hd_not_found("queue", to_queue, tenant_id);
	}
	queue_id = to_queue ? to_queue : (s.has_queue ? s.queue_id : 0);
	if (strcmp(s.state, "bot") == 0)
	{
		Datum		v[3] = {Int64GetDatum(tenant_id), Int64GetDatum(session_id), Int64GetDatum(to_queue)};

		if (unassign)
			return psprintf("unassign on session %lld: nothing to do (it is with the bot)", (long long) session_id);
		hd_exec(&request_plan, v, to_queue ? NULL : "  n", false, 1);
		hd_get_int64(1, &queue_id);
		if (to_agent)
			hd_requeue(tenant_id, session_id, "queued", queue_id, 0, to_agent, false, why);
		hd_audit(tenant_id, session_id, queue_id, to_agent, "transfer", why, 0);
		return psprintf("%s on session %lld: from the bot to queue %lld%s", type, (long long) session_id,
						(long long) queue_id, to_agent ? psprintf(", for agent %lld", (long long) to_agent) : "");
	}
	if (queue_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("session %lld has no queue: name one (\"queue_id\")", (long long) session_id)));
	if (s.has_agent && to_agent == s.agent_id && queue_id == s.queue_id &&
		(strcmp(s.state, "active") == 0 || strcmp(s.state, "offered") == 0))
		return psprintf("%s on session %lld: nothing to do (it is %s to agent %lld already)", type,
						(long long) session_id, strcmp(s.state, "active") == 0 ? "assigned" : "offered",
						(long long) to_agent);
	if (strcmp(s.state, "active") == 0 && s.has_agent)
	{
		/* what the agent would call: transfer_session, as that agent */
		Datum		v[5] = {Int64GetDatum(tenant_id), Int64GetDatum(session_id), Int64GetDatum(s.agent_id),
		Int64GetDatum(to_agent), Int64GetDatum(queue_id)};

		hd_exec(&transfer_plan, v, to_agent ? NULL : "   n ", false, 1);
	}
	else if (strcmp(s.state, "offered") == 0 && s.has_agent)
	{
		hd_release_agent(tenant_id, session_id, s.agent_id, HD_END_TRANSFERRED);
		hd_requeue(tenant_id, session_id, "offered", queue_id, s.agent_id, to_agent, queue_id != s.queue_id, why);
		hd_audit(tenant_id, session_id, queue_id, s.agent_id, "transfer", why, 0);
	}
	else
	{
		/* queued: another queue, or a directed assignment; unassigned already otherwise */
		if (!to_agent && queue_id == s.queue_id)
			return psprintf("%s on session %lld: nothing to do (it waits in queue %lld)", type,
							(long long) session_id, (long long) queue_id);
		hd_requeue(tenant_id, session_id, "queued", queue_id, 0, to_agent, queue_id != s.queue_id, why);
		hd_audit(tenant_id, session_id, queue_id, to_agent, "transfer", why, 0);
	}
	if (unassign)
		return psprintf("unassign on session %lld: back to queue %lld%s", (long long) session_id,
						(long long) queue_id, s.has_agent ? psprintf(" (agent %lld excluded)", (long long) s.agent_id) : "");
	if (to_agent)
		return psprintf("%s on session %lld: to agent %lld via queue %lld", type, (long long) session_id,
						(long long) to_agent, (long long) queue_id);
	return psprintf("%s on session %lld: to queue %lld", type, (long long) session_id, (long long) queue_id);
}

static HdPlan set_priority_plan = {
	"UPDATE helpdesk.session SET issue_type = coalesce($3, issue_type), priority = coalesce($4, priority) "
	"WHERE tenant_id = $1 AND id = $2 RETURNING issue_type, priority, coalesce(boost_seconds, 0)",
	4, {INT8OID, INT8OID, TEXTOID, INT4OID}
};

/* a queued session's new head start: rank_at moves by the change, so the time waited still counts */
static HdPlan set_boost_plan = {
	"UPDATE helpdesk.session SET rank_at = rank_at + make_interval(secs => coalesce(boost_seconds, 0) - $3), "
	"  boost_seconds = $3 WHERE tenant_id = $1 AND id = $2 AND state = 'queued'",
	3, {INT8OID, INT8OID, INT4OID}
};

/* see rule.h */
char *
hd_rule_session_priority(int64 tenant_id, int64 session_id, const char *type, const char *issue_type,
						 bool has_priority, int32 priority, int64 rule_id)
{
	HdSessionRow s;
	Datum		v[4];
	char		n[5] = "    ";
	char	   *stored_type;
	int32		stored_priority,
				old_boost,
				boost;
	bool		isnull;

	hd_load_session(tenant_id, session_id, HD_LOCK_UPDATE, &s);
	require_open(&s, type);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(session_id);
	v[2] = issue_type ? CStringGetTextDatum(issue_type) : (Datum) 0;
	n[2] = issue_type ? ' ' : 'n';
	v[3] = Int32GetDatum(priority);
	n[3] = has_priority ? ' ' : 'n';
	hd_exec(&set_priority_plan, v, n, false, 1);
	stored_type = hd_get_text(1);
	stored_priority = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	old_boost = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	if (strcmp(s.state, "queued") != 0)
		return has_priority ? psprintf("set_priority on session %lld: %d", (long long) session_id, (int) priority)
			: psprintf("set_issue_type on session %lld: %s", (long long) session_id, issue_type);
	boost = hd_session_boost(tenant_id, s.customer_id, stored_type, stored_priority,
							 hd_first_customer_message(tenant_id, session_id));
	if (boost != old_boost)
	{
		Datum		bv[3] = {Int64GetDatum(tenant_id), Int64GetDatum(session_id), Int32GetDatum(boost)};

		hd_exec(&set_boost_plan, bv, NULL, false, 0);
		hd_audit(tenant_id, session_id, s.has_queue ? s.queue_id : 0, 0, "priority",
				 psprintf("%s by automation rule " INT64_FORMAT ": boost %d s (was %d s)", type, rule_id,
						  (int) boost, (int) old_boost), 0);
		hd_wake_at_commit(HD_WORKER_DISPATCHER);
	}
	return psprintf("%s on session %lld: %s, boost %d s in queue", type, (long long) session_id,
					has_priority ? psprintf("%d", (int) priority) : issue_type, (int) boost);
}
