/*
 * system_text.c — the texts the system itself sends to customers (the idle
 * warning; the tickets' auto-close entries and survey request), in the
 * customer's language.
 *
 * Language tags are stored lowercase (as customer.language is) and compared
 * case-insensitively. Built-in texts exist in zh-CN (the default of every tenant) and en; a
 * tenant may override any of them and add other languages with
 * set_system_text(). The text is chosen for the customer's language first
 * (the tenant's own text, then the built-in one; an exact tag before one
 * that only shares the primary subtag, so 'zh' finds 'zh-CN'), then for the
 * tenant's default_language the same way, then the built-in zh-CN text.
 *
 * Placeholders: {duration} (spelled out in zh-CN and en, "4 seconds",
 * "2分钟30秒"; h:mm:ss for other languages), {minutes} (rounded up) and
 * {seconds}. Unknown placeholders are refused when a text is stored.
 */
#include "hd.h"

#include "parser/scansup.h"
#include "utils/builtins.h"

typedef struct BuiltinText
{
	const char *key;
	const char *language;
	const char *body;
} BuiltinText;

static const BuiltinText builtin_texts[] = {
	{"idle_warning", "zh-cn", "您还在吗？如果您在{duration}内没有回复，本次会话将自动结束。"},
	{"idle_warning", "en", "Are you still there? This chat will close in {duration} unless you reply."},
	/* tickets/autoclose.c ({duration}: the time left, or the silence that closed it) */
	{"autoclose_resolve_warning", "zh-cn", "我们一直在等待您的回复。如果您在{duration}内没有回复，此工单将自动标记为已解决。"},
	{"autoclose_resolve_warning", "en", "We are still waiting for your reply. If we do not hear from you within {duration}, this ticket will be marked as solved."},
	{"autoclose_close_warning", "zh-cn", "此工单将在{duration}后关闭，关闭后的回复将创建新工单。"},
	{"autoclose_close_warning", "en", "This ticket will be closed in {duration}; after that, a reply opens a new ticket."},
	{"autoclose_pending", "zh-cn", "由于{duration}内未收到您的回复，此工单已自动标记为已解决。如仍需帮助，请直接回复。"},
	{"autoclose_pending", "en", "We have not heard from you for {duration}, so this ticket was marked as solved. Reply if you still need help."},
	{"autoclose_replied", "zh-cn", "客服已答复，{duration}内未收到您的进一步消息，此工单已自动标记为已解决。如仍需帮助，请直接回复。"},
	{"autoclose_replied", "en", "Our agent answered and we have not heard back for {duration}, so this ticket was marked as solved. Reply if you still need help."},
	{"autoclose_resolved", "zh-cn", "此工单已关闭。如有新的问题，回复即可创建新工单。"},
	{"autoclose_resolved", "en", "This ticket is now closed. Reply to open a new one."},
	/* tickets/csat.c ({duration}: how long the rating stays open) */
	{"csat_request", "zh-cn", "请为本次服务评分（1-5分），感谢您的反馈！"},
	{"csat_request", "en", "How did we do? Please rate this conversation from 1 to 5."},
	{NULL, NULL, NULL}
};

static const char *const text_keys[] = {"idle_warning", "autoclose_resolve_warning",
	"autoclose_close_warning", "autoclose_pending", "autoclose_replied", "autoclose_resolved",
"csat_request", NULL};
static const char *const placeholders[] = {"duration", "minutes", "seconds", NULL};

#define HD_MAX_TEXT_CHARS 1000

static HdPlan texts_of_tenant = {
	"SELECT t.default_language, st.language, st.body FROM helpdesk.tenant t "
	"LEFT JOIN helpdesk.system_text st ON st.tenant_id = t.id AND st.key = $2 "
	"WHERE t.id = $1",
	2, {INT8OID, TEXTOID}
};

/* Length of the primary subtag of a language tag ("zh" of "zh-CN"). */
static int
primary_len(const char *tag)
{
	const char *dash = strchr(tag, '-');

	return dash ? (int) (dash - tag) : (int) strlen(tag);
}

/*
 * How well a stored tag serves the wanted one: 2 the same tag, 1 the same
 * primary subtag, 0 not at all. Tags compare case-insensitively (BCP 47).
 */
static int
tag_match(const char *have, const char *want)
{
	int			lh,
				lw;

	if (pg_strcasecmp(have, want) == 0)
		return 2;
	lh = primary_len(have);
	lw = primary_len(want);
	return (lh == lw && pg_strncasecmp(have, want, lh) == 0) ? 1 : 0;
}

typedef struct TextChoice
{
	const char *language;
	const char *body;
	int			score;			/* 4 tenant exact, 3 built-in exact, 2/1 by primary subtag */
} TextChoice;

static void
consider(TextChoice *best, const char *language, const char *body, const char *want,
		 bool own)
{
	int			m = tag_match(language, want);
	int			score;

	if (m == 0)
		return;
	score = (m == 2 ? 3 : 1) + (own ? 1 : 0);
	if (score > best->score)
	{
		best->language = language;
		best->body = body;
		best->score = score;
	}
}

