/*
 * rollup_step.c — one step of the rollup worker, in its transaction.
 *
 * The worker follows the event log by its own cursor (rollup_cursor). A
 * step reads up to helpdesk.rollup_batch events after it, turns them into
 * the set of dirty (tenant, bucket) pairs — the buckets a closed session's
 * facts fall in (creation, its offers, its survey) and, for tickets, the
 * buckets they are counted in now plus those they were last counted in
 * (rollup_ticket_seen: a reopen moves resolved_at) — recomputes each of
 * those buckets from the raw rows (_rollup_recompute: delete and insert),
 * then the day tier of the local days they fall on (_rollup_days), and
 * moves the cursor, all in one transaction. So a crash anywhere leaves
 * rollups and cursor as they were, and reprocessing a step writes the same
 * rows again: recomputing a bucket is idempotent, nothing is incremented.
 *
 * Why recompute buckets rather than add deltas: the figures of a bucket
 * depend on rows an event does not carry (the session's messages, its
 * offers, the queue's thresholds), and a ticket's figures move between
 * buckets; adding deltas would need the old contribution of every entity.
 * A bucket is a quarter hour of one tenant, so a recompute reads that
 * quarter hour's sessions only (index session_by_created). The step runs
 * under REPEATABLE READ, so the dirty set, the recomputes and the seen
 * buckets all come from one snapshot.
 */
#include "reports.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"

static HdPlan read_cursor = {
	"SELECT c.position, c.log_id::text, helpdesk.event_log_id()::text, helpdesk.event_position(), "
	"       (SELECT coalesce(min(b.first_pos) - 1, 0) FROM helpdesk.event_batch b) "
	"FROM helpdesk.rollup_cursor c FOR UPDATE",
	0, {}
};

static HdPlan move_cursor = {
	"UPDATE helpdesk.rollup_cursor SET position = $1, log_id = $2::uuid, updated_at = now()",
	2, {INT8OID, TEXTOID}
};

/*
 * $1 after, $2 batch: the dirty buckets of the events in (after, after +
 * batch], and (on every row) the last position read and how many positions
 * that is (NULL when nothing was published after $1). Ticket
 * events carry the ticket in payload.ticket_id (ticket_event.c).
 */
/*
 * The events at positions (after, after + batch]: the batches that cover
 * them expanded as events_since does, joined to the event rows by id, but
 * without building message documents, and without message.created (a
 * message changes no figure until its session closes, which has its own
 * event). Most of the log under chat load is messages.
 */
#define EVENTS_AFTER \
	"x AS MATERIALIZED (SELECT y.pos, y.id FROM (" \
	"  SELECT b.first_pos - 1 + row_number() OVER (PARTITION BY b.first_pos ORDER BY g.id) AS pos, g.id " \
	"  FROM helpdesk.event_batch b, unnest(b.ids) r, generate_series(lower(r), upper(r) - 1) g(id) " \
	"  WHERE b.last_pos > $1 AND b.first_pos <= $1 + $2) y WHERE y.pos > $1 AND y.pos <= $1 + $2), " \
	"e AS MATERIALIZED (SELECT ev.tenant_id, ev.session_id, ev.type, ev.payload, ev.id, ev.created_at, " \
	"  ev.audience, ev.audience_id " \
	"  FROM x JOIN helpdesk.event ev ON ev.id = x.id WHERE ev.type <> 'message.created'), " \
	"hi AS (SELECT max(x.pos) AS last FROM x), "

