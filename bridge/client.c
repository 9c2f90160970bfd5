/*
 * client.c — WebSocket clients: authentication at connect, inbound frames
 * (size and rate limits), and outbound frames in order: control frames
 * (hello, acks, errors, typing) first, then events, packed several per
 * frame. Every outbound byte is written from SERVER_WRITEABLE.
 *
 * Memory per connection is bounded: events are read from the shared ring
 * through the client's cursor; control frames queue up to max_pending and
 * a catch-up read holds one frame. Past either bound the client is closed
 * with 4008 and may reconnect with its position.
 */
#include "client.h"
#include "db.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_FRAME_BYTES 65536
#define SCAN_PER_WRITE 8192
#define CATCHUP_ROWS 500		/* events per catch-up read */
#define MAX_ERROR_TEXT 1024		/* bytes of a database message in an error frame */

static struct lws_context *context;
static struct lws_vhost *vhost;
static const struct lws_protocols *ws_protocol;
static Client *all;
static int	nclients;
static int	churn;				/* sockets opened + closed since the last malloc_trim */
static Buf	scratch;			/* LWS_PRE + frame being written */
static lws_sorted_usec_list_t heartbeat_sul;

void
client_ref(Client *c)
{
	c->refs++;
}

/* frees x and everything it holds */
static void
extra_free(ClientExtra *x)
{
	OutFrame   *f;

	while ((f = x->out_head) != NULL)
	{
		x->out_head = f->next;
		free(f);
	}
	idset_free(&x->queues);
	buf_free(&x->catchup);
	buf_free(&x->rx);
	free(x);
}

void
client_unref(Client *c)
{
	if (--c->refs > 0)
		return;
	if (c->x)
		extra_free(c->x);
	idset_free(&c->sessions);
	free(c);
}

ClientExtra *
client_extra(Client *c)
{
	if (c->x == NULL)
		c->x = calloc(1, sizeof(ClientExtra));
	return c->x;
}

/* drop c->x once nothing in it is in use (see ClientExtra) */
void
client_extra_release(Client *c)
{
	ClientExtra *x = c->x;

	if (x == NULL || x->out_head || x->catchup.cap || x->rx.cap ||
		x->queues.n || x->queues.cap || x->close_reason || c->catchup_inflight)
		return;
	free(x);
	c->x = NULL;
}

static char
kind_key(ClientKind k)
{
	return k == KIND_SUPERVISOR ? 'T' : k == KIND_CUSTOMER ? 'C' : 'A';
}

/* the session's events now reach c (and wake it) */
void
client_session_add(Client *c, int64_t session_id)
{
	if (session_id == 0 || idset_has(&c->sessions, session_id))
		return;
	idset_add(&c->sessions, session_id);
	if (c->indexed)
		subs_add('S', c->tenant, session_id, c);
}

static void
client_session_remove(Client *c, int64_t session_id)
{
	if (idset_remove(&c->sessions, session_id) && c->indexed)
		subs_remove('S', c->tenant, session_id, c);
}

/* register c's keys (once its subject is confirmed) */
void
client_index(Client *c)
{
	if (c->indexed)
		return;
	c->indexed = true;
	subs_add(kind_key(c->kind), c->tenant, c->kind == KIND_SUPERVISOR ? 0 : c->subject, c);
	for (int i = 0; i < c->sessions.n; i++)
		subs_add('S', c->tenant, idset_ids(&c->sessions)[i], c);
	for (int i = 0; c->x && i < c->x->queues.n; i++)
		subs_add('Q', c->tenant, idset_ids(&c->x->queues)[i], c);
}

static void
client_unindex(Client *c)
{
	if (!c->indexed)
		return;
	subs_remove(kind_key(c->kind), c->tenant, c->kind == KIND_SUPERVISOR ? 0 : c->subject, c);
	for (int i = 0; i < c->sessions.n; i++)
		subs_remove('S', c->tenant, idset_ids(&c->sessions)[i], c);
	for (int i = 0; c->x && i < c->x->queues.n; i++)
		subs_remove('Q', c->tenant, idset_ids(&c->x->queues)[i], c);
	c->indexed = false;
}

