/*
 * dispatch_record.c — what a pass writes for each session it placed: the
 * assignment history row, the audit row and the two session.state events
 * (to the session's and to the agent's audience).
 *
 * Two ways, with the same rows:
 *   - batches of up to HD_RECORD_DIRECT_MAX placements are inserted directly
 *     (core/direct.h). Through SPI the one statement with three INSERTs cost
 *     more to start than to run at low load (at 100 enqueues/s ExecInitNode
 *     was 23% of the dispatcher's CPU, CHECK constraints parsed again for
 *     each execution 4.7%), and at any size its two RI checks per row ran
 *     as queries (perf, 10 sessions per enqueue transaction, ~2k/s, passes
 *     of more than 64 placements: ~74 us of dispatcher CPU per placement
 *     through the statement, ~49 us directly).
 *   - larger batches (the first passes of a drain after agents come online)
 *     and every case where the direct way could differ from SQL (a trigger,
 *     RLS, another column, see direct_insert.c) use the set-based statement.
 *     It was not measured slower above 1,024; it is the twin that is always
 *     correct, kept where one pass would otherwise run thousands of direct
 *     inserts without a statement boundary.
 *
 * The foreign keys of session_assignment (to the session and to the agent)
 * are not checked again on the direct path: this pass's UPDATEs hold both
 * rows FOR NO KEY UPDATE (guard_capacity, place_sessions in
 * dispatch_match.c), which already keeps them from being deleted or their
 * keys changed, what the RI triggers' FOR KEY SHARE would ensure.
 */
#include "dispatch_pass.h"
#include "../core/direct.h"

#include "access/table.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

/* placements per pass up to which the rows are written directly */
#define HD_RECORD_DIRECT_MAX 1024

static HdDirectTable assignment_table = {
	"session_assignment", 11, {
		{"tenant_id", INT8OID, HD_FILL_CALLER},
		{"id", INT8OID, HD_FILL_IDENTITY},
		{"session_id", INT8OID, HD_FILL_CALLER},
		{"customer_id", INT8OID, HD_FILL_CALLER},
		{"queue_id", INT8OID, HD_FILL_CALLER},
		{"agent_id", INT8OID, HD_FILL_CALLER},
		{"kind", TEXTOID, HD_FILL_CALLER},
		{"started_at", TIMESTAMPTZOID, HD_FILL_CLOCK},
		{"accepted_at", TIMESTAMPTZOID, HD_FILL_CALLER},
		{"ended_at", TIMESTAMPTZOID, HD_FILL_CALLER},
		{"end_reason", TEXTOID, HD_FILL_CALLER}
	},
	{{"session", {"tenant_id", "session_id"}}, {"agent", {"tenant_id", "agent_id"}}}
};

static HdDirectTable audit_table = {
	"dispatch_audit", 14, {
		{"tenant_id", INT8OID, HD_FILL_CALLER},
		{"id", INT8OID, HD_FILL_IDENTITY},
		{"at", TIMESTAMPTZOID, HD_FILL_CLOCK},
		{"session_id", INT8OID, HD_FILL_CALLER},
		{"queue_id", INT8OID, HD_FILL_CALLER},
		{"agent_id", INT8OID, HD_FILL_CALLER},
		{"action", TEXTOID, HD_FILL_CALLER},
		{"strategy", TEXTOID, HD_FILL_CALLER},
		{"candidates", INT4OID, HD_FILL_CALLER},
		{"score", FLOAT8OID, HD_FILL_CALLER},
		{"reason", TEXTOID, HD_FILL_CALLER},
		{"due_at", TIMESTAMPTZOID, HD_FILL_CALLER},
		{"agent_load", INT4OID, HD_FILL_CALLER},
		{"agent_capacity", INT4OID, HD_FILL_CALLER}
	}
};

/* history, audit and events of the placed sessions, in one statement */
static HdPlan record_placed = {
	"WITH d AS (SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[], "
	"    $5::int8[], $6::bool[], $7::text[], $8::int4[], $9::float8[], $10::text[], "
	"    $11::int4[], $12::int4[]) "
	"  AS d(tenant_id, id, customer_id, queue_id, agent_id, direct, strategy, candidates, "
	"       score, reason, load, cap)), "
	"h AS (INSERT INTO helpdesk.session_assignment (tenant_id, session_id, customer_id, "
	"        queue_id, agent_id, kind, accepted_at) "
	"      SELECT tenant_id, id, customer_id, queue_id, agent_id, "
	"             CASE WHEN direct THEN 'direct' ELSE 'offer' END, "
	"             CASE WHEN direct THEN clock_timestamp() END FROM d), "
	"au AS (INSERT INTO helpdesk.dispatch_audit (tenant_id, session_id, queue_id, agent_id, "
	"         action, strategy, candidates, score, reason, agent_load, agent_capacity) "
	"       SELECT tenant_id, id, queue_id, agent_id, "
	"              CASE WHEN direct THEN 'assign' ELSE 'offer' END, strategy, candidates, "
	"              score, reason, load, cap FROM d) "
	"INSERT INTO helpdesk.event (tenant_id, audience, audience_id, session_id, type, payload) "
	"SELECT d.tenant_id, x.audience, CASE WHEN x.audience = 'session' THEN d.id ELSE d.agent_id END, "
	"       d.id, x.type, "
	"       jsonb_build_object('from', 'queued', 'to', CASE WHEN d.direct THEN 'active' ELSE 'offered' END, "
	"                          'queue_id', d.queue_id, 'agent_id', d.agent_id) "
	"FROM d, (VALUES ('session', 'session.state'), ('agent', 'session.state')) x(audience, type)",
	12, {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, BOOLARRAYOID,
		TEXTARRAYOID, INT4ARRAYOID, FLOAT8ARRAYOID, TEXTARRAYOID, INT4ARRAYOID,
	INT4ARRAYOID}
};

