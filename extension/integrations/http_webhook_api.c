/*
 * http_webhook_api.c — the webhooks' SQL API: upsert_webhook,
 * webhook_secret, redeliver, replay_webhooks, prune_webhook_deliveries.
 * Backends only write rows (and wake the HTTP worker at COMMIT); all HTTP
 * happens in the worker.
 */
#include "http_webhook.h"

#include <curl/curl.h>
#include <math.h>

#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#define MAX_EVENTS 64
#define MAX_SCHEDULE 20
#define MAX_STEP_USECS ((int64) 7 * USECS_PER_DAY)
#define ROTATION_OVERLAP "24 hours"
#define REPLAY_MAX 100000

/* An event filter: "*", a name (message.created) or a prefix (session.*). */
static bool
valid_filter(const char *f)
{
	const char *p = f;
	bool		start = true;

	if (strcmp(f, "*") == 0)
		return true;
	if (strlen(f) > 100)
		return false;
	for (; *p; p++)
	{
		if (start)
		{
			if (*p == '*' && p[1] == '\0' && p != f)
				return true;
			if (!(*p >= 'a' && *p <= 'z'))
				return false;
			start = false;
		}
		else if (*p == '.')
			start = true;
		else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	}
	return !start;
}

static void
check_events(ArrayType *a)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;

	if (ARR_NDIM(a) > 1)
		hd_invalid("events must be a one-dimensional array");
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n < 1 || n > MAX_EVENTS)
		hd_invalid("events must name 1 to %d event types, got %d", MAX_EVENTS, n);
	for (i = 0; i < n; i++)
	{
		char	   *f;

		if (nulls[i])
			hd_invalid("events must not contain NULL");
		f = TextDatumGetCString(elems[i]);
		if (!valid_filter(f))
			hd_invalid("event filter %s is not a type name (message.created), a prefix (session.*) or *",
					   hd_quote(f));
	}
}

static void
check_schedule(ArrayType *a)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;

	if (ARR_NDIM(a) > 1)
		hd_invalid("retry_schedule must be a one-dimensional array");
	deconstruct_array(a, INTERVALOID, sizeof(Interval), false, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	if (n < 1 || n > MAX_SCHEDULE)
		hd_invalid("retry_schedule must have 1 to %d delays, got %d", MAX_SCHEDULE, n);
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			hd_invalid("retry_schedule must not contain NULL");
		hd_check_interval("each retry_schedule delay", DatumGetIntervalP(elems[i]), 0, MAX_STEP_USECS);
	}
}

static void
check_url(const char *url)
{
	CURLU	   *u;
	char	   *host = NULL;
	bool		ok;

	hd_check_length("url", url, 8, 2048);
	if (pg_strncasecmp(url, "http://", 7) != 0 && pg_strncasecmp(url, "https://", 8) != 0)
		hd_invalid("url must start with http:// or https://, got %s", hd_quote(url));
	u = curl_url();
	ok = u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host != NULL && host[0] != '\0';
	curl_free(host);
	curl_url_cleanup(u);
	if (!ok)
		hd_invalid("url %s is not a valid URL", hd_quote(url));
}

static HdPlan find_webhook = {
	"SELECT id, secret, enabled, rate_limit IS NOT NULL FROM helpdesk.webhook "
	"WHERE tenant_id = $1 AND external_id = $2 FOR UPDATE",
	2, {INT8OID, TEXTOID}
};

static HdPlan insert_webhook = {
	"INSERT INTO helpdesk.webhook (tenant_id, external_id, url, events, secret, retry_schedule, enabled, "
	"                              description, max_in_flight, timeout_ms, rate_limit, rate_burst, from_position) "
	"VALUES ($1, $2, $3, $4, $5, coalesce($6, '{0,5s,5min,30min,2h,5h,10h,10h}'::interval[]), $7, $8, "
	"        coalesce($9, 32), coalesce($10, 15000), $12, $14, helpdesk.event_position()) RETURNING id",
	14, {INT8OID, TEXTOID, TEXTOID, TEXTARRAYOID, BYTEAOID, INTERVALARRAYOID, BOOLOID, TEXTOID, INT4OID, INT4OID,
	BYTEAOID, FLOAT8OID, BOOLOID, INT4OID}
};