/* close after the frames already queued; the reason goes in the close frame */
void
client_close(Client *c, uint16_t code, const char *reason)
{
	if (c->wsi == NULL || c->close_code)
		return;
	c->close_code = code;
	client_extra(c)->close_reason = reason;
	if (code == CLOSE_TOO_SLOW)
		metrics.slow_disconnects++;
	lws_callback_on_writable(c->wsi);
	/* a peer that reads nothing never lets the close frame out: end it anyway */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, cfg.ping_secs);
}

void
client_send_raw(Client *c, const char *json, size_t len)
{
	OutFrame   *f;
	ClientExtra *x;

	if (c->wsi == NULL || c->close_code)
		return;
	x = client_extra(c);
	if (x->nout >= cfg.max_pending)
	{
		client_close(c, CLOSE_TOO_SLOW, "too many unread replies");
		return;
	}
	f = malloc(sizeof(OutFrame) + LWS_PRE + len);
	f->next = NULL;
	f->len = len;
	memcpy(f->data + LWS_PRE, json, len);
	if (x->out_tail)
		x->out_tail->next = f;
	else
		x->out_head = f;
	x->out_tail = f;
	x->nout++;
	lws_callback_on_writable(c->wsi);
}

void
client_send_error(Client *c, const char *ref, const char *code, const char *message,
				  const char *sqlstate)
{
	Buf			b = {0};

	buf_puts(&b, "{\"type\":\"error\",\"ref\":");
	if (ref)
		buf_json_string(&b, ref);
	else
		buf_puts(&b, "null");
	buf_puts(&b, ",\"code\":");
	buf_json_string(&b, code);
	if (sqlstate)
	{
		buf_puts(&b, ",\"sqlstate\":");
		buf_json_string(&b, sqlstate);
	}
	buf_puts(&b, ",\"message\":");
	/* the database's text: bounded, valid UTF-8 whatever it sent */
	buf_json_text(&b, message ? message : "", MAX_ERROR_TEXT);
	buf_puts(&b, "}");
	metrics.errors_sent++;
	client_send_raw(c, b.data, b.len);
	buf_free(&b);
}

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
	bool		fresh = e->pos > c->since;

	if (e->tenant != c->tenant)
		return false;
	if (e->effect == EFFECT_DISABLED && fresh && c->kind != KIND_CUSTOMER &&
		e->audience == AUD_AGENT && e->audience_id == c->subject)
	{
		/* its agent and supervisor sockets, on every bridge that reads it */
		client_close(c, CLOSE_WRONG_TENANT, "agent disabled");
		return false;
	}
	switch (c->kind)
	{
		case KIND_SUPERVISOR:
			return true;
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

static int
on_writeable(Client *c)
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
	return ring_known() && c->pos >= ring_base() && ring_head() - c->pos <= cfg.max_lag / 2;
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
	if (n < CATCHUP_ROWS && c->pos < x->catchup_base)
		c->pos = x->catchup_base;
	if (can_go_live(c))
	{
		c->state = ST_LIVE;
		c->idle = false;		/* scan the ring from pos */
	}
	lws_callback_on_writable(c->wsi);
	client_unref(c);
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
	params[3] = ring_log_id();
	client_ref(c);
	db_call(ev_select_sql, 4, params, catchup_done, c);
}

