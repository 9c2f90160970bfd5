/*
 * dispatch_timers.c — everything the dispatcher does because time passed.
 *
 * Each timer is an indexed due time, so finding what is due and when to
 * wake next are index lookups:
 *
 *   presence   agent.last_seen_at + heartbeat_interval * heartbeat_misses
 *   grace      agent.presence_lost_at + tenant.presence_grace (offers of an
 *              offline agent are taken back at once)
 *   offer      session.offer_expires_at
 *   max wait   session.wait_due_at
 *   idle       session.idle_check_at (lazy: when it fires, the real due time
 *              is computed from the messages and the check moves there if
 *              the conversation went on)
 *
 * When the next one is due: dispatch_next_due.c.
 *
 * Per-session actions run in their own subtransaction; one that fails marks
 * the session (dispatch_error) and moves its timer a minute out, so a bad
 * row is logged once a minute at most and never stops the others.
 */
#include "dispatch.h"
#include "message.h"

#include "utils/builtins.h"
#include "utils/memutils.h"

#define TIMER_BATCH 1000

static TimestampTz
get_ts(int row, int col)
{
	bool		isnull;
	Datum		x = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetTimestampTz(x);
}

static int64
get_i8(int row, int col)
{
	bool		isnull;
	Datum		x = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(x);
}

/* ---- agent loss: offers at once, active sessions after the grace ---- */

/* $1/$2/$3: usable tenants, lost before this is past the grace, the grace */
static HdPlan lost_sessions = {
	"SELECT s.tenant_id, s.id, s.agent_id, "
	"       CASE WHEN s.state = 'offered' THEN a.status_changed_at "
	"            ELSE a.presence_lost_at + k.grace_us * interval '1 microsecond' END "
	"FROM unnest($1::int8[], $2::timestamptz[], $3::int8[]) k(tenant_id, lost_before, grace_us) "
	"JOIN helpdesk.agent a ON a.tenant_id = k.tenant_id "
	"JOIN helpdesk.session s ON s.tenant_id = a.tenant_id AND s.agent_id = a.id "
	"  AND s.state IN ('offered', 'active') "
	"WHERE a.presence_lost_at IS NOT NULL AND s.dispatch_error IS NULL "
	"  AND (s.state = 'offered' OR a.presence_lost_at <= k.lost_before) "
	"LIMIT " CppAsString2(TIMER_BATCH),
	3, {INT8ARRAYOID, TIMESTAMPTZARRAYOID, INT8ARRAYOID}
};

typedef struct TimerItem
{
	int64		tenant_id;
	int64		session_id;
	int64		agent_id;
	int64		queue_id;
	TimestampTz due;
	int64		warn_us;
	int64		close_us;
	int64		overflow;
	bool		to_ticket;		/* max wait: max_wait_action ticket */
	TimestampTz warned;
	bool		fired;
	/* idle: a setting that cannot be used (the session waits a minute) */
	const char *bad;
	HdMarkKind	bad_kind;
	int64		bad_id;
	/* the session row as lock_and_fire locked it, and its due times */
	HdSessionRow row;
	TimestampTz offer_expires_at;	/* 0: NULL */
	TimestampTz wait_due_at;	/* 0: NULL */
} TimerItem;

static void
requeue_lost(void *arg)
{
	TimerItem	   *it = (TimerItem *) arg;
	HdSessionRow s = it->row;
	bool		active;

	if (!s.has_agent || s.agent_id != it->agent_id ||
		(strcmp(s.state, "offered") != 0 && strcmp(s.state, "active") != 0))
		return;					/* moved on meanwhile */
	active = strcmp(s.state, "active") == 0;
	hd_release_agent(it->tenant_id, it->session_id, it->agent_id, HD_END_AGENT_LOST);
	hd_requeue(it->tenant_id, it->session_id, s.state, s.queue_id, 0, 0, active,
			   psprintf("agent " INT64_FORMAT " went offline", it->agent_id));
	hd_audit(it->tenant_id, it->session_id, s.queue_id, it->agent_id, "requeue",
			 active ? "agent offline past the grace period; back to its place in the queue"
			 : "offer withdrawn: agent went offline", it->due);
	it->fired = true;
}

