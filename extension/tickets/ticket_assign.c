/*
 * ticket_assign.c — manual ticket assignment: a supervisor (or the system,
 * or an API caller) gives a ticket to an agent or takes it away
 * (assign_ticket), an agent hands its own ticket on or takes an unassigned
 * one of a queue it serves (take_ticket); and the queue and agent settings
 * that automatic assignment (ticket_assign_stage.c) reads.
 *
 * Locks go ticket row first, then agent rows in id order, everywhere
 * (here, in the counter reconciliation and in the dispatcher's stage), so
 * two reassignments in opposite directions cannot deadlock. Capacity is
 * taken only by a guarded UPDATE (open_tickets < max_open_tickets), which
 * PostgreSQL re-checks on the newest row version after waiting for a
 * concurrent writer: nothing over-assigns.
 */
#include "ticket_assign.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"

bool
hd_ticket_status_counts(const char *status)
{
	return strcmp(status, "new") == 0 || strcmp(status, "open") == 0 ||
		strcmp(status, "pending") == 0;
}

/* ---- the ticket row, locked ---- */

typedef struct TicketRow
{
	int64		number;
	char	   *status;
	int64		assignee;		/* 0: none */
	int64		queue;			/* 0: none */
	int64		counted;		/* 0: none */
} TicketRow;

static HdPlan lock_ticket = {
	"SELECT number, status, assignee_id, queue_id, counted_agent_id FROM helpdesk.ticket "
	"WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
	2, {INT8OID, INT8OID}
};

static void
load_ticket(int64 tenant_id, int64 ticket_id, TicketRow *t)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(ticket_id)};

	memset(t, 0, sizeof(*t));
	hd_exec(&lock_ticket, v, NULL, false, 1);
	if (SPI_processed != 1)
		hd_not_found("ticket", ticket_id, tenant_id);
	hd_get_int64(1, &t->number);
	t->status = hd_get_text(2);
	hd_get_int64(3, &t->assignee);
	hd_get_int64(4, &t->queue);
	hd_get_int64(5, &t->counted);
	if (strcmp(t->status, "closed") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_SESSION_CLOSED),
				 errmsg("ticket %lld is closed; its assignee can no longer change",
						(long long) ticket_id),
				 errhint("A customer reply to a closed ticket opens a follow-up ticket.")));
}

/* ---- capacity ---- */

static HdPlan lock_agents = {
	"SELECT id FROM helpdesk.agent WHERE tenant_id = $1 AND id IN ($2, $3) "
	"ORDER BY id FOR NO KEY UPDATE",
	3, {INT8OID, INT8OID, INT8OID}
};
static HdPlan take_capacity = {
	"UPDATE helpdesk.agent SET open_tickets = open_tickets + 1, last_ticket_at = now() "
	"WHERE tenant_id = $1 AND id = $2 AND enabled AND role <> 'qa' "
	"  AND ($3 OR open_tickets < max_open_tickets) "
	"RETURNING open_tickets, max_open_tickets",
	3, {INT8OID, INT8OID, BOOLOID}
};
static HdPlan agent_capacity = {
	"SELECT open_tickets, max_open_tickets, enabled, role = 'qa' FROM helpdesk.agent "
	"WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};
static HdPlan give_back = {
	"UPDATE helpdesk.agent SET open_tickets = greatest(open_tickets - 1, 0) "
	"WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

/*
 * Lock the agent rows of a change in id order (0 stands for none), before
 * any of them is updated: see the file comment.
 */
static void
lock_agent_rows(int64 tenant_id, int64 a, int64 b)
{
	Datum		v[3] = {Int64GetDatum(tenant_id), Int64GetDatum(a), Int64GetDatum(b)};

	if (a == 0 && b == 0)
		return;
	hd_exec(&lock_agents, v, NULL, false, 0);
}

/*
 * The agent's open tickets and capacity, for the audit row; raises when the
 * agent does not exist (HD404), is disabled (55000) or has role qa (42501).
 */
static void
read_capacity(int64 tenant_id, int64 agent_id, int64 *open, int64 *cap)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(agent_id)};

	hd_exec(&agent_capacity, v, NULL, false, 1);
	if (SPI_processed != 1)
		hd_not_found("agent", agent_id, tenant_id);
	hd_get_int64(1, open);
	hd_get_int64(2, cap);
	if (!hd_get_bool(3))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("agent %lld is disabled", (long long) agent_id),
				 errhint("Enable it with helpdesk.upsert_agent(..., enabled => true).")));
	if (hd_get_bool(4))
		hd_refuse_qa(agent_id, "be assigned tickets");
}

