/*
 * sla_clock.c — the SLA clocks of one ticket, reconciled with its row.
 *
 * Each target (first response, next response, resolution) of the applied
 * policy is a clock in helpdesk.ticket_sla counting open time of the
 * policy's calendar: running since an instant with some open time consumed
 * before it, paused (ticket pending: the clock keeps what it consumed), or
 * stopped with an outcome. Instead of reacting to each kind of change, the
 * recompute looks at the ticket as it is now and moves each clock to where
 * it must be, so every change (reply, status, priority, queue, policy or
 * calendar edit) takes the same path and a repeated call changes nothing.
 */
#include "sla.h"

#include "utils/builtins.h"

typedef enum Target
{
	T_FIRST = 0,
	T_NEXT,
	T_RESOLUTION,
	T_COUNT
} Target;

static const char *const target_names[T_COUNT] = {"first_response", "next_response", "resolution"};

typedef struct Clock
{
	bool		exists;
	int32		round;
	int64		goal;			/* us of open time */
	TimestampTz started_at;
	bool		running;
	TimestampTz running_since;
	int64		consumed;
	bool		has_warn;
	TimestampTz warn_at;
	bool		has_due;
	TimestampTz due_at;
	bool		warned;
	bool		breached;
	bool		stopped;
	TimestampTz stopped_at;
	char		outcome;		/* 0, 'h' hit, 'm' missed */
	bool		has_policy;
	int64		policy_id;
} Clock;

typedef struct Ticket
{
	char	   *status;
	char	   *priority;
	char	   *issue_type;
	bool		has_queue;
	int64		queue_id;
	char	   *channel;
	int32		vip_level;
	TimestampTz created_at;
	bool		has_first_response;
	TimestampTz first_response_at;
	bool		customer_waits;	/* last public message is the customer's */
	bool		has_last_customer;
	TimestampTz last_customer_at;
	bool		has_last_agent;
	TimestampTz last_agent_at;
	/* the SLA columns as stored */
	bool		has_policy;
	int64		policy_id;
	char	   *sla_state;
	bool		has_due[T_COUNT];
	TimestampTz due[T_COUNT];
	bool		has_next;
	TimestampTz next_at;
} Ticket;

typedef struct Policy
{
	bool		found;
	int64		id;
	int64		goal[T_COUNT];	/* 0: not measured */
	bool		has_calendar;
	int64		calendar_id;
	int32		warning_percent;
} Policy;

static HdCalendar always_open = {.always_open = true};

static HdPlan ticket_plan = {
	"SELECT t.status, t.priority, t.issue_type, t.queue_id, t.channel, c.vip_level, t.created_at, "
	"t.first_response_at, t.last_public_sender = 'customer', t.last_customer_at, t.last_agent_at, "
	"t.sla_policy_id, t.sla_state, t.sla_first_response_due, t.sla_next_response_due, "
	"t.sla_resolution_due, t.sla_next_at "
	"FROM helpdesk.ticket t JOIN helpdesk.customer c ON c.tenant_id = t.tenant_id AND c.id = t.customer_id "
	"WHERE t.tenant_id = $1 AND t.id = $2",
	2, {INT8OID, INT8OID}
};

static HdPlan policy_plan = {
	"SELECT p.id, p.first_response, p.next_response, p.resolution, p.calendar_id, p.warning_percent "
	"FROM helpdesk.sla_policy p WHERE p.tenant_id = $1 AND p.enabled "
	"AND (p.priorities IS NULL OR $2 = ANY (p.priorities)) "
	"AND (p.issue_types IS NULL OR $3 = ANY (p.issue_types)) "
	"AND (p.min_vip_level IS NULL OR $4 >= p.min_vip_level) "
	"AND (p.channels IS NULL OR $5 = ANY (p.channels)) "
	"AND (p.queue_ids IS NULL OR $6 = ANY (p.queue_ids)) "
	"ORDER BY p.position, p.id LIMIT 1",
	6, {INT8OID, TEXTOID, TEXTOID, INT4OID, TEXTOID, INT8OID}
};

