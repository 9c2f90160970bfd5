/*
 * notifycheck.c — does the LISTEN connection hear the publisher's NOTIFYs?
 *
 * A LISTEN connection through a pooler in transaction mode (pgbouncer's
 * pool_mode = transaction) runs queries fine but never receives a
 * notification: the bridge would relay nothing while everything looks up.
 * So every --notify-check-secs the LISTEN connection reads the log's head
 * (helpdesk.event_position()). The publisher NOTIFYs in the transaction
 * that moves the head, so if the head moved between two checks, a NOTIFY
 * on channel helpdesk must have arrived since the first of them was sent;
 * if none has within GRACE_US of the second check's answer, the connection
 * is deaf: /healthz answers 503, helpdesk_bridge_listen_deaf is 1 and the
 * log says what to do (--listen-db with a direct session). It is healthy
 * again as soon as a later move comes with a NOTIFY.
 *
 * Either way the head read by the check is handed to the ring, which reads
 * up to it: a deaf bridge still relays, --notify-check-secs late. The head
 * comes from the database, unlike a NOTIFY payload, which anyone can send.
 * Detection takes at most --notify-check-secs + GRACE_US + one tick (1 s)
 * after the first event that no NOTIFY announced.
 */
#include "dbconn.h"

#include <stdlib.h>

#define GRACE_US 2000000

static bool inflight;
static int64_t next_check_us;
static int64_t sent_us;			/* of the check in flight */
static int64_t prev_pos = -1;	/* head at the previous check; -1: none yet */
static int64_t prev_sent_us;
static int64_t suspect_since = -1;	/* a move needs a NOTIFY heard after this */
static int64_t suspect_deadline;
static bool deaf;

uint64_t	notify_deaf_total;		/* times the connection was found deaf */

bool
db_listen_deaf(void)
{
	return deaf;
}

static void
heard(void)
{
	suspect_since = -1;
	if (deaf)
		blog(BLOG_INFO, "NOTIFYs reach the LISTEN connection again");
	deaf = false;
}

static void
checked(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	int64_t		pos;

	inflight = false;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
		PQgetisnull(res, 0, 0))
	{
		if (cfg.verbose)
			blog(BLOG_DEBUG, "position check failed: %s", message ? message : "?");
		return;
	}
	pos = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (prev_pos >= 0 && pos > prev_pos)
	{
		if (db_last_notify_us >= prev_sent_us)
			heard();
		else if (suspect_since < 0)
		{
			suspect_since = prev_sent_us;
			suspect_deadline = now_us() + GRACE_US;
		}
	}
	prev_pos = pos;
	prev_sent_us = sent_us;
	ring_on_position(pos);
}

/* the LISTEN connection is (back) up: a new baseline, at once */
void
notifycheck_listen_up(void)
{
	prev_pos = -1;
	suspect_since = -1;
	next_check_us = 0;
}

/* once a second, from dbconn.c's tick */
void
notifycheck_tick(int64_t now)
{
	if (suspect_since >= 0)
	{
		if (db_last_notify_us >= suspect_since)
			heard();
		else if (now >= suspect_deadline)
		{
			suspect_since = -1;
			if (!deaf)
			{
				notify_deaf_total++;
				blog(BLOG_ERR, "the LISTEN connection receives no NOTIFY: the event log moved "
					 "and nothing announced it (a pooler in transaction mode? give "
					 "--listen-db a direct session); relaying every %d s from the position "
					 "check meanwhile", cfg.notify_check_secs);
			}
			deaf = true;
		}
	}
	if (cfg.notify_check_secs == 0 || inflight || !db_listen_up() || now < next_check_us)
		return;
	sent_us = now;
	next_check_us = now + (int64_t) cfg.notify_check_secs * 1000000;
	inflight = db_listen_query("SELECT helpdesk.event_position()", 0, NULL, checked, NULL);
}
