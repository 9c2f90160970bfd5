/*
 * db.c — libpq connections as raw file descriptors in the lws loop.
 *
 * lws closes what it adopts, so it gets a dup() of PQsocket(); libpq keeps
 * its own. Readable → PQconsumeInput, notifications, then results of the
 * query in flight. A broken connection fails its request (the client gets
 * "unavailable" and may retry: message sends are idempotent by
 * client_msg_id), and is reopened with capped exponential backoff.
 */
#include "db.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_POOL 16

typedef struct DbReq
{
	struct DbReq *next;
	const char *sql;			/* static text */
	int			nparams;
	char	  **params;
	DbCallback	cb;
	void	   *arg;
} DbReq;

typedef struct DbConn
{
	bool		is_listen;
	PGconn	   *pg;
	struct lws *wsi;
	bool		up;
	DbReq	   *inflight;
	PGresult   *last;			/* result kept until the query completes */
	DbReq	   *head,
			   *tail;			/* own FIFO (listen connection only) */
	int			tries;
	lws_sorted_usec_list_t sul;
} DbConn;

static struct lws_context *context;
static struct lws_vhost *vhost;
static DbConn listen_conn;
static DbConn pool[MAX_POOL];
static int	npool;
static DbReq *pending_head,
		   *pending_tail;
static bool shutting_down;

uint64_t	db_reconnects;

static void conn_open(DbConn *c);
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
	free(r);
}

static void
req_fail(DbReq *r, const char *why)
{
	r->cb(r->arg, NULL, NULL, why);
	req_free(r);
}

static void
reconnect_cb(lws_sorted_usec_list_t *sul)
{
	DbConn	   *c = lws_container_of(sul, DbConn, sul);

	conn_open(c);
}

static void
schedule_reconnect(DbConn *c)
{
	static const int backoff_ms[] = {100, 200, 500, 1000, 2000, 5000};
	int			ms = backoff_ms[c->tries < 5 ? c->tries : 5];

	if (shutting_down)
		return;
	c->tries++;
	lws_sul_schedule(context, 0, &c->sul, reconnect_cb, (lws_usec_t) ms * 1000);
}

/*
 * Forget the connection: fail what was asked of it and, if lws still has
 * its descriptor, let lws close that (RAW_CLOSE_FILE then reconnects).
 */
static void
conn_lost(DbConn *c, const char *why)
{
	bool		was_up = c->up;

	if (was_up)
		blog(BLOG_WARN, "database connection %s lost: %s",
			 c->is_listen ? "listen" : "call", why);
	c->up = false;
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

static void
conn_open(DbConn *c)
{
	lws_sock_file_fd_type fd;
	int			dupfd;

	if (shutting_down)
		return;
	c->pg = PQconnectdb(cfg.conninfo);
	if (PQstatus(c->pg) != CONNECTION_OK)
	{
		if (c->tries == 0 || cfg.verbose)
			blog(BLOG_WARN, "cannot connect to the database: %s", PQerrorMessage(c->pg));
		PQfinish(c->pg);
		c->pg = NULL;
		schedule_reconnect(c);
		return;
	}
	PQsetnonblocking(c->pg, 1);
	dupfd = dup(PQsocket(c->pg));
	fd.filefd = dupfd;
	c->wsi = dupfd < 0 ? NULL :
		lws_adopt_descriptor_vhost(vhost, LWS_ADOPT_RAW_FILE_DESC, fd, "hd-db", NULL);
	if (c->wsi == NULL)
	{
		blog(BLOG_ERR, "cannot adopt the database socket");
		if (dupfd >= 0)
			close(dupfd);
		PQfinish(c->pg);
		c->pg = NULL;
		schedule_reconnect(c);
		return;
	}
	lws_set_opaque_user_data(c->wsi, c);
	if (c->tries > 0 || db_reconnects > 0 || !c->is_listen)
		blog(BLOG_INFO, "database connection %s%s up", c->is_listen ? "listen" : "call",
			 c->tries ? " back" : "");
	if (c->tries > 0)
		db_reconnects++;
	c->tries = 0;
	c->up = true;
	if (c->is_listen)
		ring_on_listen_up();
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
						   (const char *const *) r->params, NULL, NULL, 0))
	{
		c->inflight = r;
		conn_lost(c, PQerrorMessage(c->pg));
		if (c->wsi)
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
		return;
	}
	c->inflight = r;
	if (PQflush(c->pg) == 1)
		lws_callback_on_writable(c->wsi);
}

static void
drain_notifies(DbConn *c)
{
	PGnotify   *n;

	while ((n = PQnotifies(c->pg)) != NULL)
	{
		ring_on_notify(n->relname, n->extra);
		PQfreemem(n);
	}
}

/* read what arrived; false when the connection is gone */
static bool
conn_readable(DbConn *c)
{
	if (!c->pg || !PQconsumeInput(c->pg))
	{
		conn_lost(c, c->pg ? PQerrorMessage(c->pg) : "no connection");
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
	if (PQstatus(c->pg) == CONNECTION_BAD)
	{
		conn_lost(c, PQerrorMessage(c->pg));
		return false;
	}
	return true;
}

int
db_protocol_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			   void *in, size_t len)
{
	DbConn	   *c = lws_get_opaque_user_data(wsi);

	switch (reason)
	{
		case LWS_CALLBACK_RAW_RX_FILE:
			if (c == NULL)
				return 0;
			if (!conn_readable(c))
				return -1;
			break;
		case LWS_CALLBACK_RAW_WRITEABLE_FILE:
			if (c && c->pg && PQflush(c->pg) == 1)
				lws_callback_on_writable(wsi);
			break;
		case LWS_CALLBACK_RAW_CLOSE_FILE:
			if (c == NULL)
				return 0;
			c->wsi = NULL;
			if (c->pg || c->up)
				conn_lost(c, "socket closed");
			schedule_reconnect(c);
			break;
		default:
			break;
	}
	return 0;
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

void
db_init(struct lws_context *ctx, struct lws_vhost *vh)
{
	context = ctx;
	vhost = vh;
	npool = cfg.db_pool < MAX_POOL ? cfg.db_pool : MAX_POOL;
	listen_conn.is_listen = true;
	conn_open(&listen_conn);
	for (int i = 0; i < npool; i++)
		conn_open(&pool[i]);
}

/* Fail everything still waiting and close the connections (at exit). */
void
db_shutdown(void)
{
	shutting_down = true;
	lws_sul_cancel(&listen_conn.sul);
	conn_lost(&listen_conn, "shutdown");
	for (int i = 0; i < npool; i++)
	{
		lws_sul_cancel(&pool[i].sul);
		conn_lost(&pool[i], "shutdown");
	}
}
