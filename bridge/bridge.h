/*
 * bridge.h — helpdesk-bridge: shared declarations.
 *
 * One libwebsockets event loop serves WebSocket clients and /healthz and
 * /metrics; libpq connections join the same loop as adopted raw file
 * descriptors, connected without blocking (dbconn.c). Nothing blocks the
 * loop except a host name lookup of the connection string (use an address).
 */
#ifndef BRIDGE_H
#define BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

/* ---- config.c ---- */
typedef struct BridgeConfig
{
	const char *listen_addr;
	int			port;
	const char *conninfo;		/* --db: call connections */
	const char *listen_conninfo;	/* --listen-db: the LISTEN connection (default --db) */
	int			db_connect_timeout; /* seconds for one connection attempt */
	int			db_query_timeout;	/* seconds a query may go unanswered; 0: no limit */
	int			notify_check_secs;	/* position check interval; 0: off */
	char	   *token_secret;
	char	   *token_secret_previous;	/* during a rotation; NULL: none */
	const char *tls_cert;
	const char *tls_key;
	const char *web_root;		/* --web-root: console and widget files (http_static.c) */
	int			db_pool;
	int			ring_size;		/* events kept in memory for live clients */
	int			max_frame;		/* largest client frame, bytes */
	int			customer_rate;	/* frames per minute */
	int			agent_rate;
	int			heartbeat_ms;	/* agent heartbeat batch interval */
	int			metrics_interval_ms;	/* helpdesk.metrics() read at most this often */
	int			max_pending;	/* queued control frames per client */
	int			max_subject_sockets;	/* open sockets per (tenant, kind, subject); 0: any */
	int			max_lag;		/* events a live client may fall behind */
	int			ping_secs;		/* PING a socket silent this long, drop at twice */
	const char *event_loop;		/* "epoll" (libev) or "poll" (lws's own) */
	const char *trace_events;	/* --trace-events FILE: per-hop timings (trace.c); NULL: off */
	/* HTTP (http_router.c) */
	int			http_timeout;	/* seconds for a request's headers, body, or a stalled answer */
	int			http_max_url;	/* longest path, bytes (414) */
	int			http_max_header;	/* all request headers together, bytes */
	char	   *metrics_token;	/* --metrics-token-file: /metrics needs this bearer token */
	const char *metrics_listen; /* --metrics-listen ADDR:PORT: /metrics only there */
	const char *public_url;		/* --public-url: the WebSocket URL handed to players */
	const char *public_http_url;	/* --public-http-url: base of the URLs in answers and attachments */
	int			max_upload;		/* --max-upload-bytes: larger bodies are 413 at once */
	int			upload_url_ttl; /* seconds a signed download URL stays valid */
	int			verbose;
} BridgeConfig;

extern BridgeConfig cfg;
extern int	config_parse(int argc, char **argv);

/* ---- loop.c ---- */
extern int	loop_prepare(struct lws_context_creation_info *info);
extern void loop_once(struct lws_context *context, int timeout_ms);
extern void loop_free(void);
extern const char *loop_name(void);

/* ---- util ---- */
extern int64_t now_us(void);	/* wall clock, microseconds since epoch */
extern void blog(int level, const char *fmt,...) __attribute__((format(printf, 2, 3)));

#define BLOG_ERR 0
#define BLOG_WARN 1
#define BLOG_INFO 2
#define BLOG_DEBUG 3

/* ---- jwt.c ---- */
typedef enum ClientKind
{
	KIND_CUSTOMER = 0,
	KIND_AGENT,
	KIND_SUPERVISOR,
	KIND_BOT,					/* a webhook bot (issue_bot_token): answers and hands off, sees no events */
	KIND_COUNT
} ClientKind;

typedef enum TokenStatus
{
	TOKEN_OK = 0,
	TOKEN_MISSING,
	TOKEN_INVALID,
	TOKEN_EXPIRED
} TokenStatus;

/*
 * An agent's role in its tenant, from the role claim of agent_login's
 * tokens (issue_token's have none); the order of token_rules.h's HdTokenRole.
 * The kind decides what a socket sees, the role what it may do: a qa token
 * reads only (cmd_writes).
 */
typedef enum ClientRole
{
	ROLE_NONE = 0,
	ROLE_ADMIN,
	ROLE_SUPERVISOR,
	ROLE_AGENT,
	ROLE_QA
} ClientRole;

typedef struct TokenClaims
{
	int64_t		tenant;
	ClientKind	kind;
	int64_t		subject;
	int64_t		exp;
	int64_t		ver;			/* agent_login's token version; 0: none */
	ClientRole	role;			/* ROLE_NONE: no role claim */
} TokenClaims;

extern TokenStatus jwt_verify(const char *token, size_t len, const char *secret,
							  const char *previous, int64_t now_s, TokenClaims *out);
extern const char *kind_name(ClientKind k);
extern const char *role_name(ClientRole r);	/* NULL for ROLE_NONE */
extern ClientRole role_from_name(const char *s);	/* ROLE_NONE if not a role */
extern size_t b64url_encode(const unsigned char *in, size_t len, char *out);

/* ---- typing_sig.c: signed typing signals between bridges ---- */
#define TYPING_FIELDS 5			/* tenant, session, kind (0 customer, 1 agent), subject, unix ms */
#define TYPING_WINDOW_MS 10000	/* older or newer signals are dropped */
extern size_t typing_sign(char *out, size_t cap, const char *secret,
						  const int64_t f[TYPING_FIELDS]);
