/*
 * bot_config.c — a tenant's bots: upsert_bot and delete_bot.
 *
 * A bot serves the sessions in state bot of its scope: the tenant, one of its
 * queues, one issue type, or both (bot_intake.c picks the most specific
 * enabled one). Its secret (Dify's API key, a webhook bot's signing secret)
 * is stored encrypted by http_crypt.c and decrypted only by the HTTP worker.
 */
#include "bot.h"
#include "http_engine.h"
#include "http_webhook.h"

#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"

static HdPlan bot_by_external_id = {
	"SELECT id, kind FROM helpdesk.bot WHERE tenant_id = $1 AND external_id = $2 FOR UPDATE",
	2, {INT8OID, TEXTOID}
};
/* created disabled: its scope is set (and checked) by the update below */
static HdPlan insert_bot = {
	"INSERT INTO helpdesk.bot (tenant_id, external_id, kind, base_url, secret, enabled) "
	"VALUES ($1, $2, $3, $4, $5, false) "
	"ON CONFLICT (tenant_id, external_id) DO NOTHING RETURNING id",
	5, {INT8OID, TEXTOID, TEXTOID, TEXTOID, BYTEAOID}
};

/*
 * The bot's scope and enabled flag after the update, as SQL expressions of
 * the stored row b and the arguments: NULL keeps, 0 / '' clear; a new bot
 * ($14) is enabled unless told otherwise.
 */
#define NEW_QUEUE "(CASE WHEN $6 IS NULL THEN b.queue_id WHEN $6 = 0 THEN NULL ELSE $6 END)"
#define NEW_ISSUE "(CASE WHEN $7 IS NULL THEN b.issue_type ELSE nullif($7, '') END)"
#define NEW_ENABLED "coalesce($13, $14 OR b.enabled)"
#define BOT_ARG_TYPES {INT8OID, INT8OID, TEXTOID, TEXTOID, BYTEAOID, INT8OID, TEXTOID, \
	TEXTOID, TEXTOID, TEXTARRAYOID, INT4OID, INTERVALOID, BOOLOID, BOOLOID}

/* another enabled bot of the tenant with the same scope (named in the error) */
static HdPlan scope_clash = {
	"SELECT o.external_id FROM helpdesk.bot b JOIN helpdesk.bot o ON o.tenant_id = b.tenant_id "
	"WHERE b.tenant_id = $1 AND b.id = $2 AND o.id <> b.id AND o.enabled AND " NEW_ENABLED
	"  AND o.queue_id IS NOT DISTINCT FROM " NEW_QUEUE
	"  AND o.issue_type IS NOT DISTINCT FROM " NEW_ISSUE " LIMIT 1",
	14, BOT_ARG_TYPES
};
static HdPlan update_bot = {
	"UPDATE helpdesk.bot b SET kind = coalesce($3, b.kind), base_url = coalesce($4, b.base_url), "
	"  secret = coalesce($5, b.secret), queue_id = " NEW_QUEUE ", issue_type = " NEW_ISSUE ", "
	"  handoff_marker = CASE WHEN $8 IS NULL THEN b.handoff_marker ELSE nullif($8, '') END, "
	"  handoff_flag = CASE WHEN $9 IS NULL THEN b.handoff_flag ELSE nullif($9, '') END, "
	"  handoff_keywords = coalesce($10, b.handoff_keywords), "
	"  max_turns = coalesce($11, b.max_turns), timeout = coalesce($12, b.timeout), "
	"  enabled = " NEW_ENABLED ", updated_at = now() "
	"WHERE b.tenant_id = $1 AND b.id = $2",
	14, BOT_ARG_TYPES
};
static HdPlan queue_in_tenant = {
	"SELECT 1 FROM helpdesk.queue WHERE tenant_id = $1 AND id = $2", 2, {INT8OID, INT8OID}
};

/*
 * An http(s) URL with a host and nothing a header or a log line could be
 * split with; the SSRF guard judges the address when the worker connects.
 */
