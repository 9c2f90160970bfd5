/*
 * stream.c — what one socket is sent, in order: control frames (hello,
 * acks, errors, typing) first, then the events it may see, packed several per
 * frame, from the shared ring through its cursor (live) or read from the
 * database in chunks (catch-up, until it is close enough to the head to go
 * live). Every outbound byte is written from SERVER_WRITEABLE; the ring wakes
 * only the sockets whose subscription keys cover an event.
 *
 * Below it: client.c (the socket), ring.c, subs.c, db.c. Above it: nothing
 * but lws's writeable callback (client.c) and the ring's wakeups.
 */
#include "client.h"
#include "db.h"
#include "trace.h"

#include <stdlib.h>
#include <string.h>

#define EVENTS_FRAME_BYTES 65536
#define SCAN_PER_WRITE 8192
#define CATCHUP_ROWS 500		/* events per catch-up read */

static Buf	scratch;			/* LWS_PRE + frame being written */

/*
 * Whether c may see ev. What c sees is who holds what now: at connect the
 * sessions it holds (bridge_subscriber), then what events published after
 * that (pos > since) do to them. Events a catch-up replays from before the
 * connect change nothing: an agent resuming from an old position does not
 * get back a session transferred away from it since, nor one only offered.
 */
static bool
visible(Client *c, const Ev *e)
{
	/* a replay of a moved tenant's old log is all from before the connect */
	bool		fresh = !c->replaying && e->pos > c->since;

	if (e->tenant != c->tenant)
		return false;
	if (c->kind == KIND_BOT)
		return false;			/* a bot socket answers; it is sent no events */
	if (e->effect == EFFECT_DISABLED && fresh && c->kind != KIND_CUSTOMER &&
		e->audience == AUD_AGENT && e->audience_id == c->subject)
	{
		/* its agent and supervisor sockets, on every bridge that reads it */
		client_close(c, CLOSE_WRONG_TENANT, "agent disabled");
		return false;
	}
	if (e->effect == EFFECT_REVOKED && fresh && c->kind != KIND_CUSTOMER &&
		e->audience == AUD_AGENT && e->audience_id == c->subject &&
		c->token_ver > 0 && c->token_ver < e->revoked_ver)
	{
		/* a login token of an older version (tokens of issue_token have none) */
		client_close(c, CLOSE_WRONG_TENANT, "token revoked");
		return false;
	}
	switch (c->kind)
	{
		case KIND_SUPERVISOR:
			/* every event of the tenant, a ticket's once (the tenant copy) */
			return !e->ticket_copy;
		case KIND_CUSTOMER:
			if (e->audience == AUD_SESSION && e->customer_id == c->subject)
			{
				client_session_add(c, e->session_id);
				return true;
			}
			return e->audience == AUD_CUSTOMER && e->audience_id == c->subject;
		case KIND_AGENT:
			switch ((Audience) e->audience)
			{
				case AUD_AGENT:
					if (e->audience_id != c->subject)
						return false;
					if (fresh && e->effect == EFFECT_ADD)
						client_session_add(c, e->session_id);
					else if (fresh && e->effect == EFFECT_REMOVE)
						client_session_remove(c, e->session_id);
					return true;
				case AUD_SESSION:
				case AUD_SESSION_STAFF:
					return idset_has(&c->sessions, e->session_id);
				case AUD_QUEUE:
					return c->x && idset_has(&c->x->queues, e->audience_id);
				default:
					return false;
			}
		default:
			return false;
	}
}

static void
scratch_begin(void)
{
	scratch.len = 0;
	buf_reserve(&scratch, LWS_PRE + EVENTS_FRAME_BYTES + 1024);
	scratch.len = LWS_PRE;
}

static int
write_text(Client *c, char *payload, size_t len)
{
	metrics.frames_out++;
	if (lws_write(c->wsi, (unsigned char *) payload, len, LWS_WRITE_TEXT) < (int) len)
		return -1;
	return 0;
}

/*
 * Appends the visible events after c->pos to scratch (one events frame),
 * stopping at the frame size or scan budget. Returns events added.
 */