/*
 * One more open ticket for agent_id, guarded by its capacity unless force.
 * Raises HD429 at capacity.
 */
static void
take_slot(int64 tenant_id, int64 agent_id, bool force, int64 *open, int64 *cap)
{
	Datum		v[3] = {Int64GetDatum(tenant_id), Int64GetDatum(agent_id), BoolGetDatum(force)};

	hd_exec(&take_capacity, v, NULL, false, 1);
	if (SPI_processed == 1)
	{
		hd_get_int64(1, open);
		hd_get_int64(2, cap);
		return;
	}
	read_capacity(tenant_id, agent_id, open, cap);	/* raises for missing, disabled */
	ereport(ERROR,
			(errcode(ERRCODE_HD_AT_CAPACITY),
			 errmsg("agent %lld is at its ticket capacity (%lld of %lld open tickets)",
					(long long) agent_id, (long long) *open, (long long) *cap),
			 errhint("Resolve or hand on a ticket first, raise max_open_tickets "
					 "(set_agent_ticket_capacity), or assign with force => true.")));
}

/* ---- audit and events ---- */

static HdPlan insert_audit = {
	"INSERT INTO helpdesk.ticket_assignment_audit (tenant_id, ticket_id, queue_id, agent_id, "
	"  previous_agent_id, action, actor_kind, actor_id, strategy, candidates, reason, "
	"  agent_open_tickets, agent_capacity) "
	"VALUES ($1, $2, nullif($3, 0), nullif($4, 0), nullif($5, 0), $6, $7, nullif($8, 0), $9, "
	"  nullif($10, -1), $11, nullif($12, -1), nullif($13, -1))",
	13, {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID, INT8OID, TEXTOID,
	INT4OID, TEXTOID, INT4OID, INT4OID}
};

/* One audit row; -1 for candidates, open_tickets and capacity means unknown. */
void
hd_ticket_assign_audit(int64 tenant_id, int64 ticket_id, int64 queue_id, int64 agent_id,
					   int64 previous_agent_id, const char *action, const char *actor_kind,
					   int64 actor_id, const char *strategy, int candidates,
					   const char *reason, int open_tickets, int capacity)
{
	Datum		v[13] = {Int64GetDatum(tenant_id), Int64GetDatum(ticket_id),
		Int64GetDatum(queue_id), Int64GetDatum(agent_id), Int64GetDatum(previous_agent_id),
		CStringGetTextDatum(action), CStringGetTextDatum(actor_kind), Int64GetDatum(actor_id),
		strategy ? CStringGetTextDatum(strategy) : (Datum) 0, Int32GetDatum(candidates),
		CStringGetTextDatum(reason), Int32GetDatum(open_tickets), Int32GetDatum(capacity)};
	char		nulls[14] = "             ";

	if (strategy == NULL)
		nulls[8] = 'n';
	hd_exec(&insert_audit, v, nulls, false, 0);
}

static void
append_id(StringInfo s, int64 id)
{
	if (id)
		appendStringInfo(s, INT64_FORMAT, id);
	else
		appendStringInfoString(s, "null");
}

static HdPlan ticket_number = {
	"SELECT number FROM helpdesk.ticket WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

/*
 * ticket.updated for the ticket's staff audiences (its new assignee, its
 * queue, supervisors: hd_ticket_event reads them after the change), and a
 * copy for the agent that lost it, whose console would otherwise keep it.
 * Staff only: the customer is not told who works on its ticket.
 */
void
hd_ticket_assignee_event(int64 tenant_id, int64 ticket_id, int64 old_agent, int64 new_agent,
						 const char *actor_kind, int64 actor_id, const char *reason)
{
	StringInfoData p;

	/* the shape of the tickets code's ticket.updated: change, new value, previous */
	initStringInfo(&p);
	appendStringInfoString(&p, "{\"change\": \"assignee\", \"assignee_id\": ");
	append_id(&p, new_agent);
	appendStringInfoString(&p, ", \"previous\": ");
	append_id(&p, old_agent);
	appendStringInfoString(&p, ", \"actor_kind\": ");
	escape_json(&p, actor_kind);
	if (actor_id)
		appendStringInfo(&p, ", \"actor_id\": " INT64_FORMAT, actor_id);
	appendStringInfoString(&p, ", \"reason\": ");
	escape_json(&p, reason);
	appendStringInfoChar(&p, '}');
	hd_ticket_event(tenant_id, ticket_id, "ticket.updated", p.data, false);
	if (old_agent && old_agent != new_agent)
	{
		Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(ticket_id)};
		int64		number = 0;
		StringInfoData o;

		hd_exec(&ticket_number, v, NULL, false, 1);
		hd_get_int64(1, &number);
		initStringInfo(&o);
		appendStringInfo(&o, "{\"ticket_id\": " INT64_FORMAT ", \"number\": " INT64_FORMAT ", %s",
						 ticket_id, number, p.data + 1);
		hd_append_event(tenant_id, "agent", old_agent, 0, 0, "ticket.updated", o.data);
	}
}

