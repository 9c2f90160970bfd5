/*
 * validate.c — the checks every SQL-callable function applies to its
 * arguments before it writes anything, and the one way user input is quoted
 * into error messages.
 *
 * One helper per kind of argument, so that a rule is right once:
 *   hd_interval_arg  interval arguments: exact (128-bit) length, range check,
 *                    and the normalised value to store (what was checked is
 *                    what the dispatcher later reads)
 *   hd_check_range   integer arguments: one message for every range
 *   hd_parse_int64   integers written as text (also inside jsonb): strict,
 *                    range-checked, never truncated the way atoi() does
 *   hd_json_int      a jsonb number that must be a whole number in a range
 *   hd_check_json_limits  free-form jsonb documents: size and nesting bounds
 *   hd_quote         a user value inside an error message: bounded, cut at a
 *                    character boundary
 */
#include "hd.h"

#include "common/int.h"
#include "common/int128.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

/*
 * A user value quoted into a message: in double quotes, cut to at most
 * HD_QUOTE_MAX_BYTES at a character boundary (pg_mbcliplen, so a multibyte
 * character is never split and the message stays valid in the database
 * encoding), followed by "..." and the value's length when it was cut. ASCII
 * only is added, so the result is valid in every server encoding. A NULL
 * value is written as NULL.
 */
static char *
clip_value(const char *s, const char *quote)
{
	int			len,
				keep;

	if (s == NULL)
		return pstrdup("NULL");
	len = strlen(s);
	if (len <= HD_QUOTE_MAX_BYTES)
		return psprintf("%s%s%s", quote, s, quote);
	keep = pg_mbcliplen(s, len, HD_QUOTE_MAX_BYTES);
	return psprintf("%s%.*s%s... (%d characters)", quote, keep, s, quote,
					pg_mbstrlen_with_len(s, len));
}

char *
hd_quote(const char *s)
{
	return clip_value(s, "\"");
}

/* The same without the quotes, for numbers as the user wrote them. */
char *
hd_clip(const char *s)
{
	return clip_value(s, "");
}

/* A whole message cut at a character boundary (the last line of defence). */
char *
hd_clip_message(char *msg, int max_bytes)
{
	int			len = strlen(msg);

	if (len > max_bytes)
	{
		int			keep = pg_mbcliplen(msg, len, max_bytes - 3);

		strcpy(msg + keep, "...");
	}
	return msg;
}

/*
 * The exact length of an interval in microseconds, a month counted as 30
 * days and a day as 24 hours — the rule PostgreSQL's own interval comparison
 * (interval_cmp_value) uses, in the same 128-bit arithmetic, so no
 * combination of months, days and microseconds can wrap around.
 */
static INT128
interval_span(const Interval *i)
{
	INT128		span = int64_to_int128(i->time);

	int128_add_int64_mul_int64(&span, (int64) i->month * DAYS_PER_MONTH + i->day,
							   USECS_PER_DAY);
	return span;
}

/*
 * The length in microseconds, saturated to the int64 range: an interval too
 * long (or too negative) for int64 comes back as PG_INT64_MAX (MIN), which
 * every range check then refuses.
 */
int64
hd_interval_usecs(const Interval *i)
{
	INT128		span = interval_span(i);

	if (int128_compare(span, int64_to_int128(PG_INT64_MAX)) > 0)
		return PG_INT64_MAX;
	if (int128_compare(span, int64_to_int128(PG_INT64_MIN)) < 0)
		return PG_INT64_MIN;
	return int128_to_int64(span);
}

static void
interval_out_of_range(const char *what, int64 min_usecs, int64 max_usecs, bool zero_ok)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s must be between %lld and %lld seconds", what,
					(long long) (min_usecs / USECS_PER_SEC),
					(long long) (max_usecs / USECS_PER_SEC)),
			 zero_ok ? errhint("'0 s' clears the setting.") : 0));
}

/* Range check of an interval that is not stored (NULL passes). */
void
hd_check_interval(const char *what, Interval *i, int64 min_usecs, int64 max_usecs)
{
	int64		u;

	if (i == NULL)
		return;
	u = hd_interval_usecs(i);
	if (u < min_usecs || u > max_usecs)
		interval_out_of_range(what, min_usecs, max_usecs, false);
}

