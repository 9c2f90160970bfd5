/*
 * rule_time.c — the time rules (issue 18; Chatwoot #6861, #13515, #6889):
 * time.no_agent_reply (a customer message unanswered by an agent for
 * wait_for), time.no_customer_reply (an agent message the customer has not
 * answered), time.queued (a session queued that long), time.pending (a ticket
 * pending that long).
 *
 * No object is polled. The rules worker, following the event log
 * (rule_stage.c), keeps a due-time index (automation_rule_due): an event that
 * starts a condition inserts (rule, object, anchor, due_at = anchor +
 * wait_for), one that ends it deletes the row. min(due_at) of that index is
 * read in the worker's existing next-due query (hd_rule_next_due), and the
 * worker sleeps until then (rule_worker.c). Firing locks the due row, checks on the current rows that
 * the condition still holds since the anchor (an event that ended it may not
 * have been followed yet), runs the rule (conditions, actions, audit: its
 * event_pos is the due row's id, so a message action's client_msg_id differs
 * per occurrence) and deletes the row: once per occurrence; a later
 * occurrence (a new unanswered customer message after an agent's answer, a
 * new queueing) inserts a new row.
 */
#include "rule.h"
#include "dispatch.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#define RULE_TIME_BATCH 50		/* due rows fired a run (more: the stage runs again) */

/*
 * The message an event carries, for the reply rules: a chat message
 * (message.created: the object's message, its session the object) or an
 * entry of a ticket's own thread (ticket.message: the payload's message, the
 * ticket the object). Notes (ticket.note) are not in either.
 */
#define RULE_MSG \
	"(SELECT CASE WHEN $4->'event'->>'log_type' = 'ticket.message' THEN 'ticket' ELSE 'session' END AS okind, " \
	"        CASE WHEN $4->'event'->>'log_type' = 'ticket.message' THEN $3 ELSE $2 END AS oid, " \
	"        CASE WHEN $4->'event'->>'log_type' = 'ticket.message' THEN $4->'event'->'payload'->'message' " \
	"             WHEN $4->'event'->>'log_type' = 'message.created' THEN $4->'message' END AS msg) m"

/*
 * Ends of conditions: an agent message ends no_agent_reply, a customer message
 * no_customer_reply (in a chat for the session's rows, in a ticket's thread
 * for the ticket's); a closed session ends its three; a session no longer
 * queued ends queued, a ticket no longer pending ends pending, a resolved or
 * closed ticket its reply rows.
 * $1 tenant, $2 session (0: none), $3 ticket (0: none), $4 the event's object.
 */
static HdPlan end_plan = {
	"DELETE FROM helpdesk.automation_rule_due d USING " RULE_MSG " "
	"WHERE d.tenant_id = $1 AND (("
	"  d.object_kind = 'session' AND d.object_id = $2 AND ("
	"    coalesce((SELECT s.state = 'closed' FROM helpdesk.session s WHERE s.tenant_id = $1 AND s.id = $2), true) "
	"    OR (d.kind = 'time.queued' AND (SELECT s.state FROM helpdesk.session s "
	"       WHERE s.tenant_id = $1 AND s.id = $2) IS DISTINCT FROM 'queued'))) "
	"  OR (d.object_kind = 'ticket' AND d.object_id = $3 AND ("
	"    (d.kind = 'time.pending' AND (SELECT t.status FROM helpdesk.ticket t WHERE t.tenant_id = $1 AND t.id = $3) "
	"       IS DISTINCT FROM 'pending') "
	"    OR (d.kind IN ('time.no_agent_reply', 'time.no_customer_reply') AND coalesce((SELECT t.status IN "
	"       ('resolved', 'closed') FROM helpdesk.ticket t WHERE t.tenant_id = $1 AND t.id = $3), true)))) "
	"  OR (d.object_kind = m.okind AND d.object_id = m.oid AND ("
	"    (d.kind = 'time.no_agent_reply' AND m.msg->>'sender_kind' = 'agent') "
	"    OR (d.kind = 'time.no_customer_reply' AND m.msg->>'sender_kind' = 'customer'))))",
	4, {INT8OID, INT8OID, INT8OID, JSONBOID}
};