/* ---- offers ---- */

static HdPlan due_offers = {
	"SELECT tenant_id, id, agent_id, offer_expires_at FROM helpdesk.session "
	"WHERE state = 'offered' AND offer_expires_at <= now() AND dispatch_error IS NULL "
	"  AND " HD_PLACED("tenant_id") " "
	"ORDER BY offer_expires_at LIMIT " CppAsString2(TIMER_BATCH),
	0, {}
};
static HdPlan count_miss = {
	"WITH old AS (SELECT a.status FROM helpdesk.agent a "
	"             WHERE a.tenant_id = $1 AND a.id = $2 FOR NO KEY UPDATE) "
	"UPDATE helpdesk.agent a SET missed_offers = a.missed_offers + 1, "
	"  status = CASE WHEN a.missed_offers + 1 >= t.max_missed_offers AND a.status = 'online' "
	"           THEN 'away' ELSE a.status END, "
	"  status_changed_at = CASE WHEN a.missed_offers + 1 >= t.max_missed_offers "
	"    AND a.status = 'online' THEN now() ELSE a.status_changed_at END "
	"FROM helpdesk.tenant t, old WHERE t.id = $1 AND a.tenant_id = $1 AND a.id = $2 "
	"RETURNING old.status = 'online' AND a.status = 'away', a.missed_offers",
	2, {INT8OID, INT8OID}
};

static void
expire_offer(void *arg)
{
	TimerItem	   *it = (TimerItem *) arg;
	HdSessionRow s = it->row;
	Datum		v[2] = {Int64GetDatum(it->tenant_id), Int64GetDatum(it->agent_id)};
	int64		missed = 0;

	if (strcmp(s.state, "offered") != 0 || !s.has_agent || s.agent_id != it->agent_id ||
		it->offer_expires_at == 0 || it->offer_expires_at > GetCurrentTransactionStartTimestamp())
		return;					/* accepted or declined meanwhile */
	hd_release_agent(it->tenant_id, it->session_id, it->agent_id, HD_END_TIMEOUT);
	hd_requeue(it->tenant_id, it->session_id, "offered", s.queue_id, it->agent_id, 0, false,
			   psprintf("offer to agent " INT64_FORMAT " timed out", it->agent_id));
	hd_audit(it->tenant_id, it->session_id, s.queue_id, it->agent_id, "timeout",
			 "offer not answered in time", it->due);
	hd_exec(&count_miss, v, NULL, false, 1);
	if (SPI_processed == 1 && hd_get_bool(1))
	{
		hd_get_int64(2, &missed);
		hd_append_event(it->tenant_id, "agent", it->agent_id, 0, 0, "agent.status",
						psprintf("{\"status\": \"away\", \"previous\": \"online\", \"reason\": \"missed " INT64_FORMAT " offers in a row\"}",
								 missed));
		hd_append_event(it->tenant_id, "tenant", it->tenant_id, 0, 0, "agent.status",
						psprintf("{\"agent_id\": " INT64_FORMAT ", \"status\": \"away\", \"previous\": \"online\", \"reason\": \"missed offers\"}",
								 it->agent_id));
		hd_audit(it->tenant_id, 0, 0, it->agent_id, "agent_away",
				 psprintf("missed " INT64_FORMAT " offers in a row", missed), it->due);
	}
	it->fired = true;
}

/*
 * ---- max wait ----
 * Time spent in an offer that timed out or was declined counts as waiting
 * (the customer still has nobody), so a session can come back to its queue
 * already past its max wait; the timer is then due when it came back.
 */

static HdPlan due_waits = {
	"SELECT s.tenant_id, s.id, s.queue_id, greatest(s.wait_due_at, s.queued_at), "
	"       CASE WHEN q.max_wait_action = 'overflow' THEN q.overflow_queue_id END, "
	"       q.max_wait_action = 'ticket' "
	"FROM helpdesk.session s JOIN helpdesk.queue q ON q.tenant_id = s.tenant_id AND q.id = s.queue_id "
	"WHERE s.state = 'queued' AND s.wait_due_at <= now() AND s.dispatch_error IS NULL "
	"  AND " HD_PLACED("s.tenant_id") " "
	"ORDER BY s.wait_due_at LIMIT " CppAsString2(TIMER_BATCH),
	0, {}
};
HdMaxWaitTicketHook hd_max_wait_ticket_hook = NULL;

