/*
 * calendar_parse.c — checks upsert_calendar's time zone, weekly hours and
 * holidays, and compiles them into an HdCalendar. The same code compiles a
 * stored row when a backend loads it (calendar_cache.c), so what was
 * accepted is exactly what is computed with.
 */
#include "calendar.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/datetime.h"

static const char *const day_keys[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/* IANA names that contain digits (everything else with a digit is POSIX TZ syntax) */
static const char *const digit_zones[] = {"EST5EDT", "CST6CDT", "MST7MDT", "PST8PDT",
	"GMT0", "GMT+0", "GMT-0", NULL};

/*
 * The zone by IANA name, or 22023. pg_tzset would also accept POSIX TZ
 * strings ("FOO+3", "EST5EDT,M3.2.0,M11.1.0") whose rules are whatever the
 * string says; a calendar names a real zone, so those are refused.
 */
pg_tz *
hd_calendar_zone(const char *name)
{
	const char *p;
	bool		digits = false;
	bool		shape = (name[0] != '\0' && strlen(name) <= HD_CAL_MAX_TZ_BYTES &&
						 ((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z')));
	pg_tz	   *tz = NULL;

	for (p = name; shape && *p; p++)
	{
		if (*p >= '0' && *p <= '9')
			digits = true;
		else if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
				   *p == '_' || *p == '/' || *p == '+' || *p == '-'))
			shape = false;
		else if (*p == '/' && (p[1] == '/' || p[1] == '\0'))
			shape = false;
	}
	if (shape && digits && pg_strncasecmp(name, "Etc/", 4) != 0)
	{
		int			i;

		shape = false;
		for (i = 0; digit_zones[i]; i++)
			if (pg_strcasecmp(name, digit_zones[i]) == 0)
				shape = true;
	}
	if (shape)
		tz = pg_tzset(name);
	if (tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time_zone %s is not a known IANA time zone", hd_quote(name)),
				 errhint("Use a name from pg_timezone_names, such as 'Europe/Berlin' or 'Asia/Shanghai'.")));
	return tz;
}

/*
 * "HH:MM" or "HH:MM:SS" as seconds after midnight; "24:00" (and
 * "24:00:00") only where allow_24 (an interval's end). -1 when malformed.
 */
static int32
parse_clock(const char *s, bool allow_24)
{
	int			len = strlen(s);
	int			h,
				m,
				sec = 0;

#define D(i) (s[i] >= '0' && s[i] <= '9')
	if (!((len == 5 || len == 8) && D(0) && D(1) && s[2] == ':' && D(3) && D(4)))
		return -1;
	if (len == 8 && !(s[5] == ':' && D(6) && D(7)))
		return -1;
#undef D
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (len == 8)
		sec = (s[6] - '0') * 10 + (s[7] - '0');
	if (h == 24 && m == 0 && sec == 0)
		return allow_24 ? 86400 : -1;
	if (h > 23 || m > 59 || sec > 59)
		return -1;
	return h * 3600 + m * 60 + sec;
}

static char *
clock_text(int32 secs)
{
	if (secs % 60)
		return psprintf("%02d:%02d:%02d", secs / 3600, secs / 60 % 60, secs % 60);
	return psprintf("%02d:%02d", secs / 3600, secs / 60 % 60);
}

static int
cmp_interval(const void *a, const void *b)
{
	const HdCalInterval *x = a,
			   *y = b;

	return (x->start > y->start) - (x->start < y->start);
}

static char *
json_string(JsonbValue *v)
{
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* One weekday's array of [start, end] pairs, sorted; overlaps refused, touching ones merged. */
static void
parse_day(int wd, JsonbValue *arr, HdCalendar *cal)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	HdCalInterval iv[HD_CAL_MAX_PER_DAY];
	int			n = 0,
				i,
				out;
	const char *day = day_keys[wd];

	if (arr->type != jbvBinary || !JsonContainerIsArray(arr->val.binary.data))
		hd_invalid("hours.%s must be an array of [\"HH:MM\", \"HH:MM\"] pairs", day);
	it = JsonbIteratorInit(arr->val.binary.data);
	tok = JsonbIteratorNext(&it, &v, true);	/* WJB_BEGIN_ARRAY */
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbIterator *pit;
		JsonbValue	pv;
		char	   *txt[2] = {NULL, NULL};
		int			k = 0;

		if (tok != WJB_ELEM)
			continue;
		if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
			hd_invalid("hours.%s must be an array of [\"HH:MM\", \"HH:MM\"] pairs", day);
		pit = JsonbIteratorInit(v.val.binary.data);
		while ((tok = JsonbIteratorNext(&pit, &pv, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			if (pv.type != jbvString || k >= 2)
			{
				k = 3;
				break;
			}
			txt[k++] = json_string(&pv);
		}
		if (k != 2)
			hd_invalid("hours.%s: each interval is a pair of two \"HH:MM\" strings", day);
		if (n >= HD_CAL_MAX_PER_DAY)
			hd_invalid("hours.%s has more than %d intervals", day, HD_CAL_MAX_PER_DAY);
		iv[n].start = parse_clock(txt[0], false);
		iv[n].end = parse_clock(txt[1], true);
		if (iv[n].start < 0 || iv[n].end < 0)
			hd_invalid("hours.%s: %s–%s is not a valid interval of \"HH:MM\" times (00:00 to 24:00)",
					   day, hd_quote(txt[0]), hd_quote(txt[1]));
		if (iv[n].end <= iv[n].start)
			hd_invalid("hours.%s: interval %s–%s ends before it starts",
					   day, hd_quote(txt[0]), hd_quote(txt[1]));
		n++;
	}
	qsort(iv, n, sizeof(HdCalInterval), cmp_interval);
	out = 0;
	for (i = 0; i < n; i++)
	{
		if (out > 0 && iv[i].start < cal->iv[wd][out - 1].end)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("hours.%s: intervals %s–%s and %s–%s overlap", day,
							clock_text(cal->iv[wd][out - 1].start), clock_text(cal->iv[wd][out - 1].end),
							clock_text(iv[i].start), clock_text(iv[i].end)),
					 errhint("Give each opening period once; an interval may start where another ends.")));
		if (out > 0 && iv[i].start == cal->iv[wd][out - 1].end)
			cal->iv[wd][out - 1].end = iv[i].end;
		else
			cal->iv[wd][out++] = iv[i];
	}
	cal->nint[wd] = out;
}

