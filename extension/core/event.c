/*
 * event.c — appending to and reading the commit-ordered event log.
 *
 * Appends happen inside the caller's transaction (so an event exists exactly
 * when its change does) and never NOTIFY: a notifying commit takes a
 * cluster-wide lock and halves throughput. The publisher worker, woken at
 * COMMIT, numbers committed rows and NOTIFYs once per batch.
 */
#include "hd.h"
#include "direct.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/sequence.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

static HdPlan insert_event = {
	"INSERT INTO helpdesk.event (id, tenant_id, audience, audience_id, session_id, "
	"                            message_id, type, payload) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
	8, {INT8OID, INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID, TEXTOID, JSONBOID}
};

/* The event table as hd_append_event writes it directly (direct.h). */
static HdDirectTable event_table = {
	"event", 9, {
		{"id", INT8OID, HD_FILL_CALLER},
		{"tenant_id", INT8OID, HD_FILL_CALLER},
		{"audience", TEXTOID, HD_FILL_CALLER},
		{"audience_id", INT8OID, HD_FILL_CALLER},
		{"session_id", INT8OID, HD_FILL_CALLER},
		{"message_id", INT8OID, HD_FILL_CALLER},
		{"type", TEXTOID, HD_FILL_CALLER},
		{"payload", JSONBOID, HD_FILL_CALLER},
		{"created_at", TIMESTAMPTZOID, HD_FILL_NOW}
	}
};

/*
 * A new event id. The transaction id is assigned BEFORE the sequence value
 * is taken: the publisher reads the sequence, then the next transaction id
 * X, and may then treat an id it cannot see, once every transaction older
 * than X has ended, as rolled back. That reasoning needs every id to be
 * taken by a transaction whose xid already exists.
 */
static int64
new_event_id(void)
{
	(void) GetTopTransactionId();
	return nextval_internal(hd_relation_oid("event_id_seq"), false);
}

/*
 * Append one event in the current transaction. Ids of 0 are stored as NULL;
 * payload_json is a JSON object literal or NULL.
 */
void
hd_append_event(int64 tenant_id, const char *audience, int64 audience_id,
				int64 session_id, int64 message_id, const char *type,
				const char *payload_json)
{
	Relation	rel = hd_direct_open(&event_table);
	Datum		v[8];
	bool		n[8] = {false, false, false, audience_id == 0, session_id == 0,
	message_id == 0, false, false};

	v[0] = Int64GetDatum(new_event_id());
	v[1] = Int64GetDatum(tenant_id);
	v[2] = CStringGetTextDatum(audience);
	v[3] = Int64GetDatum(audience_id);
	v[4] = Int64GetDatum(session_id);
	v[5] = Int64GetDatum(message_id);
	v[6] = CStringGetTextDatum(type);
	v[7] = DirectFunctionCall1(jsonb_in, CStringGetDatum(payload_json ? payload_json : "{}"));
	if (rel != NULL)
		(void) hd_direct_insert(&event_table, rel, v, n);
	else
	{
		char		nulls[9];
		int			i;

		for (i = 0; i < 8; i++)
			nulls[i] = n[i] ? 'n' : ' ';
		nulls[8] = '\0';
		hd_exec(&insert_event, v, nulls, false, 0);
	}
	hd_wake_at_commit(HD_WORKER_PUBLISHER);
}

PG_FUNCTION_INFO_V1(hd_next_event_id);

/* Default of helpdesk.event.id, for rows not written by hd_append_event. */
Datum
hd_next_event_id(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(new_event_id());
}

/*
 * Published events after a position, in order. Message events carry the
 * message itself so a relay needs no second query.
 *
 * The statement is shaped so that its only sensible plan reads by index
 * whatever the table sizes: the planner cannot size unnest() and
 * generate_series(), so an equality join from the positions to event (and
 * message) got a hash join over the whole table once it was large (20-40 ms
 * for a few rows at 80,000 events, paid by every relay read). Range
 * conditions on event.id admit only a nested loop with an index scan, and
 * the message is a scalar subquery run per row through its primary key.
 */
#define EVENT_HEAD \
	"SELECT p.pos, p.tenant_id, p.type, p.audience, p.audience_id, p.session_id, "
/* bridge_events' extra column, by primary key like the message */
#define EVENT_CUSTOMER \
	"       (SELECT s.customer_id FROM helpdesk.session s " \
	"        WHERE s.tenant_id = p.tenant_id AND s.id = p.session_id), "
