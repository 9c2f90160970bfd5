/*
 * offer.c — an agent's answer to the dispatcher: accept or decline an offer,
 * or claim a session from a manual queue.
 *
 * Lock order everywhere: the session row (FOR UPDATE) first, then the agent
 * row. Capacity is taken only by a guarded UPDATE (load < max_sessions),
 * which PostgreSQL re-checks against the newest row version, so concurrent
 * claims and dispatcher passes can never push an agent over its capacity.
 */
#include "routing.h"

#include "utils/builtins.h"

/* The session must be offered to this agent. */
static void
require_offered_to(HdSessionRow *s, int64 agent_id)
{
	if (strcmp(s->state, "offered") != 0 || !s->has_agent || s->agent_id != agent_id)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("session %lld is not offered to agent %lld (it is %s)",
						(long long) s->id, (long long) agent_id, s->state),
				 errhint("The offer may have timed out, been declined or gone to another agent.")));
}

static HdPlan activate_offered = {
	"WITH s AS ("
	"  UPDATE helpdesk.session s SET state = 'active', assigned_at = now(), "
	"    offer_expires_at = NULL, "
	"    idle_check_at = now() + coalesce(q.idle_warn_after, t.idle_warn_after) "
	"  FROM helpdesk.queue q, helpdesk.tenant t "
	"  WHERE s.tenant_id = $1 AND s.id = $2 AND q.tenant_id = $1 AND q.id = s.queue_id "
	"    AND t.id = $1 AND s.offer_expires_at > now() RETURNING s.queue_id), "
	"a AS (UPDATE helpdesk.session_assignment SET accepted_at = clock_timestamp() "
	"      WHERE tenant_id = $1 AND session_id = $2 AND ended_at IS NULL "
	"        AND EXISTS (SELECT 1 FROM s)), "
	"g AS (UPDATE helpdesk.agent SET missed_offers = 0 "
	"      WHERE tenant_id = $1 AND id = $3 AND EXISTS (SELECT 1 FROM s)) "
	"SELECT queue_id FROM s",
	3, {INT8OID, INT8OID, INT8OID}
};

PG_FUNCTION_INFO_V1(hd_accept_offer);

/* helpdesk.accept_offer: offered -> active, before the offer times out. */
Datum
hd_accept_offer(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "agent_id", "session_id"};
	int64		tenant_id,
				agent_id,
				session_id,
				queue_id = 0;
	HdSessionRow s;
	Datum		v[3];

	hd_check_tenant_arg(fcinfo, 0);
	hd_dispatch_backpressure();	/* backpressure.c */
	hd_require_args(fcinfo, 3, names);
	tenant_id = PG_GETARG_INT64(0);
	agent_id = PG_GETARG_INT64(1);
	session_id = PG_GETARG_INT64(2);

	SPI_connect();
	hd_load_session(tenant_id, session_id, HD_LOCK_UPDATE, &s);
	hd_require_agent_may(tenant_id, agent_id, "accept offers");
	require_offered_to(&s, agent_id);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(session_id);
	v[2] = Int64GetDatum(agent_id);
	hd_exec(&activate_offered, v, NULL, false, 0);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the offer of session %lld to agent %lld has expired",
						(long long) session_id, (long long) agent_id),
				 errhint("The session goes back to its queue; wait for the next offer.")));
	hd_get_int64(1, &queue_id);
	hd_audit(tenant_id, session_id, queue_id, agent_id, "accept", "offer accepted", 0);
	hd_session_event(tenant_id, session_id, "offered", "active", queue_id, agent_id, NULL);
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(hd_decline_offer);

/*
 * helpdesk.decline_offer: the session returns to its place in the queue and
 * will not be offered to this agent again while it waits there.
 */
