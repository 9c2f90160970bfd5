/*
 * http_webhook_feed.c — deliveries from the commit-ordered event log.
 *
 * The HTTP worker follows the log with a cursor of its own
 * (helpdesk.webhook_cursor): in one transaction it reads the events after
 * it (events_since: commit order, no gaps), inserts one delivery per event
 * and matching endpoint, in position order (so a delivery's id follows
 * commit order per endpoint), and moves the cursor. Nothing runs in users'
 * transactions, no trigger fires per row, and a crash in between leaves
 * both as they were: the same events are read again.
 *
 * One change may be logged for several audiences (session.state goes to
 * the session, its agent and its queue); a webhook gets one copy: the
 * session's, session_staff's or tenant's, plus the types logged for one
 * other audience only.
 */
#include "http_webhook.h"

#include "utils/builtins.h"

static HdPlan read_cursor = {
	"SELECT c.position, c.log_id::text, helpdesk.event_log_id()::text, helpdesk.event_position(), "
	"       (SELECT coalesce(min(b.first_pos) - 1, 0) FROM helpdesk.event_batch b), "
	"       EXISTS (SELECT 1 FROM helpdesk.webhook w WHERE w.enabled) "
	"FROM helpdesk.webhook_cursor c FOR UPDATE",
	0, {}
};

static HdPlan move_cursor = {
	"UPDATE helpdesk.webhook_cursor SET position = $1, log_id = $2::uuid",
	2, {INT8OID, TEXTOID}
};

/*
 * $1 after, $2 batch. Bodies are built once per event that some endpoint
 * of its tenant may want; one over HD_WEBHOOK_MAX_BODY keeps the message's
 * metadata without its body, attachment and options, and the event's
 * payload is replaced by {"truncated": true}.
 */
static HdPlan feed = {
	"WITH e AS MATERIALIZED (SELECT * FROM helpdesk.events_since($1, $2)), "
	"w AS MATERIALIZED (SELECT w.tenant_id, w.id, w.events, w.from_position, w.retry_schedule[1] AS delay "
	"                   FROM helpdesk.webhook w WHERE w.enabled), "
	"b AS (SELECT e.pos, e.tenant_id, e.type, e.payload, full_body.t AS body "
	"      FROM e, LATERAL (SELECT " HD_WEBHOOK_EVENT_BODY("e.message", "e.payload") " AS t) full_body "
	"      WHERE " HD_WEBHOOK_AUDIENCE " AND EXISTS (SELECT 1 FROM w WHERE w.tenant_id = e.tenant_id)), "
	"ins AS (INSERT INTO helpdesk.webhook_delivery "
	"          (tenant_id, webhook_id, event_pos, msg_id, event_type, body, next_at) "
	"        SELECT b.tenant_id, w.id, b.pos, 'msg_' || b.pos || '_' || w.id, b.type, "
	"               CASE WHEN octet_length(b.body) <= " CppAsString2(HD_WEBHOOK_MAX_BODY) " THEN b.body ELSE "
	"                 (SELECT " HD_WEBHOOK_EVENT_BODY("(e.message - 'body' - 'attachment' - 'options') || '{\"truncated\": true}'",
									  "'{\"truncated\": true}'::jsonb") " FROM e WHERE e.pos = b.pos) END, "
	"               now() + w.delay "
	"        FROM b JOIN w ON w.tenant_id = b.tenant_id AND b.pos > w.from_position "
	"        WHERE " HD_WEBHOOK_MATCH("w.events", "b.type") " "
	"          AND NOT (starts_with(b.type, 'webhook.') AND b.payload->>'webhook_id' = w.id::text) "
	"        ORDER BY b.pos, w.id "
	"        RETURNING 1) "
	"SELECT (SELECT max(pos) FROM e), (SELECT count(*) FROM e), (SELECT count(*) FROM ins)",
	2, {INT8OID, INT4OID}
};

/*
 * One feed step in the worker's transaction (the source's prepare()).
 * Returns true when a full batch was read (more may wait).
 */
bool
hd_webhook_feed(void)
{
	int64		pos = 0,
				head = 0,
				oldest = 0,
				last = 0,
				nread = 0,
				nmade = 0;
	char	   *cursor_log,
			   *log;
	bool		any;
	Datum		v[2];

	hd_http_exec(&read_cursor, NULL, NULL, false, 1);
	if (SPI_processed != 1)
		return false;
	hd_get_int64(1, &pos);
	cursor_log = hd_get_text(2);
	log = hd_get_text(3);
	hd_get_int64(4, &head);
	hd_get_int64(5, &oldest);
	any = hd_get_bool(6);

	if (cursor_log != NULL && strcmp(cursor_log, log) != 0)
	{
		/* another log (re-created, restored elsewhere): its events are not ours to send again */
		ereport(LOG,
				(errmsg("pg_helpdesk http worker: the event log was replaced; webhooks follow the new one from position %lld",
						(long long) head)));
		pos = head;
	}
	else if (pos > head)
		pos = head;				/* a restored older log: resume at its head */
	if (pos < oldest)
	{
		ereport(WARNING,
				(errmsg("pg_helpdesk http worker: events %lld to %lld were pruned before webhooks got them",
						(long long) pos + 1, (long long) oldest),
				 errhint("Keep events longer (prune_events) than the HTTP worker may be down.")));
		pos = oldest;
	}
	if (!any)
	{
		/* no enabled endpoint: nothing to make, skip to the head */
		last = head;
	}
	else
	{
		v[0] = Int64GetDatum(pos);
		v[1] = Int32GetDatum(HD_WEBHOOK_FEED_BATCH);
		hd_http_exec(&feed, v, NULL, false, 0);
		last = pos;
		hd_get_int64(1, &last);
		hd_get_int64(2, &nread);
		hd_get_int64(3, &nmade);
	}
	if (last != pos || cursor_log == NULL || strcmp(cursor_log, log) != 0)
	{
		v[0] = Int64GetDatum(last);
		v[1] = CStringGetTextDatum(log);
		hd_http_exec(&move_cursor, v, NULL, false, 0);
	}
	return nread >= HD_WEBHOOK_FEED_BATCH;
}
