/*
 * search.c — search_messages() over a tenant's chat and ticket messages,
 * and the index it reads (helpdesk.message_search, GIN over the keys of
 * search_tokens.c).
 *
 * The index is kept beside the messages, not on them: a GIN (or any
 * expression) index on helpdesk.message would take post_message off its
 * direct path (core/direct_insert.c fills btree indexes only) and put a GIN
 * insert into every message's transaction. Instead index_messages() follows
 * the commit-ordered event log with a cursor of its own, like the webhook
 * feed: it reads the message events after its position and keys their
 * messages, in one transaction per batch. pg_cron runs it every minute
 * (60_search.sql); search sees a message once the job has passed it.
 */
#include "search.h"

#include "catalog/pg_type_d.h"
#include "funcapi.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#define MAX_QUERY_BYTES 200
#define MAX_QUERY_KEYS 32
#define MAX_CANDIDATES 10000000

static HdPlan read_cursor = {
	"SELECT c.position, c.log_id = helpdesk.event_log_id(), "
	"       (SELECT coalesce(min(b.first_pos) - 1, 0) FROM helpdesk.event_batch b), "
	"       helpdesk.event_position() "
	"FROM helpdesk.search_cursor c FOR UPDATE",
	0, {}
};

static HdPlan move_cursor = {
	"UPDATE helpdesk.search_cursor SET position = $1, log_id = helpdesk.event_log_id()",
	1, {INT8OID}
};

/* $1 after, $2 batch: key the messages of the message events after $1 */
static HdPlan index_batch = {
	"WITH e AS MATERIALIZED (SELECT * FROM helpdesk.events_since($1, $2)), "
	"chat AS (SELECT DISTINCT e.tenant_id, (e.message->>'id')::bigint AS id FROM e "
	"         WHERE e.type = 'message.created' AND e.message IS NOT NULL), "
	"tick AS (SELECT DISTINCT e.tenant_id, (e.payload->'message'->>'id')::bigint AS id FROM e "
	"         WHERE e.type IN ('ticket.created', 'ticket.message', 'ticket.note') "
	"           AND e.payload->'message'->>'id' IS NOT NULL), "
	"ins AS (INSERT INTO helpdesk.message_search (tenant_id, source, message_id, customer_id, created_at, keys) "
	"        SELECT m.tenant_id, 'chat', m.id, m.customer_id, m.created_at, "
	"               helpdesk.search_tokens(m.tenant_id, m.body) "
	"        FROM chat c JOIN helpdesk.message m ON m.tenant_id = c.tenant_id AND m.id = c.id "
	"        WHERE m.body IS NOT NULL "
	"        UNION ALL "
	"        SELECT m.tenant_id, 'ticket', m.id, m.customer_id, m.created_at, "
	"               helpdesk.search_tokens(m.tenant_id, m.body) "
	"        FROM tick c JOIN helpdesk.ticket_message m ON m.tenant_id = c.tenant_id AND m.id = c.id "
	"        WHERE m.body IS NOT NULL "
	"        ON CONFLICT DO NOTHING RETURNING 1) "
	"SELECT (SELECT max(pos) FROM e), (SELECT count(*) FROM ins)",
	2, {INT8OID, INT4OID}
};

PG_FUNCTION_INFO_V1(hd_index_messages);

/*
 * helpdesk.index_messages(max_events): keys the messages of up to
 * max_events events after the cursor, in batches of 1,000; returns how many
 * messages it keyed. When the log was replaced, or pruned past the cursor
 * (the job did not run for longer than the log is kept), it starts again
 * from the oldest retained position and says so: what it could not see
 * needs rebuild_search_index().
 */
