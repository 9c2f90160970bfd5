/*
 * main.c — helpdesk-bridge: set up the lws context, run the loop, shut
 * down cleanly on SIGTERM/SIGINT (clients get close 1001 and may resume
 * with their position on another bridge or after the restart).
 */
#include "client.h"
#include "db.h"
#include "http_router.h"
#include "trace.h"

#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static struct lws_context *context;
static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
	stopping = 1;
	if (context)
		lws_cancel_service(context);
}

static const struct lws_protocols protocols[] = {
	/* first: takes HTTP (/healthz, /metrics) and WebSocket without a subprotocol */
	/*
	 * A small receive buffer per socket, 128 bytes: larger frames arrive in
	 * pieces (client.c joins them), a control frame (125 bytes at most)
	 * always fits. Sends go in one piece: with tx_packet_size 0 lws would cut
	 * every send() to the receive buffer's size, and a 64 KB events frame
	 * took some 240 syscalls.
	 */
	{"helpdesk", client_protocol_cb, sizeof(SessionSlot), 128, 0, NULL, 1 << 20},
	{"hd-db", db_protocol_cb, 0, 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0}
};

/*
 * No lws validity timers (a hangup of 0 turns them off; lws's default would
 * ping after 5 min): keepalive.c pings and drops silent sockets instead,
 * without a sorted timer list that costs O(connections) per PONG.
 */
static const lws_retry_bo_t no_validity_timers = {
	.secs_since_valid_ping = 0,
	.secs_since_valid_hangup = 0,
};

static void
lws_log_to_blog(int level, const char *line)
{
	blog(level == LLL_ERR ? BLOG_ERR : level == LLL_WARN ? BLOG_WARN : BLOG_DEBUG,
		 "lws: %.*s", (int) strcspn(line, "\n"), line);
}

/*
 * lws sizes its descriptor table from the soft limit when the context is
 * created: raise it to the hard limit so the bridge can hold as many
 * sockets as the system lets it.
 */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
	{
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		blog(BLOG_INFO, "up to %llu open files", (unsigned long long) rl.rlim_cur);
}

int
main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct lws_vhost *vhost;
	struct sigaction sa;

	config_parse(argc, argv);
	lws_set_log_level(cfg.verbose > 1 ? LLL_ERR | LLL_WARN | LLL_NOTICE : LLL_ERR,
					  lws_log_to_blog);

	raise_fd_limit();
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DISABLE_IPV6;
	if (cfg.tls_cert)
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	/* request headers beyond this are refused by lws (HTTP layer limits) */
	info.max_http_header_data = (unsigned short) cfg.http_max_header;
	/* lws times HTTP bodies by the context's value */
	info.timeout_secs = (unsigned) cfg.http_timeout;
	if (loop_prepare(&info) != 0)
		return 1;
	context = lws_create_context(&info);
	if (context == NULL)
	{
		blog(BLOG_ERR, "cannot create the lws context");
		return 1;
	}

	memset(&info, 0, sizeof(info));
	info.port = cfg.port;
	info.iface = cfg.listen_addr;
	info.protocols = protocols;
	info.vhost_name = "helpdesk-bridge";
	info.retry_and_idle_policy = &no_validity_timers;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	/* headers must arrive within this, idle keep-alive connections close after it */
	info.timeout_secs = (unsigned) cfg.http_timeout;
	info.timeout_secs_ah_idle = (unsigned) cfg.http_timeout;
	info.keepalive_timeout = cfg.http_timeout;
	if (cfg.tls_cert)
	{
		/* lws enables TLS on a vhost only when its own options carry this */
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cfg.tls_cert;
		info.ssl_private_key_filepath = cfg.tls_key;
	}
	vhost = lws_create_vhost(context, &info);
	if (vhost == NULL)
	{
		blog(BLOG_ERR, "cannot listen on %s:%d", cfg.listen_addr, cfg.port);
		lws_context_destroy(context);
		loop_free();
		return 1;
	}

	if (cfg.metrics_listen && http_metrics_vhost(context, protocols) != 0)
	{
		lws_context_destroy(context);
		loop_free();
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	trace_init();
	ring_init(context);
	server_init(context, vhost);
	db_init(context, vhost);
	http_routes_init(context);
	blog(BLOG_INFO, "listening on %s://%s:%d, event loop %s", cfg.tls_cert ? "wss" : "ws",
		 cfg.listen_addr, cfg.port, loop_name());

	while (!stopping)
		loop_once(context, 0);

	/* let the close frames go out, briefly */
	blog(BLOG_INFO, "shutting down: closing %d clients", clients_count());
	server_shutdown();
	{
		int64_t		deadline = now_us() + 500000;

		while (clients_count() > 0 && now_us() < deadline)
			loop_once(context, 50);
	}
	http_routes_shutdown();
	db_shutdown();
	metrics_db_free();
	ring_stop();
	lws_context_destroy(context);
	loop_free();
	trace_close();
	clients_wake_free();
	ring_free();
	subs_free();
	subjects_free();
	free(cfg.token_secret);
	free(cfg.token_secret_previous);
	free(cfg.metrics_token);
	blog(BLOG_INFO, "stopped");
	return 0;
}