/*
 * $5 a new sealed secret or NULL (keep); $11: the old sealed one becomes the
 * previous; $12 a rate limit or NULL (keep), $13: no limit any more, $14 a
 * burst or NULL (keep)
 */
static HdPlan update_webhook = {
	"UPDATE helpdesk.webhook SET url = $3, events = $4, "
	"  previous_secret = CASE WHEN $5 IS NULL THEN previous_secret ELSE $11 END, "
	"  previous_until = CASE WHEN $5 IS NULL THEN previous_until ELSE now() + interval '" ROTATION_OVERLAP "' END, "
	"  secret = coalesce($5, secret), retry_schedule = coalesce($6, retry_schedule), enabled = $7, "
	"  description = coalesce($8, description), max_in_flight = coalesce($9, max_in_flight), "
	"  timeout_ms = coalesce($10, timeout_ms), "
	"  rate_limit = CASE WHEN $13 THEN NULL ELSE coalesce($12, rate_limit) END, "
	"  rate_burst = CASE WHEN $13 THEN NULL ELSE coalesce($14, rate_burst) END, "
	"  disabled_reason = CASE WHEN $7 THEN NULL ELSE disabled_reason END, "
	"  failing_since = CASE WHEN $7 AND NOT enabled THEN NULL ELSE failing_since END, "
	"  updated_at = now() "
	"WHERE tenant_id = $1 AND external_id = $2",
	14, {INT8OID, TEXTOID, TEXTOID, TEXTARRAYOID, BYTEAOID, INTERVALARRAYOID, BOOLOID, TEXTOID, INT4OID,
	INT4OID, BYTEAOID, FLOAT8OID, BOOLOID, INT4OID}
};

static HdPlan dead_letter_pending = {
	"UPDATE helpdesk.webhook_delivery SET state = 'dead', next_at = NULL, finished_at = now(), "
	"       last_error = 'endpoint disabled (admin)' "
	"WHERE tenant_id = $1 AND webhook_id = $2 AND state = 'pending'",
	2, {INT8OID, INT8OID}
};

PG_FUNCTION_INFO_V1(hd_upsert_webhook);

/*
 * upsert_webhook(tenant_id, external_id, url, events, secret, retry_schedule,
 * enabled, description, max_in_flight, timeout, rate_limit, rate_burst):
 * create or change an
 * endpoint by its external id. A new endpoint without a secret gets one
 * (webhook_secret() shows it); a different secret on an existing one
 * rotates: the old one keeps signing too for 24 hours. Disabling
 * dead-letters what is pending; enabling clears the worker's reason.
 */