static HdPlan clocks_plan = {
	"SELECT DISTINCT ON (target) target, round, goal, started_at, running_since, consumed, warn_at, "
	"due_at, warned, breached, stopped_at, outcome, policy_id "
	"FROM helpdesk.ticket_sla WHERE tenant_id = $1 AND ticket_id = $2 ORDER BY target, round DESC",
	2, {INT8OID, INT8OID}
};

static HdPlan clock_upsert = {
	"INSERT INTO helpdesk.ticket_sla AS s (tenant_id, ticket_id, target, round, policy_id, goal, "
	"started_at, running_since, consumed, warn_at, due_at, warned, breached, stopped_at, outcome) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) "
	"ON CONFLICT (tenant_id, ticket_id, target, round) DO UPDATE SET policy_id = EXCLUDED.policy_id, "
	"goal = EXCLUDED.goal, running_since = EXCLUDED.running_since, consumed = EXCLUDED.consumed, "
	"warn_at = EXCLUDED.warn_at, due_at = EXCLUDED.due_at, warned = EXCLUDED.warned, "
	"breached = EXCLUDED.breached, stopped_at = EXCLUDED.stopped_at, outcome = EXCLUDED.outcome",
	15, {INT8OID, INT8OID, TEXTOID, INT4OID, INT8OID, INTERVALOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	INTERVALOID, TIMESTAMPTZOID, TIMESTAMPTZOID, BOOLOID, BOOLOID, TIMESTAMPTZOID, TEXTOID}
};

static HdPlan ticket_update = {
	"UPDATE helpdesk.ticket SET sla_policy_id = $3, sla_state = $4, sla_first_response_due = $5, "
	"sla_next_response_due = $6, sla_resolution_due = $7, sla_next_at = $8 "
	"WHERE tenant_id = $1 AND id = $2",
	8, {INT8OID, INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	TIMESTAMPTZOID}
};

static HdPlan fired_update = {
	"UPDATE helpdesk.ticket SET sla_next_at = $3, "
	"sla_state = CASE WHEN $4 AND sla_state IS NOT NULL THEN 'missed' ELSE sla_state END "
	"WHERE tenant_id = $1 AND id = $2",
	4, {INT8OID, INT8OID, TIMESTAMPTZOID, BOOLOID}
};

static HdPlan event_insert = {
	"INSERT INTO helpdesk.sla_event (tenant_id, ticket_id, target, kind, round, policy_id, due) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, ticket_id, target, kind, round) "
	"DO NOTHING RETURNING id",
	7, {INT8OID, INT8OID, TEXTOID, TEXTOID, INT4OID, INT8OID, TIMESTAMPTZOID}
};

/* ---- reading result columns ---- */

static bool
col_ts(int col, TimestampTz *out)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	if (!isnull)
		*out = DatumGetTimestampTz(d);
	return !isnull;
}

static int64
col_interval(HeapTuple tup, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : hd_interval_usecs(DatumGetIntervalP(d));
}

static Datum
interval_datum(int64 us)
{
	Interval   *i = palloc0(sizeof(Interval));

	i->time = us;
	return IntervalPGetDatum(i);
}

static void
load_ticket(int64 tenant_id, int64 ticket_id, Ticket *t)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(ticket_id)};
	int64		vip = 0;
	int			i;

	hd_exec(&ticket_plan, v, NULL, false, 1);
	if (SPI_processed != 1)
		hd_not_found("ticket", ticket_id, tenant_id);
	memset(t, 0, sizeof(Ticket));
	t->status = hd_get_text(1);
	t->priority = hd_get_text(2);
	t->issue_type = hd_get_text(3);
	t->has_queue = hd_get_int64(4, &t->queue_id);
	t->channel = hd_get_text(5);
	{
		bool		isnull;

		vip = DatumGetInt16(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6, &isnull));
		t->vip_level = (int32) vip;
	}
	col_ts(7, &t->created_at);
	t->has_first_response = col_ts(8, &t->first_response_at);
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 9, &isnull);

		t->customer_waits = !isnull && DatumGetBool(d);
	}
	t->has_last_customer = col_ts(10, &t->last_customer_at);
	t->has_last_agent = col_ts(11, &t->last_agent_at);
	t->has_policy = hd_get_int64(12, &t->policy_id);
	t->sla_state = hd_get_text(13);
	for (i = 0; i < T_COUNT; i++)
		t->has_due[i] = col_ts(14 + i, &t->due[i]);
	t->has_next = col_ts(17, &t->next_at);
}

