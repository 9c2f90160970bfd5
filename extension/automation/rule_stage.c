/*
 * rule_stage.c — automation rules run by the rules worker (rule_worker.c,
 * a background worker of its own per database), following the
 * commit-ordered event log with their own cursor (automation_rule_cursor),
 * as webhooks do in the HTTP worker.
 *
 * Reading (read ahead into memory, RULE_BATCH at a time; see queue_fill):
 * the events after the cursor of tenants that
 * have enabled rules for the event's kind (one copy per change, the
 * webhooks' audience filter), running no rule on events that rule actions
 * wrote (the time rules still follow them: a ticket a rule made pending
 * starts time.pending, a chat a rule requeued time.queued) (the
 * loop guard: automation_rule_xid holds the transaction ids of actions, an
 * event's xmin tells who wrote it; the event row of a position is found in
 * its one batch, as event_positions would, without expanding every batch,
 * and only for tenants whose rules acted within the last day); for each event its object
 * {event, message, session, customer, ticket}; each rule of the tenant for
 * that kind in (position, id) order: conditions evaluated in C; when they
 * hold, each action in its own subtransaction (a failing one is audited,
 * the rest go on) and one audit row; each event in a subtransaction of its
 * own (an event that cannot be evaluated, say its tenant is being deleted,
 * is logged and skipped, the others go on); a run evaluates RULE_SLICE_MS
 * worth and moves the cursor past what it evaluated, in the same
 * transaction: a crash evaluates those again, and message actions replay by
 * their client_msg_id.
 *
 * The publisher wakes the rules worker after each pass that numbered events
 * (no cost in the posting transactions); hd_rule_next_due says when to run
 * again: now while the cursor is behind the log's head, else the first
 * time rule's due time.
 * Rule kinds: message.created, session.created (session.state from null),
 * session.queued, session.closed (session.state to closed), ticket.created,
 * ticket.updated, sla.warning / sla.breached (ticket.sla), csat.submitted.
 */
#include "rule.h"
#include "automation.h"
#include "dispatch.h"
#include "http_webhook.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#define RULE_BATCH 250			/* events read at once (evaluated a slice a transaction) */

#define RULE_EVENT_KIND \
	"CASE WHEN e.type = 'session.state' AND e.payload->>'from' IS NULL THEN 'session.created' " \
	"     WHEN e.type = 'session.state' AND e.payload->>'to' = 'closed' THEN 'session.closed' " \
	"     WHEN e.type = 'ticket.sla' THEN CASE e.payload->>'kind' WHEN 'breach' THEN 'sla.breached' ELSE 'sla.warning' END " \
	"     ELSE e.type END"

static HdPlan state_plan = {
	"SELECT c.position, coalesce(c.log_id::text, ''), helpdesk.event_log_id()::text, helpdesk.event_position(), "
	"  EXISTS (SELECT 1 FROM helpdesk.automation_rule r WHERE r.enabled), "
	"  (SELECT min(d.due_at) FROM helpdesk.automation_rule_due d WHERE " HD_PLACED("d.tenant_id") "), "
	"  (SELECT coalesce(min(b.first_pos), 0) FROM helpdesk.event_batch b) "
	"FROM helpdesk.automation_rule_cursor c",
	0, {}
};

static HdPlan lock_cursor = {
	"SELECT position FROM helpdesk.automation_rule_cursor FOR UPDATE", 0, {}
};

static HdPlan move_cursor = {
	"UPDATE helpdesk.automation_rule_cursor SET position = $1, log_id = $2::uuid",
	2, {INT8OID, TEXTOID}
};

/* the event may start or end a time rule's condition (rule_time.c) of its tenant */
#define RULE_TIMED \
	"((k.type = 'message.created' OR k.type LIKE 'session.%' OR k.type LIKE 'ticket.%') " \
	" AND EXISTS (SELECT 1 FROM helpdesk.automation_rule r WHERE r.tenant_id = k.tenant_id AND r.enabled " \
	"             AND r.event IN " HD_RULE_TIME_EVENTS "))"