/*
 * Starts: a customer message starts no_agent_reply, an agent message
 * no_customer_reply, in a chat (the session's row) or in a ticket's thread
 * (the ticket's row; not while the ticket is resolved or closed); the first
 * unanswered one is the anchor: DO NOTHING. A queueing (session.state to
 * queued; not any later event of a queued session: after firing, its row is
 * gone, and a message in the queue, or the rule's own message, would start
 * the fired occurrence again, due at once) starts queued (anchor queued_at:
 * a new queueing moves it), a
 * pending ticket pending (anchor the time of the event that made it pending:
 * an earlier event of the ticket, followed once it already was pending,
 * would anchor it early — e2e automation_time_rules saw a rule fire 59 ms
 * before its due time, anchored at the ticket's creation; a ticket made
 * pending again, after an open the follower saw only once it was pending
 * again, moves the anchor to the latest).
 */
static HdPlan start_plan = {
	"INSERT INTO helpdesk.automation_rule_due AS d (tenant_id, rule_id, object_kind, object_id, kind, anchor, due_at) "
	"SELECT $1, r.id, o.okind, o.object_id, r.event, o.anchor, o.anchor + r.wait_for "
	"FROM " RULE_MSG ", helpdesk.automation_rule r CROSS JOIN LATERAL ("
	"  SELECT m.okind, m.oid AS object_id, (m.msg->>'created_at')::timestamptz AS anchor "
	"    WHERE ((r.event = 'time.no_agent_reply' AND m.msg->>'sender_kind' = 'customer') "
	"      OR (r.event = 'time.no_customer_reply' AND m.msg->>'sender_kind' = 'agent')) "
	"      AND (m.okind = 'session' OR NOT EXISTS (SELECT 1 FROM helpdesk.ticket t WHERE t.tenant_id = $1 "
	"           AND t.id = $3 AND t.status IN ('resolved', 'closed'))) "
	"  UNION ALL SELECT 'session', $2, s.queued_at FROM helpdesk.session s "
	"    WHERE r.event = 'time.queued' AND s.tenant_id = $1 AND s.id = $2 AND s.state = 'queued' "
	"      AND $4->'event'->>'log_type' IN ('session.state', 'session.queued') "
	"      AND $4->'event'->'payload'->>'to' = 'queued' "
	"  UNION ALL SELECT 'ticket', $3, ($4->'event'->>'created_at')::timestamptz FROM helpdesk.ticket t "
	"    WHERE r.event = 'time.pending' AND t.tenant_id = $1 AND t.id = $3 AND t.status = 'pending' "
	"      AND $4->'event'->'payload'->>'change' = 'status' AND $4->'event'->'payload'->>'status' = 'pending') o "
	"WHERE r.tenant_id = $1 AND r.enabled AND r.event IN " HD_RULE_TIME_EVENTS " AND o.object_id > 0 AND o.anchor IS NOT NULL "
	"ON CONFLICT (tenant_id, rule_id, object_kind, object_id) DO UPDATE SET anchor = excluded.anchor, due_at = excluded.due_at "
	"  WHERE d.kind IN ('time.queued', 'time.pending') AND excluded.anchor > d.anchor",
	4, {INT8OID, INT8OID, INT8OID, JSONBOID}
};

/* see rule.h: the due-time index follows one event of a tenant that has time rules */
void
hd_rule_time_follow(RuleEvent *ev)
{
	Datum		v[4] = {Int64GetDatum(ev->tenant_id), Int64GetDatum(ev->session_id),
	Int64GetDatum(ev->ticket_id), JsonbPGetDatum(ev->obj)};

	hd_exec(&end_plan, v, NULL, false, 0);
	hd_exec(&start_plan, v, NULL, false, 0);
}

