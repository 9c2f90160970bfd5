/*
 * config.c — flags, with environment variables as defaults (so a systemd
 * unit can keep the token secret out of the command line).
 */
#include "bridge.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

BridgeConfig cfg = {
	.listen_addr = "127.0.0.1",
	.port = 8090,
	.conninfo = "",
	.db_pool = 2,
	.db_connect_timeout = 5,
	.db_query_timeout = 30,
	.notify_check_secs = 5,
	.ring_size = 65536,
	.max_frame = 65536,
	.customer_rate = 200,
	.agent_rate = 600,
	.heartbeat_ms = 5000,
	.metrics_interval_ms = 10000,
	.max_pending = 256,
	.max_subject_sockets = 20,
	.max_lag = 32768,
	.ping_secs = 30,
	.event_loop = "epoll",
	.http_timeout = 10,
	.http_max_url = 2048,
	.http_max_header = 8192,
	.max_upload = 10 * 1024 * 1024,
	.upload_url_ttl = 3600,
};

static void
usage(FILE *f)
{
	fprintf(f,
			"helpdesk-bridge: relays pg_helpdesk events to WebSocket clients\n"
			"\n"
			"Usage: helpdesk-bridge [options]\n"
			"  --listen ADDR          address to listen on (env HELPDESK_BRIDGE_LISTEN; default 127.0.0.1)\n"
			"  --port N               port for WebSocket, /healthz and /metrics (env HELPDESK_BRIDGE_PORT; default 8090)\n"
			"  --db CONNINFO          libpq connection string (env HELPDESK_DB; default: libpq's PG* variables)\n"
			"  --listen-db CONNINFO   the LISTEN connection's, a direct session, not a pooler in\n"
			"                         transaction mode (env HELPDESK_LISTEN_DB; default --db)\n"
			"  --db-connect-timeout S give up on a connection attempt after S seconds (default 5)\n"
			"  --db-query-timeout S   drop a connection whose query has no answer after S seconds\n"
			"                         (default 30; 0: never)\n"
			"  --notify-check-secs N  read the log's head every N s: relays what NOTIFY missed and\n"
			"                         reports the LISTEN connection deaf (default 5; 0: off)\n"
			"  --token-secret S       HS256 secret, the server's helpdesk.token_secret (env HELPDESK_TOKEN_SECRET)\n"
			"  --token-secret-file F  read the secret from a file instead (env HELPDESK_TOKEN_SECRET_FILE)\n"
			"  --token-secret-previous-file F  during a rotation, also accept tokens of the secret in F,\n"
			"                         the server's helpdesk.token_secret_previous (env HELPDESK_TOKEN_SECRET_PREVIOUS_FILE)\n"
			"  --tls-cert FILE        serve wss:// with this PEM certificate (env HELPDESK_BRIDGE_TLS_CERT)\n"
			"  --tls-key FILE         ... and this PEM private key (env HELPDESK_BRIDGE_TLS_KEY)\n"
			"  --web-root DIR         console and widget files served at /console/ and /widget/\n"
			"                         (env HELPDESK_BRIDGE_WEB_ROOT; default /usr/local/share/helpdesk-bridge/web)\n"
			"  --db-pool N            connections for client requests (default 2, at most 16)\n"
			"  --ring-size N          events kept in memory for live clients (default 65536)\n"
			"  --max-lag N            events a live client may fall behind before 4008 (default 32768)\n"
			"  --max-frame BYTES      largest client frame; larger closes with 1009 (default 65536)\n"
			"  --customer-rate N      frames per minute per customer, all its sockets together (default 200)\n"
			"  --agent-rate N         frames per minute per agent or supervisor, all its sockets together (default 600)\n"
			"  --max-sockets-per-subject N  open sockets per token subject; more are closed with 4029\n"
			"                         (default 20; 0: no limit)\n"
			"  --max-pending N        replies queued per client before 4008 (default 256)\n"
			"  --heartbeat-ms N       interval of the agents' heartbeat batch (default 5000)\n"
			"  --metrics-interval-ms N  read helpdesk.metrics() for /metrics at most this often (default 10000)\n"
			"  --ping-secs N          PING a socket silent for N s, drop it after 2N (default 30)\n"
			"  --event-loop epoll|poll  epoll (libev; default) or lws's own poll() loop, whose\n"
			"                         every pass costs O(connections)\n"
			"  --http-timeout S       drop an HTTP client whose headers or body take longer than S s,\n"
			"                         or that stops reading an answer for S s (default 10)\n"
			"  --http-max-url BYTES   longest request path (414; default 2048)\n"
			"  --http-max-header BYTES  all request headers together (default 8192)\n"
			"  --metrics-token-file F /metrics answers only with Authorization: Bearer <F's content>\n"
			"                         (env HELPDESK_METRICS_TOKEN_FILE)\n"
			"  --metrics-listen A:P   serve /metrics (and /healthz) only on this address and port\n"
			"  --max-upload-bytes N   larger upload bodies are refused (413) before they are read;\n"
			"                         keep it at the server's helpdesk.max_upload_bytes (default 10 MB)\n"
			"  --upload-url-ttl S     a signed download URL is valid S seconds (default 3600)\n"
			"  --public-url URL       the WebSocket URL ws-token hands to players (default ws://LISTEN:PORT/)\n"
			"  --public-http-url URL  the bridge's HTTP base as clients reach it, for attachment URLs\n"
			"                         (default http://LISTEN:PORT)\n"
			"  --trace-events FILE    debug: write each event's timings on the bridge (NOTIFY, read,\n"
			"                         writes to sockets) to FILE (bench/bridge.sh; see trace.c)\n"
			"  -v, --verbose          log more, slow pieces of the loop too (repeat for lws's own log)\n"
			"  -h, --help             this text\n");
}

