/*
 * server.c — the WebSocket server on top of the sockets: lws's protocol
 * callback, the handshake (token and position from the URL), inbound frames
 * (fragments, size and rate limits) handed to commands.c, writeable
 * callbacks handed to stream.c, and starting and stopping the timers of the
 * parts above the sockets (heartbeat.c, keepalive.c).
 *
 * Calls go down only: server -> commands, stream, keepalive, heartbeat ->
 * client (one socket: its queues, indexes, close) -> subs, idset, subject.
 */
#include "client.h"
#include "db.h"
#include "http_router.h"

#include <stdlib.h>
#include <string.h>

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
	if (c->role == ROLE_QA && (code == NULL || strcmp(code, ERR_FORBIDDEN) == 0) &&
		cmd_writes(cmd.type))
	{
		/* before the kind's refusal: a qa token reads only, whatever its kind */
		char		m[160];

		snprintf(m, sizeof(m), "agent %lld has role qa and reads only: %s frames are refused",
				 (long long) c->subject, cmd_name(cmd.type));
		client_send_error(c, cmd.ref, ERR_READ_ONLY, m, NULL);
	}
	else if (code)
		client_send_error(c, cmd.ref, code, msg, NULL);
	else if (c->state == ST_AUTH && c->kind != KIND_CUSTOMER && c->role == ROLE_NONE &&
			 cmd_writes(cmd.type))
	{
		/* a token without a role claim: its role comes with the subscriber lookup */
		client_send_error(c, cmd.ref, ERR_UNAVAILABLE, c->kind == KIND_BOT
						  ? "wait for hello: the bot is not confirmed yet"
						  : "wait for hello: the agent's role is not known yet", NULL);
	}
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
	st = jwt_verify(tok, (size_t) n, cfg.token_secret, cfg.token_secret_previous, now_us() / 1000000, &claims);
	c->resume = -1;
	if ((ps = lws_get_urlarg_by_name(wsi, "position=", pos, sizeof(pos))) != NULL)
	{
		char	   *end;
		long long	p = strtoll(ps, &end, 10);

		if (*end == '\0' && p >= 0)
			c->resume = p;
	}
	/* the log of that position (a uuid), for a tenant that moved here */
	if (c->resume >= 0 && (ps = lws_get_urlarg_by_name(wsi, "log=", pos, sizeof(pos))) != NULL &&
		strlen(ps) == 36 && strspn(ps, "0123456789abcdefABCDEF-") == 36)
		memcpy(client_extra(c)->replay_log, ps, 37);
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
	c->token_ver = claims.ver;
	c->role = claims.role;
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
		case LWS_CALLBACK_HTTP_BODY:
		case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		case LWS_CALLBACK_HTTP_WRITEABLE:
		case LWS_CALLBACK_CLOSED_HTTP:
			/* the user area is a SessionSlot (main.c); client first */
			return http_router_cb(wsi, reason, user, in, len);
		case LWS_CALLBACK_ESTABLISHED:
			c = client_open(wsi);
			*pc = c;
			keepalive_seen(c);
			on_established(c, wsi);
			break;
		case LWS_CALLBACK_SERVER_WRITEABLE:
			if (c == NULL)
				return 0;
			return client_on_writeable(c);
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
			keepalive_forget(c);
			heartbeat_forget(c);
			*pc = NULL;
			client_closed(c);
			break;
		default:
			break;
	}
	return 0;
}

void
server_init(struct lws_context *ctx, struct lws_vhost *vh)
{
	clients_init(ctx, vh);
	heartbeat_init(ctx);
	keepalive_init(ctx);
}

/* SIGTERM: stop the timers, close every socket with 1001 */
void
server_shutdown(void)
{
	heartbeat_stop();
	keepalive_stop();
	clients_shutdown();
}