Datum
hd_upsert_webhook(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "external_id", "url", "events"};
	int64		tenant_id;
	char	   *external_id,
			   *url,
			   *secret;
	char	   *ctx;
	Datum		v[14];
	char		n[15] = "              ";
	int64		id = 0;
	bool		exists,
				was_enabled = false,
				enabled;
	int64		timeout_ms = 0;
	bool		has_rate = false,
				has_burst,
				no_limit = false;
	double		rate = 0;
	int32		burst = 0;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 4, names);
	if (PG_ARGISNULL(6))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("enabled must not be NULL")));
	tenant_id = PG_GETARG_INT64(0);
	external_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	url = text_to_cstring(PG_GETARG_TEXT_PP(2));
	secret = hd_arg_text_or_null(fcinfo, 4);
	enabled = PG_GETARG_BOOL(6);
	hd_check_length("external_id", external_id, 1, 200);
	check_url(url);
	check_events(PG_GETARG_ARRAYTYPE_P(3));
	if (!PG_ARGISNULL(5))
		check_schedule(PG_GETARG_ARRAYTYPE_P(5));
	if (secret)
		hd_webhook_check_secret(secret);
	if (!PG_ARGISNULL(7))
		hd_check_length("description", text_to_cstring(PG_GETARG_TEXT_PP(7)), 0, 1000);
	if (!PG_ARGISNULL(8))
		hd_check_range("max_in_flight", PG_GETARG_INT32(8), 1, 1000);
	if (!PG_ARGISNULL(9))
		timeout_ms = hd_interval_arg(fcinfo, 9, "timeout", USECS_PER_SEC, 60 * USECS_PER_SEC, false, NULL) / 1000;
	/* called with 10 arguments by a database not yet updated to the rate limit */
	if (PG_NARGS() > 10 && !PG_ARGISNULL(10))
	{
		rate = PG_GETARG_FLOAT8(10);
		if (isinf(rate) && rate > 0)
			no_limit = true;
		else if (isnan(rate) || rate <= 0 || rate > 100000)
			hd_invalid("rate_limit must be above 0 and at most 100000 requests per second (infinity: no limit), got %g",
					   rate);
		else
			has_rate = true;
	}
	has_burst = PG_NARGS() > 11 && !PG_ARGISNULL(11);
	if (has_burst)
	{
		burst = PG_GETARG_INT32(11);
		hd_check_range("rate_burst", burst, 1, 100000);
		if (no_limit)
			hd_invalid("rate_burst needs a rate_limit, and rate_limit => infinity removes it");
	}

	SPI_connect();
	hd_require_tenant(tenant_id);
	ctx = hd_webhook_context(tenant_id);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = PG_GETARG_DATUM(1);
	hd_exec(&find_webhook, v, NULL, false, 1);
	exists = SPI_processed == 1;
	v[10] = (Datum) 0;
	n[10] = 'n';
	if (exists)
	{
		bool		isnull;

		hd_get_int64(1, &id);
		was_enabled = hd_get_bool(3);
		if (has_burst && !has_rate && !hd_get_bool(4))
			hd_invalid("rate_burst needs a rate_limit: webhook %s has none", hd_quote(external_id));
		if (secret)
		{
			bytea	   *old = DatumGetByteaPCopy(SPI_getbinval(SPI_tuptable->vals[0],
															   SPI_tuptable->tupdesc, 2, &isnull));
			int			len;
			char	   *cur = hd_decrypt_secret(old, ctx, &len);

			if (strcmp(cur, secret) == 0)
				secret = NULL;	/* the same secret: no rotation */
			else
			{
				v[10] = PointerGetDatum(old);
				n[10] = ' ';
			}
			explicit_bzero(cur, len);
		}
	}
	else
	{
		if (has_burst && !has_rate)
			hd_invalid("rate_burst needs a rate_limit");
		if (secret == NULL)
			secret = hd_webhook_new_secret();
	}
	v[2] = PG_GETARG_DATUM(2);
	v[3] = PG_GETARG_DATUM(3);
	v[4] = secret ? PointerGetDatum(hd_encrypt_secret(secret, strlen(secret), ctx)) : (Datum) 0;
	n[4] = secret ? ' ' : 'n';
	v[5] = PG_ARGISNULL(5) ? (Datum) 0 : PG_GETARG_DATUM(5);
	n[5] = PG_ARGISNULL(5) ? 'n' : ' ';
	v[6] = BoolGetDatum(enabled);
	v[7] = PG_ARGISNULL(7) ? (Datum) 0 : PG_GETARG_DATUM(7);
	n[7] = PG_ARGISNULL(7) ? 'n' : ' ';
	v[8] = PG_ARGISNULL(8) ? (Datum) 0 : PG_GETARG_DATUM(8);
	n[8] = PG_ARGISNULL(8) ? 'n' : ' ';
	v[9] = Int32GetDatum((int32) timeout_ms);
	n[9] = PG_ARGISNULL(9) ? 'n' : ' ';
	v[11] = Float8GetDatum(rate);
	n[11] = has_rate ? ' ' : 'n';
	v[12] = BoolGetDatum(no_limit);
	v[13] = Int32GetDatum(burst);
	n[13] = has_burst ? ' ' : 'n';
	if (secret)
		explicit_bzero(secret, strlen(secret));
	if (!exists)
	{
		hd_exec(&insert_webhook, v, n, false, 1);
		hd_get_int64(1, &id);
	}
	else
	{
		hd_exec(&update_webhook, v, n, false, 0);
		if (was_enabled && !enabled)
		{
			Datum		d[2] = {Int64GetDatum(tenant_id), Int64GetDatum(id)};

			hd_exec(&dead_letter_pending, d, NULL, false, 0);
		}
	}
	SPI_finish();
	PG_RETURN_INT64(id);
}