extern bool typing_verify(const char *payload, size_t len, const char *secret, int64_t now_ms,
						  int64_t f[TYPING_FIELDS]);

/* ---- json_util.c ---- */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

extern void buf_reserve(Buf *b, size_t extra);
extern void buf_append(Buf *b, const char *s, size_t n);
extern void buf_puts(Buf *b, const char *s);
extern void buf_printf(Buf *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));
extern void buf_json_string(Buf *b, const char *s);
extern void buf_json_text(Buf *b, const char *s, size_t max);
extern void buf_free(Buf *b);

/* ---- metrics_text.c: one series in the Prometheus text format ---- */
extern int	metrics_text_series(Buf *b, int header, const char *metric, const char *type,
								const char *help, const char *labels_json, size_t labels_len,
								double value);

/* ---- protocol.c: client frames ---- */
typedef enum CmdType
{
	CMD_RESUME,
	CMD_START,
	CMD_MESSAGE,
	CMD_TYPING,
	CMD_DELIVERED,
	CMD_READ,
	CMD_STATUS,
	CMD_ACCEPT,
	CMD_DECLINE,
	CMD_CLAIM,
	CMD_TRANSFER,
	CMD_CLOSE,
	CMD_HEARTBEAT,
	CMD_HISTORY,
	/* tickets (no session: ticket_id) */
	CMD_TICKET_REPLY,
	CMD_TICKET_NOTE,
	CMD_TICKET_STATUS,
	CMD_TICKET_PRIORITY,
	CMD_TICKET_ASSIGN,
	CMD_TICKET_TAKE,
	CMD_TICKET_DELIVERED,
	CMD_TICKET_READ,
	CMD_TICKET_HISTORY,
	/* console_cmds.c: the console's and widget's reads and a few actions */
	CMD_LIST,
	CMD_CUSTOMER,
	CMD_DIRECTORY,
	CMD_TICKETS,
	CMD_TICKET,
	CMD_ESCALATE,
	CMD_CSAT,
	CMD_QUICK_REPLIES,
	CMD_QUICK_REPLY,
	CMD_QUEUE_POSITION,
	CMD_TAKEOVER,
	CMD_AGENT_MESSAGE,
	CMD_CONTACT,
	/* a bot token's frames (commands.c) */
	CMD_BOT_ANSWER,
	CMD_BOT_HANDOFF,
	CMD_COUNT
} CmdType;

/*
 * A parsed client frame. Strings point into the jansson document kept in
 * doc (freed by cmd_free); absent fields are NULL or 0.
 */
typedef struct Cmd
{
	CmdType		type;
	void	   *doc;			/* json_t * */
	const char *ref;
	int64_t		position;
	int64_t		session_id;
	int64_t		queue_id;
	int64_t		to_agent_id;
	int64_t		to_queue_id;
	int64_t		up_to;
	int64_t		before_id;		/* history: a page before this message id */
	int64_t		limit;			/* history with before_id: 1..500 */
	int64_t		ticket_id;
	int64_t		agent_id;		/* ticket_assign: 0 with unassign; tickets: assignee_id */
	const char *text;
	const char *message_type;
	const char *client_msg_id;
	const char *status;
	const char *reason;
	const char *issue_type;
	const char *priority;
	const char *scope;			/* list, tickets */
	const char *subject;		/* escalate: the ticket's subject */
	int64_t		score;			/* csat: 1..5 */
	int64_t		quick_reply_id;
	char	   *attachment;		/* serialised JSON, malloc'd */
	char	   *options;		/* serialised JSON, malloc'd */
	char	   *answer;			/* bot_answer: {"answer", "conversation_id", "metadata"}, malloc'd */
	int64_t		job_id;			/* bot_answer: the request answered (0: the one in flight) */
	bool		has_position;
	bool		unassign;		/* ticket_assign with "agent_id": null */
	bool		force;			/* ticket_assign beyond the agent's capacity */
	bool		note;			/* message: an internal note (staff only) */
} Cmd;

/* error codes sent in error frames */
#define ERR_BAD_JSON "bad_json"
#define ERR_BAD_FRAME "bad_frame"
#define ERR_FORBIDDEN "forbidden"
#define ERR_RATE_LIMITED "rate_limited"
#define ERR_UNAVAILABLE "unavailable"
#define ERR_DB "db_error"
#define ERR_READ_ONLY "read_only"	/* a write frame of a qa token */
#define ERR_DROPPED "dropped"	/* a bot's answer too late (handed off) or a second one */
#define ERR_REVOKED "revoked"	/* a bot token revoked while its socket was open */

extern const char *cmd_parse(const char *buf, size_t len, ClientKind kind, Cmd *out,
							 const char **errmsg);
extern void cmd_free(Cmd *c);
extern const char *cmd_name(CmdType t);
extern bool cmd_writes(CmdType t);	/* refused to a read-only (qa) token */

/* close codes (README: bridge protocol) */
#define CLOSE_TOKEN_MISSING 4001
#define CLOSE_TOKEN_INVALID 4002
#define CLOSE_TOKEN_EXPIRED 4003
#define CLOSE_WRONG_TENANT 4004
#define CLOSE_TOO_SLOW 4008
#define CLOSE_POSITION_GONE 4010
#define CLOSE_TOO_MANY_SOCKETS 4029
#define CLOSE_FRAME_TOO_BIG 1009
#define CLOSE_GOING_AWAY 1001

#endif							/* BRIDGE_H */
