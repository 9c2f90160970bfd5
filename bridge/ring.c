/*
 * ring.c — the newest published events, in position order, in memory.
 *
 * One ring shared by all clients, each with its own cursor (a per-client
 * queue would cost memory per connection, and lws's ring helper updates
 * its oldest tail in O(clients) per message). Positions are gapless, so
 * slot = pos % size. A client whose cursor falls behind the ring's base
 * reads from the database instead (catch-up) or, if it was live and fell
 * behind by more than max_lag, is disconnected as too slow.
 *
 * The LISTEN connection reads new events whenever a NOTIFY arrives on
 * channel helpdesk, and once after (re)connecting, so nothing published
 * while the bridge was away is missed. A NOTIFY is only a hint: any login
 * role can send one, with any payload. The payload is not read; a
 * notification causes one read (several arriving during a read cause one
 * more), and a read that returns less than a full chunk ends it. Only rows
 * of the log move the head.
 *
 * Positions only mean something within one log. Every read names the log
 * the ring follows (helpdesk.event_log_id(), kept by dump and restore, new
 * when the extension is re-created); the database refuses it (HD412) when
 * the log was replaced or is behind the ring's head, and the ring then
 * resets: it forgets its events, closes every client with 4010 and follows
 * the new log from its current position.
 */
#include "db.h"
#include "relay.h"
#include "trace.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/*
 * Rows per read of the log. Taking a row in costs ~1.3 us of CPU (its JSON,
 * the wakeups), and a read's rows are taken in within one pass of the loop:
 * 2,000 held it 2.5 ms in a fan-out; 500 keep it under a millisecond (a
 * backlog is read in more, back-to-back reads).
 */
#define FETCH_ROWS 500

static Ev  *slots;
static int64_t size;
static int64_t base = -1;		/* -1: position unknown until first connect */
static int64_t head = -1;
static bool fetching;
static bool again;				/* a NOTIFY arrived during the read in flight */
static char log_id[40];			/* the log the ring follows; "" until known */
static bool positioning;		/* reading the log's position and identity */
static struct lws_context *context;
static lws_sorted_usec_list_t retry_sul;	/* a failed read is retried */

static int	retries;			/* failed reads in a row: 1 s doubling to 32 s */

static void fetch(void);

/* the columns ev_from_row reads, from either function */
#define EV_COLUMNS \
"SELECT pos, tenant_id, type, audience, coalesce(audience_id, 0), coalesce(session_id, 0), " \
"       coalesce(customer_id, 0), payload::pg_catalog.text, message::pg_catalog.text, " \
"       (extract(epoch FROM created_at) OPERATOR(pg_catalog.*) 1000000)::pg_catalog.int8, " \
"       pg_catalog.to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "

const char *const ev_select_sql = EV_COLUMNS
"FROM helpdesk.bridge_events($1::pg_catalog.int8, $2::pg_catalog.int4, $3::pg_catalog.int8, $4::pg_catalog.uuid)";

/* the same columns from a moved tenant's copy of its old node's log */
const char *const ev_moved_sql = EV_COLUMNS
"FROM helpdesk.bridge_moved_events($1::pg_catalog.int8, $2::pg_catalog.int4, $3::pg_catalog.int8, $4::pg_catalog.uuid)";

static const char *const head_sql =
"SELECT helpdesk.event_position(), helpdesk.event_log_id()";

void
ring_init(struct lws_context *ctx)
{
	context = ctx;
	size = cfg.ring_size;
	slots = calloc((size_t) size, sizeof(Ev));
}

/* before the lws context goes */
void
ring_stop(void)
{
	lws_sul_cancel(&retry_sul);
}

void
ring_free(void)
{
	for (int64_t i = 0; i < size; i++)
		free(slots[i].json);
	free(slots);
	slots = NULL;
}

bool
ring_known(void)
{
	return base >= 0;
}

int64_t
ring_base(void)
{
	return base;
}

int64_t
ring_head(void)
{
	return head;
}

const char *
ring_log_id(void)
{
	return log_id[0] ? log_id : NULL;
}

const Ev *
ring_get(int64_t pos)
{
	if (pos <= base || pos > head)
		return NULL;
	return &slots[pos % size];
}

static Audience
parse_audience(const char *s)
{
	if (strcmp(s, "session") == 0)
		return AUD_SESSION;
	if (strcmp(s, "session_staff") == 0)
		return AUD_SESSION_STAFF;
	if (strcmp(s, "agent") == 0)
		return AUD_AGENT;
	if (strcmp(s, "queue") == 0)
		return AUD_QUEUE;
	if (strcmp(s, "customer") == 0)
		return AUD_CUSTOMER;
	if (strcmp(s, "tenant") == 0)
		return AUD_TENANT;
	return AUD_OTHER;
}

/*
 * An agent's copy of a session.state event that makes it active adds the
 * session to what the agent sees (an offer does not: an agent sees a
 * session's messages once it holds it); session.released removes it.
 * agent.disabled closes the agent's sockets; agent.revoked those opened with
 * a login token of an older version (logout, new password, role change).
 */