static HdPlan batch_plan = {
	"WITH e AS MATERIALIZED (SELECT * FROM helpdesk.events_since($1, $2)), "
	"k AS (SELECT e.*, " RULE_EVENT_KIND " AS kind FROM e WHERE " HD_WEBHOOK_AUDIENCE ") "
	"SELECT k.pos, k.tenant_id, k.kind, coalesce(k.session_id, 0), "
	"  coalesce((k.payload->>'ticket_id')::bigint, 0), "
	"  jsonb_build_object('event', jsonb_build_object('type', k.kind, 'log_type', k.type, 'payload', k.payload, "
	"      'created_at', k.created_at), "
	"    'message', k.message, "
	"    'session', (SELECT to_jsonb(s) - 'attributes' || jsonb_build_object('attributes', s.attributes) "
	"                FROM helpdesk.session s WHERE s.tenant_id = k.tenant_id AND s.id = k.session_id), "
	"    'customer', (SELECT to_jsonb(c) FROM helpdesk.session s JOIN helpdesk.customer c "
	"                 ON c.tenant_id = s.tenant_id AND c.id = s.customer_id "
	"                 WHERE s.tenant_id = k.tenant_id AND s.id = k.session_id), "
	"    'ticket', (SELECT to_jsonb(t) FROM helpdesk.ticket t WHERE t.tenant_id = k.tenant_id "
	"               AND t.id = (k.payload->>'ticket_id')::bigint)), "
	"  k.timed, k.guarded "
	"FROM (SELECT k.*, "
	/* the loop guard's lookup of the event row only while the tenant's rules acted lately */
	"  CASE WHEN NOT EXISTS (SELECT 1 FROM helpdesk.automation_rule_xid x WHERE x.tenant_id = k.tenant_id) "
	"      THEN false ELSE EXISTS (SELECT 1 FROM helpdesk.event ev JOIN helpdesk.automation_rule_xid x "
	"        ON x.tenant_id = k.tenant_id AND x.xid = ev.xmin::text::bigint "
	"        WHERE ev.id = (SELECT g.id FROM helpdesk.event_batch b, unnest(b.ids) r, "
	"            generate_series(lower(r), upper(r) - 1) g(id) "
	"          WHERE b.first_pos = (SELECT max(first_pos) FROM helpdesk.event_batch WHERE first_pos <= k.pos) "
	"          ORDER BY g.id OFFSET k.pos - (SELECT max(first_pos) FROM helpdesk.event_batch WHERE first_pos <= k.pos) "
	"          LIMIT 1)) END AS guarded "
	"  FROM (SELECT k.*, " RULE_TIMED " AS timed FROM k) k "
	"  WHERE (k.timed OR EXISTS (SELECT 1 FROM helpdesk.automation_rule r WHERE r.tenant_id = k.tenant_id "
	"              AND r.enabled AND r.event = k.kind)) "
	"  OFFSET 0) k "			/* not flattened: the guard once per event */
	/* a rule action's event runs no rule (loop guard), but the time rules follow it */
	"WHERE k.timed OR NOT k.guarded "
	"UNION ALL SELECT max(pos), -1, NULL, 0, 0, NULL, false, false FROM e "
	"ORDER BY 1, 2 DESC",
	2, {INT8OID, INT4OID}
};

static HdPlan rules_plan = {
	"SELECT id, conditions, actions FROM helpdesk.automation_rule "
	"WHERE tenant_id = $1 AND event = $2 AND enabled ORDER BY position, id",
	2, {INT8OID, TEXTOID}
};