/*
 * hours: the string "24/7", or an object of weekday keys (mon … sun) whose
 * values are arrays of [start, end] pairs; a day left out is closed. A
 * calendar with no open time at all is refused (nothing could ever be due).
 */
void
hd_calendar_parse_hours(Jsonb *hours, HdCalendar *cal)
{
	JsonbIterator *it;
	JsonbValue	k,
				v;
	JsonbIteratorToken tok;
	int			wd,
				total = 0;

	memset(cal->nint, 0, sizeof(cal->nint));
	cal->always_open = false;
	if (JB_ROOT_IS_SCALAR(hours))
	{
		JsonbValue	s;

		if (JsonbExtractScalar(&hours->root, &s) && s.type == jbvString &&
			s.val.string.len == 4 && memcmp(s.val.string.val, "24/7", 4) == 0)
		{
			cal->always_open = true;
			return;
		}
		hd_invalid("hours must be \"24/7\" or an object like {\"mon\": [[\"09:00\", \"18:00\"]], …}");
	}
	if (!JB_ROOT_IS_OBJECT(hours))
		hd_invalid("hours must be \"24/7\" or an object like {\"mon\": [[\"09:00\", \"18:00\"]], …}");
	it = JsonbIteratorInit(&hours->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		key = json_string(&k);
		for (wd = 0; wd < 7; wd++)
			if (strcmp(key, day_keys[wd]) == 0)
				break;
		if (wd == 7)
			hd_invalid("hours has an unknown key %s (the keys are mon, tue, wed, thu, fri, sat, sun)",
					   hd_quote(key));
		tok = JsonbIteratorNext(&it, &v, true);
		parse_day(wd, &v, cal);
	}
	for (wd = 0; wd < 7; wd++)
		total += cal->nint[wd];
	if (total == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the calendar has no opening hours"),
				 errhint("Give at least one interval, such as {\"mon\": [[\"09:00\", \"18:00\"]]}, or \"24/7\".")));
}

