/*
 * client.c — a WebSocket client's life: the lws callback, authentication at
 * connect, inbound frames (size and rate limits) handed to commands.c,
 * control frames queued for stream.c to write, close. stream.c writes what
 * it is sent, heartbeat.c reports connected agents present.
 *
 * Memory per connection is bounded: events are read from the shared ring
 * through the client's cursor; control frames queue up to max_pending and
 * a catch-up read holds one frame. Past either bound the client is closed
 * with 4008 and may reconnect with its position.
 */
#include "client.h"
#include "db.h"
#include "trace.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ERROR_TEXT 1024		/* bytes of a database message in an error frame */

static struct lws_context *context;
static struct lws_vhost *vhost;
static const struct lws_protocols *ws_protocol;
static Client *all;
static int	nclients;
static int	churn;				/* sockets opened + closed since the last malloc_trim */

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
		x->queues.n || x->queues.cap || x->close_reason || c->catchup_inflight ||
		x->replay_log[0])
		return;
	free(x);
	c->x = NULL;
}

static char
kind_key(ClientKind k)
{
	/* a bot's key is woken by nothing: it sees no events */
	return k == KIND_SUPERVISOR ? 'T' : k == KIND_CUSTOMER ? 'C' : k == KIND_BOT ? 'B' : 'A';
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

/* ...and no longer */
void
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

/* a socket that completed its handshake: the newest in the list */
Client *
client_open(struct lws *wsi)
{
	Client	   *c = calloc(1, sizeof(Client));

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
	return c;
}

/* lws closed c's socket: out of the list and the indexes; freed once unreferenced */
void
client_closed(Client *c)
{
	if (c->kind < KIND_COUNT)
		metrics.connections[c->kind]--;
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
	client_unref(c);
}

/* new events in the ring: every live client gets a writeable callback */
void
clients_wake_all(void)
{
	lws_callback_on_writable_all_protocol_vhost(vhost, ws_protocol);
}

/*
 * glibc keeps freed memory resident: the 4 KB header buffers of
 * handshakes in between the sockets that stay, and everything after a
 * mass disconnect. Hand it back once a thousand sockets or more have
 * come or gone since the last time (a trim walks the heap: not per
 * socket). A trim of a large heap holds the loop for a millisecond or
 * more, so it waits for a quiet moment: no event read, no frame in or out
 * since the previous call (heartbeat.c calls this every tick, a twentieth
 * of the heartbeat period). Under steady traffic the freed memory is
 * reused instead.
 */
void
clients_trim_memory(void)
{
	static uint64_t last_activity;
	uint64_t	activity = metrics.events_ingested + metrics.frames_in + metrics.frames_out;
	bool		quiet = activity == last_activity;

	last_activity = activity;
	if (churn >= 1000 && quiet)
	{
		TraceMark	t0 = trace_mark();

		malloc_trim(0);
		churn = 0;
		trace_section("malloc_trim", t0);
	}
}

void
clients_init(struct lws_context *ctx, struct lws_vhost *vh)
{
	context = ctx;
	vhost = vh;
	ws_protocol = lws_vhost_name_to_protocol(vh, "helpdesk");
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