static int
pack_live_events(Client *c)
{
	int64_t		head = ring_head();
	int64_t		now = now_us();
	int			scanned = 0,
				added = 0;

	while (c->pos < head && scanned < SCAN_PER_WRITE &&
		   scratch.len < LWS_PRE + EVENTS_FRAME_BYTES)
	{
		const Ev   *e = ring_get(c->pos + 1);

		if (e == NULL)
			break;
		c->pos++;
		scanned++;
		if (!visible(c, e))
			continue;
		buf_puts(&scratch, added ? "," : "{\"type\":\"events\",\"events\":[");
		buf_append(&scratch, e->json, e->len);
		added++;
		metrics_observe_latency(now - e->created_us);
		trace_write(e->pos, now);
	}
	if (added)
		buf_puts(&scratch, "]}");
	metrics.events_relayed += (uint64_t) added;
	return added;
}

/*
 * Where a live client's next scan starts: idle since its last scan, it was
 * woken by the event at wake_from, and nothing before that was under its
 * keys, so it skips there.
 */
int64_t
client_scan_from(const Client *c)
{
	return c->idle && c->wake_from > c->pos + 1 ? c->wake_from - 1 : c->pos;
}

/* past --max-lag (or out of the ring): closed with 4008, resumes with its position */
bool
client_lagging(const Client *c)
{
	int64_t		from = client_scan_from(c);

	return from < ring_base() || ring_head() - from > cfg.max_lag;
}

/*
 * Past its token's expiry a socket is closed with 4003: checked on every
 * frame in and out, and by keepalive.c's sweep for a quiet socket.
 */
bool
client_expired(Client *c, int64_t now)
{
	if (c->exp == 0 || now / 1000000 < c->exp)
		return false;
	if (!c->close_code)
		metrics.expired_closes++;
	client_close(c, CLOSE_TOKEN_EXPIRED, "token expired");
	return true;
}

/* writes c's next frame: close, PING, a reply, a catch-up read, live events */
static int
write_next(Client *c)
{
	ClientExtra *x = c->x;

	c->wake_pending = false;
	(void) client_expired(c, now_us());
	if (c->close_code)
	{
		const char *reason = x && x->close_reason ? x->close_reason : "";

		lws_close_reason(c->wsi, (enum lws_close_status) c->close_code,
						 (unsigned char *) reason, strlen(reason));
		return -1;
	}
	switch (keepalive_write(c))
	{
		case -1:
			return -1;
		case 1:
			lws_callback_on_writable(c->wsi);
			return 0;
	}
	if (x && x->out_head)
	{
		OutFrame   *f = x->out_head;
		int			rc;

		x->out_head = f->next;
		if (!x->out_head)
			x->out_tail = NULL;
		x->nout--;
		rc = write_text(c, f->data + LWS_PRE, f->len);
		free(f);
		if (rc < 0)
			return -1;
		if (!x->out_head && c->revoked)
			client_close(c, CLOSE_WRONG_TENANT, "token revoked");	/* after the error saying so */
		lws_callback_on_writable(c->wsi);
		return 0;
	}
	/*
	 * A catch-up read goes out before anything from the ring, also the last
	 * one, whose arrival already made the client live.
	 */
	if (x && x->catchup.len > 0)
	{
		int			rc;

		scratch_begin();
		buf_append(&scratch, x->catchup.data, x->catchup.len);
		buf_free(&x->catchup);
		rc = write_text(c, scratch.data + LWS_PRE, scratch.len - LWS_PRE);
		if (rc < 0)
			return -1;
		if (c->state == ST_LIVE)
		{
			/* one frame per callback: the ring next time */
			lws_callback_on_writable(c->wsi);
			return 0;
		}
	}
	if (c->state == ST_CATCHUP)
	{
		if (!c->catchup_inflight)
			client_start_catchup(c);
		return 0;
	}
	if (c->state == ST_LIVE && ring_known())
	{
		c->pos = client_scan_from(c);
		c->wake_from = 0;
		c->idle = false;
		if (client_lagging(c))
		{
			client_close(c, CLOSE_TOO_SLOW, "fell behind the event stream; resume with your position");
			return 0;
		}
		scratch_begin();
		if (pack_live_events(c) > 0 &&
			write_text(c, scratch.data + LWS_PRE, scratch.len - LWS_PRE) < 0)
			return -1;
		if (c->pos < ring_head())
			lws_callback_on_writable(c->wsi);
		else
			c->idle = true;
	}
	return 0;
}