static void
expire_wait(void *arg)
{
	TimerItem	   *it = (TimerItem *) arg;
	HdSessionRow s = it->row;

	if (strcmp(s.state, "queued") != 0 || !s.has_queue || s.queue_id != it->queue_id ||
		it->wait_due_at == 0 || it->wait_due_at > GetCurrentTransactionStartTimestamp())
		return;					/* placed, moved or closed meanwhile */
	if (it->overflow)
	{
		hd_requeue(it->tenant_id, it->session_id, "queued", it->overflow, 0, 0, true,
				   psprintf("waited past max_wait of queue " INT64_FORMAT, it->queue_id));
		hd_audit(it->tenant_id, it->session_id, it->overflow, 0, "overflow",
				 psprintf("max_wait of queue " INT64_FORMAT " exceeded; moved to overflow queue " INT64_FORMAT,
						  it->queue_id, it->overflow), it->due);
	}
	else if (it->to_ticket && hd_max_wait_ticket_hook != NULL)
	{
		hd_max_wait_ticket_hook(it->tenant_id, &s, it->due);
		hd_audit(it->tenant_id, it->session_id, it->queue_id, 0, "ticket",
				 psprintf("max_wait of queue " INT64_FORMAT " exceeded; escalated to a ticket",
						  it->queue_id), it->due);
	}
	else
	{
		hd_close(it->tenant_id, &s, "abandoned", "system");
		hd_audit(it->tenant_id, it->session_id, it->queue_id, 0, "abandon",
				 psprintf("max_wait of queue " INT64_FORMAT " exceeded and no overflow queue",
						  it->queue_id), it->due);
	}
	it->fired = true;
}

/* ---- idle ---- */

/* settings come raw: fill_idle checks and converts them */
static HdPlan due_idle = {
	"SELECT s.tenant_id, s.id, s.agent_id, s.idle_check_at, s.idle_warned_at, s.queue_id, "
	"       " HD_QUEUE_COLS ", " HD_TENANT_COLS " "
	"FROM helpdesk.session s JOIN helpdesk.queue q ON q.tenant_id = s.tenant_id AND q.id = s.queue_id "
	"JOIN helpdesk.tenant t ON t.id = s.tenant_id "
	"WHERE s.state = 'active' AND s.idle_check_at <= now() AND s.dispatch_error IS NULL "
	"  AND " HD_PLACED("s.tenant_id") " "
	"ORDER BY s.idle_check_at LIMIT " CppAsString2(TIMER_BATCH),
	0, {}
};
static HdPlan last_said = {
	"SELECT max(m.created_at) FILTER (WHERE m.sender_kind = 'agent' AND m.sender_id = s.agent_id "
	"                                  AND m.created_at >= s.assigned_at), "
	"       max(m.created_at) FILTER (WHERE m.sender_kind = 'customer') "
	"FROM helpdesk.session s LEFT JOIN helpdesk.message m "
	"  ON m.tenant_id = s.tenant_id AND m.session_id = s.id "
	"WHERE s.tenant_id = $1 AND s.id = $2",
	2, {INT8OID, INT8OID}
};
static HdPlan set_idle = {
	"UPDATE helpdesk.session SET idle_check_at = $3, idle_warned_at = $4 "
	"WHERE tenant_id = $1 AND id = $2",
	4, {INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID}
};

static void
schedule_idle(TimerItem *it, TimestampTz check_at, TimestampTz warned)
{
	Datum		v[4] = {Int64GetDatum(it->tenant_id), Int64GetDatum(it->session_id),
	TimestampTzGetDatum(check_at), TimestampTzGetDatum(warned)};

	hd_exec(&set_idle, v, warned ? NULL : "   n", false, 0);
}