/*
 * Interval argument argno of the calling function: NULL passes (returns 0
 * and leaves *stored alone). Otherwise its exact length must lie in
 * [min_usecs, max_usecs], or be exactly 0 when zero_ok (the "clear it"
 * value). Returns the length; when stored is not NULL, *stored becomes the
 * same length as a microseconds-only interval — the value to bind into the
 * statement that stores it, so that later date arithmetic (now() + it,
 * extract(epoch)) sees exactly the length that was checked and not a
 * calendar-dependent '1 mon -30 days'.
 */
int64
hd_interval_arg(FunctionCallInfo fcinfo, int argno, const char *what,
				int64 min_usecs, int64 max_usecs, bool zero_ok, Datum *stored)
{
	int64		u;

	if (PG_ARGISNULL(argno))
		return 0;
	u = hd_interval_usecs(PG_GETARG_INTERVAL_P(argno));
	if (!(zero_ok && u == 0) && (u < min_usecs || u > max_usecs))
		interval_out_of_range(what, min_usecs, max_usecs, zero_ok);
	if (stored)
	{
		Interval   *n = palloc0(sizeof(Interval));

		n->time = u;
		*stored = IntervalPGetDatum(n);
	}
	return u;
}

/*
 * An integer argument (or a count the caller derived) must lie in
 * [min, max]: 22023 naming it, its range and the value.
 */
void
hd_check_range(const char *what, int64 v, int64 min, int64 max)
{
	if (v < min || v > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %lld and %lld, got %lld", what,
						(long long) min, (long long) max, (long long) v)));
}

/*
 * s as a whole number in [min, max]: optional '-', then decimal digits only
 * (no spaces, sign '+', fraction or exponent). Overflow is detected, not
 * wrapped: "4294967297" is 4294967297, never 1. False when s is anything
 * else or out of range.
 */
bool
hd_parse_int64(const char *s, int64 min, int64 max, int64 *out)
{
	bool		neg = (*s == '-');
	int64		v = 0;
	const char *p = neg ? s + 1 : s;

	if (*p == '\0')
		return false;
	for (; *p; p++)
	{
		if (*p < '0' || *p > '9')
			return false;
		/* accumulate negatively: the int64 range has one more negative value */
		if (pg_mul_s64_overflow(v, 10, &v) || pg_sub_s64_overflow(v, *p - '0', &v))
			return false;
	}
	if (!neg && pg_sub_s64_overflow(0, v, &v))
		return false;
	if (v < min || v > max)
		return false;
	*out = v;
	return true;
}

/*
 * A jsonb value that must be a whole number in [min, max] (1, 10 and 1e1
 * are whole numbers; 1.5, 1.0 and "1" are not). *text, when not NULL,
 * receives the number as written by numeric_out (for messages: quote it).
 */
bool
hd_json_int(const JsonbValue *v, int64 min, int64 max, int64 *out, char **text)
{
	char	   *num;

	if (text)
		*text = NULL;
	if (v->type != jbvNumeric)
		return false;
	num = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	if (text)
		*text = num;
	return hd_parse_int64(num, min, max, out);
}

/*
 * Free-form jsonb documents stored on our rows (tenant settings, customer
 * and session attributes): at most HD_MAX_JSON_BYTES in jsonb's binary form
 * and HD_MAX_JSON_DEPTH levels of nested objects/arrays (the top-level object
 * is level 1). SQLSTATE 54000 like any other size limit. NULL passes.
 */
void
hd_check_json_limits(const char *what, Jsonb *j)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			depth = 0;

	if (j == NULL)
		return;
	if (VARSIZE(j) > HD_MAX_JSON_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s is %lu bytes, more than the limit of %d", what,
						(unsigned long) VARSIZE(j), HD_MAX_JSON_BYTES),
				 errhint("Keep large data in your own tables and store a reference.")));
	it = JsonbIteratorInit(&j->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_ARRAY || tok == WJB_BEGIN_OBJECT)
		{
			if (++depth > HD_MAX_JSON_DEPTH)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("%s nests objects and arrays more than %d levels deep",
								what, HD_MAX_JSON_DEPTH)));
		}
		else if (tok == WJB_END_ARRAY || tok == WJB_END_OBJECT)
			depth--;
	}
}

/* A jsonb document that must be an object, within the limits above. */
void
hd_check_json_document(const char *what, Jsonb *j)
{
	hd_require_json_object(what, j);
	hd_check_json_limits(what, j);
}