/* ---- the change itself ---- */

static HdPlan write_assignee = {
	"UPDATE helpdesk.ticket SET assignee_id = nullif($3, 0), counted_agent_id = nullif($4, 0), "
	"  assigned_at = CASE WHEN $3 = 0 THEN NULL ELSE now() END, assign_wait_reason = NULL, "
	"  assign_error = NULL, updated_at = now() "
	"WHERE tenant_id = $1 AND id = $2",
	4, {INT8OID, INT8OID, INT8OID, INT8OID}
};

typedef struct Change
{
	int64		tenant_id;
	int64		ticket_id;
	TicketRow	t;
	int64		to;				/* 0: unassign */
	bool		force;
	const char *action;			/* assign, unassign, take */
	const char *actor_kind;
	int64		actor_id;
	const char *reason;
} Change;

/*
 * Write the assignee change c (the ticket row is locked and checked): the
 * counters of the agent losing and the agent getting the ticket (when it is
 * open), the row, an audit row, the events, the observers.
 */
static void
apply_change(Change *c)
{
	bool		counts = hd_ticket_status_counts(c->t.status);
	int64		open = -1,
				cap = -1;
	Datum		v[4];

	lock_agent_rows(c->tenant_id, c->t.counted, c->to);
	if (c->to && counts)
		take_slot(c->tenant_id, c->to, c->force, &open, &cap);
	else if (c->to)
		read_capacity(c->tenant_id, c->to, &open, &cap);
	if (c->t.counted)
	{
		v[0] = Int64GetDatum(c->tenant_id);
		v[1] = Int64GetDatum(c->t.counted);
		hd_exec(&give_back, v, NULL, false, 0);
	}
	v[0] = Int64GetDatum(c->tenant_id);
	v[1] = Int64GetDatum(c->ticket_id);
	v[2] = Int64GetDatum(c->to);
	v[3] = Int64GetDatum(counts ? c->to : 0);
	hd_exec(&write_assignee, v, NULL, false, 0);
	hd_ticket_assign_audit(c->tenant_id, c->ticket_id, c->t.queue, c->to, c->t.assignee,
						   c->action, c->actor_kind, c->actor_id, "manual", -1, c->reason,
						   (int) open, (int) cap);
	hd_ticket_assignee_event(c->tenant_id, c->ticket_id, c->t.assignee, c->to,
							 c->actor_kind, c->actor_id, c->reason);
	hd_ticket_changed(c->tenant_id, c->ticket_id, HD_TICKET_ASSIGNEE);
	if (c->t.counted)
		hd_wake_at_commit(HD_WORKER_DISPATCHER);	/* a ticket slot freed up */
}

/*
 * A disabled agent's open ticket goes back to nobody (the dispatcher's
 * stage calls this, ticket row locked by the caller): the agent can no
 * longer work it, and in an automatic queue it is assigned again at once.
 * Returns false when the ticket changed meanwhile (no longer open, or no
 * longer that agent's).
 */
bool
hd_ticket_release_disabled(int64 tenant_id, int64 ticket_id, int64 agent_id)
{
	Change		c;

	memset(&c, 0, sizeof(c));
	c.tenant_id = tenant_id;
	c.ticket_id = ticket_id;
	load_ticket(tenant_id, ticket_id, &c.t);
	if (c.t.assignee != agent_id || !hd_ticket_status_counts(c.t.status))
		return false;
	c.to = 0;
	c.action = "unassign";
	c.actor_kind = "dispatcher";
	c.reason = psprintf("agent " INT64_FORMAT " was disabled", agent_id);
	apply_change(&c);
	return true;
}

static HdPlan serves_queue = {
	"SELECT a.enabled, a.skills ?& q.required_skills, "
	"       cardinality(q.required_languages) = 0 OR a.languages && q.required_languages "
	"FROM helpdesk.agent a LEFT JOIN helpdesk.queue q ON q.tenant_id = a.tenant_id AND q.id = $3 "
	"WHERE a.tenant_id = $1 AND a.id = $2",
	3, {INT8OID, INT8OID, INT8OID}
};

/*
 * An agent taking a ticket must exist, be enabled and serve its queue (the
 * queue's required skills and one of its languages); a ticket in no queue
 * may be taken by any enabled agent.
 */
