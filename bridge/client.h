/*
 * client.h — one WebSocket client (internal to client.c and commands.c).
 */
#ifndef BRIDGE_CLIENT_H
#define BRIDGE_CLIENT_H

#include "relay.h"

typedef enum ClientState
{
	ST_AUTH,					/* token checked, waiting for the database's word */
	ST_CATCHUP,					/* reading missed events from the database */
	ST_LIVE						/* reading the ring */
} ClientState;

typedef struct OutFrame
{
	struct OutFrame *next;
	size_t		len;
	/* LWS_PRE bytes of headroom, then the frame */
	char		data[];
} OutFrame;

/* a small set of ids; see idset.c */
typedef struct IdSet
{
	union
	{
		int64_t		one;		/* cap 0: the only id, when n is 1 */
		int64_t    *many;
	}			u;
	int			n;
	int			cap;
} IdSet;

/*
 * The parts of a client that most sockets never use, or use only for a
 * moment: replies waiting to be written, a catch-up frame, a frame arriving
 * in fragments, an agent's queues, the close reason. Allocated on first use
 * (client_extra) and freed once empty again (client_extra_release): an idle
 * customer's socket carries only a NULL pointer for them.
 */
typedef struct ClientExtra
{
	OutFrame   *out_head,
			   *out_tail;
	Buf			catchup;		/* a rendered events frame read from the database */
	int64_t		catchup_base;	/* ring base when the read was sent */
	Buf			rx;				/* a frame arriving in fragments */
	IdSet		queues;			/* an agent's queues */
	const char *close_reason;	/* a string constant */
	int			nout;

	/*
	 * A resume from a position of another node's log (?log=, a tenant that
	 * moved here): the log named, then, once bridge_moved_log knew it, the
	 * position of this log the stream continues at after the replay.
	 */
	char		replay_log[40];
	int64_t		replay_next;
	bool		replay_switch;	/* the replay is read out: send the log frame */
} ClientExtra;

typedef struct Subject Subject;	/* subject.c */

struct Client
{
	/* 8-byte members first, then smaller ones: no padding between them */
	struct lws *wsi;			/* NULL once closed */
	Client	   *prev,
			   *next;
	ClientExtra *x;				/* NULL until needed */
	int64_t		tenant;
	int64_t		subject;
	int64_t		pos;			/* events up to here were delivered or skipped */
	int64_t		resume;			/* -1: live from now */
	int64_t		wake_from;		/* first event that woke it while idle */
	IdSet		sessions;		/* sessions whose events it sees (keys 'S') */
	Subject    *subj;			/* shared by the subject's sockets: count, rate bucket */
	int64_t		exp;			/* the token's expiry, Unix seconds (4003 then) */
	int64_t		token_ver;		/* the token's ver claim (agent_login), 0: none */
	int64_t		since;			/* position at connect: events after it change what it sees */
	int64_t		limited_sent_us;
	int64_t		last_rx_us;		/* last frame or PONG received (keepalive.c) */
	int64_t		ping_sent_us;	/* PING written (ping_out) or wanted (ping_due) */
	int			refs;			/* the socket + each request in flight */
	uint32_t	limited_dropped;
	uint16_t	close_code;
	uint8_t		kind;			/* ClientKind */
	uint8_t		role;			/* ClientRole: the token's claim, then the agent's role now */
	uint8_t		state;			/* ClientState */
	bool		idle:1;			/* its last scan reached the ring's head */
	bool		indexed:1;		/* registered in subs.c */
	bool		wake_pending:1; /* woken, writeable callback not run yet */
	bool		catchup_inflight:1;
	bool		catchup_restart:1;	/* a resume frame came while a read was out */
	bool		ping_due:1;		/* keepalive.c wants a PING written */
	bool		ping_out:1;		/* a PING went out, no frame since */
	bool		revoked:1;		/* a bot token found revoked: closed 4004 once its replies are out */
	bool		replaying:1;	/* catching up from a moved tenant's old log (ClientExtra) */
};

/* client.c */
extern void client_send_raw(Client *c, const char *json, size_t len);
extern void client_send_error(Client *c, const char *ref, const char *code,
							  const char *message, const char *sqlstate);
extern void client_close(Client *c, uint16_t code, const char *reason);
extern void client_ref(Client *c);
extern void client_unref(Client *c);
extern ClientExtra *client_extra(Client *c);
extern void client_extra_release(Client *c);
extern void client_start_catchup(Client *c);
extern int	client_on_writeable(Client *c);	/* stream.c */
extern Client *client_open(struct lws *wsi);
extern void client_closed(Client *c);
extern void clients_trim_memory(void);	/* hand freed memory back after churn */
extern void heartbeat_init(struct lws_context *ctx);	/* heartbeat.c */
extern void heartbeat_stop(void);
extern void heartbeat_forget(Client *c);	/* before c leaves the client list */
extern void client_index(Client *c);
extern void client_session_add(Client *c, int64_t session_id);
extern void client_session_remove(Client *c, int64_t session_id);
extern Client *clients_first(void);
extern int64_t client_scan_from(const Client *c);
extern bool client_lagging(const Client *c);
extern bool client_expired(Client *c, int64_t now);

/* subject.c */
extern Subject *subject_acquire(int64_t tenant, ClientKind kind, int64_t id);
extern void subject_release(Subject *s);
extern bool subject_rate_ok(Subject *s);
extern int	subject_sockets(const Subject *s);
extern void subjects_free(void);

/* typing.c */
extern void typing_payload(Buf *b, const Client *c, int64_t session_id);

/* idset.c */
extern const int64_t *idset_ids(const IdSet *s);
extern bool idset_has(const IdSet *s, int64_t id);
extern void idset_add(IdSet *s, int64_t id);
extern bool idset_remove(IdSet *s, int64_t id);
extern void idset_free(IdSet *s);

/* keepalive.c */
extern void keepalive_init(struct lws_context *ctx);
extern void keepalive_stop(void);
extern void keepalive_seen(Client *c);
extern void keepalive_forget(Client *c);
extern int	keepalive_write(Client *c);

/* subs.c: keys -> sockets. Classes: 'T' tenant (supervisors), 'C' customer,
 * 'A' agent, 'S' session, 'Q' queue. */
extern void subs_add(char cls, int64_t tenant, int64_t id, Client *c);
extern void subs_remove(char cls, int64_t tenant, int64_t id, Client *c);
extern void subs_foreach(char cls, int64_t tenant, int64_t id,
						 void (*fn) (Client *, void *), void *arg);
extern void subs_free(void);

/* commands.c */
extern void command_run(Client *c, Cmd *cmd);
/* one SQL call for a frame; its answer becomes the ack or error (commands.c) */
extern void command_call(Client *c, Cmd *cmd, const char *sql, int n, const char *const *params);
extern void console_command(Client *c, Cmd *cmd);	/* console_cmds.c */
extern void subscriber_lookup(Client *c);

#endif							/* BRIDGE_CLIENT_H */
