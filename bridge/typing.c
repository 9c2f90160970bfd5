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
 * Every field is a number, parsed strictly; the frame sent to clients is
 * built from those numbers (never from text in the payload). A signal older
 * or newer than TYPING_WINDOW_MS is dropped, so a replayed one can only
 * repeat a genuine indicator for a few seconds.
 */
#include "client.h"
#include "token_rules.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define TYPING_WINDOW_MS 10000
#define TYPING_FIELDS 5	/* tenant, session, kind, subject, ms */

/* the NOTIFY payload announcing that c types in session_id */
void
typing_payload(Buf *b, const Client *c, int64_t session_id)
{
	char		mac[64];
	size_t		n;

	b->len = 0;
	buf_printf(b, "t1 %lld %lld %d %lld %lld", (long long) c->tenant, (long long) session_id,
			   c->kind == KIND_CUSTOMER ? 0 : 1, (long long) c->subject,
			   (long long) (now_us() / 1000));
	n = hd_hmac_b64url(cfg.token_secret, b->data, b->len, mac);
	buf_puts(b, " ");
	buf_append(b, mac, n);
}

/*
 * Parses and authenticates a payload; false unless every field is a
 * decimal number, the kind is 0 or 1, the MAC matches and it is recent.
 */
static bool
typing_parse(const char *payload, int64_t f[TYPING_FIELDS])
{
	const char *p = payload,
			   *macstart;
	char		mac[64];
	size_t		n;
	int64_t		now_ms = now_us() / 1000;

	if (strncmp(p, "t1 ", 3) != 0 || strlen(payload) > 200)
		return false;
	p += 3;
	for (int i = 0; i < TYPING_FIELDS; i++)
	{
		char	   *end;
		long long	v;

		if (*p < '0' || *p > '9')
			return false;
		errno = 0;
		v = strtoll(p, &end, 10);
		if (errno != 0 || *end != ' ')
			return false;
		f[i] = v;
		p = end + 1;
	}
	macstart = p;
	n = hd_hmac_b64url(cfg.token_secret, payload, (size_t) (macstart - 1 - payload), mac);
	if (n == 0 || strlen(macstart) != n || CRYPTO_memcmp(mac, macstart, n) != 0)
		return false;
	if (f[2] > 1 || f[0] <= 0 || f[1] <= 0 || f[3] <= 0)
		return false;
	return f[4] > now_ms - TYPING_WINDOW_MS && f[4] < now_ms + TYPING_WINDOW_MS;
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

	if (!typing_parse(payload, f))
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