static void
require_serves(int64 tenant_id, int64 agent_id, int64 queue_id, int64 ticket_id)
{
	Datum		v[3] = {Int64GetDatum(tenant_id), Int64GetDatum(agent_id), Int64GetDatum(queue_id)};

	hd_exec(&serves_queue, v, NULL, false, 1);
	if (SPI_processed != 1)
		hd_not_found("agent", agent_id, tenant_id);
	if (!hd_get_bool(1))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("agent %lld is disabled", (long long) agent_id)));
	if (queue_id == 0)
		return;
	if (!hd_get_bool(2))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("agent %lld lacks a skill that queue %lld requires; it cannot take ticket %lld",
						(long long) agent_id, (long long) queue_id, (long long) ticket_id)));
	if (!hd_get_bool(3))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("agent %lld speaks none of the languages queue %lld requires; it cannot take ticket %lld",
						(long long) agent_id, (long long) queue_id, (long long) ticket_id)));
}

/* take: the ticket must be open and unassigned (or already the agent's) */
static bool
check_takeable(Change *c, int64 agent_id)
{
	if (c->t.assignee == agent_id)
		return false;
	if (c->t.assignee)
		ereport(ERROR,
				(errcode(ERRCODE_HD_IDEMPOTENCY_CONFLICT),
				 errmsg("ticket %lld is assigned to agent %lld",
						(long long) c->ticket_id, (long long) c->t.assignee),
				 errhint("Its assignee or a supervisor can hand it on (assign_ticket).")));
	if (!hd_ticket_status_counts(c->t.status))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("ticket %lld is %s; only new, open and pending tickets can be taken",
						(long long) c->ticket_id, c->t.status)));
	require_serves(c->tenant_id, agent_id, c->t.queue, c->ticket_id);
	return true;
}

PG_FUNCTION_INFO_V1(hd_take_ticket);

/* helpdesk.take_ticket(tenant_id, agent_id, ticket_id) */
Datum
hd_take_ticket(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "agent_id", "ticket_id"};
	Change		c;
	int64		agent_id;
	bool		changed;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 3, names);
	memset(&c, 0, sizeof(c));
	c.tenant_id = PG_GETARG_INT64(0);
	agent_id = PG_GETARG_INT64(1);
	c.ticket_id = PG_GETARG_INT64(2);

	SPI_connect();
	hd_require_agent_may(c.tenant_id, agent_id, "take tickets");
	load_ticket(c.tenant_id, c.ticket_id, &c.t);
	changed = check_takeable(&c, agent_id);
	if (changed)
	{
		c.to = agent_id;
		c.action = "take";
		c.actor_kind = "agent";
		c.actor_id = agent_id;
		c.reason = psprintf("taken by agent " INT64_FORMAT, agent_id);
		apply_change(&c);
	}
	SPI_finish();
	PG_RETURN_BOOL(changed);
}

PG_FUNCTION_INFO_V1(hd_assign_ticket);

/*
 * helpdesk.assign_ticket(tenant_id, ticket_id, agent_id, actor_kind,
 * actor_id, force, reason)
 */
