/*
 * db.c — the requests on the bridge's libpq connections.
 *
 * Each connection runs one query at a time; call requests wait in one FIFO
 * for the first idle pool connection, event reads in the LISTEN
 * connection's own. Readable → PQconsumeInput, notifications, then results
 * of the query in flight. A broken connection fails its request (the client
 * gets "unavailable" and may retry: message sends are idempotent by
 * client_msg_id). Opening, timeouts and reconnecting are dbconn.c's.
 */
#include "dbconn.h"

#include <stdlib.h>
#include <string.h>

#define MAX_POOL 16

static DbConn listen_conn;
static DbConn pool[MAX_POOL];
static int	npool;
static DbReq *pending_head,
		   *pending_tail;
bool		db_shutting_down;

uint64_t	db_reconnects;
int64_t		db_notified_max = -1;

static void conn_kick(DbConn *c);

static DbReq *
req_new(const char *sql, int nparams, const char *const *params, DbCallback cb, void *arg)
{
	DbReq	   *r = calloc(1, sizeof(DbReq));

	r->sql = sql;
	r->nparams = nparams;
	r->cb = cb;
	r->arg = arg;
	if (nparams > 0)
	{
		r->params = calloc((size_t) nparams, sizeof(char *));
		for (int i = 0; i < nparams; i++)
			r->params[i] = params[i] ? strdup(params[i]) : NULL;
	}
	return r;
}

static void
req_free(DbReq *r)
{
	for (int i = 0; i < r->nparams; i++)
		free(r->params[i]);
	free(r->params);
	free(r->lengths);
	free(r->formats);
	free(r);
}

static void
req_fail(DbReq *r, const char *why)
{
	r->cb(r->arg, NULL, NULL, why);
	req_free(r);
}

/*
 * Forget the connection: fail what was asked of it and, if lws still has
 * its descriptor, let lws close that (RAW_CLOSE_FILE then reconnects).
 */
void
db_conn_lost(DbConn *c, const char *why)
{
	bool		was_up = c->up;

	if (was_up)
		blog(BLOG_WARN, "database connection %s lost: %s",
			 c->is_listen ? "listen" : "call", why);
	c->up = false;
	c->state = CONN_DOWN;
	if (c->inflight)
	{
		DbReq	   *r = c->inflight;

		c->inflight = NULL;
		req_fail(r, "database connection lost");
	}
	if (c->last)
	{
		PQclear(c->last);
		c->last = NULL;
	}
	while (c->head)
	{
		DbReq	   *r = c->head;

		c->head = r->next;
		req_fail(r, "database connection lost");
	}
	c->tail = NULL;
	if (c->pg)
	{
		PQfinish(c->pg);
		c->pg = NULL;
	}
	/* with no call connection left, waiting requests would wait forever */
	if (!c->is_listen && db_calls_up() == 0)
	{
		while (pending_head)
		{
			DbReq	   *r = pending_head;

			pending_head = r->next;
			req_fail(r, "database unavailable");
		}
		pending_tail = NULL;
	}
}

/* dbconn.c made c ready: say so, and give it work */
void
db_conn_up(DbConn *c)
{
	if (c->tries > 0 || db_reconnects > 0 || !c->is_listen)
		blog(BLOG_INFO, "database connection %s%s up", c->is_listen ? "listen" : "call",
			 c->tries ? " back" : "");
	if (c->tries > 0)
		db_reconnects++;
	c->tries = 0;
	c->up = true;
	c->state = CONN_UP;
	if (c->is_listen)
	{
		ring_on_listen_up();
		notifycheck_listen_up();
	}
	conn_kick(c);
}

/* send the next request if idle */
static void
conn_kick(DbConn *c)
{
	DbReq	   *r;

	if (!c->up || c->inflight)
		return;
	if (c->is_listen)
	{
		r = c->head;
		if (r)
		{
			c->head = r->next;
			if (!c->head)
				c->tail = NULL;
		}
	}
	else
	{
		r = pending_head;
		if (r)
		{
			pending_head = r->next;
			if (!pending_head)
				pending_tail = NULL;
		}
	}
	if (r == NULL)
		return;
	r->next = NULL;
	if (!PQsendQueryParams(c->pg, r->sql, r->nparams, NULL,
						   (const char *const *) r->params, r->lengths, r->formats,
						   r->result_format))
	{
		c->inflight = r;
		dbconn_kill(c, PQerrorMessage(c->pg));
		return;
	}
	c->inflight = r;
	c->sent_us = now_us();
	if (PQflush(c->pg) == 1)
		dbconn_want_write(c);
}

static void
drain_notifies(DbConn *c)
{
	PGnotify   *n;

	while ((n = PQnotifies(c->pg)) != NULL)
	{
		/* for notifycheck.c: what the NOTIFYs that reach us announced */
		if (strcmp(n->relname, "helpdesk") == 0)
		{
			char	   *end;
			long long	pos = strtoll(n->extra, &end, 10);

			if (end != n->extra && pos > db_notified_max && !notifycheck_in_flight())
				db_notified_max = pos;
		}
		ring_on_notify(n->relname, n->extra);
		PQfreemem(n);
	}
}

