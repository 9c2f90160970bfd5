/*
 * player_call.c — player_call(route, method, path_with_query, headers, body,
 * id, args): one signed player API request in one round trip, for
 * helpdesk-bridge's /api/v1/player/ routes (bridge/http_player.c). It verifies
 * the signature (verify_signed_request), counts the request per app and per
 * player (rate_limit_hit: a refusal is an answer, status 429, not an error,
 * so the nonce and the counters commit), finds the player's customer, checks
 * that the session or ticket of the path is theirs, then does the route's
 * action (player_routes.c). Errors of the action raise with their SQLSTATE;
 * the bridge maps them to HTTP.
 */
#include "security.h"

#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "player_call.h"

static HdPlan verify_plan = {
	"SELECT v.tenant_id, v.app_id FROM helpdesk.verify_signed_request($1, $2, $3, $4) v",
	4, {TEXTOID, TEXTOID, JSONBOID, BYTEAOID}
};

/* allowed, the whole seconds to wait (at least 1), and the 429 answer */
static HdPlan rate_plan = {
	"SELECT r.allowed, x.s, jsonb_build_object('error', jsonb_build_object('code', "
	"'rate_limited', 'message', format('the %s rate limit is exceeded; retry after %s s', "
	"r.scope, x.s))) FROM helpdesk.rate_limit_hit($1, $2, $3) r, "
	"LATERAL (SELECT greatest(1, ceil(extract(epoch FROM r.retry_after)))::integer AS s) x",
	3, {INT8OID, TEXTOID, TEXTOID}
};

static HdPlan customer_plan = {
	"SELECT c.id FROM helpdesk.customer c WHERE c.tenant_id = $1 AND c.external_id = $2",
	2, {INT8OID, TEXTOID}
};

static HdPlan new_customer_plan = {
	"SELECT helpdesk.upsert_customer($1, $2)",
	2, {INT8OID, TEXTOID}
};

static HdPlan own_session_plan = {
	"SELECT 1 FROM helpdesk.session s WHERE s.tenant_id = $1 AND s.id = $2 AND s.customer_id = $3",
	3, {INT8OID, INT8OID, INT8OID}
};

static HdPlan own_ticket_plan = {
	"SELECT 1 FROM helpdesk.ticket k WHERE k.tenant_id = $1 AND k.id = $2 AND k.customer_id = $3",
	3, {INT8OID, INT8OID, INT8OID}
};

static bool
route_is(const char *route, const char *name)
{
	return route != NULL && strcmp(route, name) == 0;
}

/* A datum argument, or the null pointer for SQL NULL, with its null flag. */
static Datum
arg_or_null(FunctionCallInfo fcinfo, int n, char *nullflag)
{
	*nullflag = PG_ARGISNULL(n) ? 'n' : ' ';
	return PG_ARGISNULL(n) ? (Datum) 0 : PG_GETARG_DATUM(n);
}

/*
 * The body as a JSON object: convert_from(body, 'UTF8')::jsonb, with those
 * functions' errors for bad UTF-8 or bad JSON; anything but an object is
 * 22023.
 */
static Jsonb *
body_object(bytea *raw)
{
	Datum		enc = DirectFunctionCall1(namein, CStringGetDatum("UTF8"));
	Datum		txt = DirectFunctionCall2(pg_convert_from, PointerGetDatum(raw), enc);
	Jsonb	   *b = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													   CStringGetDatum(TextDatumGetCString(txt))));

	if (!JB_ROOT_IS_OBJECT(b))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the body must be a JSON object")));
	return b;
}

/* An integer query or body field: the SQL cast's errors, dflt when absent. */
static int32
int_field(Jsonb *j, const char *key, int32 dflt)
{
	char	   *s = hd_jsonb_field_text(j, key);

	return s ? DatumGetInt32(DirectFunctionCall1(int4in, CStringGetDatum(s))) : dflt;
}

/*
 * HD404 unless the path's session (or ticket) belongs to the player's
 * customer: a player sees only their own.
 */
static void
require_own(HdPlan *plan, const char *what, HdPlayerCall *c)
{
	Datum		v[3] = {Int64GetDatum(c->tenant_id), Int64GetDatum(c->id),
	Int64GetDatum(c->customer_id)};
	char		nulls[3] = {' ', c->has_id ? ' ' : 'n', ' '};

	hd_exec(plan, v, nulls, true, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_NOT_FOUND),
				 c->has_id ? errmsg("%s %lld is not one of this player's", what, (long long) c->id)
				 : errmsg("%s <NULL> is not one of this player's", what)));
}

PG_FUNCTION_INFO_V1(hd_player_call);