Datum
hd_decline_offer(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "agent_id", "session_id"};
	int64		tenant_id,
				agent_id,
				session_id;
	char	   *reason = hd_arg_text_or_null(fcinfo, 3);
	HdSessionRow s;

	hd_check_tenant_arg(fcinfo, 0);
	hd_dispatch_backpressure();	/* backpressure.c */
	hd_require_args(fcinfo, 3, names);
	tenant_id = PG_GETARG_INT64(0);
	agent_id = PG_GETARG_INT64(1);
	session_id = PG_GETARG_INT64(2);
	if (reason)
		hd_check_length("reason", reason, 1, 500);

	SPI_connect();
	hd_load_session(tenant_id, session_id, HD_LOCK_UPDATE, &s);
	hd_require_agent_may(tenant_id, agent_id, "decline offers");
	require_offered_to(&s, agent_id);
	hd_release_agent(tenant_id, session_id, agent_id, HD_END_DECLINED);
	hd_requeue(tenant_id, session_id, "offered", s.queue_id, agent_id, 0, false,
			   psprintf("declined by agent " INT64_FORMAT, agent_id));
	hd_audit(tenant_id, session_id, s.queue_id, agent_id, "decline",
			 reason ? psprintf("declined: %s", reason) : "declined", 0);
	SPI_finish();
	PG_RETURN_VOID();
}

static HdPlan claim_check = {
	"SELECT q.strategy, a.enabled, a.status, "
	"       a.skills ?& q.required_skills, "
	"       cardinality(q.required_languages) = 0 OR a.languages && q.required_languages, "
	"       a.role = 'qa' "
	"FROM helpdesk.queue q, helpdesk.agent a "
	"WHERE q.tenant_id = $1 AND q.id = $3 AND a.tenant_id = $1 AND a.id = $2",
	3, {INT8OID, INT8OID, INT8OID}
};
/*
 * enabled is re-checked here, on the row version the UPDATE waited for: an
 * upsert_agent(enabled => false) that committed while this claim waited for
 * the agent row has already handed back the agent's sessions, and this one
 * must not slip in after it.
 */
static HdPlan take_slot = {
	"UPDATE helpdesk.agent SET load = load + 1, last_activity_at = now() "
	"WHERE tenant_id = $1 AND id = $2 AND load < max_sessions AND enabled "
	"RETURNING load, max_sessions",
	2, {INT8OID, INT8OID}
};
static HdPlan agent_load = {
	"SELECT load, max_sessions, enabled FROM helpdesk.agent WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};
/* runs after take_slot holds the agent row lock, so it sees every commit */
static HdPlan queue_limit = {
	"SELECT l.max_sessions, "
	"       (SELECT count(*) FROM helpdesk.session x WHERE x.tenant_id = $1 AND x.agent_id = $2 "
	"          AND x.queue_id = $3 AND x.state IN ('offered', 'active')) "
	"FROM helpdesk.agent_queue_limit l "
	"WHERE l.tenant_id = $1 AND l.agent_id = $2 AND l.queue_id = $3",
	3, {INT8OID, INT8OID, INT8OID}
};
static HdPlan activate_claimed = {
	"WITH s AS ("
	"  UPDATE helpdesk.session s SET state = 'active', agent_id = $3, assigned_at = now(), "
	"    target_agent_id = NULL, wait_due_at = NULL, queue_position = NULL, "
	"    estimated_wait_s = NULL, wait_reason = NULL, "
	"    idle_check_at = now() + coalesce(q.idle_warn_after, t.idle_warn_after) "
	"  FROM helpdesk.queue q, helpdesk.tenant t "
	"  WHERE s.tenant_id = $1 AND s.id = $2 AND q.tenant_id = $1 AND q.id = s.queue_id "
	"    AND t.id = $1 RETURNING s.customer_id, s.queue_id) "
	"INSERT INTO helpdesk.session_assignment (tenant_id, session_id, customer_id, queue_id, "
	"    agent_id, kind, accepted_at) "
	"SELECT $1, $2, customer_id, queue_id, $3, 'claim', clock_timestamp() FROM s",
	3, {INT8OID, INT8OID, INT8OID}
};
static HdPlan claim_audit = {
	"INSERT INTO helpdesk.dispatch_audit (tenant_id, session_id, queue_id, agent_id, action, "
	"    strategy, candidates, reason, agent_load, agent_capacity) "
	"VALUES ($1, $2, $3, $4, 'claim', 'manual', 1, 'claimed by the agent', $5, $6)",
	6, {INT8OID, INT8OID, INT8OID, INT8OID, INT4OID, INT4OID}
};

static void
not_claimable(const char *fmt, int64 a, int64 b)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg(fmt, (long long) a, (long long) b)));
}