static HdPlan audit_plan = {
	"INSERT INTO helpdesk.automation_rule_run (tenant_id, rule_id, event_pos, event, session_id, ticket_id, "
	"  conditions, actions, errors) VALUES ($1, $2, $3, $4, nullif($5, 0), nullif($6, 0), $7::jsonb, $8::jsonb, $9)",
	9, {INT8OID, INT8OID, INT8OID, TEXTOID, INT8OID, INT8OID, TEXTOID, TEXTOID, INT4OID}
};

static HdPlan xid_plan = {
	"INSERT INTO helpdesk.automation_rule_xid (tenant_id, xid) VALUES ($1, $2) ON CONFLICT DO NOTHING",
	2, {INT8OID, INT8OID}
};

static HdPlan prune_xids = {
	"DELETE FROM helpdesk.automation_rule_xid WHERE at < now() - interval '1 day'", 0, {}
};

typedef struct ActionArgs
{
	RuleEvent  *ev;
	JsonbContainer *action;
	int64		rule_id;
	int			index;
	char	   *what;
	TransactionId xid;
} ActionArgs;

static void
action_one(void *arg)
{
	ActionArgs *a = (ActionArgs *) arg;

	a->what = hd_rule_do_action(a->ev->tenant_id, a->action, a->ev->kind, a->ev->session_id, a->ev->ticket_id,
								a->rule_id, a->ev->pos, a->index, false);
	a->xid = GetCurrentTransactionIdIfAny();	/* this subtransaction's, if it wrote */
}

void
hd_rule_run_one(RuleEvent *ev, int64 rule_id, Jsonb *conds, Jsonb *actions)
{
	json_t	   *trace,
			   *done;
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	int			i = 0,
				errors = 0;
	Datum		v[9];

	/* most rules do not match: decide without building a trace, then trace the match */
	if (!hd_rule_eval(conds, ev->obj, NULL))
		return;
	trace = json_array();
	done = json_array();
	(void) hd_rule_eval(conds, ev->obj, trace);
	it = JsonbIteratorInit(&actions->root);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		ActionArgs	a;
		char	   *error = NULL;
		JsonbValue *t;

		if (tok != WJB_ELEM)
			continue;
		memset(&a, 0, sizeof(a));
		a.ev = ev;
		a.action = e.val.binary.data;
		a.rule_id = rule_id;
		a.index = i++;
		t = getKeyJsonValueFromContainer(a.action, "type", 4, NULL);
		if (hd_run_in_subxact(action_one, &a, &error))
		{
			if (TransactionIdIsValid(a.xid))
			{
				Datum		xv[2] = {Int64GetDatum(ev->tenant_id), Int64GetDatum((int64) a.xid)};

				hd_exec(&xid_plan, xv, NULL, false, 0);
			}
			json_array_append_new(done, json_pack("{s:s%,s:s}", "type", t->val.string.val,
												  (size_t) t->val.string.len, "done", a.what));
		}
		else
		{
			errors++;
			json_array_append_new(done, json_pack("{s:s%,s:s}", "type", t->val.string.val,
												  (size_t) t->val.string.len, "error",
												  hd_clip_message(pstrdup(error ? error : "unknown error"), 500)));
		}
	}
	v[0] = Int64GetDatum(ev->tenant_id);
	v[1] = Int64GetDatum(rule_id);
	v[2] = Int64GetDatum(ev->pos);
	v[3] = CStringGetTextDatum(ev->kind);
	v[4] = Int64GetDatum(ev->session_id);
	v[5] = Int64GetDatum(ev->ticket_id);
	v[6] = CStringGetTextDatum(hd_rule_json_text(trace));
	v[7] = CStringGetTextDatum(hd_rule_json_text(done));
	v[8] = Int32GetDatum(errors);
	hd_exec(&audit_plan, v, NULL, false, 0);
	json_decref(trace);
	json_decref(done);
}

/* the rules of the last (tenant, kind) loaded in this run: consecutive events share them */
typedef struct RuleSet
{
	int64		tenant_id;
	char	   *kind;
	uint64		n;
	int64	   *ids;
	Jsonb	  **conds,
			  **acts;
} RuleSet;