static HdPlan dirty = {
	"WITH " EVENTS_AFTER
	"ss AS (SELECT DISTINCT s.tenant_id, s.id, s.created_at FROM e "
	"       JOIN helpdesk.session s ON s.tenant_id = e.tenant_id AND s.id = e.session_id "
	"       WHERE s.state = 'closed'), "
	"tt AS (SELECT DISTINCT e.tenant_id, (e.payload->>'ticket_id')::bigint AS id FROM e "
	"       WHERE e.session_id IS NULL AND jsonb_typeof(e.payload->'ticket_id') = 'number'), "
	"d AS (SELECT ss.tenant_id, helpdesk._bucket(ss.created_at) AS b FROM ss "
	"      UNION SELECT sa.tenant_id, helpdesk._bucket(sa.started_at) FROM ss "
	"            JOIN helpdesk.session_assignment sa ON sa.tenant_id = ss.tenant_id AND sa.session_id = ss.id "
	"      UNION SELECT sa.tenant_id, g.b FROM ss "
	"            JOIN helpdesk.session_assignment sa ON sa.tenant_id = ss.tenant_id AND sa.session_id = ss.id, "
	"            generate_series(helpdesk._bucket(sa.accepted_at), helpdesk._bucket(sa.ended_at), interval '15 minutes') g(b) "
	"            WHERE sa.accepted_at IS NOT NULL AND sa.ended_at > sa.accepted_at "
	"      UNION SELECT x.t, x.b FROM unnest($3::bigint[], $4::timestamptz[]) x(t, b) "
	"      UNION SELECT c.tenant_id, helpdesk._bucket(c.requested_at) FROM ss "
	"            JOIN helpdesk.csat c ON c.tenant_id = ss.tenant_id AND c.session_id = ss.id "
	"      UNION SELECT tt.tenant_id, x.b FROM tt "
	"            LEFT JOIN helpdesk.rollup_ticket_seen seen ON seen.tenant_id = tt.tenant_id AND seen.ticket_id = tt.id, "
	"            unnest(coalesce(helpdesk._ticket_buckets(tt.tenant_id, tt.id), '{}') "
	"                   || coalesce(seen.buckets, '{}')) x(b)) "
	"SELECT d.tenant_id, d.b, hi.last, hi.last - $1 FROM hi LEFT JOIN d ON true ORDER BY 1, 2",
	4, {INT8OID, INT4OID, INT8ARRAYOID, TIMESTAMPTZARRAYOID}
};

/*
 * Agent status history (occupancy's time online), from the agent.status
 * events of the agent audience (one per change; the tenant audience's twin
 * is skipped). A change's transaction writes nothing more: the worker turns
 * the events into intervals, in the agent's event order (its changes are
 * serialised by the agent's row lock, so id order is commit order). An
 * interval starts at its event's created_at, or at the previous start when
 * that is later (an earlier-started transaction committed later), and ends
 * where the next starts. Two statements, so the open interval is closed
 * before its successor is inserted (one open interval per agent). Both
 * return the buckets of the intervals they ended: those buckets' time
 * online is now known.
 *
 * A deleted tenant's events stay in the log (the log is not the tenant's),
 * but its intervals cannot be written: its agent.status events are skipped,
 * or the step failed on the foreign key for every tenant, every second,
 * until the log moved past them (seen in test clusters after a pgTAP file
 * removed its tenant).
 */
#define STATUS_EVENTS \
	"st AS (SELECT e.tenant_id, e.audience_id AS agent_id, e.id, e.payload->>'status' AS status, e.created_at " \
	"  FROM e WHERE e.type = 'agent.status' AND e.audience = 'agent' AND e.audience_id IS NOT NULL " \
	"  AND e.payload->>'status' IN ('online', 'away', 'busy', 'offline') " \
	"  AND EXISTS (SELECT 1 FROM helpdesk.tenant t WHERE t.id = e.tenant_id)), "
#define ENDED_BUCKETS(rel) \
	"SELECT DISTINCT x.tenant_id, g.b FROM " rel " x, " \
	"  generate_series(helpdesk._bucket(x.started_at), helpdesk._bucket(x.ended_at), interval '15 minutes') g(b) " \
	"WHERE x.ended_at > x.started_at AND x.status IN ('online', 'busy')"

static HdPlan close_status = {
	"WITH " EVENTS_AFTER STATUS_EVENTS
	"f AS (SELECT DISTINCT ON (st.tenant_id, st.agent_id) st.tenant_id, st.agent_id, st.created_at "
	"      FROM st ORDER BY st.tenant_id, st.agent_id, st.id), "
	"cl AS (UPDATE helpdesk.agent_status_interval i SET ended_at = greatest(f.created_at, i.started_at) "
	"       FROM f WHERE i.tenant_id = f.tenant_id AND i.agent_id = f.agent_id AND i.ended_at IS NULL "
	"       RETURNING i.tenant_id, i.status, i.started_at, i.ended_at) "
	ENDED_BUCKETS("cl"),
	2, {INT8OID, INT4OID}
};