#define EVENT_TAIL \
	"       p.payload, " \
	"       (SELECT jsonb_build_object(" \
	"         'id', m.id, 'session_id', m.session_id, 'sender_kind', m.sender_kind, " \
	"         'sender_id', m.sender_id, 'type', m.type, 'body', m.body, " \
	"         'attachment', m.attachment, 'options', m.options, " \
	"         'client_msg_id', m.client_msg_id, 'created_at', m.created_at) " \
	"        FROM helpdesk.message m WHERE m.tenant_id = p.tenant_id AND m.id = p.message_id), " \
	"       p.created_at "
#define EVENT_COLUMNS EVENT_HEAD EVENT_TAIL
#define BRIDGE_COLUMNS EVENT_HEAD EVENT_CUSTOMER EVENT_TAIL
/*
 * Positions of the batches that cover (after, after + window]: a batch holds
 * one event at least, so max_rows batches are always enough.
 */
#define POSITIONS(window) \
	"WITH b AS (SELECT first_pos, ids FROM helpdesk.event_batch " \
	"           WHERE last_pos > $1 " window "), " \
	"p AS (SELECT b.first_pos - 1 + row_number() OVER (PARTITION BY b.first_pos ORDER BY e.id) AS pos, " \
	"             e.* FROM b, unnest(b.ids) AS r, helpdesk.event e " \
	"      WHERE e.id >= lower(r) AND e.id < upper(r)) "

#define AFTER_WINDOW "AND first_pos <= $1 + $2 ORDER BY last_pos LIMIT $2"
#define AFTER_ALL "FROM p WHERE p.pos > $1 ORDER BY p.pos LIMIT $2"
/* with a tenant filter the window is unknown: read on until max_rows match */
#define AFTER_TENANT "FROM p WHERE p.pos > $1 AND p.tenant_id = $3 ORDER BY p.pos LIMIT $2"

static HdPlan events_after = {
	POSITIONS(AFTER_WINDOW) EVENT_COLUMNS AFTER_ALL, 2, {INT8OID, INT4OID}
};
static HdPlan tenant_events_after = {
	POSITIONS("") EVENT_COLUMNS AFTER_TENANT, 3, {INT8OID, INT4OID, INT8OID}
};
static HdPlan bridge_after = {
	POSITIONS(AFTER_WINDOW) BRIDGE_COLUMNS AFTER_ALL, 2, {INT8OID, INT4OID}
};
static HdPlan bridge_tenant_after = {
	POSITIONS("") BRIDGE_COLUMNS AFTER_TENANT, 3, {INT8OID, INT4OID, INT8OID}
};

static HdPlan oldest_position = {
	"SELECT min(first_pos) FROM helpdesk.event_batch", 0, {}
};

/*
 * A reader whose position fell behind retention must not silently skip what
 * was pruned: it has to reload state and resume from the current position.
 */
static void
check_not_pruned(int64 after_pos)
{
	int64		oldest = 0;

	hd_exec(&oldest_position, NULL, NULL, true, 1);
	if (hd_get_int64(1, &oldest) && after_pos < oldest - 1)
		ereport(ERROR,
				(errcode(ERRCODE_HD_POSITION_PRUNED),
				 errmsg("event position %lld is older than the retained event log, which starts after %lld",
						(long long) after_pos, (long long) (oldest - 1)),
				 errhint("Reload what you show from the tables (e.g. helpdesk.session_messages) "
						 "and resume from helpdesk.event_position().")));
}

/* the log's head position and identity */
static HdPlan log_head = {
	"SELECT coalesce(max(last_pos), 0), helpdesk.event_log_id()::text FROM helpdesk.event_batch",
	0, {}
};

/*
 * A follower that names the log it follows (its identity from
 * event_log_id(), e.g. helpdesk-bridge) must not read another log's
 * positions as its own: after DROP and CREATE EXTENSION, or a restore of an
 * older dump, the same numbers mean other events. Refused when the identity
 * changed or the log is behind the follower's position (positions never go
 * back within one log).
 */
static void
check_same_log(int64 after_pos, Datum log_id)
{
	int64		head = 0;
	char	   *current;
	char	   *wanted = DatumGetCString(DirectFunctionCall1(uuid_out, log_id));

	hd_exec(&log_head, NULL, NULL, true, 1);
	hd_get_int64(1, &head);
	current = hd_get_text(2);
	if (current == NULL || strcmp(current, wanted) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_LOG_REPLACED),
				 errmsg("the event log %s is not the one followed (%s)",
						current ? current : "?", wanted),
				 errdetail("The extension was re-created, or another database was restored here."),
				 errhint("Reload what you show from the tables and resume from helpdesk.event_position() "
						 "with helpdesk.event_log_id().")));
	if (after_pos > head)
		ereport(ERROR,
				(errcode(ERRCODE_HD_LOG_REPLACED),
				 errmsg("event position %lld is ahead of the event log, which ends at %lld",
						(long long) after_pos, (long long) head),
				 errhint("Reload what you show from the tables and resume from helpdesk.event_position().")));
}