static void
handle_frame(Client *c, const char *buf, size_t len)
{
	Cmd			cmd;
	const char *code,
			   *msg;

	metrics.frames_in++;
	if (client_expired(c, now_us()))
		return;
	if (c->subj == NULL || !subject_rate_ok(c->subj))
	{
		int64_t		now = now_us();

		c->limited_dropped++;
		/* one error a second while limited; the rest are counted in it */
		if (now - c->limited_sent_us >= 1000000)
		{
			char		m[128];

			snprintf(m, sizeof(m), "rate limit of %d frames per minute (for all your sockets) exceeded; %u frames dropped",
					 c->kind == KIND_CUSTOMER ? cfg.customer_rate : cfg.agent_rate,
					 c->limited_dropped);
			client_send_error(c, NULL, ERR_RATE_LIMITED, m, NULL);
			c->limited_sent_us = now;
			c->limited_dropped = 0;
		}
		return;
	}
	code = cmd_parse(buf, len, c->kind, &cmd, &msg);
	if (code)
		client_send_error(c, cmd.ref, code, msg, NULL);
	else
		command_run(c, &cmd);
	cmd_free(&cmd);
}

static int
on_receive(Client *c, struct lws *wsi, const char *in, size_t len)
{
	ClientExtra *x = c->x;
	bool		first = lws_is_first_fragment(wsi);
	bool		final = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;

	if (lws_frame_is_binary(wsi))
	{
		client_close(c, 1003, "binary frames are not accepted");
		return 0;
	}
	if (first && final && (x == NULL || x->rx.len == 0))
	{
		if (len > (size_t) cfg.max_frame)
			goto too_big;
		handle_frame(c, in, len);
		return 0;
	}
	x = client_extra(c);
	if (x->rx.len + len + lws_remaining_packet_payload(wsi) > (size_t) cfg.max_frame)
		goto too_big;
	buf_append(&x->rx, in, len);
	if (final)
	{
		handle_frame(c, x->rx.data, x->rx.len);
		buf_free(&x->rx);
		client_extra_release(c);
	}
	return 0;
too_big:
	if (x)
		buf_free(&x->rx);
	lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
					 (unsigned char *) "frame too large", 15);
	return -1;
}

static void
on_established(Client *c, struct lws *wsi)
{
	char		token[2100];

	/*
	 * lws_get_urlarg_by_name() gives up at the first argument that does not
	 * fit the buffer, so the one for position must hold a token too.
	 */
	char		pos[sizeof(token)];
	TokenClaims claims;
	TokenStatus st;
	int			n;

	const char *tok,
			   *ps;

	/* lws returns a pointer to the value inside the buffer it filled */
	tok = lws_get_urlarg_by_name(wsi, "token=", token, sizeof(token));
	n = tok ? (int) strlen(tok) : 0;
	st = jwt_verify(tok, (size_t) n, cfg.token_secret, now_us() / 1000000, &claims);
	c->resume = -1;
	if ((ps = lws_get_urlarg_by_name(wsi, "position=", pos, sizeof(pos))) != NULL)
	{
		char	   *end;
		long long	p = strtoll(ps, &end, 10);

		if (*end == '\0' && p >= 0)
			c->resume = p;
	}
	if (st != TOKEN_OK)
	{
		metrics.auth_failures++;
		client_close(c, st == TOKEN_MISSING ? CLOSE_TOKEN_MISSING :
					 st == TOKEN_EXPIRED ? CLOSE_TOKEN_EXPIRED : CLOSE_TOKEN_INVALID,
					 st == TOKEN_MISSING ? "token missing" :
					 st == TOKEN_EXPIRED ? "token expired" : "token invalid");
		return;
	}
	c->subj = subject_acquire(claims.tenant, claims.kind, claims.subject);
	if (c->subj == NULL)
	{
		metrics.auth_failures++;
		client_close(c, CLOSE_TOO_MANY_SOCKETS, "too many sockets for this subject");
		return;
	}
	c->kind = claims.kind;
	c->tenant = claims.tenant;
	c->subject = claims.subject;
	c->exp = claims.exp;
	metrics.connections[c->kind]++;
	subscriber_lookup(c);
}