static void
load_policy(int64 tenant_id, const Ticket *t, Policy *p)
{
	Datum		v[6];
	char		n[7] = "      ";
	HeapTuple	tup;
	bool		isnull;
	int			i;

	v[0] = Int64GetDatum(tenant_id);
	v[1] = CStringGetTextDatum(t->priority);
	v[2] = t->issue_type ? CStringGetTextDatum(t->issue_type) : (Datum) 0;
	n[2] = t->issue_type ? ' ' : 'n';
	v[3] = Int32GetDatum(t->vip_level);
	v[4] = CStringGetTextDatum(t->channel);
	v[5] = Int64GetDatum(t->queue_id);
	n[5] = t->has_queue ? ' ' : 'n';
	memset(p, 0, sizeof(Policy));
	hd_exec(&policy_plan, v, n, false, 1);
	if (SPI_processed == 0)
		return;
	tup = SPI_tuptable->vals[0];
	p->found = true;
	hd_get_int64(1, &p->id);
	for (i = 0; i < T_COUNT; i++)
		p->goal[i] = col_interval(tup, 2 + i);
	p->has_calendar = hd_get_int64(5, &p->calendar_id);
	p->warning_percent = DatumGetInt16(SPI_getbinval(tup, SPI_tuptable->tupdesc, 6, &isnull));
}

static void
load_clocks(int64 tenant_id, int64 ticket_id, Clock *clocks)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(ticket_id)};
	uint64		r;

	memset(clocks, 0, sizeof(Clock) * T_COUNT);
	hd_exec(&clocks_plan, v, NULL, false, 0);
	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	d = SPI_tuptable->tupdesc;
		char	   *target = SPI_getvalue(tup, d, 1);
		char	   *outcome;
		Clock	   *c = NULL;
		bool		isnull;
		Datum		x;
		int			i;

		for (i = 0; i < T_COUNT; i++)
			if (strcmp(target, target_names[i]) == 0)
				c = &clocks[i];
		if (c == NULL)
			continue;
		c->exists = true;
		c->round = DatumGetInt32(SPI_getbinval(tup, d, 2, &isnull));
		c->goal = col_interval(tup, 3);
		c->started_at = DatumGetTimestampTz(SPI_getbinval(tup, d, 4, &isnull));
		x = SPI_getbinval(tup, d, 5, &isnull);
		c->running = !isnull;
		c->running_since = isnull ? 0 : DatumGetTimestampTz(x);
		c->consumed = col_interval(tup, 6);
		x = SPI_getbinval(tup, d, 7, &isnull);
		c->has_warn = !isnull;
		c->warn_at = isnull ? 0 : DatumGetTimestampTz(x);
		x = SPI_getbinval(tup, d, 8, &isnull);
		c->has_due = !isnull;
		c->due_at = isnull ? 0 : DatumGetTimestampTz(x);
		c->warned = DatumGetBool(SPI_getbinval(tup, d, 9, &isnull));
		c->breached = DatumGetBool(SPI_getbinval(tup, d, 10, &isnull));
		x = SPI_getbinval(tup, d, 11, &isnull);
		c->stopped = !isnull;
		c->stopped_at = isnull ? 0 : DatumGetTimestampTz(x);
		outcome = SPI_getvalue(tup, d, 12);
		c->outcome = outcome == NULL ? 0 : (outcome[0] == 'h' ? 'h' : 'm');
		x = SPI_getbinval(tup, d, 13, &isnull);
		c->has_policy = !isnull;
		c->policy_id = isnull ? 0 : DatumGetInt64(x);
	}
}