static HdPlan get_secret = {
	"SELECT secret FROM helpdesk.webhook WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

PG_FUNCTION_INFO_V1(hd_webhook_secret);

/* webhook_secret(tenant_id, webhook_id): the current secret, for the admin. */
Datum
hd_webhook_secret(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "webhook_id"};
	Datum		v[2];
	bool		isnull;
	bytea	   *sealed;
	int			len;
	char	   *plain;
	text	   *out;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	hd_exec(&get_secret, v, NULL, false, 1);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_HD_NOT_FOUND),
				 errmsg("webhook %lld does not exist in tenant %lld",
						(long long) PG_GETARG_INT64(1), (long long) PG_GETARG_INT64(0))));
	sealed = DatumGetByteaPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	plain = hd_decrypt_secret(sealed, hd_webhook_context(PG_GETARG_INT64(0)), &len);
	SPI_finish();
	out = cstring_to_text_with_len(plain, len);
	explicit_bzero(plain, len);
	PG_RETURN_TEXT_P(out);
}

static HdPlan redeliver_plan = {
	"SELECT d.state, w.enabled FROM helpdesk.webhook_delivery d "
	"JOIN helpdesk.webhook w ON w.tenant_id = d.tenant_id AND w.id = d.webhook_id "
	"WHERE d.tenant_id = $1 AND d.id = $2 FOR UPDATE OF d",
	2, {INT8OID, INT8OID}
};

static HdPlan redeliver_update = {
	"UPDATE helpdesk.webhook_delivery SET state = 'pending', step = 1, next_at = now(), "
	"       finished_at = NULL WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

PG_FUNCTION_INFO_V1(hd_redeliver);

/*
 * redeliver(tenant_id, delivery_id): send a delivery again now, with the
 * same webhook-id, and the endpoint's whole schedule again if it fails.
 */
Datum
hd_redeliver(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "delivery_id"};
	Datum		v[2];
	char	   *state;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	hd_exec(&redeliver_plan, v, NULL, false, 1);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_HD_NOT_FOUND),
				 errmsg("webhook delivery %lld does not exist in tenant %lld",
						(long long) PG_GETARG_INT64(1), (long long) PG_GETARG_INT64(0))));
	state = hd_get_text(1);
	if (!hd_get_bool(2))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the webhook of delivery %lld is disabled", (long long) PG_GETARG_INT64(1)),
				 errhint("Enable it with upsert_webhook(..., enabled => true) first.")));
	if (strcmp(state, "sending") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_IDEMPOTENCY_CONFLICT),
				 errmsg("webhook delivery %lld is being sent right now", (long long) PG_GETARG_INT64(1)),
				 errhint("Wait for its result (webhook_attempt) and call again.")));
	hd_exec(&redeliver_update, v, NULL, false, 0);
	SPI_finish();
	hd_wake_at_commit(HD_WORKER_HTTP);
	PG_RETURN_INT64(PG_GETARG_INT64(1));
}

static HdPlan replay_webhook = {
	"SELECT enabled, events FROM helpdesk.webhook WHERE tenant_id = $1 AND id = $2 FOR SHARE",
	2, {INT8OID, INT8OID}
};