int
client_protocol_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
				   void *in, size_t len)
{
	Client	  **pc = user;
	Client	   *c = pc ? *pc : NULL;

	switch (reason)
	{
		case LWS_CALLBACK_HTTP:
			return http_serve(wsi, in);
		case LWS_CALLBACK_ESTABLISHED:
			c = calloc(1, sizeof(Client));
			c->wsi = wsi;
			c->refs = 1;
			c->kind = KIND_COUNT;
			c->next = all;
			if (all)
				all->prev = c;
			all = c;
			nclients++;
			churn++;
			metrics.connections_total++;
			*pc = c;
			keepalive_seen(c);
			on_established(c, wsi);
			break;
		case LWS_CALLBACK_SERVER_WRITEABLE:
			if (c == NULL)
				return 0;
			return on_writeable(c);
		case LWS_CALLBACK_RECEIVE:
			if (c == NULL)
				return -1;
			keepalive_seen(c);
			if (c->close_code)
				return 0;
			return on_receive(c, wsi, in, len);
		case LWS_CALLBACK_RECEIVE_PONG:
			if (c)
				keepalive_seen(c);
			break;
		case LWS_CALLBACK_CLOSED:
			if (c == NULL)
				break;
			if (c->kind < KIND_COUNT)
				metrics.connections[c->kind]--;
			keepalive_forget(c);
			if (c->prev)
				c->prev->next = c->next;
			else
				all = c->next;
			if (c->next)
				c->next->prev = c->prev;
			nclients--;
			churn++;
			subject_release(c->subj);
			c->subj = NULL;
			client_unindex(c);
			c->wsi = NULL;
			*pc = NULL;
			client_unref(c);
			break;
		default:
			break;
	}
	return 0;
}

/* new events in the ring: every live client gets a writeable callback */
void
clients_wake_all(void)
{
	lws_callback_on_writable_all_protocol_vhost(vhost, ws_protocol);
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

/* wake the sockets whose keys cover e (a superset of who may see it) */
void
clients_wake_for(const Ev *e)
{
	subs_foreach('T', e->tenant, 0, wake_one, (void *) e);
	switch ((Audience) e->audience)
	{
		case AUD_SESSION:
			subs_foreach('C', e->tenant, e->customer_id, wake_one, (void *) e);
			/* FALLTHROUGH */
		case AUD_SESSION_STAFF:
			subs_foreach('S', e->tenant, e->session_id, wake_one, (void *) e);
			break;
		case AUD_AGENT:
			subs_foreach('A', e->tenant, e->audience_id, wake_one, (void *) e);
			break;
		case AUD_QUEUE:
			subs_foreach('Q', e->tenant, e->audience_id, wake_one, (void *) e);
			break;
		case AUD_CUSTOMER:
			subs_foreach('C', e->tenant, e->audience_id, wake_one, (void *) e);
			break;
		default:
			break;
	}
}

/*
 * The heartbeat period in use: --heartbeat-ms, or a third of the shortest
 * presence timeout (heartbeat_interval x heartbeat_misses) of the tenants of
 * the connected agents when that is shorter, so that no tenant's agents go
 * offline between two batches (at least 100 ms apart).
 */
static int	heartbeat_period_ms = 0;

static void heartbeat_tick(lws_sorted_usec_list_t *sul);

static void
heartbeat_done(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	long long	timeout_ms = 0;
	int			want;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		blog(BLOG_WARN, "agent heartbeat batch failed: %s", message ? message : "?");
		return;
	}
	want = cfg.heartbeat_ms;
	if (PQntuples(res) == 1 && PQnfields(res) >= 2 && !PQgetisnull(res, 0, 1))
	{
		timeout_ms = atoll(PQgetvalue(res, 0, 1));
		if (timeout_ms > 0 && timeout_ms / 3 < want)
			want = (int) (timeout_ms / 3 < 100 ? 100 : timeout_ms / 3);
	}
	if (want != heartbeat_period_ms)
	{
		if (want < cfg.heartbeat_ms)
			blog(BLOG_WARN, "a tenant of the connected agents takes them offline after %lld ms without a heartbeat (heartbeat_interval x heartbeat_misses), less than three --heartbeat-ms %d: sending heartbeats every %d ms",
				 timeout_ms, cfg.heartbeat_ms, want);
		else if (heartbeat_period_ms != 0)
			blog(BLOG_INFO, "sending heartbeats every --heartbeat-ms %d again", want);
		heartbeat_period_ms = want;
		lws_sul_schedule(context, 0, &heartbeat_sul, heartbeat_tick,
						 (lws_usec_t) heartbeat_period_ms * 1000);
	}
}