static void
save_clock(int64 tenant_id, int64 ticket_id, Target target, const Clock *c)
{
	Datum		v[15];
	char		n[16] = "               ";
	const char *outcome = c->outcome == 'h' ? "hit" : "missed";

	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(ticket_id);
	v[2] = CStringGetTextDatum(target_names[target]);
	v[3] = Int32GetDatum(c->round);
	v[4] = Int64GetDatum(c->policy_id);
	n[4] = c->has_policy ? ' ' : 'n';
	v[5] = interval_datum(c->goal);
	v[6] = TimestampTzGetDatum(c->started_at);
	v[7] = TimestampTzGetDatum(c->running_since);
	n[7] = c->running ? ' ' : 'n';
	v[8] = interval_datum(c->consumed);
	v[9] = TimestampTzGetDatum(c->warn_at);
	n[9] = c->has_warn ? ' ' : 'n';
	v[10] = TimestampTzGetDatum(c->due_at);
	n[10] = c->has_due ? ' ' : 'n';
	v[11] = BoolGetDatum(c->warned);
	v[12] = BoolGetDatum(c->breached);
	v[13] = TimestampTzGetDatum(c->stopped_at);
	n[13] = c->stopped ? ' ' : 'n';
	v[14] = CStringGetTextDatum(outcome);
	n[14] = c->outcome ? ' ' : 'n';
	hd_exec(&clock_upsert, v, n, false, 0);
}

/* ---- the clock rules ---- */

/* Open time the clock has counted up to t (t before running_since counts nothing more). */
static int64
elapsed_at(const HdCalendar *cal, const Clock *c, TimestampTz t)
{
	if (!c->running || t <= c->running_since)
		return c->consumed;
	return c->consumed + hd_cal_between(cal, c->running_since, t);
}

/*
 * Stop the clock at t. measured: the target still applies, so the outcome
 * is hit or missed (a breach already fired is a miss whatever t is);
 * otherwise it just stops (the policy dropped the target, or a response
 * target of a ticket resolved without a reply).
 */
static void
stop_clock(const HdCalendar *cal, Clock *c, TimestampTz t, bool measured)
{
	int64		elapsed = elapsed_at(cal, c, t);

	c->consumed = elapsed;
	c->running = false;
	c->running_since = 0;
	c->stopped = true;
	c->stopped_at = t;
	c->outcome = !measured ? 0 : (c->breached || elapsed > c->goal) ? 'm' : 'h';
	c->has_warn = c->has_due = false;
}

static void
start_clock(Clock *c, int32 round, TimestampTz at)
{
	memset(c, 0, sizeof(Clock));
	c->exists = true;
	c->round = round;
	c->started_at = at;
	c->running = true;
	c->running_since = at;
}

static TimestampTz
add_open(const HdCalendar *cal, TimestampTz from, int64 amount)
{
	return hd_cal_add(cal, from, amount < 0 ? 0 : amount);
}

/* The earliest unfired instant of a clock, or 0. */
static TimestampTz
clock_next(const Clock *c)
{
	TimestampTz n = 0;

	if (!c->exists || c->stopped || !c->running)
		return 0;
	if (c->has_warn && !c->warned)
		n = c->warn_at;
	if (c->has_due && !c->breached && (n == 0 || c->due_at < n))
		n = c->due_at;
	return n;
}

static bool
same_clock(const Clock *a, const Clock *b)
{
	return a->exists == b->exists && a->round == b->round && a->goal == b->goal &&
		a->running == b->running && a->running_since == b->running_since &&
		a->consumed == b->consumed && a->has_warn == b->has_warn && a->warn_at == b->warn_at &&
		a->has_due == b->has_due && a->due_at == b->due_at && a->warned == b->warned &&
		a->breached == b->breached && a->stopped == b->stopped && a->stopped_at == b->stopped_at &&
		a->outcome == b->outcome && a->has_policy == b->has_policy && a->policy_id == b->policy_id;
}

static Datum
ts_or_null(bool has, TimestampTz t, char *null)
{
	*null = has ? ' ' : 'n';
	return TimestampTzGetDatum(t);
}