static int
int_arg(const char *name, const char *v, int min, int max)
{
	char	   *end;
	long		n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < min || n > max)
	{
		fprintf(stderr, "helpdesk-bridge: %s must be an integer between %d and %d, got \"%s\"\n",
				name, min, max, v);
		exit(2);
	}
	return (int) n;
}

static char *
read_secret_file(const char *path)
{
	FILE	   *f = fopen(path, "r");
	char		buf[1024];
	size_t		n;

	if (f == NULL)
	{
		fprintf(stderr, "helpdesk-bridge: cannot read token secret file %s: %s\n", path,
				strerror(errno));
		exit(2);
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return strdup(buf);
}

static const char *
env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return (v && *v) ? v : dflt;
}

/*
 * The integer flags, each with its range: one table drives getopt and the
 * checks (getopt's val for entry i is INT_OPTION + i).
 */
typedef struct IntOption
{
	const char *name;
	int		   *field;
	int			min;
	int			max;
} IntOption;

#define INT_OPTION 256

static const IntOption int_options[] = {
	{"port", &cfg.port, 1, 65535},
	{"db-pool", &cfg.db_pool, 1, 16},
	{"ring-size", &cfg.ring_size, 1024, 16777216},
	{"max-lag", &cfg.max_lag, 16, 16777216},
	{"max-frame", &cfg.max_frame, 256, 16777216},
	{"customer-rate", &cfg.customer_rate, 1, 1000000},
	{"agent-rate", &cfg.agent_rate, 1, 1000000},
	{"max-pending", &cfg.max_pending, 4, 1000000},
	{"max-sockets-per-subject", &cfg.max_subject_sockets, 0, 1000000},
	{"heartbeat-ms", &cfg.heartbeat_ms, 100, 3600000},
	{"metrics-interval-ms", &cfg.metrics_interval_ms, 100, 3600000},
	{"ping-secs", &cfg.ping_secs, 1, 3600},
	{"db-connect-timeout", &cfg.db_connect_timeout, 1, 3600},
	{"db-query-timeout", &cfg.db_query_timeout, 0, 86400},
	{"notify-check-secs", &cfg.notify_check_secs, 0, 3600},
	{"http-timeout", &cfg.http_timeout, 1, 3600},
	{"http-max-url", &cfg.http_max_url, 64, 65536},
	{"http-max-header", &cfg.http_max_header, 1024, 65535},
	{"max-upload-bytes", &cfg.max_upload, 1, 1024 * 1024 * 1024},
	{"upload-url-ttl", &cfg.upload_url_ttl, 10, 7 * 86400},
};
#define N_INT_OPTIONS ((int) (sizeof(int_options) / sizeof(int_options[0])))