PG_FUNCTION_INFO_V1(hd_claim_session);

/* helpdesk.claim_session: queued (manual queue) -> active with this agent. */
Datum
hd_claim_session(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "agent_id", "session_id"};
	int64		tenant_id,
				agent_id,
				session_id,
				load = 0,
				cap = 0;
	HdSessionRow s;
	Datum		v[6];

	hd_check_tenant_arg(fcinfo, 0);
	hd_dispatch_backpressure();	/* backpressure.c */
	hd_require_args(fcinfo, 3, names);
	tenant_id = PG_GETARG_INT64(0);
	agent_id = PG_GETARG_INT64(1);
	session_id = PG_GETARG_INT64(2);

	SPI_connect();
	hd_load_session(tenant_id, session_id, HD_LOCK_UPDATE, &s);
	if (strcmp(s.state, "queued") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("session %lld is not waiting in a queue (it is %s)",
						(long long) session_id, s.state)));
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(agent_id);
	v[2] = Int64GetDatum(s.queue_id);
	hd_exec(&claim_check, v, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_NOT_FOUND),
				 errmsg("agent %lld does not exist in tenant %lld",
						(long long) agent_id, (long long) tenant_id)));
	if (strcmp(hd_get_text(1), "manual") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("queue %lld is routed by the dispatcher (strategy %s); only manual queues can be claimed",
						(long long) s.queue_id, hd_get_text(1))));
	if (hd_get_bool(6))
		hd_refuse_qa(agent_id, "claim sessions");
	if (!hd_get_bool(2) || strcmp(hd_get_text(3), "online") != 0)
		not_claimable("agent %lld must be enabled and online to claim session %lld",
					  agent_id, session_id);
	if (!hd_get_bool(4))
		not_claimable("agent %lld lacks a skill that queue %lld requires", agent_id, s.queue_id);
	if (!hd_get_bool(5))
		not_claimable("agent %lld speaks none of the languages queue %lld requires",
					  agent_id, s.queue_id);

	hd_exec(&take_slot, v, NULL, false, 1);
	if (SPI_processed == 0)
	{
		hd_exec(&agent_load, v, NULL, false, 1);
		hd_get_int64(1, &load);
		hd_get_int64(2, &cap);
		if (!hd_get_bool(3))
			not_claimable("agent %lld must be enabled and online to claim session %lld",
						  agent_id, session_id);
		ereport(ERROR,
				(errcode(ERRCODE_HD_AT_CAPACITY),
				 errmsg("agent %lld is at capacity (%lld of %lld sessions)",
						(long long) agent_id, (long long) load, (long long) cap),
				 errhint("Close or transfer a session first, or raise max_sessions.")));
	}
	hd_get_int64(1, &load);
	hd_get_int64(2, &cap);
	hd_exec(&queue_limit, v, NULL, false, 1);
	if (SPI_processed == 1)
	{
		int64		qcap = 0,
					qload = 0;

		hd_get_int64(1, &qcap);
		hd_get_int64(2, &qload);
		if (qload >= qcap)
			ereport(ERROR,
					(errcode(ERRCODE_HD_AT_CAPACITY),
					 errmsg("agent %lld is at its limit for queue %lld (%lld of %lld sessions)",
							(long long) agent_id, (long long) s.queue_id,
							(long long) qload, (long long) qcap)));
	}
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(session_id);
	v[2] = Int64GetDatum(agent_id);
	hd_exec(&activate_claimed, v, NULL, false, 0);
	v[2] = Int64GetDatum(s.queue_id);
	v[3] = Int64GetDatum(agent_id);
	v[4] = Int32GetDatum((int32) load);
	v[5] = Int32GetDatum((int32) cap);
	hd_exec(&claim_audit, v, NULL, false, 0);
	hd_session_event(tenant_id, session_id, "queued", "active", s.queue_id, agent_id, NULL);
	hd_wake_at_commit(HD_WORKER_DISPATCHER);	/* positions behind it move */
	SPI_finish();
	PG_RETURN_VOID();
}
