/*
 * assignment.c — moving a session off an agent and back into a queue.
 *
 * agent.load counts the sessions an agent holds (offered + active). Every
 * path that takes a session away from an agent (close, decline, offer
 * timeout, transfer, lost presence) goes through hd_release_agent so the
 * count, the open session_assignment row and the dispatcher's wakeup stay
 * together. Capacity is only ever taken by a guarded UPDATE (load <
 * max_sessions) in the dispatcher or in claim_session.
 */
#include "dispatch.h"

#include "utils/builtins.h"
#include "utils/json.h"

static HdPlan release_agent = {
	"WITH ended AS ("
	"  UPDATE helpdesk.session_assignment SET ended_at = clock_timestamp(), end_reason = $4 "
	"  WHERE tenant_id = $1 AND session_id = $2 AND ended_at IS NULL RETURNING agent_id) "
	"UPDATE helpdesk.agent SET load = greatest(load - 1, 0), last_activity_at = now() "
	"WHERE tenant_id = $1 AND id = $3",
	4, {INT8OID, INT8OID, INT8OID, TEXTOID}
};

/*
 * The session stops occupying one of the agent's slots. The caller holds the
 * session row lock and changes the session's state itself.
 */
void
hd_release_agent(int64 tenant_id, int64 session_id, int64 agent_id, const char *end_reason)
{
	Datum		v[4] = {Int64GetDatum(tenant_id), Int64GetDatum(session_id),
	Int64GetDatum(agent_id), CStringGetTextDatum(end_reason)};

	hd_exec(&release_agent, v, NULL, false, 0);
	hd_append_event(tenant_id, "agent", agent_id, session_id, 0, "session.released",
					psprintf("{\"reason\": \"%s\"}", end_reason));
	hd_wake_at_commit(HD_WORKER_DISPATCHER);
}

/*
 * Back to a queue, keeping rank_at (the place earned so far). A new stint
 * (another queue, or back from an active conversation) restarts max wait and
 * forgets who declined; a declined or timed-out offer keeps both. The agent
 * named in $4 (who declined, missed or transferred it) is added to the
 * session's exclusions once. $7 is the max-wait due time, computed in C.
 */
static HdPlan requeue = {
	"UPDATE helpdesk.session s SET state = 'queued', queue_id = $3, agent_id = NULL, "
	"  offer_expires_at = NULL, idle_check_at = NULL, idle_warned_at = NULL, "
	"  queued_at = now(), target_agent_id = nullif($5, 0), wait_reason = NULL, "
	"  queue_position = NULL, estimated_wait_s = NULL, "
	"  excluded_agents = CASE WHEN $6 THEN (CASE WHEN $4 <> 0 THEN ARRAY[$4] ELSE '{}'::bigint[] END) "
	"    WHEN $4 <> 0 AND $4 <> ALL (s.excluded_agents) THEN s.excluded_agents || $4 "
	"    ELSE s.excluded_agents END, "
	"  wait_due_at = CASE WHEN $6 OR s.wait_due_at IS NULL THEN $7 ELSE s.wait_due_at END "
	"WHERE tenant_id = $1 AND id = $2",
	7, {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, BOOLOID, TIMESTAMPTZOID}
};
static HdPlan queue_max_wait = {
	"SELECT max_wait FROM helpdesk.queue WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

/*
 * now() + the queue's max_wait, or 0 when it has none. A stored max_wait
 * that no timestamp arithmetic can use counts as none here (so that
 * declining, timing out or losing an agent never fails on it); the
 * dispatcher marks the queue and does not route it until it is fixed.
 */
TimestampTz
hd_max_wait_due(int64 tenant_id, int64 queue_id)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(queue_id)};
	bool		isnull;
	Datum		x;
	int64		us;
	TimestampTz due;

	hd_exec(&queue_max_wait, v, NULL, false, 1);
	if (SPI_processed != 1)
		return 0;
	x = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull || !hd_delay_us(DatumGetIntervalP(x), &us) ||
		!hd_ts_plus_us(GetCurrentTransactionStartTimestamp(), us, &due))
		return 0;
	return due;
}

void
hd_requeue(int64 tenant_id, int64 session_id, const char *from_state, int64 queue_id,
		   int64 exclude_agent, int64 target_agent, bool new_stint, const char *why)
{
	TimestampTz wait_due = hd_max_wait_due(tenant_id, queue_id);
	Datum		v[7] = {Int64GetDatum(tenant_id), Int64GetDatum(session_id),
		Int64GetDatum(queue_id), Int64GetDatum(exclude_agent), Int64GetDatum(target_agent),
	BoolGetDatum(new_stint), TimestampTzGetDatum(wait_due)};
	StringInfoData extra;

	hd_exec(&requeue, v, wait_due ? NULL : "      n", false, 0);
	initStringInfo(&extra);
	appendStringInfoString(&extra, "\"reason\": ");
	escape_json(&extra, why);
	if (target_agent)
		appendStringInfo(&extra, ", \"target_agent_id\": " INT64_FORMAT, target_agent);
	hd_session_event(tenant_id, session_id, from_state, "queued", queue_id, 0, extra.data);
	hd_wake_at_commit(HD_WORKER_DISPATCHER);
}