static SessionEffect
agent_effect(const char *type, const char *payload)
{
	SessionEffect e = EFFECT_NONE;

	if (strcmp(type, "agent.disabled") == 0)
		return EFFECT_DISABLED;
	if (strcmp(type, "agent.revoked") == 0)
		return EFFECT_REVOKED;
	if (strcmp(type, "session.released") == 0)
		return EFFECT_REMOVE;
	if (strcmp(type, "session.state") == 0)
	{
		json_t	   *p = json_loads(payload, 0, NULL);
		const char *to = json_string_value(json_object_get(p, "to"));

		if (to && strcmp(to, "active") == 0)
			e = EFFECT_ADD;
		json_decref(p);
	}
	return e;
}

void
ev_from_row(struct pg_result *res, int row, Ev *ev)
{
	Buf			b = {0};
	const char *type = PQgetvalue(res, row, 2);
	const char *payload = PQgetvalue(res, row, 7);

	memset(ev, 0, sizeof(*ev));
	ev->pos = strtoll(PQgetvalue(res, row, 0), NULL, 10);
	ev->tenant = strtoll(PQgetvalue(res, row, 1), NULL, 10);
	ev->audience = (uint8_t) parse_audience(PQgetvalue(res, row, 3));
	ev->audience_id = strtoll(PQgetvalue(res, row, 4), NULL, 10);
	ev->session_id = strtoll(PQgetvalue(res, row, 5), NULL, 10);
	ev->customer_id = strtoll(PQgetvalue(res, row, 6), NULL, 10);
	ev->created_us = strtoll(PQgetvalue(res, row, 9), NULL, 10);
	if (ev->audience == AUD_AGENT)
		ev->effect = (uint8_t) agent_effect(type, payload);
	/* a ticket event is appended once per audience, the tenant's included */
	ev->ticket_copy = strncmp(type, "ticket.", 7) == 0 && ev->audience != AUD_TENANT;
	if (ev->effect == EFFECT_REVOKED)
	{
		json_t	   *p = json_loads(payload, 0, NULL);
		json_t	   *v = json_object_get(p, "token_version");

		ev->revoked_ver = json_is_integer(v) ? (int64_t) json_integer_value(v) : 0;
		json_decref(p);
	}

	/* payload and message are jsonb output: valid JSON, copied as is */
	buf_printf(&b, "{\"pos\":%lld,\"type\":", (long long) ev->pos);
	buf_json_string(&b, type);
	buf_puts(&b, ",\"audience\":");
	buf_json_string(&b, PQgetvalue(res, row, 3));
	if (ev->audience_id)
		buf_printf(&b, ",\"audience_id\":%lld", (long long) ev->audience_id);
	if (ev->session_id)
		buf_printf(&b, ",\"session_id\":%lld", (long long) ev->session_id);
	buf_puts(&b, ",\"payload\":");
	buf_puts(&b, PQgetisnull(res, row, 7) ? "{}" : payload);
	if (!PQgetisnull(res, row, 8))
	{
		buf_puts(&b, ",\"message\":");
		buf_puts(&b, PQgetvalue(res, row, 8));
	}
	buf_puts(&b, ",\"at\":");
	buf_json_string(&b, PQgetvalue(res, row, 10));
	buf_puts(&b, "}");
	/* the ring keeps it for ring_size events: no slack from doubling */
	ev->json = realloc(b.data, b.len + 1);
	ev->len = (uint32_t) b.len;
}

static void
ring_append(Ev *ev)
{
	Ev		   *slot;

	if (ev->pos != head + 1)
	{
		/* cannot happen with a gapless log; start over from here if it does */
		blog(BLOG_WARN, "event position jumped from %lld to %lld",
			 (long long) head, (long long) ev->pos);
		for (int64_t p = base + 1; p <= head; p++)
		{
			free(slots[p % size].json);
			slots[p % size].json = NULL;
		}
		base = ev->pos - 1;
		head = ev->pos - 1;
	}
	if (head - base >= size)
	{
		/* evict the oldest */
		base++;
		free(slots[base % size].json);
		slots[base % size].json = NULL;
	}
	slot = &slots[ev->pos % size];
	*slot = *ev;
	head = ev->pos;
	metrics.events_ingested++;
}

static void got_position(void *arg, PGresult *res, const char *sqlstate, const char *message);
static void read_position(void);

static void
retry_cb(lws_sorted_usec_list_t *sul)
{
	if (base < 0)
		read_position();
	else
		fetch();
}

/*
 * A read failed (the extension missing for a moment, as during a re-create
 * or a restore): try again in a second, not only at the next NOTIFY or
 * reconnect, which may never come while the log is idle.
 */
static void
retry_later(void)
{
	lws_sul_schedule(context, 0, &retry_sul, retry_cb,
					 (lws_usec_t) (1000000LL << (retries < 5 ? retries : 5)));
	retries++;
}

/* learn where the log is and which log it is (at start and after a reset) */
static void
read_position(void)
{
	if (positioning || base >= 0)
		return;
	positioning = db_listen_query(head_sql, 0, NULL, got_position, NULL);
}