static void
check_base_url(const char *url)
{
	const char *p;
	const char *host;

	if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else
		hd_invalid("base_url must be an http or https URL, got %s", hd_quote(url));
	if (strlen(url) > 2048)
		hd_invalid("base_url is longer than 2048 bytes");
	for (p = url; *p; p++)
		if ((unsigned char) *p <= 0x20 || *p == 0x7f)
			hd_invalid("base_url must not contain spaces or control characters, got %s",
					   hd_quote(url));
	if (*host == '\0' || *host == '/' || *host == ':' || *host == '?' || *host == '#')
		hd_invalid("base_url must name a host (https://host/path), got %s", hd_quote(url));
}

/* Keywords: a flat array of 1..50 non-empty strings, each at most 50 characters. */
static void
check_keywords(ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;

	if (ARR_NDIM(arr) > 1)
		hd_invalid("handoff_keywords must be a one-dimensional array");
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n > 50)
		hd_invalid("handoff_keywords has %d entries, at most 50 are allowed", n);
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			hd_invalid("handoff_keywords must not contain NULL");
		hd_check_length("a hand-off keyword", TextDatumGetCString(elems[i]), 1, 50);
	}
}

PG_FUNCTION_INFO_V1(hd_upsert_bot);

/*
 * helpdesk.upsert_bot(tenant_id, external_id, kind, base_url, secret,
 *   queue_id, issue_type, handoff_marker, handoff_flag, handoff_keywords,
 *   max_turns, timeout, enabled)
 */
Datum
hd_upsert_bot(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "external_id"};
	static const char *const kinds[] = {"dify", "webhook", NULL};
	int64		tenant_id;
	char	   *external_id;
	char	   *kind = hd_arg_text_or_null(fcinfo, 2);
	char	   *base_url = hd_arg_text_or_null(fcinfo, 3);
	char	   *secret = hd_arg_text_or_null(fcinfo, 4);
	bytea	   *sealed = NULL;
	int64		id = 0;
	Datum		v[14];
	char		n[15];
	bool		created = false;
	char	   *stored_kind = NULL;
	char	   *clash;
	int			i;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	tenant_id = PG_GETARG_INT64(0);
	external_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	hd_check_length("external_id", external_id, 1, 200);
	if (kind)
		hd_check_enum("bot kind", kind, kinds);
	if (base_url)
	{
		int			len = strlen(base_url);

		check_base_url(base_url);
		while (len > 0 && base_url[len - 1] == '/')
			base_url[--len] = '\0';		/* {base_url}/chat-messages */
	}
	if (secret)
		hd_check_length("secret", secret, 8, 500);
	if (!PG_ARGISNULL(6) && VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(6)) > 0)
		hd_check_length("issue_type", text_to_cstring(PG_GETARG_TEXT_PP(6)), 1, 100);
	for (i = 7; i <= 8; i++)
		if (!PG_ARGISNULL(i) && VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(i)) > 0)
			hd_check_length(i == 7 ? "handoff_marker" : "handoff_flag",
							text_to_cstring(PG_GETARG_TEXT_PP(i)), 1, 100);
	if (!PG_ARGISNULL(9))
		check_keywords(PG_GETARG_ARRAYTYPE_P(9));
	if (!PG_ARGISNULL(10))
		hd_check_range("max_turns", PG_GETARG_INT32(10), 1, 1000);

	hd_args_to_params(fcinfo, v, n, 13);
	hd_interval_arg(fcinfo, 11, "timeout", USECS_PER_SEC, 120 * USECS_PER_SEC, false, &v[11]);
	if (base_url)
		v[3] = CStringGetTextDatum(base_url);
	if (secret)
	{
		sealed = hd_encrypt_secret(secret, strlen(secret), hd_bot_secret_context(tenant_id));
		v[4] = PointerGetDatum(sealed);
	}

	SPI_connect();
	hd_require_tenant(tenant_id);
	if (!PG_ARGISNULL(5) && PG_GETARG_INT64(5) != 0)
	{
		Datum		q[2] = {Int64GetDatum(tenant_id), v[5]};

		hd_exec(&queue_in_tenant, q, NULL, false, 1);
		if (SPI_processed == 0)
			hd_not_found("queue", PG_GETARG_INT64(5), tenant_id);
	}
	{
		Datum		k[2] = {Int64GetDatum(tenant_id), CStringGetTextDatum(external_id)};

		hd_exec(&bot_by_external_id, k, NULL, false, 1);
		if (SPI_processed == 1)
		{
			hd_get_int64(1, &id);
			stored_kind = hd_get_text(2);
		}
	}
	/* a webhook bot signs like webhooks: a whsec_ secret */
	if (secret && strcmp(kind ? kind : stored_kind ? stored_kind : "", "webhook") == 0)
		hd_webhook_check_secret(secret);
	if (id == 0)
	{
		if (kind == NULL || base_url == NULL || secret == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("kind, base_url and secret are required to create bot %s",
							hd_quote(external_id)),
					 errhint("secret is the Dify app's API key, or a webhook bot's signing secret.")));
		hd_exec(&insert_bot, v, n, false, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("bot %s was created concurrently", hd_quote(external_id)),
					 errhint("Retry the call.")));
		hd_get_int64(1, &id);
		created = true;
	}
	v[1] = Int64GetDatum(id);
	n[1] = ' ';
	v[13] = BoolGetDatum(created);
	n[13] = ' ';
	n[14] = '\0';
	hd_exec(&scope_clash, v, n, false, 1);
	clash = SPI_processed == 1 ? hd_get_text(1) : NULL;
	if (clash == NULL)
		hd_exec(&update_bot, v, n, false, 0);
	else
		ereport(ERROR,
				(errcode(ERRCODE_HD_IDEMPOTENCY_CONFLICT),
				 errmsg("bot %s already serves this scope (queue and issue type) in tenant %lld",
						hd_quote(clash), (long long) tenant_id),
				 errhint("Disable that bot first (upsert_bot(..., enabled => false)), or give this one another queue or issue type.")));
	SPI_finish();
	PG_RETURN_INT64(id);
}