/*
 * Every heartbeat period, one SQL call marks all connected agents
 * present (the WebSocket itself is the liveness signal; keepalive.c pings
 * silent sockets and drops dead ones), and reads the shortest presence
 * timeout of their tenants (heartbeat_done adjusts the period to it).
 */
static void
heartbeat_tick(lws_sorted_usec_list_t *sul)
{
	Buf			tenants = {0},
				agents = {0};
	int			n = 0;

	buf_puts(&tenants, "{");
	buf_puts(&agents, "{");
	for (Client *c = all; c; c = c->next)
	{
		if (c->kind != KIND_AGENT || c->state == ST_AUTH || c->close_code)
			continue;
		buf_printf(&tenants, "%s%lld", n ? "," : "", (long long) c->tenant);
		buf_printf(&agents, "%s%lld", n ? "," : "", (long long) c->subject);
		n++;
	}
	buf_puts(&tenants, "}");
	buf_puts(&agents, "}");
	if (n > 0 && db_calls_up() > 0)
	{
		const char *params[2] = {tenants.data, agents.data};

		metrics.heartbeat_batches++;
		db_call("SELECT pg_catalog.sum(helpdesk.agent_heartbeat(t, ids)), "
				"       helpdesk.presence_timeout_ms(pg_catalog.array_agg(t)) FROM ("
				"  SELECT t, pg_catalog.array_agg(DISTINCT a) ids"
				"  FROM unnest($1::pg_catalog.int8[], $2::pg_catalog.int8[]) u(t, a) GROUP BY t) x",
				2, params, heartbeat_done, NULL);
	}
	buf_free(&tenants);
	buf_free(&agents);

	/*
	 * glibc keeps freed memory resident: the 4 KB header buffers of
	 * handshakes in between the sockets that stay, and everything after a
	 * mass disconnect. Hand it back once a thousand sockets or more have
	 * come or gone since the last time (a trim walks the heap: not per
	 * socket).
	 */
	if (churn >= 1000)
	{
		malloc_trim(0);
		churn = 0;
	}
	lws_sul_schedule(context, 0, &heartbeat_sul, heartbeat_tick,
					 (lws_usec_t) (heartbeat_period_ms ? heartbeat_period_ms : cfg.heartbeat_ms) * 1000);
}

void
clients_init(struct lws_context *ctx, struct lws_vhost *vh)
{
	context = ctx;
	vhost = vh;
	ws_protocol = lws_vhost_name_to_protocol(vh, "helpdesk");
	lws_sul_schedule(context, 0, &heartbeat_sul, heartbeat_tick,
					 (lws_usec_t) cfg.heartbeat_ms * 1000);
	keepalive_init(ctx);
}

/* the newest client; ->next leads to the older ones (keepalive.c's sweep) */
Client *
clients_first(void)
{
	return all;
}

/* SIGTERM: tell every client we are going away */
void
clients_shutdown(void)
{
	lws_sul_cancel(&heartbeat_sul);
	keepalive_stop();
	for (Client *c = all; c; c = c->next)
		client_close(c, CLOSE_GOING_AWAY, "bridge shutting down");
}

/*
 * The event log was replaced under the ring: every client's position and
 * what it was shown belong to the old log. 4010 tells it to reload and
 * connect without a position.
 */
void
clients_reset(void)
{
	for (Client *c = all; c; c = c->next)
		client_close(c, CLOSE_POSITION_GONE, "the event log was reset; reload and connect without a position");
}

int
clients_count(void)
{
	return nclients;
}