void
hd_sla_recompute(int64 tenant_id, int64 ticket_id, TimestampTz now)
{
	Ticket		t;
	Policy		p;
	Clock		old[T_COUNT],
				clocks[T_COUNT];
	const HdCalendar *cal = &always_open;
	bool		done,
				paused,
				missed;
	const char *state;
	TimestampTz next = 0;
	int			i;

	load_ticket(tenant_id, ticket_id, &t);
	load_policy(tenant_id, &t, &p);
	load_clocks(tenant_id, ticket_id, old);
	memcpy(clocks, old, sizeof(clocks));
	if (p.found && p.has_calendar)
		cal = hd_calendar_get(tenant_id, p.calendar_id);
	done = strcmp(t.status, "resolved") == 0 || strcmp(t.status, "closed") == 0;
	paused = strcmp(t.status, "pending") == 0;

	for (i = 0; i < T_COUNT; i++)
	{
		Clock	   *c = &clocks[i];
		int64		goal = p.found ? p.goal[i] : 0;
		bool		active = c->exists && !c->stopped;
		bool		waits = t.has_first_response && t.customer_waits;

		/* stop what no longer runs */
		if (active)
		{
			if (goal == 0)
				stop_clock(cal, c, now, false);
			else if (i == T_FIRST && t.has_first_response)
				stop_clock(cal, c, t.first_response_at, true);
			else if (i == T_NEXT && !waits)
				stop_clock(cal, c, t.has_last_agent ? t.last_agent_at : now, true);
			else if (i == T_RESOLUTION && done)
				stop_clock(cal, c, now, true);
			else if (done)
				stop_clock(cal, c, now, false);
		}
		/* start or resume what must run */
		if (goal > 0 && !done)
		{
			if (i == T_FIRST && !c->exists && !t.has_first_response)
				start_clock(c, 1, t.created_at);
			else if (i == T_NEXT && waits && (!c->exists || c->stopped))
				start_clock(c, c->exists ? c->round + 1 : 1,
							t.has_last_customer ? t.last_customer_at : now);
			else if (i == T_RESOLUTION && !c->exists)
				start_clock(c, 1, t.created_at);
			else if (i == T_RESOLUTION && c->stopped)
			{
				/* reopened: the clock goes on from what it had counted */
				c->stopped = false;
				c->stopped_at = 0;
				c->outcome = 0;
				c->running = false;
			}
		}
		if (!c->exists || c->stopped)
			continue;
		c->goal = goal;
		c->has_policy = true;
		c->policy_id = p.id;
		/* pending pauses, anything else runs */
		if (paused && c->running)
		{
			c->consumed = elapsed_at(cal, c, now);
			c->running = false;
			c->running_since = 0;
		}
		else if (!paused && !c->running)
		{
			c->running = true;
			c->running_since = now;
		}
		c->has_warn = c->has_due = c->running;
		if (c->running)
		{
			c->due_at = add_open(cal, c->running_since, c->goal - c->consumed);
			c->warn_at = add_open(cal, c->running_since,
								  c->goal * p.warning_percent / 100 - c->consumed);
		}
	}

	missed = t.sla_state != NULL && strcmp(t.sla_state, "missed") == 0;
	for (i = 0; i < T_COUNT; i++)
	{
		TimestampTz n = clock_next(&clocks[i]);

		if (!same_clock(&clocks[i], &old[i]))
			save_clock(tenant_id, ticket_id, (Target) i, &clocks[i]);
		if (clocks[i].exists && (clocks[i].breached || clocks[i].outcome == 'm'))
			missed = true;
		if (n != 0 && (next == 0 || n < next))
			next = n;
	}
	state = !p.found ? NULL : missed ? "missed" : done ? "hit" : "active";

	{
		bool		changed = (p.found != t.has_policy) || (p.found && p.id != t.policy_id) ||
			((state == NULL) != (t.sla_state == NULL)) ||
			(state && strcmp(state, t.sla_state) != 0) ||
			((next != 0) != t.has_next) || (next != 0 && next != t.next_at);

		for (i = 0; i < T_COUNT; i++)
		{
			bool		has = clocks[i].exists && clocks[i].has_due;

			if (has != t.has_due[i] || (has && clocks[i].due_at != t.due[i]))
				changed = true;
		}
		if (changed)
		{
			Datum		v[8];
			char		n[9] = "        ";

			v[0] = Int64GetDatum(tenant_id);
			v[1] = Int64GetDatum(ticket_id);
			v[2] = Int64GetDatum(p.id);
			n[2] = p.found ? ' ' : 'n';
			v[3] = state ? CStringGetTextDatum(state) : (Datum) 0;
			n[3] = state ? ' ' : 'n';
			for (i = 0; i < T_COUNT; i++)
				v[4 + i] = ts_or_null(clocks[i].exists && clocks[i].has_due, clocks[i].due_at, &n[4 + i]);
			v[7] = ts_or_null(next != 0, next, &n[7]);
			hd_exec(&ticket_update, v, n, false, 0);
			if (next != 0 && (!t.has_next || next < t.next_at))
				hd_wake_at_commit(HD_WORKER_DISPATCHER);
		}
	}
}

