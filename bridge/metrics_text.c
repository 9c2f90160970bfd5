/*
 * metrics_text.c — one series of helpdesk.metrics() in the Prometheus text
 * exposition format (0.0.4): the labels come as a JSON object (the row's
 * jsonb), their values escaped as the format requires. No I/O, so the fuzz
 * target runs it on arbitrary input.
 */
#include "bridge.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

#include <jansson.h>

/* a metric or label name as the format allows: [a-zA-Z_:][a-zA-Z0-9_:]* (no ':' in labels) */
static int
name_ok(const char *s, int colon)
{
	if (s == NULL || *s == '\0' || isdigit((unsigned char) *s))
		return 0;
	for (; *s; s++)
		if (!(isalnum((unsigned char) *s) || *s == '_' || (colon && *s == ':')) ||
			(unsigned char) *s >= 0x80)
			return 0;
	return 1;
}

/* a label value: backslash, double quote and newline escaped */
static void
put_label_value(Buf *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
	{
		if (s[i] == '\\')
			buf_puts(b, "\\\\");
		else if (s[i] == '"')
			buf_puts(b, "\\\"");
		else if (s[i] == '\n')
			buf_puts(b, "\\n");
		else
			buf_append(b, s + i, 1);
	}
}

/* HELP text: backslash and newline escaped */
static void
put_help(Buf *b, const char *s)
{
	for (; *s; s++)
	{
		if (*s == '\\')
			buf_puts(b, "\\\\");
		else if (*s == '\n')
			buf_puts(b, "\\n");
		else
			buf_append(b, s, 1);
	}
}

/*
 * Appends the HELP and TYPE lines (when header is set: the first series of
 * a metric) and the sample. Returns 0, or -1 and appends nothing when the
 * name or a label is not valid in the format (the caller logs and skips).
 */
int
metrics_text_series(Buf *b, int header, const char *metric, const char *type,
					const char *help, const char *labels_json, size_t labels_len, double value)
{
	json_t	   *labels = NULL;
	const char *key;
	json_t	   *v;
	size_t		start = b->len;
	int			n = 0;

	if (!name_ok(metric, 1) || type == NULL ||
		(strcmp(type, "gauge") != 0 && strcmp(type, "counter") != 0))
		return -1;
	if (labels_json != NULL && labels_len > 0)
	{
		labels = json_loadb(labels_json, labels_len, 0, NULL);
		if (labels == NULL || !json_is_object(labels))
		{
			json_decref(labels);
			return -1;
		}
	}
	if (header)
	{
		buf_printf(b, "# HELP %s ", metric);
		put_help(b, help ? help : "");
		buf_printf(b, "\n# TYPE %s %s\n", metric, type);
	}
	buf_puts(b, metric);
	if (labels != NULL && json_object_size(labels) > 0)
	{
		buf_puts(b, "{");
		json_object_foreach(labels, key, v)
		{
			if (!name_ok(key, 0) || strncmp(key, "__", 2) == 0 || !json_is_string(v))
			{
				json_decref(labels);
				b->len = start;
				return -1;
			}
			buf_printf(b, "%s%s=\"", n++ ? "," : "", key);
			put_label_value(b, json_string_value(v), json_string_length(v));
			buf_puts(b, "\"");
		}
		buf_puts(b, "}");
	}
	json_decref(labels);
	if (isnan(value))
		buf_puts(b, " NaN\n");
	else if (isinf(value))
		buf_puts(b, value > 0 ? " +Inf\n" : " -Inf\n");
	else
		buf_printf(b, " %.15g\n", value);
	return 0;
}