static HdPlan insert_status = {
	"WITH " EVENTS_AFTER STATUS_EVENTS
	"s1 AS (SELECT st.tenant_id, st.agent_id, st.id, st.status, "
	"         greatest(max(st.created_at) OVER (PARTITION BY st.tenant_id, st.agent_id ORDER BY st.id), base.at) AS started_at "
	"       FROM st LEFT JOIN LATERAL (SELECT coalesce(i.ended_at, i.started_at) AS at FROM helpdesk.agent_status_interval i "
	"         WHERE i.tenant_id = st.tenant_id AND i.agent_id = st.agent_id AND i.event_id < st.id "
	"         ORDER BY i.event_id DESC LIMIT 1) base ON true), "
	"s2 AS (SELECT s1.*, lead(s1.started_at) OVER (PARTITION BY s1.tenant_id, s1.agent_id ORDER BY s1.id) AS ended_at FROM s1), "
	"ins AS (INSERT INTO helpdesk.agent_status_interval (tenant_id, agent_id, event_id, status, started_at, ended_at) "
	"        SELECT s2.tenant_id, s2.agent_id, s2.id, s2.status, s2.started_at, s2.ended_at FROM s2 "
	"        ON CONFLICT (tenant_id, agent_id, event_id) DO NOTHING "
	"        RETURNING tenant_id, status, started_at, ended_at) "
	ENDED_BUCKETS("ins"),
	2, {INT8OID, INT4OID}
};

/* the tickets this step read events of: their seen buckets are now exactly their current ones */
static HdPlan reset_seen = {
	"WITH " EVENTS_AFTER
	"tt AS (SELECT DISTINCT e.tenant_id, (e.payload->>'ticket_id')::bigint AS id FROM e "
	"       WHERE e.session_id IS NULL AND jsonb_typeof(e.payload->'ticket_id') = 'number'), "
	"cur AS (SELECT tt.tenant_id, tt.id, helpdesk._ticket_buckets(tt.tenant_id, tt.id) AS buckets FROM tt), "
	"del AS (DELETE FROM helpdesk.rollup_ticket_seen s USING cur "
	"        WHERE s.tenant_id = cur.tenant_id AND s.ticket_id = cur.id AND cur.buckets IS NULL) "
	"INSERT INTO helpdesk.rollup_ticket_seen (tenant_id, ticket_id, buckets) "
	"SELECT cur.tenant_id, cur.id, cur.buckets FROM cur WHERE cur.buckets IS NOT NULL "
	"ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET buckets = excluded.buckets",
	2, {INT8OID, INT4OID}
};

/* $1 tenants, $2 buckets (pairs): the day tier of the local days they fall on */
static HdPlan recompute_days = {
	"SELECT helpdesk._rollup_days(x.t, array_agg(DISTINCT (x.b AT TIME ZONE tn.time_zone)::date)) "
	"FROM unnest($1::bigint[], $2::timestamptz[]) x(t, b) JOIN helpdesk.tenant tn ON tn.id = x.t "
	"GROUP BY x.t",
	2, {INT8ARRAYOID, TIMESTAMPTZARRAYOID}
};

static HdPlan recompute = {
	"SELECT helpdesk._rollup_recompute($1, $2, $2 + interval '15 minutes'), "
	"       helpdesk._rollup_reseen($1, $2, $2 + interval '15 minutes')",
	2, {INT8OID, TIMESTAMPTZOID}
};

/*
 * Applies the step's agent.status events to the status history; dv[0..1]
 * get the step's range (v), dv[2..3] the (tenant, bucket) pairs of the
 * intervals that ended, for the dirty set.
 */