/*
 * New deliveries for the tenant's published events after from_pos that the
 * endpoint's filter matches (also events from before it existed), in order,
 * with each event's webhook-id; bodies as the feed makes them.
 */
static HdPlan replay_insert = {
	"WITH w AS (SELECT id, events FROM helpdesk.webhook WHERE tenant_id = $1 AND id = $2), "
	"e AS MATERIALIZED (SELECT * FROM helpdesk.events_since($3, " CppAsString2(REPLAY_MAX) ", $1) e "
	"     WHERE " HD_WEBHOOK_AUDIENCE " AND EXISTS (SELECT 1 FROM w WHERE " HD_WEBHOOK_MATCH("w.events", "e.type") ") "
	"       AND NOT (starts_with(e.type, 'webhook.') AND e.payload->>'webhook_id' = $2::text)) "
	"INSERT INTO helpdesk.webhook_delivery (tenant_id, webhook_id, event_pos, msg_id, event_type, body, next_at) "
	"SELECT $1, w.id, e.pos, 'msg_' || e.pos || '_' || w.id, e.type, "
	"       CASE WHEN octet_length(full_body.t) <= " CppAsString2(HD_WEBHOOK_MAX_BODY) " THEN full_body.t "
	"       ELSE " HD_WEBHOOK_EVENT_BODY("(e.message - 'body' - 'attachment' - 'options') || '{\"truncated\": true}'",
									  "'{\"truncated\": true}'::jsonb") " END, now() "
	"FROM e CROSS JOIN w, LATERAL (SELECT " HD_WEBHOOK_EVENT_BODY("e.message", "e.payload") " AS t) full_body "
	"ORDER BY e.pos",
	3, {INT8OID, INT8OID, INT8OID}
};

PG_FUNCTION_INFO_V1(hd_replay_webhooks);

/*
 * replay_webhooks(tenant_id, endpoint_id, from_position): send the
 * endpoint every matching event published after from_position again (at
 * most 100,000 events per call; call again from the last one's position).
 * Returns the number of deliveries made.
 */
Datum
hd_replay_webhooks(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "endpoint_id", "from_position"};
	Datum		v[3];
	uint64		made;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 3, names);
	if (PG_GETARG_INT64(2) < 0)
		hd_invalid("from_position must not be negative");
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	v[2] = PG_GETARG_DATUM(2);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	hd_exec(&replay_webhook, v, NULL, false, 1);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_HD_NOT_FOUND),
				 errmsg("webhook %lld does not exist in tenant %lld",
						(long long) PG_GETARG_INT64(1), (long long) PG_GETARG_INT64(0))));
	if (!hd_get_bool(1))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("webhook %lld is disabled", (long long) PG_GETARG_INT64(1)),
				 errhint("Enable it with upsert_webhook(..., enabled => true) first.")));
	hd_exec(&replay_insert, v, NULL, false, 0);
	made = SPI_processed;
	SPI_finish();
	hd_wake_at_commit(HD_WORKER_HTTP);
	PG_RETURN_INT64((int64) made);
}

static HdPlan prune_plan = {
	"DELETE FROM helpdesk.webhook_delivery WHERE finished_at < now() - $1",
	1, {INTERVALOID}
};

PG_FUNCTION_INFO_V1(hd_prune_webhook_deliveries);

/* prune_webhook_deliveries(keep): retention of the delivery log, for pg_cron. */
Datum
hd_prune_webhook_deliveries(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"keep"};
	Datum		keep;
	uint64		n;

	hd_require_every_tenant();
	hd_require_args(fcinfo, 1, names);
	hd_interval_arg(fcinfo, 0, "keep", 0, (int64) 36525 * USECS_PER_DAY, false, &keep);
	SPI_connect();
	hd_exec(&prune_plan, &keep, NULL, false, 0);
	n = SPI_processed;
	SPI_finish();
	PG_RETURN_INT64((int64) n);
}