Datum
hd_player_call(PG_FUNCTION_ARGS)
{
	char	   *route = hd_arg_text_or_null(fcinfo, 0);
	HdPlayerCall c;
	TupleDesc	desc;
	Datum		out[4];
	bool		outnull[4] = {false, true, true, false};
	Datum		v[4];
	char		nulls[4];
	char	   *app_id;
	char	   *base_url;
	bool		isnull;
	int			status = 0;
	Datum		answer;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "pg_helpdesk: player_call must return a record");
	memset(&c, 0, sizeof(c));
	c.headers = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	c.raw = PG_ARGISNULL(4) ? NULL : PG_GETARG_BYTEA_PP(4);
	c.has_id = !PG_ARGISNULL(5);
	c.id = c.has_id ? PG_GETARG_INT64(5) : 0;
	c.args = PG_ARGISNULL(6) ? NULL : PG_GETARG_JSONB_P(6);

	SPI_connect();

	/* the signature, timestamp and nonce (HDA00..HDA04 raise from there) */
	v[0] = arg_or_null(fcinfo, 1, &nulls[0]);
	v[1] = arg_or_null(fcinfo, 2, &nulls[1]);
	v[2] = arg_or_null(fcinfo, 3, &nulls[2]);
	v[3] = arg_or_null(fcinfo, 4, &nulls[3]);
	hd_exec(&verify_plan, v, nulls, false, 1);
	if (SPI_processed == 0 || !hd_get_int64(1, &c.tenant_id))
		elog(ERROR, "pg_helpdesk: verify_signed_request returned no tenant");
	app_id = hd_get_text(2);
	out[3] = Int64GetDatum(c.tenant_id);

	if (route != NULL && strcmp(route, "upload") != 0 && c.raw != NULL &&
		VARSIZE_ANY_EXHDR(c.raw) > 0)
		c.body = body_object(c.raw);
	else
		c.body = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));

	c.player = hd_jsonb_field_text(c.args, "player_id");
	if (c.player == NULL)
		c.player = hd_jsonb_field_text(c.body, "player_id");
	if (c.player == NULL || pg_mbstrlen(c.player) < 1 || pg_mbstrlen(c.player) > 200)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("player_id (1 to 200 characters) is required, in the body or the query")));

	/* per app and per player; a refusal is the answer */
	v[0] = Int64GetDatum(c.tenant_id);
	v[1] = app_id ? CStringGetTextDatum(app_id) : (Datum) 0;
	v[2] = CStringGetTextDatum(c.player);
	memset(nulls, ' ', 3);
	if (app_id == NULL)
		nulls[1] = 'n';
	hd_exec(&rate_plan, v, nulls, false, 1);
	if (SPI_processed == 1)
	{
		Datum		allowed = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull && !DatumGetBool(allowed))
		{
			out[0] = Int32GetDatum(429);
			out[2] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &outnull[2]);
			out[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &outnull[1]);
			if (!outnull[1])
				out[1] = SPI_datumTransfer(out[1], false, -1);
			SPI_finish();
			PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), out, outnull)));
		}
	}

	base_url = hd_jsonb_field_text(c.args, "_base_url");
	c.attachment = hd_upload_attachment(c.tenant_id, hd_jsonb_field(c.body, "attachment"),
										base_url ? base_url : "");
	c.limit = Min(Max(int_field(c.args, "limit", 50), 1), 200);

	if (route_is(route, "ws-token"))
		answer = hd_player_ws_token(&c, &status, &isnull);
	else
	{
		v[0] = Int64GetDatum(c.tenant_id);
		v[1] = CStringGetTextDatum(c.player);
		hd_exec(&customer_plan, v, NULL, true, 1);
		if (SPI_processed == 0 || !hd_get_int64(1, &c.customer_id))
		{
			if (!route_is(route, "session-start") && !route_is(route, "ticket-create") &&
				!route_is(route, "upload"))
				ereport(ERROR,
						(errcode(ERRCODE_HD_NOT_FOUND),
						 errmsg("no player %s in this tenant", hd_clip(c.player))));
			hd_exec(&new_customer_plan, v, NULL, false, 1);
			if (!hd_get_int64(1, &c.customer_id))
				elog(ERROR, "pg_helpdesk: upsert_customer returned NULL");
		}
		if (route_is(route, "session-get") || route_is(route, "message"))
			require_own(&own_session_plan, "session", &c);
		if (route_is(route, "ticket-reply"))
			require_own(&own_ticket_plan, "ticket", &c);
		answer = hd_player_route(route, &c, &status, &isnull);
	}
	out[0] = Int32GetDatum(status);
	outnull[1] = isnull;
	if (!isnull)
		out[1] = SPI_datumTransfer(answer, false, -1);
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), out, outnull)));
}