static int
cmp_int32(const void *a, const void *b)
{
	int32		x = *(const int32 *) a,
				y = *(const int32 *) b;

	return (x > y) - (x < y);
}

/* "YYYY-MM-DD" (a real date, years 1900..2999) as days since 2000-01-01, or false. */
static bool
parse_date(const char *s, int32 *out)
{
	int			y,
				m,
				d,
				yy,
				mm,
				dd;
	int			i;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !(s[i] >= '0' && s[i] <= '9'))
			return false;
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (y < 1900 || y > 2999 || m < 1 || m > 12 || d < 1 || d > 31)
		return false;
	j2date(date2j(y, m, d), &yy, &mm, &dd);
	if (yy != y || mm != m || dd != d)
		return false;
	*out = date2j(y, m, d) - POSTGRES_EPOCH_JDATE;
	return true;
}

/*
 * holidays: an array of {"date": "YYYY-MM-DD", "name": "…"} (name optional,
 * at most 200 characters); each date is closed all day in the calendar's
 * zone. The dates go sorted and without repeats into cal (allocated in cxt).
 */
void
hd_calendar_parse_holidays(Jsonb *holidays, HdCalendar *cal, MemoryContext cxt)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			n = 0,
				i,
				out;
	int32	   *dates;

	if (!JB_ROOT_IS_ARRAY(holidays) || JB_ROOT_IS_SCALAR(holidays))
		hd_invalid("holidays must be an array like [{\"date\": \"2026-10-01\", \"name\": \"National Day\"}]");
	if (JB_ROOT_COUNT(holidays) > HD_CAL_MAX_HOLIDAYS)
		hd_invalid("holidays has %d entries, more than %d", JB_ROOT_COUNT(holidays),
				   HD_CAL_MAX_HOLIDAYS);
	dates = MemoryContextAlloc(cxt, sizeof(int32) * Max(1, JB_ROOT_COUNT(holidays)));
	it = JsonbIteratorInit(&holidays->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbValue *date,
				   *name;
		char	   *txt;

		if (tok != WJB_ELEM)
			continue;
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			hd_invalid("holidays[%d] must be an object {\"date\": \"YYYY-MM-DD\", \"name\": \"…\"}", n);
		date = getKeyJsonValueFromContainer(v.val.binary.data, "date", 4, NULL);
		name = getKeyJsonValueFromContainer(v.val.binary.data, "name", 4, NULL);
		if (date == NULL || date->type != jbvString)
			hd_invalid("holidays[%d] needs a \"date\": \"YYYY-MM-DD\"", n);
		txt = json_string(date);
		if (!parse_date(txt, &dates[n]))
			hd_invalid("holidays[%d].date %s is not a date YYYY-MM-DD between 1900 and 2999",
					   n, hd_quote(txt));
		if (name != NULL && name->type != jbvNull &&
			(name->type != jbvString ||
			 pg_mbstrlen_with_len(name->val.string.val, name->val.string.len) > 200))
			hd_invalid("holidays[%d].name must be a string of at most 200 characters", n);
		n++;
	}
	qsort(dates, n, sizeof(int32), cmp_int32);
	out = 0;
	for (i = 0; i < n; i++)
		if (out == 0 || dates[i] != dates[out - 1])
			dates[out++] = dates[i];
	cal->holidays = dates;
	cal->nholidays = out;
}