static HdPlan insert_audit = {
	"INSERT INTO helpdesk.dispatch_audit (tenant_id, session_id, queue_id, agent_id, action, "
	"                                     reason, due_at) "
	"VALUES ($1, nullif($2, 0), nullif($3, 0), nullif($4, 0), $5, $6, $7)",
	7, {INT8OID, INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID}
};

/* One audit row for a decision taken outside the dispatcher's bulk writes. */
void
hd_audit(int64 tenant_id, int64 session_id, int64 queue_id, int64 agent_id,
		 const char *action, const char *reason, TimestampTz due_at)
{
	Datum		v[7] = {Int64GetDatum(tenant_id), Int64GetDatum(session_id),
		Int64GetDatum(queue_id), Int64GetDatum(agent_id), CStringGetTextDatum(action),
	CStringGetTextDatum(reason), TimestampTzGetDatum(due_at)};

	hd_exec(&insert_audit, v, due_at ? NULL : "      n", false, 0);
}

/*
 * session.state event for the session's audience (customer and staff); when
 * an agent is named it gets its own copy so its console learns about the
 * session. Entering a queue also tells the queue's watchers.
 */
void
hd_session_event(int64 tenant_id, int64 session_id, const char *from, const char *to,
				 int64 queue_id, int64 agent_id, const char *extra_json_fields)
{
	StringInfoData p;

	initStringInfo(&p);
	appendStringInfo(&p, "{\"from\": %s%s%s, \"to\": \"%s\"",
					 from ? "\"" : "", from ? from : "null", from ? "\"" : "", to);
	if (queue_id)
		appendStringInfo(&p, ", \"queue_id\": " INT64_FORMAT, queue_id);
	if (agent_id)
		appendStringInfo(&p, ", \"agent_id\": " INT64_FORMAT, agent_id);
	if (extra_json_fields)
		appendStringInfo(&p, ", %s", extra_json_fields);
	appendStringInfoChar(&p, '}');
	hd_append_event(tenant_id, "session", session_id, session_id, 0, "session.state", p.data);
	if (agent_id)
		hd_append_event(tenant_id, "agent", agent_id, session_id, 0, "session.state", p.data);
	if (strcmp(to, "queued") == 0)
		hd_append_event(tenant_id, "queue", queue_id, session_id, 0, "session.queued", p.data);
}

/* the sessions an agent holds, locked in id order (sessions before the agent row) */
static HdPlan held_sessions = {
	"SELECT id, state, queue_id FROM helpdesk.session "
	"WHERE tenant_id = $1 AND agent_id = $2 AND state IN ('offered', 'active') "
	"ORDER BY id FOR UPDATE",
	2, {INT8OID, INT8OID}
};

/*
 * A disabled agent gives back every session it holds: offers and active
 * conversations return to their queues (keeping their rank, excluding this
 * agent) with the usual session.released / session.state events and an
 * audit row each. Returns how many. Called once before the agent row is
 * updated (so locks go session-then-agent as everywhere else) and once
 * after, for an offer the dispatcher placed in between.
 */
int
hd_release_disabled_agent(int64 tenant_id, int64 agent_id)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(agent_id)};
	int			n;
	int64	   *ids,
			   *queues;
	bool	   *active;

	hd_exec(&held_sessions, v, NULL, false, 0);
	n = (int) SPI_processed;
	if (n == 0)
		return 0;
	ids = palloc(n * sizeof(int64));
	queues = palloc(n * sizeof(int64));
	active = palloc(n * sizeof(bool));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		char	   *state;

		ids[i] = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
		state = TextDatumGetCString(SPI_getbinval(tup, td, 2, &isnull));
		active[i] = strcmp(state, "active") == 0;
		queues[i] = DatumGetInt64(SPI_getbinval(tup, td, 3, &isnull));
		if (isnull)
			queues[i] = 0;
	}
	for (int i = 0; i < n; i++)
	{
		hd_release_agent(tenant_id, ids[i], agent_id, HD_END_REQUEUED);
		if (queues[i] == 0)
			continue;			/* cannot happen: offers and assignments come from a queue */
		hd_requeue(tenant_id, ids[i], active[i] ? "active" : "offered", queues[i], agent_id,
				   0, active[i], psprintf("agent " INT64_FORMAT " was disabled", agent_id));
		hd_audit(tenant_id, ids[i], queues[i], agent_id, "requeue",
				 active[i] ? "agent disabled; back to its place in the queue"
				 : "offer withdrawn: agent disabled", 0);
	}
	return n;
}