Datum
hd_index_messages(PG_FUNCTION_ARGS)
{
	int32		max_events = PG_ARGISNULL(0) ? 100000 : PG_GETARG_INT32(0);
	int64		pos,
				oldest,
				head,
				keyed = 0,
				done = 0;
	bool		same_log;

	hd_require_every_tenant();	/* keys every tenant's messages */
	hd_check_range("max_events", max_events, 1, 10000000);
	SPI_connect();
	hd_exec(&read_cursor, NULL, NULL, false, 1);
	if (SPI_processed == 0)
		elog(ERROR, "pg_helpdesk: helpdesk.search_cursor has no row");
	hd_get_int64(1, &pos);
	same_log = hd_get_bool(2);
	hd_get_int64(3, &oldest);
	hd_get_int64(4, &head);
	if (!same_log || pos < oldest || pos > head)
	{
		ereport(WARNING,
				(errmsg("pg_helpdesk: the search index lost its place in the event log (%s); continuing from position %lld",
						!same_log ? "the log was replaced" : pos < oldest ? "events it had not read were pruned" : "the log went back",
						(long long) (same_log && pos < oldest ? oldest : head)),
				 errhint("Run helpdesk.rebuild_search_index(tenant_id) for the tenants whose messages are missing.")));
		pos = same_log && pos < oldest ? oldest : head;
	}
	while (done < max_events)
	{
		Datum		v[2];
		int64		last = 0,
					n = 0;
		int32		batch = (int32) Min(1000, max_events - done);

		v[0] = Int64GetDatum(pos);
		v[1] = Int32GetDatum(batch);
		hd_exec(&index_batch, v, NULL, false, 0);
		if (!hd_get_int64(1, &last))
			break;
		hd_get_int64(2, &n);
		done += last - pos;
		keyed += n;
		pos = last;
	}
	{
		Datum		v[1] = {Int64GetDatum(pos)};

		hd_exec(&move_cursor, v, NULL, false, 0);
	}
	SPI_finish();
	PG_RETURN_INT64(keyed);
}

static HdPlan rebuild_delete = {
	"DELETE FROM helpdesk.message_search WHERE tenant_id = $1", 1, {INT8OID}
};

static HdPlan rebuild_insert = {
	"INSERT INTO helpdesk.message_search (tenant_id, source, message_id, customer_id, created_at, keys) "
	"SELECT m.tenant_id, 'chat', m.id, m.customer_id, m.created_at, helpdesk.search_tokens(m.tenant_id, m.body) "
	"FROM helpdesk.message m WHERE m.tenant_id = $1 AND m.body IS NOT NULL "
	"UNION ALL "
	"SELECT m.tenant_id, 'ticket', m.id, m.customer_id, m.created_at, helpdesk.search_tokens(m.tenant_id, m.body) "
	"FROM helpdesk.ticket_message m WHERE m.tenant_id = $1 AND m.body IS NOT NULL "
	"ON CONFLICT DO NOTHING",
	1, {INT8OID}
};

PG_FUNCTION_INFO_V1(hd_rebuild_search_index);

/* helpdesk.rebuild_search_index(tenant_id): keys every message of the tenant again */
Datum
hd_rebuild_search_index(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id"};
	Datum		v[1];
	int64		n;

	hd_require_args(fcinfo, 1, names);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	v[0] = PG_GETARG_DATUM(0);
	hd_exec(&rebuild_delete, v, NULL, false, 0);
	hd_exec(&rebuild_insert, v, NULL, false, 0);
	n = (int64) SPI_processed;
	SPI_finish();
	PG_RETURN_INT64(n);
}

/*
 * What follows the candidates in both plans below: only the candidates are
 * joined to their messages and rechecked; the last column says how many
 * candidates there were, so the caller knows whether a larger budget could
 * find more. $6 runs to recheck, $7 candidates, $8 limit.
 */
#define SEARCH_TAIL \
	"SELECT r.source, r.message_id, r.parent_id, r.customer_id, r.sender_kind, r.created_at, r.body, cnt.n " \
	"FROM (SELECT count(*) AS n FROM c) cnt LEFT JOIN LATERAL (" \
	"  SELECT c.source, c.message_id, b.parent_id, c.customer_id, b.sender_kind, c.created_at, b.body " \
	"  FROM c CROSS JOIN LATERAL (" \
	"    SELECT m.session_id AS parent_id, m.sender_kind, m.body FROM helpdesk.message m " \
	"    WHERE c.source = 'chat' AND m.tenant_id = c.tenant_id AND m.id = c.message_id " \
	"    UNION ALL " \
	"    SELECT m.ticket_id, m.sender_kind, m.body FROM helpdesk.ticket_message m " \
	"    WHERE c.source = 'ticket' AND m.tenant_id = c.tenant_id AND m.id = c.message_id) b " \
	"  WHERE NOT EXISTS (SELECT 1 FROM unnest($6::text[]) x WHERE strpos(b.body, x) = 0) " \
	"  ORDER BY c.created_at DESC, c.message_id DESC LIMIT $8) r ON true"

