/*
 * db.h — PostgreSQL connections inside the lws loop.
 *
 * One LISTEN connection (reads the event log; --listen-db) and a small pool
 * of call connections (client requests, heartbeats, catch-up reads; --db).
 * Each runs one query at a time, asynchronously; requests wait in a FIFO.
 * Connections open without blocking the loop (dbconn.c).
 */
#ifndef BRIDGE_DB_H
#define BRIDGE_DB_H

#include "bridge.h"

#include <libpq-fe.h>

/*
 * Called once per request. res is NULL when no connection was available or
 * the connection broke before the answer came (then sqlstate is NULL and
 * message says why); for an SQL error res is the error result and sqlstate
 * is set. The callee must not keep res.
 */
typedef void (*DbCallback) (void *arg, PGresult *res, const char *sqlstate,
							const char *message);

extern void db_init(struct lws_context *ctx, struct lws_vhost *vh);
extern void db_shutdown(void);
extern int	db_protocol_cb(struct lws *wsi, enum lws_callback_reasons reason,
						   void *user, void *in, size_t len);

/* queue a call on the pool; params are copied */
extern void db_call(const char *sql, int nparams, const char *const *params,
					DbCallback cb, void *arg);
/* the same with binary parameters where lengths[i] >= 0, and maybe binary results */
extern void db_call_bin(const char *sql, int nparams, const char *const *params,
						const int *lengths, bool binary_result, DbCallback cb, void *arg);
/* queue a query on the LISTEN connection (event reads) */
extern bool db_listen_query(const char *sql, int nparams, const char *const *params,
							DbCallback cb, void *arg);
extern bool db_listen_up(void);
extern int	db_calls_up(void);
/* the LISTEN connection hears no NOTIFY (notifycheck.c) */
extern bool db_listen_deaf(void);

/* hooks implemented elsewhere */
extern void ring_on_listen_up(void);	/* ring.c */
extern void ring_on_notify(const char *channel, const char *payload);
extern void ring_on_position(int64_t pos);	/* the head, read from the database */

/* metrics */
extern uint64_t db_reconnects;
extern uint64_t db_connect_timeouts;
extern uint64_t db_query_timeouts;
extern uint64_t notify_deaf_total;
extern int64_t db_notified_max;	/* highest position a NOTIFY on channel helpdesk announced */

#endif							/* BRIDGE_DB_H */