/* read what arrived; false when the connection is gone */
bool
db_conn_readable(DbConn *c)
{
	if (!c->pg || !PQconsumeInput(c->pg))
	{
		db_conn_lost(c, c->pg ? PQerrorMessage(c->pg) : "no connection");
		return false;
	}
	if (c->is_listen)
		drain_notifies(c);
	while (c->inflight && !PQisBusy(c->pg))
	{
		PGresult   *res = PQgetResult(c->pg);

		if (res != NULL)
		{
			if (c->last)
				PQclear(c->last);
			c->last = res;
			continue;
		}
		/* query complete */
		{
			DbReq	   *r = c->inflight;
			PGresult   *last = c->last;
			const char *state = NULL;

			c->inflight = NULL;
			c->last = NULL;
			if (last && PQresultStatus(last) == PGRES_FATAL_ERROR)
				state = PQresultErrorField(last, PG_DIAG_SQLSTATE);
			r->cb(r->arg, last, state, last ? PQresultErrorMessage(last) : "no result");
			if (last)
				PQclear(last);
			req_free(r);
		}
		if (!c->pg)
			return false;
		if (c->is_listen)
			drain_notifies(c);
		conn_kick(c);
	}
	if (c->is_listen && c->inflight == NULL)
		notifycheck_listen_idle();
	if (PQstatus(c->pg) == CONNECTION_BAD)
	{
		db_conn_lost(c, PQerrorMessage(c->pg));
		return false;
	}
	return true;
}

/* lws says the socket takes more: send what libpq still holds */
void
db_conn_writable(DbConn *c)
{
	if (c->pg && PQflush(c->pg) == 1)
		dbconn_want_write(c);
}

void
db_call(const char *sql, int nparams, const char *const *params, DbCallback cb, void *arg)
{
	DbReq	   *r;

	if (db_calls_up() == 0)
	{
		cb(arg, NULL, NULL, "database unavailable");
		return;
	}
	r = req_new(sql, nparams, params, cb, arg);
	if (pending_tail)
		pending_tail->next = r;
	else
		pending_head = r;
	pending_tail = r;
	for (int i = 0; i < npool; i++)
		if (pool[i].up && !pool[i].inflight)
		{
			conn_kick(&pool[i]);
			break;
		}
}

/*
 * db_call with lengths: parameter i is binary (format 1, lengths[i] bytes)
 * when lengths[i] >= 0, text otherwise (an upload's bytes without hex).
 */
void
db_call_bin(const char *sql, int nparams, const char *const *params, const int *lengths,
			bool binary_result, DbCallback cb, void *arg)
{
	DbReq	   *r;

	if (db_calls_up() == 0)
	{
		cb(arg, NULL, NULL, "database unavailable");
		return;
	}
	r = req_new(sql, 0, NULL, cb, arg);
	r->result_format = binary_result ? 1 : 0;
	r->nparams = nparams;
	r->params = calloc((size_t) nparams, sizeof(char *));
	r->lengths = calloc((size_t) nparams, sizeof(int));
	r->formats = calloc((size_t) nparams, sizeof(int));
	for (int i = 0; i < nparams; i++)
	{
		if (params[i] == NULL)
			continue;
		if (lengths[i] >= 0)
		{
			r->params[i] = malloc((size_t) lengths[i] + 1);
			memcpy(r->params[i], params[i], (size_t) lengths[i]);
			r->lengths[i] = lengths[i];
			r->formats[i] = 1;
		}
		else
			r->params[i] = strdup(params[i]);
	}
	if (pending_tail)
		pending_tail->next = r;
	else
		pending_head = r;
	pending_tail = r;
	for (int i = 0; i < npool; i++)
		if (pool[i].up && !pool[i].inflight)
		{
			conn_kick(&pool[i]);
			break;
		}
}

bool
db_listen_query(const char *sql, int nparams, const char *const *params, DbCallback cb,
				void *arg)
{
	DbReq	   *r;

	if (!listen_conn.up)
		return false;
	r = req_new(sql, nparams, params, cb, arg);
	if (listen_conn.tail)
		listen_conn.tail->next = r;
	else
		listen_conn.head = r;
	listen_conn.tail = r;
	conn_kick(&listen_conn);
	return true;
}

bool
db_listen_up(void)
{
	return listen_conn.up;
}

int
db_calls_up(void)
{
	int			n = 0;

	for (int i = 0; i < npool; i++)
		n += pool[i].up;
	return n;
}

DbConn *
db_conn_at(int i)
{
	if (i == 0)
		return &listen_conn;
	return i <= npool ? &pool[i - 1] : NULL;
}

void
db_init(struct lws_context *ctx, struct lws_vhost *vh)
{
	npool = cfg.db_pool < MAX_POOL ? cfg.db_pool : MAX_POOL;
	listen_conn.is_listen = true;
	dbconn_setup(ctx, vh);
	dbconn_open(&listen_conn);
	for (int i = 0; i < npool; i++)
		dbconn_open(&pool[i]);
}

/* Fail everything still waiting and close the connections (at exit). */
void
db_shutdown(void)
{
	db_shutting_down = true;
	dbconn_stop(&listen_conn);
	for (int i = 0; i < npool; i++)
		dbconn_stop(&pool[i]);
	dbconn_free();
}