static void
record_with_spi(const HdPlaced *r, int n)
{
	int64	   *rt = palloc(sizeof(int64) * n);
	int64	   *rid = palloc(sizeof(int64) * n);
	int64	   *rc = palloc(sizeof(int64) * n);
	int64	   *rq = palloc(sizeof(int64) * n);
	int64	   *ra = palloc(sizeof(int64) * n);
	bool	   *rd = palloc(sizeof(bool) * n);
	char	  **rs = palloc(sizeof(char *) * n);
	int32	   *rn = palloc(sizeof(int32) * n);
	double	   *rsc = palloc(sizeof(double) * n);
	char	  **rr = palloc(sizeof(char *) * n);
	int32	   *rl = palloc(sizeof(int32) * n);
	int32	   *rcap = palloc(sizeof(int32) * n);
	Datum		v[12];
	int			i;

	for (i = 0; i < n; i++)
	{
		rt[i] = r[i].tenant_id;
		rid[i] = r[i].session_id;
		rc[i] = r[i].customer_id;
		rq[i] = r[i].queue_id;
		ra[i] = r[i].agent_id;
		rd[i] = r[i].direct;
		rs[i] = (char *) r[i].strategy;
		rn[i] = r[i].candidates;
		rsc[i] = r[i].score;
		rr[i] = (char *) r[i].reason;
		rl[i] = r[i].load;
		rcap[i] = r[i].cap;
	}
	v[0] = hd_int8_array(rt, n);
	v[1] = hd_int8_array(rid, n);
	v[2] = hd_int8_array(rc, n);
	v[3] = hd_int8_array(rq, n);
	v[4] = hd_int8_array(ra, n);
	v[5] = hd_bool_array(rd, n);
	v[6] = hd_text_array(rs, n);
	v[7] = hd_int4_array(rn, n);
	v[8] = hd_float8_array(rsc, n);
	v[9] = hd_text_array(rr, n);
	v[10] = hd_int4_array(rl, n);
	v[11] = hd_int4_array(rcap, n);
	hd_exec(&record_placed, v, NULL, false, 0);
	hd_wake_at_commit(HD_WORKER_PUBLISHER);
}

static Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = s == NULL;
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/* The rows of one placement, directly; both tables are open (and closed here). */
static void
record_one_direct(const HdPlaced *r, Relation sa, Relation au)
{
	Datum		v[14];
	bool		n[14];
	StringInfoData payload;

	memset(n, false, sizeof(n));
	v[0] = Int64GetDatum(r->tenant_id);
	v[2] = Int64GetDatum(r->session_id);
	v[3] = Int64GetDatum(r->customer_id);
	v[4] = Int64GetDatum(r->queue_id);
	v[5] = Int64GetDatum(r->agent_id);
	v[6] = CStringGetTextDatum(r->direct ? "direct" : "offer");
	/* accepted_at is read before started_at's fill, as the statement does */
	v[8] = TimestampTzGetDatum(GetCurrentTimestamp());
	n[8] = !r->direct;
	n[9] = n[10] = true;
	(void) hd_direct_insert(&assignment_table, sa, v, n);

	memset(n, false, sizeof(n));
	v[0] = Int64GetDatum(r->tenant_id);
	v[3] = Int64GetDatum(r->session_id);
	v[4] = Int64GetDatum(r->queue_id);
	v[5] = Int64GetDatum(r->agent_id);
	v[6] = CStringGetTextDatum(r->direct ? "assign" : "offer");
	v[7] = text_or_null(r->strategy, &n[7]);
	v[8] = Int32GetDatum(r->candidates);
	v[9] = Float8GetDatum(r->score);
	v[10] = text_or_null(r->reason, &n[10]);
	n[11] = true;
	v[12] = Int32GetDatum(r->load);
	v[13] = Int32GetDatum(r->cap);
	(void) hd_direct_insert(&audit_table, au, v, n);

	initStringInfo(&payload);
	appendStringInfo(&payload, "{\"from\": \"queued\", \"to\": \"%s\", \"queue_id\": " INT64_FORMAT
					 ", \"agent_id\": " INT64_FORMAT "}",
					 r->direct ? "active" : "offered", r->queue_id, r->agent_id);
	hd_append_event(r->tenant_id, "session", r->session_id, r->session_id, 0, "session.state",
					payload.data);
	hd_append_event(r->tenant_id, "agent", r->agent_id, r->session_id, 0, "session.state",
					payload.data);
	pfree(payload.data);
}

/*
 * Write history, audit and events of the n placements in r, in the
 * caller's (sub)transaction. Raises on any failure, as the statement does.
 */
void
hd_record_placed(const HdPlaced *r, int n)
{
	int			i;

	if (n <= 0)
		return;
	if (n <= HD_RECORD_DIRECT_MAX && hd_direct_reads_ok())
	{
		for (i = 0; i < n; i++)
		{
			Relation	sa = hd_direct_open(&assignment_table);
			Relation	au = sa != NULL ? hd_direct_open(&audit_table) : NULL;

			if (au == NULL)
			{
				if (sa != NULL)
					table_close(sa, NoLock);
				/* the layout is the same for every row: the rest through SQL */
				record_with_spi(r + i, n - i);
				return;
			}
			record_one_direct(&r[i], sa, au);
		}
		return;
	}
	record_with_spi(r, n);
}