static void
load_rules(RuleSet *rs, int64 tenant_id, const char *kind)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), CStringGetTextDatum(kind)};
	SPITupleTable *tt;
	uint64		i;

	hd_exec(&rules_plan, v, NULL, false, 0);
	rs->tenant_id = tenant_id;
	rs->kind = pstrdup(kind);
	rs->n = SPI_processed;
	tt = SPI_tuptable;
	rs->ids = palloc(sizeof(int64) * Max(rs->n, 1));
	rs->conds = palloc(sizeof(Jsonb *) * Max(rs->n, 1));
	rs->acts = palloc(sizeof(Jsonb *) * Max(rs->n, 1));
	for (i = 0; i < rs->n; i++)
	{
		bool		isnull;

		rs->ids[i] = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		rs->conds[i] = DatumGetJsonbPCopy(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
		rs->acts[i] = DatumGetJsonbPCopy(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull));
	}
}

static void
run_event_rules(RuleEvent *ev, RuleSet *rs)
{
	uint64		i;

	if (ev->timed)
		hd_rule_time_follow(ev);
	if (ev->guarded)
		return;					/* written by a rule's action: its time conditions only */
	if (rs->kind == NULL || rs->tenant_id != ev->tenant_id || strcmp(rs->kind, ev->kind) != 0)
		load_rules(rs, ev->tenant_id, ev->kind);
	for (i = 0; i < rs->n; i++)
		hd_rule_run_one(ev, rs->ids[i], rs->conds[i], rs->acts[i]);
}

typedef struct EventArgs
{
	RuleEvent  *ev;
	RuleSet    *rs;
} EventArgs;

static void
event_one(void *arg)
{
	EventArgs  *a = (EventArgs *) arg;

	run_event_rules(a->ev, a->rs);
}

/*
 * One event in a subtransaction: what cannot be evaluated (its tenant
 * deleted meanwhile, a row a rule's audit cannot refer to) is logged and
 * skipped with whatever its rules did, and the events after it go on. A
 * cancel or shutdown is not the event's fault: it ends the run.
 */
static void
run_event(RuleEvent *ev, RuleSet *rs)
{
	EventArgs	a = {ev, rs};
	char	   *error = NULL;

	if (!hd_run_in_subxact_rethrow_cancel(event_one, &a, &error))
	{
		ereport(WARNING,
				(errmsg("pg_helpdesk rules worker: event %lld (%s) of tenant %lld skipped: %s",
						(long long) ev->pos, ev->kind, (long long) ev->tenant_id,
						error ? error : "unknown error"),
				 errhint("Its rules did not run; the events after it were evaluated.")));
		memset(rs, 0, sizeof(*rs));	/* loaded in the rolled-back subtransaction maybe */
	}
}

/*
 * Events read ahead, in the rules worker's memory: events_since costs tens
 * of milliseconds a call under load whatever it returns, so a run reads
 * RULE_BATCH at once and evaluates at most RULE_SLICE_MS of them a
 * transaction (the rows its actions locked are held until its commit, and
 * people posting into those sessions wait for them). The queue continues
 * from q_cursor; when the stored cursor is not that (a run rolled back, a
 * restart) it is dropped and read again, so nothing is skipped and nothing
 * is evaluated twice by a commit.
 */
static MemoryContext qcxt = NULL;
static RuleEvent *queue = NULL;
static int	qlen = 0,
			qhead = 0;
static int64 q_cursor = -1;		/* the cursor position the queue's head follows */
static int64 q_end = 0;			/* the last position read (cursor when the queue is done) */
static bool q_full = false;		/* the read returned a whole batch */

#define RULE_SLICE_MS 20