/*
 * The log the ring followed is gone (re-created extension, another dump
 * restored) or went behind our head: what the ring holds and what every
 * client was shown belong to another log. Forget it, close the clients
 * (4010: reload, connect without a position) and start over from the
 * current log's position.
 */
static void
ring_reset(const char *why)
{
	blog(BLOG_WARN, "the event log changed under the bridge (%s): dropping %lld events of log %s "
		 "after position %lld, closing every client with 4010, following the current log",
		 why, (long long) (head - base), log_id[0] ? log_id : "?", (long long) head);
	metrics.log_resets++;
	for (int64_t p = base + 1; p <= head; p++)
	{
		free(slots[p % size].json);
		slots[p % size].json = NULL;
	}
	base = head = -1;
	log_id[0] = '\0';
	again = false;
	clients_reset();
	read_position();			/* if the connection is down: when it is back */
}

static void
fetched(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	int			n;
	TraceMark	t0 = trace_mark();
	int64_t		read_us = trace_on ? now_us() : 0;

	fetching = false;
	if (sqlstate && strcmp(sqlstate, "HD412") == 0)
	{
		ring_reset(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
		return;
	}
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		blog(BLOG_WARN, "reading events failed: %s", message ? message : "?");
		again = false;
		retry_later();
		return;
	}
	retries = 0;
	n = PQntuples(res);
	clients_wake_begin();
	for (int i = 0; i < n; i++)
	{
		Ev			ev;

		ev_from_row(res, i, &ev);
		trace_read_row(ev.pos, ev.created_us, read_us);
		ring_append(&ev);
		clients_wake_for(ring_get(ev.pos));
	}
	clients_wake_end();
	trace_section("ring: rows of a read", t0);
	/* a short read saw everything published when it ran; only news reads again */
	if (n == FETCH_ROWS || again)
		fetch();
}

static void
fetch(void)
{
	char		after[32],
				limit[16];
	const char *params[4] = {after, limit, NULL, ring_log_id()};

	if (fetching)
	{
		again = true;
		return;
	}
	if (base < 0)
		return;
	again = false;
	metrics.event_reads++;
	snprintf(after, sizeof(after), "%lld", (long long) head);
	snprintf(limit, sizeof(limit), "%d", FETCH_ROWS);
	trace_read_sent();
	fetching = db_listen_query(ev_select_sql, 4, params, fetched, NULL);
}

static void
got_position(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	positioning = false;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		blog(BLOG_ERR, "cannot read the event position (is pg_helpdesk installed?): %s",
			 message ? message : "?");
		retry_later();
		return;
	}
	retries = 0;
	if (base >= 0)
		return;					/* a second answer (reconnected meanwhile) */
	base = head = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	snprintf(log_id, sizeof(log_id), "%s", PQgetvalue(res, 0, 1));
	blog(BLOG_INFO, "relaying events of log %s after position %lld", log_id, (long long) head);
	clients_wake_all();
	fetch();
}

static void
listened(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
		blog(BLOG_ERR, "LISTEN failed: %s", message ? message : "?");
}

/*
 * (Re)connected: LISTEN first, then read; anything committed in between is
 * either in the read or announced by a NOTIFY we now receive.
 */
void
ring_on_listen_up(void)
{
	fetching = false;
	db_listen_query("LISTEN helpdesk", 0, NULL, listened, NULL);
	db_listen_query("LISTEN helpdesk_typing", 0, NULL, listened, NULL);
	positioning = false;		/* a query of the lost connection never answers */
	if (base < 0)
		read_position();
	else
		fetch();
}

/*
 * A client's subscriber lookup saw log id (or NULL) at position: true when
 * that is the log the ring follows (or the ring does not know yet).
 * Otherwise the log changed and the ring has not noticed: read now, which
 * resets it. A position behind the ring's head is usually a lookup that ran
 * before the ring's last read, but may be an older dump of the same log
 * restored: a read tells (and resets the ring if so).
 */
bool
ring_same_log(const char *id, int64_t position)
{
	if (base < 0 || id == NULL)
		return true;
	if (strcmp(id, log_id) != 0)
	{
		fetch();
		return false;
	}
	if (position < head)
		fetch();
	return true;
}

/*
 * The position check (notifycheck.c) read the log's head from the
 * database (a number the bridge can trust, unlike a NOTIFY payload): read
 * up to it, whether or not a NOTIFY said so.
 */
void
ring_on_position(int64_t pos)
{
	if (pos > head)
		fetch();
}

void
ring_on_notify(const char *channel, const char *payload)
{
	if (strcmp(channel, "helpdesk_typing") == 0)
	{
		clients_on_typing(payload);
		return;
	}
	if (strcmp(channel, "helpdesk") != 0)
		return;
	/* the payload (a position) is not trusted, nor needed: read what is there */
	metrics.notifies++;
	trace_notify();
	if (base < 0)
		read_position();		/* e.g. the extension was missing when we asked */
	else
		fetch();
}