int
client_on_writeable(Client *c)
{
	int			rc = write_next(c);

	client_extra_release(c);
	return rc;
}

/*
 * Serve c from the ring only once it is well inside the lag allowed to live
 * clients. Going live as soon as the ring held its position would close a
 * client that resumed from far behind with 4008 at once: the ring's oldest
 * event is ring_size behind the head, more than max_lag. Until then it
 * reads from the database.
 */
static bool
can_go_live(Client *c)
{
	return ring_known() && !c->replaying && c->pos >= ring_base() && ring_head() - c->pos <= cfg.max_lag / 2;
}

static void
catchup_done(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	Client	   *c = arg;
	ClientExtra *x;
	int			n;

	c->catchup_inflight = false;
	if (c->wsi == NULL)
	{
		client_unref(c);
		return;
	}
	if (sqlstate && strcmp(sqlstate, "HD412") == 0)
	{
		/* the position is not in the log the ring follows (a reset, or a resume frame from nowhere) */
		client_close(c, CLOSE_POSITION_GONE, "position not in the current event log; reload and connect without one");
		client_unref(c);
		return;
	}
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		client_close(c, 1013, "database unavailable, try again");
		client_unref(c);
		return;
	}
	if (c->catchup_restart)
	{
		/* a resume frame moved the cursor meanwhile: read again from there */
		c->catchup_restart = false;
		client_start_catchup(c);
		client_unref(c);
		return;
	}
	n = PQntuples(res);
	x = client_extra(c);
	buf_free(&x->catchup);
	for (int i = 0; i < n; i++)
	{
		Ev			ev;

		ev_from_row(res, i, &ev);
		if (visible(c, &ev))
		{
			buf_puts(&x->catchup, x->catchup.len ? "," : "{\"type\":\"events\",\"events\":[");
			buf_append(&x->catchup, ev.json, ev.len);
			metrics.events_relayed++;
		}
		c->pos = ev.pos;
		free(ev.json);
	}
	if (x->catchup.len)
		buf_puts(&x->catchup, "]}");
	/* a short read covered everything published when it was sent */
	if (c->replaying)
		x->replay_switch = n < CATCHUP_ROWS;	/* the old log's copy is read out */
	else if (n < CATCHUP_ROWS && c->pos < x->catchup_base)
		c->pos = x->catchup_base;
	if (can_go_live(c))
	{
		c->state = ST_LIVE;
		c->idle = false;		/* scan the ring from pos */
	}
	lws_callback_on_writable(c->wsi);
	client_unref(c);
}

/*
 * The end of a replay of a moved tenant's old log: a log frame tells the
 * client that the positions that follow are of this node's log, from the
 * one the move recorded (every event of the tenant here comes after it).
 */
static void
end_replay(Client *c)
{
	Buf			b = {0};

	buf_printf(&b, "{\"type\":\"log\",\"log_id\":\"%s\",\"position\":%lld}",
			   ring_log_id() ?: "", (long long) c->x->replay_next);
	client_send_raw(c, b.data, b.len);
	buf_free(&b);
	c->pos = c->x->replay_next;
	c->x->replay_log[0] = '\0';
	c->replaying = false;
}