static HdPlan customer_language = {
	"SELECT language FROM helpdesk.customer WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

/*
 * The idle rule: once the agent holding the session has replied (replies of
 * an agent who held it before a transfer or a lost connection do not count)
 * and the customer has been
 * silent for idle_warn_after, a system message warns (system_text.c: in the
 * customer's language, with the real idle_close_after); if the customer stays
 * silent for idle_close_after more, the session closes (reason idle).
 */
static void
check_idle(void *arg)
{
	TimerItem	   *it = (TimerItem *) arg;
	HdSessionRow s;
	Datum		v[2] = {Int64GetDatum(it->tenant_id), Int64GetDatum(it->session_id)};
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz agent_at,
				customer_at;

	s = it->row;
	if (strcmp(s.state, "active") != 0)
		return;
	if (it->bad)
	{
		/* the queue or tenant is marked (logged once); look again in a minute */
		hd_mark_row(it->bad_kind, it->tenant_id, it->bad_id, it->bad);
		schedule_idle(it, now + 60 * USECS_PER_SEC, it->warned);
		return;
	}
	hd_exec(&last_said, v, NULL, false, 1);
	agent_at = get_ts(0, 1);
	customer_at = get_ts(0, 2);

	if (it->warned && (customer_at == 0 || customer_at < it->warned))
	{
		TimestampTz close_due;

		if (!hd_ts_plus_us(it->warned, it->close_us, &close_due))
			elog(ERROR, "idle_warned_at is not a usable time");

		if (now >= close_due)
		{
			hd_close(it->tenant_id, &s, "idle", "system");
			hd_audit(it->tenant_id, it->session_id, s.queue_id, s.agent_id, "idle_close",
					 "customer silent after the idle warning", close_due);
			it->fired = true;
		}
		else
			schedule_idle(it, close_due, it->warned);
		return;
	}
	if (agent_at && (customer_at == 0 || agent_at > customer_at))
	{
		TimestampTz warn_due;

		if (!hd_ts_plus_us(agent_at, it->warn_us, &warn_due))
			elog(ERROR, "the agent's last message has no usable time");

		if (now >= warn_due)
		{
			HdPostArgs	m = {0};
			Datum		cv[2] = {Int64GetDatum(it->tenant_id), Int64GetDatum(s.customer_id)};

			hd_exec(&customer_language, cv, NULL, false, 1);
			m.tenant_id = it->tenant_id;
			m.session_id = it->session_id;
			m.sender_kind = "system";
			m.type = "system";
			m.body = hd_system_text(it->tenant_id, "idle_warning",
									SPI_processed ? hd_get_text(1) : NULL, it->close_us);
			(void) hd_post_message(&m);
			schedule_idle(it, now + it->close_us, now);
			hd_audit(it->tenant_id, it->session_id, s.queue_id, s.agent_id, "idle_warn",
					 "customer silent after the agent's reply", warn_due);
			it->fired = true;
		}
		else
			schedule_idle(it, warn_due, 0);
		return;
	}
	/* the customer spoke last, or nobody has: nothing to warn about yet */
	schedule_idle(it, now + it->warn_us, 0);
}

/* A due list and what to do with each of its rows. */
typedef struct TimerList
{
	HdPlan	   *list;
	Datum	   *params;
	void		(*fill) (TimerItem *, int);
	void		(*fn) (void *);
	const char *what;
	TimerItem  *items;
	int			n;
} TimerList;

static void
fetch_list(void *arg)
{
	TimerList  *l = (TimerList *) arg;
	int			i;

	/* items live in the caller's memory: only scalars are copied */
	hd_exec(l->list, l->params, NULL, false, 0);
	l->n = (int) SPI_processed;
	for (i = 0; i < l->n; i++)
		l->fill(&l->items[i], i);
}

/*
 * The session row the timer acts on, locked: the columns of
 * hd_load_session and the due times the "still due" checks compare (in C,
 * with the transaction's now(), as SQL's now() would). One statement where
 * there were three (the lock, the row, the check): a timer is about ten
 * statements, and each statement that writes the session evaluates its
 * CHECK constraints afresh.
 */
static HdPlan try_lock_session = {
	"SELECT customer_id, state, agent_id, queue_id, offer_expires_at, wait_due_at "
	"FROM helpdesk.session WHERE tenant_id = $1 AND id = $2 FOR UPDATE SKIP LOCKED",
	2, {INT8OID, INT8OID}
};

/* after try_lock_session found the row: keep it in the item */
static void
keep_locked_row(TimerItem *it)
{
	it->row.id = it->session_id;
	hd_get_int64(1, &it->row.customer_id);
	it->row.state = (char *) hd_state_literal(hd_get_text(2));
	it->row.has_agent = hd_get_int64(3, &it->row.agent_id);
	it->row.has_queue = hd_get_int64(4, &it->row.queue_id);
	it->offer_expires_at = get_ts(0, 5);
	it->wait_due_at = get_ts(0, 6);
}

static HdPlan try_lock_agent = {
	"SELECT 1 FROM helpdesk.agent WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE SKIP LOCKED",
	2, {INT8OID, INT8OID}
};

#define CHUNK 1

typedef struct Chunk
{
	TimerList  *l;
	int			from;
	int			to;
	int			fired;
	int			skipped;
} Chunk;

/* one due row, fired in a subtransaction of its own by run_chunk */
typedef struct ItemRun
{
	TimerList  *l;
	TimerItem  *it;
	bool		locked;			/* got the session (and agent) row locks */
} ItemRun;

/*
 * Lock the row's session and agent, then fire it, all in one
 * subtransaction. A session some backend holds locked is skipped (it stays
 * due and is retried within milliseconds), and so is one whose agent a
 * backend holds locked: under saturation that backend may wait for the CPU
 * for hundreds of milliseconds with the row locked, and every timer queued
 * behind ours would wait with it (the routing stress test's timers were
 * seconds late on row-lock waits and the convoys behind them).
 *
 * The locks are taken inside the subtransaction that updates the rows, not
 * in its parent: a row locked by the parent and updated by a subtransaction
 * gets a multixact for its xmax (the parent's lock must outlive an abort of
 * the child), two or three per timer, and every later reader of such a row
 * version looks its members up in the multixact SLRU. Under the routing
 * stress test 51 of 64 backends waited on MultiXactMemberSLRU.
 */
static void
lock_and_fire(void *arg)
{
	ItemRun    *r = (ItemRun *) arg;
	Datum		v[2] = {Int64GetDatum(r->it->tenant_id), Int64GetDatum(r->it->session_id)};

	hd_exec(&try_lock_session, v, NULL, false, 1);
	if (SPI_processed == 0)
		return;
	keep_locked_row(r->it);
	if (r->it->agent_id != 0)
	{
		v[1] = Int64GetDatum(r->it->agent_id);
		hd_exec(&try_lock_agent, v, NULL, false, 1);
		if (SPI_processed == 0)
			return;
	}
	r->locked = true;
	r->l->fn(r->it);
}

/*
 * Fire a chunk of due rows in one transaction, each in a subtransaction.
 * A row that fails is marked in the parent, under a session lock taken
 * again (the failed subtransaction's went with it); when another backend
 * holds it now, the row stays due and is retried. CHUNK is 1: a
 * transaction that holds one item's session and agent while taking the
 * next item's agent deadlocks against heartbeat batches, which lock agents
 * in id order (measured: with 100 per transaction the stress test saw
 * deadlocks and later timers).
 */
static void
run_chunk(void *arg)
{
	Chunk	   *c = (Chunk *) arg;
	int			i;

	for (i = c->from; i < c->to; i++)
	{
		TimerItem  *it = &c->l->items[i];
		ItemRun		r = {c->l, it, false};
		char	   *err = NULL;

		if (!hd_run_in_subxact(lock_and_fire, &r, &err))
		{
			Datum		v[2] = {Int64GetDatum(it->tenant_id), Int64GetDatum(it->session_id)};

			hd_exec(&try_lock_session, v, NULL, false, 1);
			if (SPI_processed == 0)
				c->skipped++;
			else
				hd_mark_session_error(it->tenant_id, it->session_id, c->l->what, err);
		}
		else if (!r.locked)
			c->skipped++;
		else if (it->fired)
			c->fired++;
	}
}

static int	skipped_total = 0;

/*
 * Fire the due rows of one list, CHUNK rows per transaction. Returns how
 * many fired.
 */
static int
run_items(HdPlan *list, Datum *params, void (*fill) (TimerItem *, int), void (*fn) (void *),
		  const char *what)
{
	TimerList	l;
	int			i,
				fired = 0;
	char	   *err = NULL;

	l.list = list;
	l.params = params;
	l.fill = fill;
	l.fn = fn;
	l.what = what;
	l.items = palloc0(sizeof(TimerItem) * TIMER_BATCH);
	l.n = 0;
	if (!hd_in_own_xact(fetch_list, &l, &err))
		elog(ERROR, "could not read due %s timers: %s", what, err);
	for (i = 0; i < l.n; i += CHUNK)
	{
		Chunk		c = {&l, i, Min(l.n, i + CHUNK), 0, 0};

		if (!hd_in_own_xact(run_chunk, &c, &err))
			elog(ERROR, "%s timers failed: %s", what, err);
		fired += c.fired;
		skipped_total += c.skipped;
	}
	return fired;
}

/* rows of (tenant, session, agent, due): agent loss and offer timeouts */
static void
fill_session_agent(TimerItem *it, int row)
{
	it->tenant_id = get_i8(row, 1);
	it->session_id = get_i8(row, 2);
	it->agent_id = get_i8(row, 3);
	it->due = get_ts(row, 4);
}

static void
fill_wait(TimerItem *it, int row)
{
	bool		isnull;

	it->tenant_id = get_i8(row, 1);
	it->session_id = get_i8(row, 2);
	it->queue_id = get_i8(row, 3);
	it->due = get_ts(row, 4);
	it->overflow = get_i8(row, 5);
	it->to_ticket = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 6, &isnull));
}