static void
status_buckets(Datum *v, Datum *dv)
{
	HdPlan	   *plans[2] = {&close_status, &insert_status};
	Datum	   *tenants = NULL,
			   *buckets = NULL;
	int			n = 0,
				cap = 0;

	for (int p = 0; p < 2; p++)
	{
		hd_exec(plans[p], v, NULL, false, 0);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		null1,
						null2;
			Datum		t = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &null1);
			Datum		b = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &null2);

			if (null1 || null2)
				continue;
			if (n == cap)
			{
				cap = Max(64, cap * 2);
				tenants = tenants ? repalloc(tenants, sizeof(Datum) * cap) : palloc(sizeof(Datum) * cap);
				buckets = buckets ? repalloc(buckets, sizeof(Datum) * cap) : palloc(sizeof(Datum) * cap);
			}
			tenants[n] = t;
			buckets[n++] = b;
		}
	}
	dv[0] = v[0];
	dv[1] = v[1];
	dv[2] = PointerGetDatum(construct_array(tenants, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	dv[3] = PointerGetDatum(construct_array(buckets, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * One step: returns the number of events read (0: caught up); the buckets
 * recomputed go to *buckets_out.
 */
int64
hd_rollup_step(int64 *buckets_out)
{
	int64		pos = 0,
				head = 0,
				oldest = 0,
				last = 0,
				nread = 0;
	char	   *cursor_log,
			   *log;
	Datum		v[2],
				dv[4];
	SPITupleTable *tt;
	uint64		n,
				i;
	Datum	   *tenants,
			   *buckets;

	*buckets_out = 0;
	hd_exec(&read_cursor, NULL, NULL, false, 1);
	if (SPI_processed != 1)
		return 0;
	hd_get_int64(1, &pos);
	cursor_log = hd_get_text(2);
	log = hd_get_text(3);
	hd_get_int64(4, &head);
	hd_get_int64(5, &oldest);

	if (cursor_log != NULL && strcmp(cursor_log, log) != 0)
	{
		/* another log: recomputing is idempotent, so read the new one from its start */
		ereport(LOG,
				(errmsg("pg_helpdesk rollup worker: the event log was replaced; rollups follow the new one from its oldest event")));
		pos = 0;
	}
	else if (pos > head)
		pos = head;
	if (pos < oldest)
	{
		ereport(WARNING,
				(errmsg("pg_helpdesk rollup worker: events %lld to %lld were pruned before the rollups read them",
						(long long) pos + 1, (long long) oldest),
				 errhint("Run helpdesk.rebuild_rollups for the time they cover; keep events longer than the rollup worker may be down.")));
		pos = oldest;
	}

	v[0] = Int64GetDatum(pos);
	v[1] = Int32GetDatum(hd_rollup_batch);
	status_buckets(v, dv);
	hd_exec(&dirty, dv, NULL, false, 0);
	tt = SPI_tuptable;
	n = SPI_processed;
	last = pos;
	if (n > 0)
	{
		bool		isnull;
		Datum		d;

		d = SPI_getbinval(tt->vals[0], tt->tupdesc, 3, &isnull);
		if (!isnull)
			last = DatumGetInt64(d);
		d = SPI_getbinval(tt->vals[0], tt->tupdesc, 4, &isnull);
		if (!isnull)
			nread = DatumGetInt64(d);
	}
	tenants = palloc(sizeof(Datum) * Max(n, 1));
	buckets = palloc(sizeof(Datum) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		bool		null1,
					null2;
		Datum		rv[2];

		rv[0] = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &null1);
		rv[1] = SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &null2);
		if (null1 || null2)
			continue;
		hd_exec(&recompute, rv, NULL, false, 0);
		tenants[*buckets_out] = rv[0];
		buckets[*buckets_out] = rv[1];
		(*buckets_out)++;
	}
	if (*buckets_out > 0)
	{
		Datum		days_v[2];

		days_v[0] = PointerGetDatum(construct_array(tenants, (int) *buckets_out, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		days_v[1] = PointerGetDatum(construct_array(buckets, (int) *buckets_out, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		hd_exec(&recompute_days, days_v, NULL, false, 0);
	}
	if (nread > 0)
		hd_exec(&reset_seen, v, NULL, false, 0);
	if (last != pos || cursor_log == NULL || strcmp(cursor_log, log) != 0)
	{
		v[0] = Int64GetDatum(last);
		v[1] = CStringGetTextDatum(log);
		hd_exec(&move_cursor, v, NULL, false, 0);
	}
	return nread;
}