/* The best text for one wanted language among the tenant's and the built-in ones. */
static TextChoice
choose_for(const char *key, const char *want)
{
	TextChoice	best = {NULL, NULL, 0};
	uint64		r;
	const BuiltinText *b;

	if (want == NULL || *want == '\0')
		return best;
	for (r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		Datum		lang = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull);

		if (isnull)
			continue;
		consider(&best, TextDatumGetCString(lang),
				 TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[r],
												   SPI_tuptable->tupdesc, 3, &isnull)),
				 want, true);
	}
	for (b = builtin_texts; b->key; b++)
		if (strcmp(b->key, key) == 0)
			consider(&best, b->language, b->body, want, false);
	return best;
}

/*
 * A duration the way a person reads it: the two largest non-zero units
 * ("1 hour 5 minutes", "4秒"). Languages without unit words get h:mm:ss.
 */
static char *
format_duration(int64 usecs, const char *language)
{
	static const int64 unit_secs[] = {86400, 3600, 60, 1};
	static const char *const en_one[] = {"day", "hour", "minute", "second"};
	static const char *const en_many[] = {"days", "hours", "minutes", "seconds"};
	static const char *const zh[] = {"天", "小时", "分钟", "秒"};
	int64		secs = Max(1, (usecs + USECS_PER_SEC - 1) / USECS_PER_SEC);
	bool		is_en = primary_len(language) == 2 && pg_strncasecmp(language, "en", 2) == 0;
	bool		is_zh = primary_len(language) == 2 && pg_strncasecmp(language, "zh", 2) == 0;
	StringInfoData out;
	int			shown = 0;
	int			u;

	initStringInfo(&out);
	if (!is_en && !is_zh)
	{
		if (secs >= 3600)
			appendStringInfo(&out, INT64_FORMAT ":%02d:%02d", secs / 3600,
							 (int) (secs % 3600 / 60), (int) (secs % 60));
		else
			appendStringInfo(&out, "%d:%02d", (int) (secs / 60), (int) (secs % 60));
		return out.data;
	}
	for (u = 0; u < 4 && shown < 2; u++)
	{
		int64		n = secs / unit_secs[u];

		secs %= unit_secs[u];
		if (n == 0)
		{
			if (shown > 0)
				break;			/* "1 hour", not "1 hour 0 minutes 5 seconds" */
			continue;
		}
		if (is_zh)
			appendStringInfo(&out, INT64_FORMAT "%s", n, zh[u]);
		else
			appendStringInfo(&out, "%s" INT64_FORMAT " %s", shown ? " " : "", n,
							 n == 1 ? en_one[u] : en_many[u]);
		shown++;
	}
	return out.data;
}

/* Replace the placeholders of body; language decides how {duration} is spelled. */
static char *
render(const char *body, const char *language, int64 duration_us)
{
	StringInfoData out;
	const char *p = body;
	int64		secs = Max(1, (duration_us + USECS_PER_SEC - 1) / USECS_PER_SEC);

	initStringInfo(&out);
	while (*p)
	{
		if (strncmp(p, "{duration}", 10) == 0)
		{
			appendStringInfoString(&out, format_duration(duration_us, language));
			p += 10;
		}
		else if (strncmp(p, "{minutes}", 9) == 0)
		{
			appendStringInfo(&out, INT64_FORMAT, (secs + 59) / 60);
			p += 9;
		}
		else if (strncmp(p, "{seconds}", 9) == 0)
		{
			appendStringInfo(&out, INT64_FORMAT, secs);
			p += 9;
		}
		else
			appendStringInfoChar(&out, *p++);
	}
	return out.data;
}

/*
 * The text `key` for a customer speaking `language` (NULL: unknown), with
 * {duration} filled in. Runs inside a caller's SPI connection.
 */
char *
hd_system_text(int64 tenant_id, const char *key, const char *language, int64 duration_us)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), CStringGetTextDatum(key)};
	TextChoice	c;
	char	   *default_language;

	hd_exec(&texts_of_tenant, v, NULL, false, 0);
	if (SPI_processed == 0)
		ereport(ERROR, (errcode(ERRCODE_HD_NOT_FOUND),
						errmsg("tenant " INT64_FORMAT " does not exist", tenant_id)));
	default_language = hd_get_text(1);
	c = choose_for(key, language);
	if (c.body == NULL)
		c = choose_for(key, default_language);
	if (c.body == NULL)
		c = choose_for(key, "zh-cn");
	if (c.body == NULL)
		elog(ERROR, "pg_helpdesk: no built-in system text \"%s\"", key);
	return render(c.body, c.language, duration_us);
}

/*
 * Whether tag is a language tag as BCP 47 spells it in practice: zh, zh-CN,
 * zh-Hant-TW, es-419 (a 2-3 letter language, then 1-8 letter or digit
 * parts). System texts and quick replies (tickets/quick_reply.c) take the
 * same tags; each says its own error.
 */