/*
 * $1 tenant, $2 keys, $3 customer, $4 from, $5 to: every match (g), then
 * the newest $7 of them. g is materialized without an order so that the
 * plan cannot walk message_search_recent filtering on the keys: at 10M
 * messages the planner took that walk for a word absent from the tenant
 * (a key below the statistics' most common elements is estimated at
 * thousands of rows) and read all 10,191,080 rows, 50 s. With a customer
 * the plan reads the customer's rows (message_search_by_customer), else
 * the GIN index. Taken after the walk (below) found too few candidates,
 * i.e. when matches are rare; frequent keys are the walk's: the GIN plan
 * reads every match through a bitmap (one CJK word's pairs, 优惠 and 惠券,
 * come together and the planner multiplies their frequencies as if they
 * did not: 531,080 rows read and sorted, 2-3.5 s).
 */
static HdPlan search = {
	"WITH g AS MATERIALIZED ("
	"  SELECT s.tenant_id, s.source, s.message_id, s.customer_id, s.created_at "
	"  FROM helpdesk.message_search s "
	"  WHERE s.tenant_id = $1 AND s.keys @> $2 "
	"    AND ($3::bigint IS NULL OR s.customer_id = $3) "
	"    AND ($4::timestamptz IS NULL OR s.created_at >= $4) "
	"    AND ($5::timestamptz IS NULL OR s.created_at < $5)), "
	"c AS MATERIALIZED (SELECT * FROM g ORDER BY g.created_at DESC, g.message_id DESC LIMIT $7) "
	SEARCH_TAIL,
	8, {INT8OID, TEXTARRAYOID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTARRAYOID, INT4OID, INT4OID}
};

/*
 * The walk: the tenant's newest $9 keyed messages in [$4, $5) by
 * message_search_recent, in order, the keys tested on each (the subquery's
 * LIMIT keeps the GIN index out): it stops at $7 candidates, so it reads
 * about $7 / (share of messages that match) rows; with a customer ($3)
 * the customer's messages by message_search_by_customer. Taken first; the
 * GIN plan only when the walk's $9 rows held fewer than $7 candidates.
 */
static HdPlan search_walk = {
	"WITH c AS MATERIALIZED ("
	"  SELECT w.tenant_id, w.source, w.message_id, w.customer_id, w.created_at "
	"  FROM (SELECT s.tenant_id, s.source, s.message_id, s.customer_id, s.created_at, s.keys "
	"        FROM helpdesk.message_search s "
	"        WHERE s.tenant_id = $1 AND s.created_at >= $4 AND s.created_at < $5 "
	"          AND ($3::bigint IS NULL OR s.customer_id = $3) "
	"        ORDER BY s.created_at DESC, s.message_id DESC LIMIT $9) w "
	"  WHERE w.keys @> $2 "
	"  ORDER BY w.created_at DESC, w.message_id DESC LIMIT $7) "
	SEARCH_TAIL,
	9, {INT8OID, TEXTARRAYOID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTARRAYOID, INT4OID, INT4OID, INT4OID}
};

/* $1 tenant, $2 from, $3 to, $4 most, $5 customer: how many keyed messages the range has, up to $4 */
static HdPlan search_range_rows = {
	"SELECT count(*) FROM (SELECT 1 FROM helpdesk.message_search s "
	"  WHERE s.tenant_id = $1 AND s.created_at >= $2 AND s.created_at < $3 "
	"    AND ($5::bigint IS NULL OR s.customer_id = $5) LIMIT $4) x",
	5, {INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID, INT8OID}
};

/* rows the walk reads at most per budget (per candidate wanted, and in all) */
#define WALK_ROWS_PER_CANDIDATE 100
#define WALK_ROWS_MIN 20000
#define WALK_ROWS_MAX 200000

/*
 * The search plans are planned for each call's values (a custom plan), never
 * as the plan cache's generic plan: a generic plan cannot see how frequent
 * $2's keys are nor whether $3, $4, $5 are null, and at 10M messages the
 * generic plan of the GIN statement read all of message_search (15 s) for a
 * word no message has. Planning costs about a millisecond.
 */
static void
search_prepare(HdPlan *p)
{
	if (p->plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(p->sql, p->nargs, p->argtypes, CURSOR_OPT_CUSTOM_PLAN);

		if (plan == NULL)
			elog(ERROR, "pg_helpdesk: SPI_prepare failed (%s) for: %s",
				 SPI_result_code_string(SPI_result), p->sql);
		SPI_keepplan(plan);
		p->plan = plan;
	}
}

PG_FUNCTION_INFO_V1(hd_search_messages);