/*
 * events_since and bridge_events: the same checks and read, the bridge's
 * with the customer of each event's session. bridge_events was a SQL
 * function over events_since; PostgreSQL plans a SQL function's statement
 * on every call and cannot inline one that is SECURITY DEFINER, which cost
 * every relay read about 0.2 ms (0.69 against 0.48 ms for two events).
 */
static void
read_events(FunctionCallInfo fcinfo, HdPlan *all, HdPlan *one_tenant)
{
	static const char *const names[] = {"after_pos", "max_rows"};
	Datum		v[3];
	int32		max_rows;

	hd_check_tenant_arg(fcinfo, 2);
	hd_require_args(fcinfo, 2, names);
	max_rows = PG_GETARG_INT32(1);
	hd_check_range("max_rows", max_rows, 1, 100000);
	if (PG_GETARG_INT64(0) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("after_pos must not be negative")));
	v[0] = PG_GETARG_DATUM(0);
	v[1] = Int32GetDatum(max_rows);
	v[2] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	SPI_connect();
	if (!PG_ARGISNULL(2))
		hd_require_tenant(PG_GETARG_INT64(2));
	else
		hd_require_every_tenant();
	if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
		check_same_log(PG_GETARG_INT64(0), PG_GETARG_DATUM(3));
	check_not_pruned(PG_GETARG_INT64(0));
	hd_return_query(fcinfo, PG_ARGISNULL(2) ? all : one_tenant, v, NULL);
	SPI_finish();
}

PG_FUNCTION_INFO_V1(hd_events_since);

Datum
hd_events_since(PG_FUNCTION_ARGS)
{
	read_events(fcinfo, &events_after, &tenant_events_after);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(hd_bridge_events);

Datum
hd_bridge_events(PG_FUNCTION_ARGS)
{
	read_events(fcinfo, &bridge_after, &bridge_tenant_after);
	return (Datum) 0;
}

/*
 * Delete batches published before now() - keep (never the newest one, so the
 * current position stays checkable) and the events they name. Messages and
 * sessions are not touched.
 */
static HdPlan prune = {
	"WITH gone AS (DELETE FROM helpdesk.event_batch b "
	"              WHERE b.published_at < now() - $1 "
	"                AND b.last_pos < (SELECT max(last_pos) FROM helpdesk.event_batch) "
	"              RETURNING ids) "
	"DELETE FROM helpdesk.event e USING gone, unnest(gone.ids) AS r "
	"WHERE e.id >= lower(r) AND e.id < upper(r)",
	1, {INTERVALOID}
};

/*
 * A moved tenant's copy of its old node's log (bridge_api/20_moved_log.sql)
 * ages out with the same keep: a client whose position is older than that
 * could not resume on the old node either.
 */
static HdPlan prune_moved = {
	"WITH gone AS (DELETE FROM helpdesk.moved_event WHERE created_at < now() - $1 RETURNING 1) "
	"DELETE FROM helpdesk.moved_log l WHERE l.arrived_at < now() - $1 "
	"AND NOT EXISTS (SELECT 1 FROM helpdesk.moved_event e "
	"                WHERE e.tenant_id = l.tenant_id AND e.log_id = l.log_id AND e.created_at >= now() - $1)",
	1, {INTERVALOID}
};

/* 100 years: far beyond any retention, well inside the timestamp range */
#define HD_MAX_KEEP_DAYS 36525

PG_FUNCTION_INFO_V1(hd_prune_events);

/* helpdesk.prune_events(keep interval): retention, meant for a pg_cron job. */
Datum
hd_prune_events(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"keep"};
	uint64		n;
	Datum		keep;

	hd_require_every_tenant();
	hd_require_args(fcinfo, 1, names);
	/* a negative keep would reach into the future and delete every batch */
	hd_interval_arg(fcinfo, 0, "keep", 0, (int64) HD_MAX_KEEP_DAYS * USECS_PER_DAY, false, &keep);
	SPI_connect();
	hd_exec(&prune, &keep, NULL, false, 0);
	n = SPI_processed;
	hd_exec(&prune_moved, &keep, NULL, false, 0);
	SPI_finish();
	PG_RETURN_INT64((int64) n);
}
