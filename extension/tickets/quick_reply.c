/*
 * quick_reply.c — storing, deleting and finding quick replies (canned
 * responses). Placeholders and rendering: quick_reply_render.c.
 *
 * A quick reply is shared by the tenant (agent_id NULL) or personal to one
 * agent, and is matched for upsert on (owner, shortcode, language). An
 * agent's search sees its own and the shared ones, ranked by how often this
 * agent used each (quick_reply_use, counted by render_quick_reply).
 */
#include "quick_reply.h"

#include "parser/scansup.h"
#include "catalog/pg_collation_d.h"
#include "utils/builtins.h"
#include "utils/formatting.h"

/* A language tag as the table stores it: lowercase, BCP 47 shaped (zh-cn, en, es-419). */
static char *
checked_language(const char *tag)
{
	hd_check_length("language", tag, 2, 35);
	if (!hd_language_tag_shaped(tag))
		hd_invalid("language must be a language tag such as zh-CN or en, got %s", hd_quote(tag));
	return downcase_identifier(tag, strlen(tag), false, false);
}

/* Shortcodes are lowercase: "/Refund" and "refund" are the same shortcode. */
static char *
checked_shortcode(const char *s)
{
	char	   *lower;
	const char *p;

	hd_check_length("shortcode", s, 1, 50);
	lower = downcase_identifier(s, strlen(s), false, false);
	for (p = lower; *p; p++)
		if (!(isalnum((unsigned char) *p) || ((*p == '_' || *p == '.' || *p == '-') && p != lower)) ||
			IS_HIGHBIT_SET(*p))
			hd_invalid("shortcode must be letters, digits, _ . - (not first), got %s", hd_quote(s));
	return lower;
}

static HdPlan agent_exists = {
	"SELECT 1 FROM helpdesk.agent WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

static void
require_agent(int64 tenant_id, int64 agent_id)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(agent_id)};

	hd_exec(&agent_exists, v, NULL, false, 1);
	if (SPI_processed == 0)
		hd_not_found("agent", agent_id, tenant_id);
}

static HdPlan upsert_reply = {
	"INSERT INTO helpdesk.quick_reply AS r (tenant_id, agent_id, shortcode, title, body, "
	"  category, language) VALUES ($1, $2, $3, $4, $5, $6, $7) "
	"ON CONFLICT ON CONSTRAINT quick_reply_shortcode DO UPDATE SET title = excluded.title, "
	"  body = excluded.body, category = excluded.category, updated_at = now() "
	"RETURNING r.id",
	7, {INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID}
};

PG_FUNCTION_INFO_V1(hd_upsert_quick_reply);

/* helpdesk.upsert_quick_reply(tenant_id, shortcode, title, body, agent_id, category, language) */
Datum
hd_upsert_quick_reply(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "shortcode", "title", "body"};
	char	   *shortcode,
			   *title,
			   *body,
			   *category,
			   *language;
	Datum		v[7];
	char		n[8] = "       ";
	int64		id;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 4, names);
	shortcode = checked_shortcode(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	title = text_to_cstring(PG_GETARG_TEXT_PP(2));
	body = text_to_cstring(PG_GETARG_TEXT_PP(3));
	category = hd_arg_text_or_null(fcinfo, 5);
	language = hd_arg_text_or_null(fcinfo, 6);
	hd_check_length("title", title, 1, 200);
	hd_check_length("body", body, 1, HD_QR_MAX_BODY_CHARS);
	hd_qr_check_body(body);
	if (category)
		hd_check_length("category", category, 1, 100);
	if (language)
		language = checked_language(language);
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
	n[1] = PG_ARGISNULL(4) ? 'n' : ' ';
	v[2] = CStringGetTextDatum(shortcode);
	v[3] = CStringGetTextDatum(title);
	v[4] = CStringGetTextDatum(body);
	v[5] = category ? CStringGetTextDatum(category) : (Datum) 0;
	n[5] = category ? ' ' : 'n';
	v[6] = language ? CStringGetTextDatum(language) : (Datum) 0;
	n[6] = language ? ' ' : 'n';
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	if (!PG_ARGISNULL(4))
		require_agent(PG_GETARG_INT64(0), PG_GETARG_INT64(4));
	hd_exec(&upsert_reply, v, n, false, 0);
	hd_get_int64(1, &id);
	SPI_finish();
	PG_RETURN_INT64(id);
}