/* helpdesk.search_messages(tenant_id, query, customer_id, from, to, max_rows) */
Datum
hd_search_messages(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "query"};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *query;
	int32		limit = PG_ARGISNULL(5) ? 50 : PG_GETARG_INT32(5);
	HdSearchKeys k;
	Datum		v[9];
	char		n[10] = "         ";
	char		wn[10] = "         ";	/* the walk's nulls: only the customer may be */
	char		rn[6] = "     ";
	int64		budget;

	hd_check_tenant_arg(fcinfo, 0);	/* before any other argument is judged */
	hd_require_args(fcinfo, 2, names);
	query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	hd_check_length("query", query, 1, MAX_QUERY_BYTES);
	hd_check_range("max_rows", limit, 1, 1000);
	if (!PG_ARGISNULL(3) && !PG_ARGISNULL(4) && PG_GETARG_TIMESTAMPTZ(4) <= PG_GETARG_TIMESTAMPTZ(3))
		hd_invalid("to must be later than from");
	hd_search_keys(PG_GETARG_INT64(0), query, true, &k);
	if (k.n == 0)
		hd_invalid("query %s has no word or CJK character to search for", hd_quote(query));
	if (k.n > MAX_QUERY_KEYS)
		hd_invalid("query has %d search terms; at most %d", k.n, MAX_QUERY_KEYS);

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	search_prepare(&search);
	search_prepare(&search_walk);
	v[0] = PG_GETARG_DATUM(0);
	v[1] = hd_search_text_array(k.keys, k.n);
	v[2] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	n[2] = wn[2] = PG_ARGISNULL(2) ? 'n' : ' ';
	rn[4] = n[2];
	v[3] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	n[3] = PG_ARGISNULL(3) ? 'n' : ' ';
	v[4] = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
	n[4] = PG_ARGISNULL(4) ? 'n' : ' ';
	v[5] = hd_search_text_array(k.runs, k.nruns);
	v[7] = Int32GetDatum(limit);
	/* without a recheck every candidate is a hit; with one, widen until enough */
	budget = k.nruns == 0 ? limit : (int64) limit * 4;
	for (;;)
	{
		bool		isnull;
		int64		candidates = -1;
		uint64		hits;

		v[6] = Int32GetDatum((int32) budget);
		{
			/* the walk first: newest first by time (the customer's when given), stopping at enough candidates */
			int32		walk = (int32) Min(Max(budget * WALK_ROWS_PER_CANDIDATE, WALK_ROWS_MIN), WALK_ROWS_MAX);
			Datum		rv[5];
			int64		rows;

			v[3] = PG_ARGISNULL(3) ? TimestampTzGetDatum(DT_NOBEGIN) : PG_GETARG_DATUM(3);
			v[4] = PG_ARGISNULL(4) ? TimestampTzGetDatum(DT_NOEND) : PG_GETARG_DATUM(4);
			v[8] = Int32GetDatum(walk);
			hd_exec(&search_walk, v, wn, true, 0);
			candidates = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 8, &isnull));
			if (candidates < budget)
			{
				/* fewer than wanted: complete only when the walk read the whole range */
				rv[0] = v[0];
				rv[1] = v[3];
				rv[2] = v[4];
				rv[3] = Int32GetDatum(walk);
				rv[4] = v[2];
				hd_exec(&search_range_rows, rv, rn, true, 1);
				hd_get_int64(1, &rows);
				if (rows >= walk)
					candidates = -1;	/* no: the GIN plan */
				else
					hd_exec(&search_walk, v, wn, true, 0);	/* yes: its rows again */
			}
			v[3] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
			v[4] = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
		}
		if (candidates < 0)
		{
			hd_exec(&search, v, n, true, 0);
			candidates = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 8, &isnull));
		}
		(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		hits = isnull ? 0 : SPI_processed;
		if (hits >= (uint64) limit || candidates < budget || budget >= MAX_CANDIDATES)
			break;
		budget = Min(budget * 8, MAX_CANDIDATES);
	}
	{
		bool		isnull[8];
		Datum		cols[7];
		uint64		i;

		(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull[0]);
		for (i = 0; !isnull[0] && i < SPI_processed; i++)
		{
			int			c;

			for (c = 0; c < 7; c++)
				cols[c] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, c + 1, &isnull[c + 1]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, cols, isnull + 1);
		}
	}
	SPI_finish();
	PG_RETURN_VOID();
}
