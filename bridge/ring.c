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
 * The LISTEN connection reads new events whenever a NOTIFY on channel
 * helpdesk says the high-water mark moved, and once after (re)connecting,
 * so nothing published while the bridge was away is missed.
 */
#include "db.h"
#include "relay.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define FETCH_ROWS 2000

static Ev  *slots;
static int64_t size;
static int64_t base = -1;		/* -1: position unknown until first connect */
static int64_t head = -1;
static int64_t notified = -1;	/* highest position a NOTIFY announced */
static bool fetching;

static void fetch(void);

const char *const ev_select_sql =
"SELECT pos, tenant_id, type, audience, coalesce(audience_id, 0), coalesce(session_id, 0), "
"       coalesce(customer_id, 0), payload::pg_catalog.text, message::pg_catalog.text, "
"       (extract(epoch FROM created_at) OPERATOR(pg_catalog.*) 1000000)::pg_catalog.int8, "
"       pg_catalog.to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
"FROM helpdesk.bridge_events($1::pg_catalog.int8, $2::pg_catalog.int4, $3::pg_catalog.int8)";

void
ring_init(void)
{
	size = cfg.ring_size;
	slots = calloc((size_t) size, sizeof(Ev));
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
 * An agent's copy of a session.state event that makes it offered/active
 * adds the session to what the agent sees; session.released removes it.
 */
static SessionEffect
agent_effect(const char *type, const char *payload)
{
	SessionEffect e = EFFECT_NONE;

	if (strcmp(type, "session.released") == 0)
		return EFFECT_REMOVE;
	if (strcmp(type, "session.state") == 0)
	{
		json_t	   *p = json_loads(payload, 0, NULL);
		const char *to = json_string_value(json_object_get(p, "to"));

		if (to && (strcmp(to, "offered") == 0 || strcmp(to, "active") == 0))
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
	if (ev->audience == AUD_AGENT && ev->session_id)
		ev->effect = (uint8_t) agent_effect(type, payload);

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

static void
fetched(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	int			n;

	fetching = false;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		blog(BLOG_WARN, "reading events failed: %s", message ? message : "?");
		return;					/* the next NOTIFY or reconnect retries */
	}
	n = PQntuples(res);
	for (int i = 0; i < n; i++)
	{
		Ev			ev;

		ev_from_row(res, i, &ev);
		ring_append(&ev);
		clients_wake_for(ring_get(ev.pos));
	}
	if (n == FETCH_ROWS || notified > head)
		fetch();
}

static void
fetch(void)
{
	char		after[32],
				limit[16];
	const char *params[3] = {after, limit, NULL};

	if (fetching || base < 0)
		return;
	snprintf(after, sizeof(after), "%lld", (long long) head);
	snprintf(limit, sizeof(limit), "%d", FETCH_ROWS);
	fetching = db_listen_query(ev_select_sql, 3, params, fetched, NULL);
}

static void
got_position(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		blog(BLOG_ERR, "cannot read the event position (is pg_helpdesk installed?): %s",
			 message ? message : "?");
		return;
	}
	base = head = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	blog(BLOG_INFO, "relaying events after position %lld", (long long) head);
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
	if (base < 0)
		db_listen_query("SELECT helpdesk.event_position()", 0, NULL, got_position, NULL);
	else
		fetch();
}

/*
 * The position check (notifycheck.c) read the log's head from the
 * database: read up to it, whether or not a NOTIFY said so.
 */
void
ring_on_position(int64_t pos)
{
	if (pos > notified)
		notified = pos;
	if (notified > head)
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
	{
		int64_t		hwm = strtoll(payload, NULL, 10);

		if (hwm > notified)
			notified = hwm;
	}
	if (notified > head)
		fetch();
}