static HdPlan delete_reply = {
	"DELETE FROM helpdesk.quick_reply WHERE tenant_id = $1 AND id = $2 "
	"AND ($3::bigint IS NULL OR agent_id = $3)",
	3, {INT8OID, INT8OID, INT8OID}
};

PG_FUNCTION_INFO_V1(hd_delete_quick_reply);

/* helpdesk.delete_quick_reply(tenant_id, quick_reply_id, agent_id) */
Datum
hd_delete_quick_reply(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "quick_reply_id"};
	Datum		v[3];
	char		n[4];

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	hd_args_to_params(fcinfo, v, n, 3);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	hd_exec(&delete_reply, v, n, false, 0);
	if (SPI_processed == 0)
	{
		if (PG_ARGISNULL(2))
			hd_not_found("quick reply", PG_GETARG_INT64(1), PG_GETARG_INT64(0));
		ereport(ERROR,
				(errcode(ERRCODE_HD_NOT_FOUND),
				 errmsg("quick reply %lld is not a personal quick reply of agent %lld in tenant %lld",
						(long long) PG_GETARG_INT64(1), (long long) PG_GETARG_INT64(2),
						(long long) PG_GETARG_INT64(0))));
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * Prefix match on the shortcode or the lowercased title, both through
 * text_pattern_ops indexes ($3 is the escaped prefix with a trailing %).
 */
static HdPlan search_replies = {
	"SELECT r.id, r.shortcode, r.title, r.category, r.language, r.agent_id IS NOT NULL, "
	"       coalesce(u.uses, 0), r.body "
	"FROM helpdesk.quick_reply r "
	"LEFT JOIN helpdesk.quick_reply_use u ON u.tenant_id = r.tenant_id "
	"     AND u.agent_id = $2 AND u.quick_reply_id = r.id "
	"WHERE r.tenant_id = $1 AND (r.agent_id IS NULL OR r.agent_id = $2) "
	"  AND (r.shortcode LIKE $3 OR lower(r.title) LIKE $3) "
	"  AND ($5::text IS NULL OR r.language IS NULL OR r.language = $5) "
	"ORDER BY coalesce(u.uses, 0) DESC, u.last_used_at DESC NULLS LAST, "
	"         r.agent_id IS NULL, r.shortcode, r.id "
	"LIMIT $4",
	5, {INT8OID, INT8OID, TEXTOID, INT4OID, TEXTOID}
};

PG_FUNCTION_INFO_V1(hd_search_quick_replies);

/* helpdesk.search_quick_replies(tenant_id, agent_id, prefix, max_rows, language) */
Datum
hd_search_quick_replies(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "agent_id"};
	char	   *prefix = hd_arg_text_or_null(fcinfo, 2);
	char	   *language = hd_arg_text_or_null(fcinfo, 4);
	int32		max_rows = PG_ARGISNULL(3) ? 20 : PG_GETARG_INT32(3);
	StringInfoData pattern;
	char	   *lower;
	const char *p;
	Datum		v[5];
	char		n[6] = "     ";

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	hd_check_range("max_rows", max_rows, 1, 1000);
	if (prefix == NULL)
		prefix = "";
	hd_check_length("prefix", prefix, 0, 200);
	/* "/" is how agents start a shortcode in most chat tools; ignore it */
	if (prefix[0] == '/')
		prefix++;
	lower = str_tolower(prefix, strlen(prefix), DEFAULT_COLLATION_OID);
	initStringInfo(&pattern);
	for (p = lower; *p; p++)
	{
		if (*p == '%' || *p == '_' || *p == '\\')
			appendStringInfoChar(&pattern, '\\');
		appendStringInfoChar(&pattern, *p);
	}
	appendStringInfoChar(&pattern, '%');
	if (language)
		language = checked_language(language);
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	v[2] = CStringGetTextDatum(pattern.data);
	v[3] = Int32GetDatum(max_rows);
	v[4] = language ? CStringGetTextDatum(language) : (Datum) 0;
	n[4] = language ? ' ' : 'n';
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	require_agent(PG_GETARG_INT64(0), PG_GETARG_INT64(1));
	hd_return_query(fcinfo, &search_replies, v, n);
	SPI_finish();
	return (Datum) 0;
}