int
config_parse(int argc, char **argv)
{
	static const struct option other_opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"db", required_argument, NULL, 'd'},
		{"listen-db", required_argument, NULL, 'D'},
		{"token-secret", required_argument, NULL, 's'},
		{"token-secret-file", required_argument, NULL, 'S'},
		{"token-secret-previous-file", required_argument, NULL, 'P'},
		{"tls-cert", required_argument, NULL, 'c'},
		{"tls-key", required_argument, NULL, 'k'},
		{"event-loop", required_argument, NULL, 'e'},
		{"web-root", required_argument, NULL, 'w'},
		{"metrics-token-file", required_argument, NULL, 'M'},
		{"metrics-listen", required_argument, NULL, 'L'},
		{"public-url", required_argument, NULL, 'U'},
		{"public-http-url", required_argument, NULL, 'H'},
		{"trace-events", required_argument, NULL, 'T'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
	};
	struct option opts[sizeof(other_opts) / sizeof(other_opts[0]) + N_INT_OPTIONS + 1];
	const char *secret_file = env_or("HELPDESK_TOKEN_SECRET_FILE", NULL);
	const char *secret = env_or("HELPDESK_TOKEN_SECRET", NULL);
	const char *previous_file = env_or("HELPDESK_TOKEN_SECRET_PREVIOUS_FILE", NULL);
	const char *metrics_token_file = env_or("HELPDESK_METRICS_TOKEN_FILE", NULL);
	int			n = 0,
				o;

	for (size_t i = 0; i < sizeof(other_opts) / sizeof(other_opts[0]); i++)
		opts[n++] = other_opts[i];
	for (int i = 0; i < N_INT_OPTIONS; i++)
		opts[n++] = (struct option) {int_options[i].name, required_argument, NULL, INT_OPTION + i};
	opts[n] = (struct option) {NULL, 0, NULL, 0};

	cfg.listen_addr = env_or("HELPDESK_BRIDGE_LISTEN", cfg.listen_addr);
	if (getenv("HELPDESK_BRIDGE_PORT"))
		cfg.port = int_arg("HELPDESK_BRIDGE_PORT", getenv("HELPDESK_BRIDGE_PORT"), 1, 65535);
	cfg.conninfo = env_or("HELPDESK_DB", cfg.conninfo);
	cfg.listen_conninfo = env_or("HELPDESK_LISTEN_DB", NULL);
	cfg.tls_cert = env_or("HELPDESK_BRIDGE_TLS_CERT", NULL);
	cfg.tls_key = env_or("HELPDESK_BRIDGE_TLS_KEY", NULL);

	while ((o = getopt_long(argc, argv, "vh", opts, NULL)) != -1)
	{
		if (o >= INT_OPTION && o < INT_OPTION + N_INT_OPTIONS)
		{
			const IntOption *io = &int_options[o - INT_OPTION];
			char		flag[32];

			snprintf(flag, sizeof(flag), "--%s", io->name);
			*io->field = int_arg(flag, optarg, io->min, io->max);
			continue;
		}
		switch (o)
		{
			case 'l':
				cfg.listen_addr = optarg;
				break;
			case 'd':
				cfg.conninfo = optarg;
				break;
			case 'D':
				cfg.listen_conninfo = optarg;
				break;
			case 's':
				secret = optarg;
				break;
			case 'S':
				secret_file = optarg;
				break;
			case 'P':
				previous_file = optarg;
				break;
			case 'c':
				cfg.tls_cert = optarg;
				break;
			case 'k':
				cfg.tls_key = optarg;
				break;
			case 'e':
				if (strcmp(optarg, "epoll") != 0 && strcmp(optarg, "poll") != 0)
				{
					fprintf(stderr, "helpdesk-bridge: --event-loop is epoll or poll, got \"%s\"\n",
							optarg);
					exit(2);
				}
				cfg.event_loop = optarg;
				break;
			case 'w':
				cfg.web_root = optarg;
				break;
			case 'M':
				metrics_token_file = optarg;
				break;
			case 'L':
				cfg.metrics_listen = optarg;
				break;
			case 'U':
				cfg.public_url = optarg;
				break;
			case 'H':
				cfg.public_http_url = optarg;
				break;
			case 'T':
				cfg.trace_events = optarg;
				break;
			case 'v':
				cfg.verbose++;
				break;
			case 'h':
				usage(stdout);
				exit(0);
			default:
				usage(stderr);
				exit(2);
		}
	}
	if (optind < argc)
	{
		fprintf(stderr, "helpdesk-bridge: unexpected argument \"%s\"\n", argv[optind]);
		exit(2);
	}
	if (secret_file)
		cfg.token_secret = read_secret_file(secret_file);
	else if (secret)
		cfg.token_secret = strdup(secret);
	if (cfg.token_secret == NULL || strlen(cfg.token_secret) < 32)
	{
		fprintf(stderr, "helpdesk-bridge: a token secret of at least 32 bytes is required "
				"(--token-secret, HELPDESK_TOKEN_SECRET or a file); it must equal the "
				"server's helpdesk.token_secret\n");
		exit(2);
	}
	if (previous_file)
	{
		cfg.token_secret_previous = read_secret_file(previous_file);
		if (strlen(cfg.token_secret_previous) < 32)
		{
			fprintf(stderr, "helpdesk-bridge: the previous token secret must be at least 32 bytes too\n");
			exit(2);
		}
	}
	if (metrics_token_file)
	{
		cfg.metrics_token = read_secret_file(metrics_token_file);
		if (strlen(cfg.metrics_token) < 16)
		{
			fprintf(stderr, "helpdesk-bridge: the metrics token must be at least 16 bytes\n");
			exit(2);
		}
	}
	if (cfg.metrics_listen && strchr(cfg.metrics_listen, ':') == NULL)
	{
		fprintf(stderr, "helpdesk-bridge: --metrics-listen is ADDRESS:PORT, got \"%s\"\n",
				cfg.metrics_listen);
		exit(2);
	}
	if ((cfg.tls_cert == NULL) != (cfg.tls_key == NULL))
	{
		fprintf(stderr, "helpdesk-bridge: --tls-cert and --tls-key go together\n");
		exit(2);
	}
	if (cfg.listen_conninfo == NULL)
		cfg.listen_conninfo = cfg.conninfo;
	if (cfg.max_lag > cfg.ring_size)
		cfg.max_lag = cfg.ring_size;
	return 0;
}

int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
blog(int level, const char *fmt,...)
{
	static const char *const names[] = {"ERROR", "WARNING", "INFO", "DEBUG"};
	va_list		ap;
	char		ts[32];
	time_t		t = time(NULL);
	struct tm	tm;

	if (level > BLOG_INFO + cfg.verbose)
		return;
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s helpdesk-bridge %s: ", ts, names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