/*
 * Fire what is due at now: each warning and breach becomes one sla_event
 * row (unique per ticket, target, kind and round, so a retry after a crash
 * cannot fire twice) and one ticket.sla event for the ticket's staff
 * audiences; then sla_next_at moves on to the next unfired instant (the
 * ticket itself did not change, so nothing else needs recomputing).
 */
int
hd_sla_fire(int64 tenant_id, int64 ticket_id, TimestampTz now)
{
	Clock		clocks[T_COUNT];
	int			fired = 0;
	int			i,
				k;

	load_clocks(tenant_id, ticket_id, clocks);
	for (i = 0; i < T_COUNT; i++)
	{
		Clock	   *c = &clocks[i];

		if (!c->exists || c->stopped || !c->running)
			continue;
		for (k = 0; k < 2; k++)
		{
			bool		breach = (k == 1);
			bool	   *flag = breach ? &c->breached : &c->warned;
			TimestampTz due = breach ? c->due_at : c->warn_at;
			Datum		v[7];
			char		n[8] = "       ";

			if (*flag || !(breach ? c->has_due : c->has_warn) || due > now)
				continue;
			*flag = true;
			v[0] = Int64GetDatum(tenant_id);
			v[1] = Int64GetDatum(ticket_id);
			v[2] = CStringGetTextDatum(target_names[i]);
			v[3] = CStringGetTextDatum(breach ? "breach" : "warning");
			v[4] = Int32GetDatum(c->round);
			v[5] = Int64GetDatum(c->policy_id);
			n[5] = c->has_policy ? ' ' : 'n';
			v[6] = TimestampTzGetDatum(due);
			hd_exec(&event_insert, v, n, false, 0);
			if (SPI_processed == 1)
			{
				char	   *payload = psprintf("{\"target\": \"%s\", \"kind\": \"%s\", \"round\": %d, "
											   "\"due\": \"%s\", \"policy_id\": %s}",
											   target_names[i], breach ? "breach" : "warning",
											   c->round, timestamptz_to_str(due),
											   c->has_policy ? psprintf("%lld", (long long) c->policy_id) : "null");

				hd_ticket_event(tenant_id, ticket_id, "ticket.sla", payload, false);
				fired++;
			}
		}
		save_clock(tenant_id, ticket_id, (Target) i, c);
	}
	/* nothing but the flags changed: the next instant and the state follow from the clocks */
	{
		TimestampTz next = 0;
		bool		missed = false;
		Datum		v[4];
		char		n[5] = "    ";

		for (i = 0; i < T_COUNT; i++)
		{
			TimestampTz x = clock_next(&clocks[i]);

			if (x != 0 && (next == 0 || x < next))
				next = x;
			if (clocks[i].exists && (clocks[i].breached || clocks[i].outcome == 'm'))
				missed = true;
		}
		v[0] = Int64GetDatum(tenant_id);
		v[1] = Int64GetDatum(ticket_id);
		v[2] = TimestampTzGetDatum(next);
		n[2] = next != 0 ? ' ' : 'n';
		v[3] = BoolGetDatum(missed);
		hd_exec(&fired_update, v, n, false, 0);
	}
	return fired;
}