Datum
hd_assign_ticket(PG_FUNCTION_ARGS)
{
	static const char *const actor_kinds[] = {"supervisor", "agent", "system", "api", NULL};
	Change		c;
	char	   *reason;
	bool		changed = true;

	hd_check_tenant_arg(fcinfo, 0);
	memset(&c, 0, sizeof(c));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL",
						PG_ARGISNULL(0) ? "tenant_id" : PG_ARGISNULL(1) ? "ticket_id" : "actor_kind")));
	c.tenant_id = PG_GETARG_INT64(0);
	c.ticket_id = PG_GETARG_INT64(1);
	c.to = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT64(2);
	c.actor_kind = text_to_cstring(PG_GETARG_TEXT_PP(3));
	hd_check_enum("actor_kind", c.actor_kind, actor_kinds);
	c.actor_id = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT64(4);
	c.force = !PG_ARGISNULL(5) && PG_GETARG_BOOL(5);
	reason = hd_arg_text_or_null(fcinfo, 6);
	if (reason)
		hd_check_length("reason", reason, 1, 500);
	if (!PG_ARGISNULL(2) && c.to <= 0)
		hd_invalid("agent_id must be a positive id or NULL (unassign), not %lld", (long long) c.to);
	if ((strcmp(c.actor_kind, "supervisor") == 0 || strcmp(c.actor_kind, "agent") == 0) &&
		c.actor_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("actor_id must not be NULL when actor_kind is %s", c.actor_kind)));
	if ((strcmp(c.actor_kind, "system") == 0 || strcmp(c.actor_kind, "api") == 0) && c.actor_id != 0)
		hd_invalid("actor_id must be NULL when actor_kind is %s", c.actor_kind);

	SPI_connect();
	if (c.actor_id)
		hd_require_agent_may(c.tenant_id, c.actor_id, "assign tickets");	/* a supervisor or an agent */
	load_ticket(c.tenant_id, c.ticket_id, &c.t);
	if (strcmp(c.actor_kind, "agent") == 0)
	{
		/* an agent: its own ticket to anyone, or an unassigned one to itself */
		if (c.t.assignee == 0 && c.to == c.actor_id)
		{
			changed = check_takeable(&c, c.actor_id);
			c.force = false;
		}
		else if (c.t.assignee != c.actor_id)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("agent %lld may only hand on its own tickets, and ticket %lld is %s",
							(long long) c.actor_id, (long long) c.ticket_id,
							c.t.assignee ? psprintf("assigned to agent %lld", (long long) c.t.assignee)
							: "unassigned"),
					 errhint("Take an unassigned ticket with take_ticket; a supervisor can give any ticket.")));
		else
			c.force = false;
	}
	if (c.to == c.t.assignee)
		changed = false;
	if (changed)
	{
		c.action = c.to ? (c.t.assignee == 0 && c.to == c.actor_id &&
						   strcmp(c.actor_kind, "agent") == 0 ? "take" : "assign") : "unassign";
		if (reason)
			c.reason = reason;
		else if (c.to == 0)
			c.reason = psprintf("unassigned by %s%s", c.actor_kind,
								c.actor_id ? psprintf(" " INT64_FORMAT, c.actor_id) : "");
		else
			c.reason = psprintf("%s agent " INT64_FORMAT " by %s%s%s",
								c.t.assignee ? "handed on to" : "given to", c.to, c.actor_kind,
								c.actor_id ? psprintf(" " INT64_FORMAT, c.actor_id) : "",
								c.force ? " (capacity overridden)" : "");
		apply_change(&c);
	}
	SPI_finish();
	PG_RETURN_BOOL(changed);
}

/* ---- settings ---- */

static HdPlan set_strategy = {
	"UPDATE helpdesk.queue SET ticket_strategy = $3, updated_at = now() "
	"WHERE tenant_id = $1 AND id = $2",
	3, {INT8OID, INT8OID, TEXTOID}
};

PG_FUNCTION_INFO_V1(hd_set_queue_ticket_strategy);

/* helpdesk.set_queue_ticket_strategy(tenant_id, queue_id, ticket_strategy) */
Datum
hd_set_queue_ticket_strategy(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "queue_id", "ticket_strategy"};
	static const char *const strategies[] = {"manual", "round_robin", "least_loaded", NULL};
	char	   *strategy;
	Datum		v[3];

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 3, names);
	strategy = text_to_cstring(PG_GETARG_TEXT_PP(2));
	hd_check_enum("ticket_strategy", strategy, strategies);
	SPI_connect();
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	v[2] = CStringGetTextDatum(strategy);
	hd_exec(&set_strategy, v, NULL, false, 0);
	if (SPI_processed != 1)
		hd_not_found("queue", PG_GETARG_INT64(1), PG_GETARG_INT64(0));
	if (strcmp(strategy, "manual") != 0)
		hd_wake_at_commit(HD_WORKER_DISPATCHER);	/* its waiting tickets */
	SPI_finish();
	PG_RETURN_VOID();
}

static HdPlan set_capacity = {
	"UPDATE helpdesk.agent SET max_open_tickets = $3, updated_at = now() "
	"WHERE tenant_id = $1 AND id = $2",
	3, {INT8OID, INT8OID, INT4OID}
};

PG_FUNCTION_INFO_V1(hd_set_agent_ticket_capacity);

/* helpdesk.set_agent_ticket_capacity(tenant_id, agent_id, max_open_tickets) */
Datum
hd_set_agent_ticket_capacity(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "agent_id", "max_open_tickets"};
	Datum		v[3];

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 3, names);
	hd_check_range("max_open_tickets", PG_GETARG_INT32(2), 0, 10000);
	SPI_connect();
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	v[2] = PG_GETARG_DATUM(2);
	hd_exec(&set_capacity, v, NULL, false, 0);
	if (SPI_processed != 1)
		hd_not_found("agent", PG_GETARG_INT64(1), PG_GETARG_INT64(0));
	hd_wake_at_commit(HD_WORKER_DISPATCHER);	/* a raised capacity frees slots */
	SPI_finish();
	PG_RETURN_VOID();
}