/*
 * A run that fails as a whole (the batch read or the cursor, not one event:
 * those are caught) at the same cursor position again and again: after
 * RULE_SINGLE_AFTER failures the worker reads one event a run from there
 * (RULE_BATCH positions on), and after RULE_SKIP_AFTER failures at one
 * position it skips that position's event, with a WARNING: a bad row never
 * stops the rules, nor makes the worker retry it forever.
 */
#define RULE_SINGLE_AFTER 2
#define RULE_SKIP_AFTER 4

static int64 attempt_pos = -1;	/* the cursor position of the run in progress */
static int64 fail_pos = -1;		/* where the last failed runs started */
static int	fail_count = 0;
static int64 single_until = -1;	/* read one event a run below this position */

static void
queue_fill(int64 pos, int batch)
{
	Datum		v[2] = {Int64GetDatum(pos), Int32GetDatum(batch)};
	uint64		n,
				i;
	SPITupleTable *tt;
	MemoryContext old;

	if (qcxt == NULL)
		qcxt = AllocSetContextCreate(TopMemoryContext, "pg_helpdesk rule events", ALLOCSET_DEFAULT_SIZES);
	MemoryContextReset(qcxt);
	queue = NULL;
	qlen = qhead = 0;
	q_cursor = -1;				/* until the read succeeded */
	q_end = pos;
	hd_exec(&batch_plan, v, NULL, false, 0);
	n = SPI_processed;
	tt = SPI_tuptable;
	old = MemoryContextSwitchTo(qcxt);
	queue = palloc0(sizeof(RuleEvent) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		bool		isnull,
					pos_null;
		Datum		d = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &pos_null);
		int64		tenant = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));

		if (tenant == -1)
		{
			if (!pos_null)
				q_end = DatumGetInt64(d);	/* no events read: max(pos) is NULL */
			continue;
		}
		queue[qlen].pos = DatumGetInt64(d);
		queue[qlen].tenant_id = tenant;
		queue[qlen].kind = SPI_getvalue(tt->vals[i], tt->tupdesc, 3);
		queue[qlen].session_id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 4, &isnull));
		queue[qlen].ticket_id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 5, &isnull));
		queue[qlen].obj = DatumGetJsonbPCopy(SPI_getbinval(tt->vals[i], tt->tupdesc, 6, &isnull));
		queue[qlen].timed = DatumGetBool(SPI_getbinval(tt->vals[i], tt->tupdesc, 7, &isnull));
		queue[qlen].guarded = DatumGetBool(SPI_getbinval(tt->vals[i], tt->tupdesc, 8, &isnull));
		qlen++;
	}
	MemoryContextSwitchTo(old);
	q_full = q_end - pos >= batch;
	q_cursor = pos;
}

/* see rule.h: the run in progress failed as a whole (the caller rolled it back) */
void
hd_rule_follow_failed(void)
{
	q_cursor = -1;				/* the queue is read again */
	if (attempt_pos < 0)
		return;
	if (attempt_pos == fail_pos)
		fail_count++;
	else
	{
		fail_pos = attempt_pos;
		fail_count = 1;
	}
	if (fail_count >= RULE_SINGLE_AFTER)
		single_until = Max(single_until, fail_pos + RULE_BATCH);
}

