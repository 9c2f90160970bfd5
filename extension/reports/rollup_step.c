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
	"e AS MATERIALIZED (SELECT ev.tenant_id, ev.session_id, ev.type, ev.payload " \
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
	"      UNION SELECT c.tenant_id, helpdesk._bucket(c.requested_at) FROM ss "
	"            JOIN helpdesk.csat c ON c.tenant_id = ss.tenant_id AND c.session_id = ss.id "
	"      UNION SELECT tt.tenant_id, x.b FROM tt "
	"            LEFT JOIN helpdesk.rollup_ticket_seen seen ON seen.tenant_id = tt.tenant_id AND seen.ticket_id = tt.id, "
	"            unnest(coalesce(helpdesk._ticket_buckets(tt.tenant_id, tt.id), '{}') "
	"                   || coalesce(seen.buckets, '{}')) x(b)) "
	"SELECT d.tenant_id, d.b, hi.last, hi.last - $1 FROM hi LEFT JOIN d ON true ORDER BY 1, 2",
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
	Datum		v[2];
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
	hd_exec(&dirty, v, NULL, false, 0);
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
		Datum		dv[2];

		dv[0] = PointerGetDatum(construct_array(tenants, (int) *buckets_out, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		dv[1] = PointerGetDatum(construct_array(buckets, (int) *buckets_out, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		hd_exec(&recompute_days, dv, NULL, false, 0);
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
