/*
 * typing.c — typing indicators between bridges, authenticated.
 *
 * A typing frame is never stored: the bridge that gets it sends
 * NOTIFY helpdesk_typing, and every bridge (itself included) relays it to
 * the session's sockets. Any login role may NOTIFY that channel, so a
 * payload is trusted only when it carries the HMAC-SHA256, under the token
 * secret every bridge of the database shares, of its own fields:
 *
 *   t1 <tenant> <session> <kind 0|1> <subject> <unix ms> <base64url mac>
 *
 * Every field is a number, parsed strictly (typing_sig.c); the frame sent
 * to clients is built from those numbers (never from text in the payload).
 * A signal older or newer than TYPING_WINDOW_MS is dropped, so a replayed
 * one can only repeat a genuine indicator for a few seconds.
 */
#include "client.h"

#include <string.h>

/* the NOTIFY payload announcing that c types in session_id */
void
typing_payload(Buf *b, const Client *c, int64_t session_id)
{
	char		out[256];
	int64_t		f[TYPING_FIELDS] = {c->tenant, session_id, c->kind == KIND_CUSTOMER ? 0 : 1,
	c->subject, now_us() / 1000};
	size_t		n = typing_sign(out, sizeof(out), cfg.token_secret, f);

	b->len = 0;
	buf_append(b, out, n);
}

typedef struct TypingNote
{
	int64_t		id;
	ClientKind	kind;
	Buf			frame;
} TypingNote;

static void
typing_one(Client *c, void *arg)
{
	TypingNote *t = arg;

	if (c->state == ST_AUTH || c->close_code)
		return;
	if (c->subject == t->id && c->kind == t->kind)
		return;					/* not back to the typist */
	client_send_raw(c, t->frame.data, t->frame.len);
}

/* NOTIFY helpdesk_typing: relay an authenticated signal, drop anything else */
void
clients_on_typing(const char *payload)
{
	int64_t		f[TYPING_FIELDS];
	TypingNote	t = {0};

	if (!typing_verify(payload, strlen(payload), cfg.token_secret, now_us() / 1000, f))
	{
		metrics.typing_rejected++;
		blog(BLOG_DEBUG, "dropped an unauthenticated helpdesk_typing notification");
		return;
	}
	t.id = f[3];
	t.kind = f[2] == 0 ? KIND_CUSTOMER : KIND_AGENT;
	buf_printf(&t.frame, "{\"type\":\"typing\",\"session_id\":%lld,\"from\":\"%s\",\"id\":%lld}",
			   (long long) f[1], kind_name(t.kind), (long long) f[3]);
	subs_foreach('S', f[0], f[1], typing_one, &t);
	subs_foreach('T', f[0], 0, typing_one, &t);
	buf_free(&t.frame);
}