static HdPlan due_plan = {
	"SELECT d.id, d.tenant_id, d.rule_id, d.object_id, d.kind, d.anchor, d.due_at, r.enabled, r.conditions, r.actions, "
	"  d.object_kind = 'ticket' "
	"FROM helpdesk.automation_rule_due d JOIN helpdesk.automation_rule r "
	"  ON r.tenant_id = d.tenant_id AND r.id = d.rule_id "
	"WHERE d.due_at <= least($1, now()) AND " HD_PLACED("d.tenant_id") " ORDER BY d.due_at LIMIT " CppAsString2(RULE_TIME_BATCH) " FOR UPDATE OF d SKIP LOCKED",
	1, {TIMESTAMPTZOID}
};

#define TIME_OBJECT(session_sql, ticket_sql, customer_sql) \
	"jsonb_build_object('event', jsonb_build_object('type', $3::text, 'anchor', $4::timestamptz, 'due_at', $5::timestamptz), " \
	"  'message', NULL, " \
	"  'session', (SELECT to_jsonb(s2) FROM helpdesk.session s2 WHERE " session_sql "), " \
	"  'customer', (SELECT to_jsonb(c) FROM helpdesk.customer c WHERE " customer_sql "), " \
	"  'ticket', (SELECT to_jsonb(t2) FROM helpdesk.ticket t2 WHERE " ticket_sql "))"

/* the session's object when its condition still holds since the anchor; no row when it ended */
static HdPlan session_obj_plan = {
	"SELECT coalesce((SELECT t.id FROM helpdesk.ticket t WHERE t.tenant_id = $1 AND t.session_id = $2 "
	"    ORDER BY t.id DESC LIMIT 1), 0), "
	TIME_OBJECT("s2.tenant_id = $1 AND s2.id = $2",
				"t2.tenant_id = $1 AND t2.session_id = $2 ORDER BY t2.id DESC LIMIT 1",
				"c.tenant_id = $1 AND c.id = s.customer_id") " "
	"FROM helpdesk.session s WHERE s.tenant_id = $1 AND s.id = $2 AND CASE $3::text "
	"  WHEN 'time.queued' THEN s.state = 'queued' AND s.queued_at = $4 "
	"  WHEN 'time.no_agent_reply' THEN s.state <> 'closed' AND NOT EXISTS (SELECT 1 FROM helpdesk.message m "
	"    WHERE m.tenant_id = $1 AND m.session_id = $2 AND m.sender_kind = 'agent' AND m.created_at >= $4) "
	"  ELSE s.state <> 'closed' AND NOT EXISTS (SELECT 1 FROM helpdesk.message m "
	"    WHERE m.tenant_id = $1 AND m.session_id = $2 AND m.sender_kind = 'customer' AND m.created_at > $4) END",
	5, {INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}
};

static HdPlan ticket_obj_plan = {
	"SELECT coalesce(t.session_id, 0), "
	TIME_OBJECT("s2.tenant_id = $1 AND s2.id = t.session_id",
				"t2.tenant_id = $1 AND t2.id = $2",
				"c.tenant_id = $1 AND c.id = t.customer_id") " "
	"FROM helpdesk.ticket t WHERE t.tenant_id = $1 AND t.id = $2 AND CASE $3::text "
	"  WHEN 'time.pending' THEN t.status = 'pending' "
	/* the ticket's own thread: no agent (customer) entry since the anchor, and still unresolved */
	"  WHEN 'time.no_agent_reply' THEN t.status NOT IN ('resolved', 'closed') AND NOT EXISTS (SELECT 1 "
	"    FROM helpdesk.ticket_message m WHERE m.tenant_id = $1 AND m.ticket_id = $2 AND m.sender_kind = 'agent' "
	"    AND m.created_at >= $4) "
	"  ELSE t.status NOT IN ('resolved', 'closed') AND NOT EXISTS (SELECT 1 FROM helpdesk.ticket_message m "
	"    WHERE m.tenant_id = $1 AND m.ticket_id = $2 AND m.sender_kind = 'customer' AND m.created_at > $4) END",
	5, {INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}
};

static HdPlan done_plan = {
	"DELETE FROM helpdesk.automation_rule_due WHERE tenant_id = $1 AND id = $2", 2, {INT8OID, INT8OID}
};