/* see rule.h: the time rules due at now, then one slice of the events after the cursor */
int
hd_rule_follow(TimestampTz now, bool *more)
{
	int64		pos = 0,
				next,
				oldest = 0;
	Datum		v[2];
	char	   *cursor_log,
			   *log;
	int64		head = 0;
	int			done = 0;
	bool		time_more = false;
	RuleSet		rs;
	TimestampTz stop;

	*more = false;
	attempt_pos = -1;
	/* the time rules due now first (their due-time index: rule_time.c) */
	done = hd_rule_time_fire(now, &time_more);
	hd_exec(&lock_cursor, NULL, NULL, false, 1);
	hd_exec(&state_plan, NULL, NULL, false, 1);
	*more = time_more;
	if (SPI_processed != 1)
		return done;
	hd_get_int64(1, &pos);
	cursor_log = hd_get_text(2);
	log = hd_get_text(3);
	hd_get_int64(4, &head);
	hd_get_int64(7, &oldest);
	if (strcmp(cursor_log, log) != 0 || !hd_get_bool(5))
	{
		/*
		 * A new log (or no rules): start at its head; rules see what comes
		 * after. Not when the cursor is ahead of event_position(): that head
		 * can lag behind what events_since already returns, and going back
		 * would evaluate events twice.
		 */
		v[0] = Int64GetDatum(head);
		v[1] = CStringGetTextDatum(log);
		hd_exec(&move_cursor, v, NULL, false, 0);
		q_cursor = -1;
		return done;
	}
	if (oldest > 0 && pos < oldest - 1)
	{
		/* retention (prune_events) or a TRUNCATE removed events the rules had not read */
		ereport(WARNING,
				(errmsg("pg_helpdesk rules worker: events %lld to %lld were pruned before the rules read them",
						(long long) pos + 1, (long long) oldest - 1),
				 errhint("Keep events longer (prune_events) than the rules worker may lag or be down.")));
		pos = oldest - 1;
		v[0] = Int64GetDatum(pos);
		v[1] = CStringGetTextDatum(log);
		hd_exec(&move_cursor, v, NULL, false, 0);
		q_cursor = -1;
	}
	attempt_pos = pos;
	if (pos == fail_pos && fail_count >= RULE_SKIP_AFTER)
	{
		ereport(WARNING,
				(errmsg("pg_helpdesk rules worker: the event at position %lld is skipped after %d failed runs",
						(long long) pos + 1, fail_count),
				 errhint("The rules did not run on it; the server log above has the errors.")));
		v[0] = Int64GetDatum(pos + 1);
		v[1] = CStringGetTextDatum(log);
		hd_exec(&move_cursor, v, NULL, false, 0);
		q_cursor = -1;
		fail_pos = -1;
		fail_count = 0;
		*more = true;
		return done;
	}
	if (pos != q_cursor || qhead >= qlen)
		queue_fill(pos, pos < single_until ? 1 : RULE_BATCH);	/* another cursor, or the queue is done */
	memset(&rs, 0, sizeof(rs));
	stop = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), RULE_SLICE_MS);
	while (qhead < qlen)
	{
		run_event(&queue[qhead], &rs);
		qhead++;
		done++;
		if (GetCurrentTimestamp() >= stop)
			break;
	}
	next = qhead < qlen ? queue[qhead - 1].pos : q_end;
	if (next != pos)
	{
		v[0] = Int64GetDatum(next);
		v[1] = CStringGetTextDatum(log);
		hd_exec(&move_cursor, v, NULL, false, 0);
	}
	q_cursor = next;
	*more = qhead < qlen || q_full || time_more;
	if (random() % 1000 == 0)
		hd_exec(&prune_xids, NULL, NULL, false, 0);
	return done;
}

/*
 * See rule.h: when the rules worker has to run next, 0 when only an event
 * (the publisher's wake) or a change of rules can give it work: now while
 * the cursor is behind the log's head, else the first time rule's due time.
 */
TimestampTz
hd_rule_next_due(void)
{
	int64		pos = 0,
				head = 0;
	bool		isnull;
	Datum		due;

	attempt_pos = -1;			/* a failure from here on is not an event's */
	hd_exec(&state_plan, NULL, NULL, false, 1);
	if (SPI_processed != 1 || !hd_get_bool(5))
		return 0;
	hd_get_int64(1, &pos);
	hd_get_int64(4, &head);
	if (pos < head)
		return GetCurrentTimestamp();
	/* the earliest time rule (the due-time index's first entry) */
	due = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6, &isnull);
	if (!isnull)
		return Max(DatumGetTimestampTz(due), 1);
	return 0;
}
