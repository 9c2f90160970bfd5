/*
 * dbconn.h — one libpq connection of the bridge and its lifecycle (private
 * to db.c, dbconn.c and notifycheck.c).
 *
 * dbconn.c connects without blocking the loop (PQconnectStartParams, then
 * PQconnectPoll whenever lws says the socket is ready), gives up on a
 * connection attempt after --db-connect-timeout and on a query after
 * --db-query-timeout, and reconnects with capped exponential backoff.
 * db.c runs the requests on connections that are up.
 */
#ifndef BRIDGE_DBCONN_H
#define BRIDGE_DBCONN_H

#include "db.h"

typedef struct DbReq
{
	struct DbReq *next;
	const char *sql;			/* static text */
	int			nparams;
	char	  **params;
	int		   *lengths;		/* NULL: all text; else per parameter (db_call_bin) */
	int		   *formats;
	int			result_format;	/* 1: binary results (db_call_bin) */
	DbCallback	cb;
	void	   *arg;
} DbReq;

typedef enum ConnState
{
	CONN_DOWN = 0,				/* nothing open; a reconnect may be scheduled */
	CONN_CONNECTING,			/* PQconnectPoll in progress */
	CONN_UP
} ConnState;

typedef struct DbConn
{
	bool		is_listen;
	ConnState	state;
	PGconn	   *pg;
	struct lws *wsi;			/* lws's dup() of PQsocket() */
	bool		up;				/* state == CONN_UP */
	DbReq	   *inflight;
	int64_t		sent_us;		/* when inflight was sent */
	int64_t		deadline_us;	/* connecting: give up at */
	PGresult   *last;			/* result kept until the query completes */
	DbReq	   *head,
			   *tail;			/* own FIFO (listen connection only) */
	int			tries;
	bool		pinned;			/* this attempt asked for our search_path */
	lws_sorted_usec_list_t sul; /* reconnect backoff */
	lws_sorted_usec_list_t write_sul;	/* dbconn_want_write */
} DbConn;

/* dbconn.c */
extern void dbconn_setup(struct lws_context *ctx, struct lws_vhost *vh);
extern void dbconn_open(DbConn *c);
extern void dbconn_stop(DbConn *c);
extern void dbconn_kill(DbConn *c, const char *why);
extern void dbconn_free(void);
extern void dbconn_want_write(DbConn *c);

/* db.c, called by dbconn.c */
extern void db_conn_up(DbConn *c);
extern void db_conn_lost(DbConn *c, const char *why);
extern bool db_conn_readable(DbConn *c);
extern void db_conn_writable(DbConn *c);
extern DbConn *db_conn_at(int i);	/* 0: listen, 1..: pool; NULL past the end */

/* notifycheck.c */
extern void notifycheck_tick(int64_t now);
extern void notifycheck_listen_up(void);
extern bool notifycheck_in_flight(void);
extern void notifycheck_listen_idle(void);

extern bool db_shutting_down;

#endif							/* BRIDGE_DBCONN_H */