static HdPlan delete_bot = {
	"WITH j AS (DELETE FROM helpdesk.bot_job WHERE tenant_id = $1 AND bot_id = $2) "
	"DELETE FROM helpdesk.bot WHERE tenant_id = $1 AND id = $2 RETURNING id",
	2, {INT8OID, INT8OID}
};
static HdPlan sessions_of_bot = {
	"SELECT id FROM helpdesk.session "
	"WHERE tenant_id = $1 AND bot_id = $2 AND state = 'bot' ORDER BY id",
	2, {INT8OID, INT8OID}
};

PG_FUNCTION_INFO_V1(hd_delete_bot);

/*
 * helpdesk.delete_bot(tenant_id, bot_id): the sessions it was answering are
 * handed to a human first (never left with no bot at all); its jobs go with
 * it (deleted here: bot_job has no foreign key to bot, see 50_bot.sql).
 */
Datum
hd_delete_bot(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "bot_id"};
	int64		tenant_id,
				bot_id;
	Datum		v[2];
	int64	   *sessions;
	uint64		count,
				i;
	bool		found;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	tenant_id = PG_GETARG_INT64(0);
	bot_id = PG_GETARG_INT64(1);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(bot_id);

	SPI_connect();
	hd_require_tenant(tenant_id);
	hd_exec(&sessions_of_bot, v, NULL, false, 0);
	count = SPI_processed;
	sessions = palloc(sizeof(int64) * (count + 1));
	for (i = 0; i < count; i++)
		sessions[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
												  SPI_tuptable->tupdesc, 1, &found));
	for (i = 0; i < count; i++)
		(void) hd_bot_handoff(tenant_id, sessions[i], HD_HANDOFF_API, false, 0, false, 0, NULL);
	hd_exec(&delete_bot, v, NULL, false, 0);
	found = SPI_processed == 1;
	SPI_finish();
	PG_RETURN_BOOL(found);
}