typedef struct DueRow
{
	int64		id,
				tenant_id,
				rule_id,
				object_id;
	char	   *kind;
	Datum		anchor,
				due_at;
	bool		enabled,
				on_ticket;		/* object_id is a ticket (time.pending, a ticket thread's reply rules) */
	Jsonb	   *conds,
			   *acts;
} DueRow;

/* one due row, in a subtransaction: check the condition on the rows, run the rule */
static void
fire_one(void *arg)
{
	DueRow	   *d = (DueRow *) arg;
	bool		ticket = d->on_ticket;
	Datum		v[5] = {Int64GetDatum(d->tenant_id), Int64GetDatum(d->object_id),
	CStringGetTextDatum(d->kind), d->anchor, d->due_at};
	RuleEvent	ev;
	bool		isnull;

	hd_exec(ticket ? &ticket_obj_plan : &session_obj_plan, v, NULL, false, 1);
	if (SPI_processed != 1)
		return;					/* the condition ended before its time */
	memset(&ev, 0, sizeof(ev));
	ev.pos = d->id;
	ev.tenant_id = d->tenant_id;
	ev.kind = d->kind;
	if (ticket)
	{
		ev.ticket_id = d->object_id;
		/*
		 * time.pending: with the ticket's session, as before. A reply rule on
		 * the ticket's thread: the ticket only (its chat, if any, is another
		 * conversation; session actions would act on it).
		 */
		if (strcmp(d->kind, "time.pending") == 0)
			hd_get_int64(1, &ev.session_id);
	}
	else
	{
		ev.session_id = d->object_id;
		hd_get_int64(1, &ev.ticket_id);
	}
	ev.obj = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	hd_rule_run_one(&ev, d->rule_id, d->conds, d->acts);
}

/* see rule.h: fires the time rules due at now; *more when a whole batch was due */
int
hd_rule_time_fire(TimestampTz now, bool *more)
{
	Datum		v[1] = {TimestampTzGetDatum(now)};
	SPITupleTable *tt;
	uint64		n,
				i;
	DueRow	   *rows;
	int			fired = 0;

	hd_exec(&due_plan, v, NULL, false, 0);
	n = SPI_processed;
	tt = SPI_tuptable;
	*more = n >= RULE_TIME_BATCH;
	if (n == 0)
		return 0;
	rows = palloc0(sizeof(DueRow) * n);
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = tt->vals[i];
		TupleDesc	td = tt->tupdesc;
		bool		isnull;

		rows[i].id = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
		rows[i].tenant_id = DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull));
		rows[i].rule_id = DatumGetInt64(SPI_getbinval(tup, td, 3, &isnull));
		rows[i].object_id = DatumGetInt64(SPI_getbinval(tup, td, 4, &isnull));
		rows[i].kind = SPI_getvalue(tup, td, 5);
		rows[i].anchor = SPI_getbinval(tup, td, 6, &isnull);
		rows[i].due_at = SPI_getbinval(tup, td, 7, &isnull);
		rows[i].enabled = DatumGetBool(SPI_getbinval(tup, td, 8, &isnull));
		rows[i].conds = DatumGetJsonbPCopy(SPI_getbinval(tup, td, 9, &isnull));
		rows[i].acts = DatumGetJsonbPCopy(SPI_getbinval(tup, td, 10, &isnull));
		rows[i].on_ticket = DatumGetBool(SPI_getbinval(tup, td, 11, &isnull));
	}
	for (i = 0; i < n; i++)
	{
		char	   *error = NULL;
		Datum		dv[2] = {Int64GetDatum(rows[i].tenant_id), Int64GetDatum(rows[i].id)};

		/* a disabled rule's waiting rows go without firing (they would hold next_due) */
		if (rows[i].enabled && !hd_run_in_subxact(fire_one, &rows[i], &error))
			ereport(WARNING,
					(errmsg("pg_helpdesk: time rule %lld on %lld failed: %s", (long long) rows[i].rule_id,
							(long long) rows[i].object_id, error ? error : "unknown error")));
		/* fired, ended or failed: this occurrence is done (a failure is not retried every pass) */
		hd_exec(&done_plan, dv, NULL, false, 0);
		fired++;
	}
	return fired;
}