bool
hd_language_tag_shaped(const char *tag)
{
	const char *p;
	int			part = 0,
				len = 0;

	for (p = tag;; p++)
	{
		if (*p == '-' || *p == '\0')
		{
			if ((part == 0 && (len < 2 || len > 3)) || (part > 0 && (len < 1 || len > 8)))
				return false;
			if (*p == '\0')
				return true;
			part++;
			len = 0;
		}
		else if ((part == 0 && !isalpha((unsigned char) *p)) ||
				 (part > 0 && !isalnum((unsigned char) *p)))
			return false;
		else
			len++;
	}
}

static void
check_language(const char *what, const char *tag)
{
	hd_check_length(what, tag, 2, 35);
	if (!hd_language_tag_shaped(tag))
		hd_invalid("%s must be a language tag such as zh-CN or en", what);
}

/* Every {...} in body must be a known placeholder. */
static void
check_placeholders(const char *body)
{
	const char *p;

	for (p = strchr(body, '{'); p; p = strchr(p + 1, '{'))
	{
		const char *const *ph;
		bool		known = false;

		for (ph = placeholders; *ph && !known; ph++)
			known = strncmp(p + 1, *ph, strlen(*ph)) == 0 && p[1 + strlen(*ph)] == '}';
		if (!known)
			hd_invalid("body may only use the placeholders {duration}, {minutes} and {seconds}");
	}
}

static HdPlan upsert_text = {
	"INSERT INTO helpdesk.system_text AS st (tenant_id, key, language, body) "
	"VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, key, language) "
	"DO UPDATE SET body = excluded.body, updated_at = now()",
	4, {INT8OID, TEXTOID, TEXTOID, TEXTOID}
};

static HdPlan delete_text = {
	"DELETE FROM helpdesk.system_text WHERE tenant_id = $1 AND key = $2 AND language = $3",
	3, {INT8OID, TEXTOID, TEXTOID}
};

PG_FUNCTION_INFO_V1(hd_set_system_text);

/* helpdesk.set_system_text(tenant_id, key, language, body): NULL body removes the tenant's text */
Datum
hd_set_system_text(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "key", "language"};
	char	   *key,
			   *language,
			   *body;
	Datum		v[4];

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 3, names);
	key = text_to_cstring(PG_GETARG_TEXT_PP(1));
	language = text_to_cstring(PG_GETARG_TEXT_PP(2));
	body = hd_arg_text_or_null(fcinfo, 3);
	hd_check_enum("key", key, text_keys);
	check_language("language", language);
	language = downcase_identifier(language, strlen(language), false, false);
	if (body)
	{
		hd_check_length("body", body, 1, HD_MAX_TEXT_CHARS);
		check_placeholders(body);
	}
	v[0] = PG_GETARG_DATUM(0);
	v[1] = CStringGetTextDatum(key);
	v[2] = CStringGetTextDatum(language);
	v[3] = body ? CStringGetTextDatum(body) : (Datum) 0;
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	if (body)
		hd_exec(&upsert_text, v, NULL, false, 0);
	else
		hd_exec(&delete_text, v, NULL, false, 0);
	SPI_finish();
	PG_RETURN_VOID();
}

static HdPlan set_language = {
	"UPDATE helpdesk.tenant SET default_language = $2, updated_at = now() WHERE id = $1",
	2, {INT8OID, TEXTOID}
};

PG_FUNCTION_INFO_V1(hd_set_tenant_language);

/* helpdesk.set_tenant_language(tenant_id, default_language) */
Datum
hd_set_tenant_language(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "default_language"};
	char	   *language;
	Datum		v[2];

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	language = text_to_cstring(PG_GETARG_TEXT_PP(1));
	check_language("default_language", language);
	language = downcase_identifier(language, strlen(language), false, false);
	v[0] = PG_GETARG_DATUM(0);
	v[1] = CStringGetTextDatum(language);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	hd_exec(&set_language, v, NULL, false, 0);
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(hd_system_text_sql);

/* helpdesk.system_text(tenant_id, key, language, duration): the text a customer would get */
Datum
hd_system_text_sql(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "key"};
	char	   *key,
			   *language,
			   *result;
	int64		duration_us = 0;
	MemoryContext caller = CurrentMemoryContext,
				old;
	text	   *out;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	key = text_to_cstring(PG_GETARG_TEXT_PP(1));
	hd_check_enum("key", key, text_keys);
	language = hd_arg_text_or_null(fcinfo, 2);
	if (language)
		hd_check_length("language", language, 0, 35);
	if (!PG_ARGISNULL(3))
	{
		hd_check_interval("duration", PG_GETARG_INTERVAL_P(3), 0, 365 * USECS_PER_DAY);
		duration_us = hd_interval_usecs(PG_GETARG_INTERVAL_P(3));
	}
	SPI_connect();
	result = hd_system_text(PG_GETARG_INT64(0), key, language, duration_us);
	old = MemoryContextSwitchTo(caller);
	out = cstring_to_text(result);
	MemoryContextSwitchTo(old);
	SPI_finish();
	PG_RETURN_TEXT_P(out);
}