static void
fill_idle(TimerItem *it, int row)
{
	HeapTuple	t = SPI_tuptable->vals[row];
	TupleDesc	d = SPI_tuptable->tupdesc;
	HdTenantTimes tt;
	HdQueueTimes qt;
	const char *bad;

	it->tenant_id = get_i8(row, 1);
	it->session_id = get_i8(row, 2);
	it->agent_id = get_i8(row, 3);
	it->due = get_ts(row, 4);
	it->warned = get_ts(row, 5);
	it->queue_id = get_i8(row, 6);
	/* columns 7..12: the queue's, 13..19: the tenant's */
	if ((bad = hd_tenant_times(t, d, 13, &tt)) != NULL)
	{
		it->bad = bad;
		it->bad_kind = HD_MARK_TENANT;
		it->bad_id = it->tenant_id;
	}
	else if ((bad = hd_queue_times(t, d, 7, &tt, &qt)) != NULL)
	{
		it->bad = bad;
		it->bad_kind = HD_MARK_QUEUE;
		it->bad_id = it->queue_id;
	}
	else
	{
		it->warn_us = qt.warn_us;
		it->close_us = qt.close_us;
	}
}

/*
 * Fire every due timer. Runs outside any transaction: each step and each
 * chunk of items commits on its own. Returns how many fired, or -1 when a
 * due row was skipped because a backend held it locked (retry soon).
 */
int
hd_dispatch_timers(void)
{
	HdTimerTenants *ts;
	int			fired = 0;
	Datum		v[3];

	skipped_total = 0;
	ts = hd_timer_tenants_load();	/* dispatch_tenant_timers.c */
	fired += (int) hd_timer_expire_presence(ts);
	hd_timer_grace_params(ts, v);
	fired += run_items(&lost_sessions, v, fill_session_agent, requeue_lost, "requeue after agent loss");
	hd_timer_end_grace(ts);
	fired += run_items(&due_offers, NULL, fill_session_agent, expire_offer, "offer timeout");
	fired += run_items(&due_waits, NULL, fill_wait, expire_wait, "max wait");
	fired += run_items(&due_idle, NULL, fill_idle, check_idle, "idle check");
	return skipped_total > 0 ? -1 : fired;
}