/* read the next chunk of missed events of c's tenant from the database */
void
client_start_catchup(Client *c)
{
	char		after[32],
				rows[16],
				tenant[32];
	const char *params[4] = {after, rows, tenant, NULL};

	if (!ring_known())
		return;					/* woken again when the ring knows its position */
	if (c->replaying && c->x->replay_switch)
		end_replay(c);
	if (can_go_live(c))
	{
		c->state = ST_LIVE;
		c->idle = false;
		lws_callback_on_writable(c->wsi);
		return;
	}
	c->state = ST_CATCHUP;
	c->catchup_inflight = true;
	client_extra(c)->catchup_base = ring_base();
	snprintf(after, sizeof(after), "%lld", (long long) c->pos);
	snprintf(rows, sizeof(rows), "%d", CATCHUP_ROWS);
	snprintf(tenant, sizeof(tenant), "%lld", (long long) c->tenant);
	params[3] = c->replaying ? c->x->replay_log : ring_log_id();
	client_ref(c);
	db_call(c->replaying ? ev_moved_sql : ev_select_sql, 4, params, catchup_done, c);
}

static void
wake_one(Client *c, void *arg)
{
	const Ev   *e = arg;

	if (c->state != ST_LIVE || c->wsi == NULL || c->wake_pending)
		return;					/* one request per callback, not one per event */
	if (c->idle && c->wake_from == 0)
		c->wake_from = e->pos;
	c->wake_pending = true;
	lws_callback_on_writable(c->wsi);
}

/*
 * The keys woken during one read of the ring (clients_wake_begin/end).
 * Nothing is written to a socket while a read's rows are taken in, so a key
 * woken once in a read is woken for nothing the next time: every socket
 * under it already has its callback and its wake_from. Without this, a
 * 2,000-row read with 1,000 supervisors walked the tenant's key 2,000
 * times (2 million calls in one pass of the loop).
 */
#define WOKEN_SLOTS 8192		/* power of two; at most half used */
typedef struct WokenKey
{
	uint64_t	read;			/* the read it was woken in */
	int64_t		tenant;
	int64_t		id;
	char		cls;
} WokenKey;
static WokenKey *woken;
static uint64_t woken_read;		/* 0: not inside a read */
static uint64_t reads;
static int	nwoken;

void
clients_wake_begin(void)
{
	if (woken == NULL)
		woken = calloc(WOKEN_SLOTS, sizeof(WokenKey));
	woken_read = ++reads;
	nwoken = 0;
}

void
clients_wake_end(void)
{
	woken_read = 0;
}

/* true the first time a key is seen in the current read */
static bool
first_wake(char cls, int64_t tenant, int64_t id)
{
	uint64_t	h;

	if (woken_read == 0 || woken == NULL || nwoken >= WOKEN_SLOTS / 2)
		return true;
	h = ((uint64_t) id * 0x9E3779B97F4A7C15ull) ^ ((uint64_t) tenant * 0xC2B2AE3D27D4EB4Full) ^
		(uint64_t) (unsigned char) cls;
	h ^= h >> 29;
	for (h &= WOKEN_SLOTS - 1;; h = (h + 1) & (WOKEN_SLOTS - 1))
	{
		WokenKey   *k = &woken[h];

		if (k->read != woken_read)
		{
			k->read = woken_read;
			k->cls = cls;
			k->tenant = tenant;
			k->id = id;
			nwoken++;
			return true;
		}
		if (k->cls == cls && k->tenant == tenant && k->id == id)
			return false;
	}
}

static void
wake_key(char cls, int64_t tenant, int64_t id, const Ev *e)
{
	if (first_wake(cls, tenant, id))
		subs_foreach(cls, tenant, id, wake_one, (void *) e);
}

/* wake the sockets whose keys cover e (a superset of who may see it) */
void
clients_wake_for(const Ev *e)
{
	wake_key('T', e->tenant, 0, e);
	switch ((Audience) e->audience)
	{
		case AUD_SESSION:
			wake_key('C', e->tenant, e->customer_id, e);
			/* FALLTHROUGH */
		case AUD_SESSION_STAFF:
			wake_key('S', e->tenant, e->session_id, e);
			break;
		case AUD_AGENT:
			wake_key('A', e->tenant, e->audience_id, e);
			break;
		case AUD_QUEUE:
			wake_key('Q', e->tenant, e->audience_id, e);
			break;
		case AUD_CUSTOMER:
			wake_key('C', e->tenant, e->audience_id, e);
			break;
		default:
			break;
	}
}

void
clients_wake_free(void)
{
	free(woken);
	woken = NULL;
}
