/*
 * rate_limit.c — rate_limit_hit: per-app and per-player request limits of
 * the player API, counted in the database so that every bridge shares them.
 *
 * A sliding minute, approximated the usual way: the current minute's hits
 * plus the previous minute's weighted by how much of it still lies within
 * the last 60 s. Each counter is one row of the unlogged helpdesk.api_rate,
 * locked while it is checked and counted, the player's before the app's
 * (always that order, so two calls never deadlock). A refused request is
 * not counted, so a client that keeps trying gets through as soon as its
 * rate drops; retry_after is when the next request would pass.
 */
#include "security.h"

#include <math.h>

#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/builtins.h"

#define WINDOW_SECS 60
#define MAX_PLAYER_KEY 200

static HdPlan app_limits = {
	"SELECT rate_per_minute, player_rate_per_minute FROM helpdesk.api_app "
	"WHERE tenant_id = $1 AND app_id = $2 AND revoked_at IS NULL",
	2, {INT8OID, TEXTOID}
};
static HdPlan lock_bucket = {
	"SELECT window_start, hits, prev_hits FROM helpdesk.api_rate "
	"WHERE tenant_id = $1 AND app_id = $2 AND scope = $3 AND key = $4 FOR UPDATE",
	4, {INT8OID, TEXTOID, TEXTOID, TEXTOID}
};
static HdPlan new_bucket = {
	"INSERT INTO helpdesk.api_rate (tenant_id, app_id, scope, key, window_start) "
	"VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
	5, {INT8OID, TEXTOID, TEXTOID, TEXTOID, INT8OID}
};
static HdPlan count_bucket = {
	"UPDATE helpdesk.api_rate SET window_start = $5, hits = $6, prev_hits = $7 "
	"WHERE tenant_id = $1 AND app_id = $2 AND scope = $3 AND key = $4",
	7, {INT8OID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT4OID, INT4OID}
};

typedef struct Bucket
{
	const char *scope;
	const char *key;
	int			limit;
	int64		window;			/* the current minute's start */
	int			hits;			/* in it, before this request */
	int			prev;			/* in the minute before */
} Bucket;

/*
 * Locks the bucket (creating it) and reads it as of now (now_s, with its
 * fraction). Returns 0 when one more request fits, else the seconds until
 * one would.
 */
static double
check_bucket(Datum *v, Bucket *b, double now_s)
{
	int64		ws;
	double		elapsed,
				est;

	b->window = (int64) floor(now_s / WINDOW_SECS) * WINDOW_SECS;
	v[2] = CStringGetTextDatum(b->scope);
	v[3] = CStringGetTextDatum(b->key);
	hd_exec(&lock_bucket, v, NULL, false, 1);
	if (SPI_processed == 0)
	{
		v[4] = Int64GetDatum(b->window);
		hd_exec(&new_bucket, v, NULL, false, 0);
		hd_exec(&lock_bucket, v, NULL, false, 1);
	}
	b->hits = b->prev = 0;
	if (SPI_processed == 1)
	{
		int64		h = 0,
					p = 0;

		hd_get_int64(1, &ws);
		{
			bool		isnull;

			h = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
			p = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
		}
		if (ws == b->window)
		{
			b->hits = (int) h;
			b->prev = (int) p;
		}
		else if (ws == b->window - WINDOW_SECS)
			b->prev = (int) h;
	}
	elapsed = now_s - b->window;
	est = b->prev * (1.0 - elapsed / WINDOW_SECS) + b->hits;
	if (est + 1 <= b->limit)
		return 0;
	if (b->hits + 1 <= b->limit && b->prev > 0)
	{
		/* the previous minute's weight falls below what is left */
		double		at = WINDOW_SECS * (1.0 - (double) (b->limit - 1 - b->hits) / b->prev);

		return Max(at - elapsed, 0.001);
	}
	/* into the next minute, as this one's hits weigh less and less */
	return (WINDOW_SECS - elapsed) +
		WINDOW_SECS * Max(1.0 - (double) (b->limit - 1) / Max(b->hits, 1), 0.0) + 0.001;
}

static void
count(Datum *v, const Bucket *b)
{
	v[2] = CStringGetTextDatum(b->scope);
	v[3] = CStringGetTextDatum(b->key);
	v[4] = Int64GetDatum(b->window);
	v[5] = Int32GetDatum(b->hits + 1);
	v[6] = Int32GetDatum(b->prev);
	hd_exec(&count_bucket, v, NULL, false, 0);
}

PG_FUNCTION_INFO_V1(hd_rate_limit_hit);

/* rate_limit_hit(tenant_id, app_id, player) -> (allowed, retry_after, scope) */
Datum
hd_rate_limit_hit(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "app_id"};
	char	   *app_id,
			   *player = NULL;
	Datum		v[7];
	Bucket		app,
				pl;
	double		now_s,
				wait = 0;
	const char *refused = NULL;
	TupleDesc	desc;
	Datum		out[3];
	bool		n[3] = {false, true, true};
	bool		isnull;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	app_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (!PG_ARGISNULL(2))
	{
		player = text_to_cstring(PG_GETARG_TEXT_PP(2));
		hd_check_length("player", player, 1, MAX_PLAYER_KEY);
	}
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "rate_limit_hit must return a row");
	desc = BlessTupleDesc(desc);

	SPI_connect();
	v[0] = Int64GetDatum(PG_GETARG_INT64(0));
	v[1] = CStringGetTextDatum(app_id);
	hd_exec(&app_limits, v, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_UNKNOWN_APP),
				 errmsg("unknown_app: app %s is unknown or revoked in tenant " INT64_FORMAT,
						hd_quote(app_id), PG_GETARG_INT64(0))));
	app.scope = "app";
	app.key = app_id;
	app.limit = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	pl.scope = "player";
	pl.key = player;
	pl.limit = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

	now_s = (double) GetCurrentTimestamp() / USECS_PER_SEC +
		(double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
	if (player != NULL && (wait = check_bucket(v, &pl, now_s)) > 0)
		refused = "player";
	else if ((wait = check_bucket(v, &app, now_s)) > 0)
		refused = "app";
	else
	{
		if (player != NULL)
			count(v, &pl);
		count(v, &app);
		hd_security_prune_some(false);
	}
	SPI_finish();

	out[0] = BoolGetDatum(refused == NULL);
	if (refused != NULL)
	{
		Interval   *i = palloc0(sizeof(Interval));

		i->time = (int64) ceil(wait) * USECS_PER_SEC;
		out[1] = IntervalPGetDatum(i);
		out[2] = CStringGetTextDatum(refused);
		n[1] = n[2] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, out, n)));
}
