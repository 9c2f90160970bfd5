/*
 * http_parse.c — the HTTP layer's pure parsers (no sockets, fuzzed in
 * fuzz/fuzz_frames.c): route patterns, Range headers, query arguments and
 * file names offered for download.
 */
#include "http_router.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * Match path against pattern ("/a/{}/b", or "/static/" then a star). On a match returns
 * the number of "{}" segments, each malloc'd into params[]; -1 otherwise
 * (params freed). A "{}" segment matches 1..200 characters without '/'.
 */
int
http_match(const char *pattern, const char *path, char *params[], int maxp)
{
	const char *p = pattern,
			   *s = path;
	int			n = 0;

	while (*p)
	{
		if (p[0] == '*' && p[1] == '\0')
			return n;
		if (p[0] == '{' && p[1] == '}')
		{
			size_t		len = strcspn(s, "/");

			if (len == 0 || len > 200 || n >= maxp)
				goto no;
			params[n] = strndup(s, len);
			n++;
			s += len;
			p += 2;
			continue;
		}
		if (*p != *s)
			goto no;
		p++;
		s++;
	}
	if (*s == '\0')
		return n;
no:
	while (n > 0)
	{
		n--;
		free(params[n]);
		params[n] = NULL;
	}
	return -1;
}

static bool
parse_pos(const char **s, int64_t *out)
{
	char	   *end;
	long long	v;

	if (!isdigit((unsigned char) **s))
		return false;
	errno = 0;
	v = strtoll(*s, &end, 10);
	if (errno)
		return false;
	*out = v;
	*s = end;
	return true;
}

/*
 * One byte range of a Range header against a body of size bytes: 1 with
 * [*first, *last] set; 0 when there is no usable single range (no header,
 * another unit, several ranges: answer the whole body, RFC 9110 allows
 * ignoring Range); -1 when unsatisfiable (416).
 */
int
http_parse_range(const char *hdr, int64_t size, int64_t *first, int64_t *last)
{
	const char *s = hdr;
	int64_t		a = -1,
				b = -1;

	if (s == NULL || strncmp(s, "bytes=", 6) != 0)
		return 0;
	s += 6;
	while (*s == ' ')
		s++;
	if (strchr(s, ',') != NULL)
		return 0;
	if (*s == '-')
	{
		/* suffix: the last N bytes */
		s++;
		if (!parse_pos(&s, &b))
			return 0;
		while (*s == ' ')
			s++;
		if (*s != '\0')
			return 0;
		if (b == 0 || size == 0)
			return -1;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return 1;
	}
	if (!parse_pos(&s, &a) || *s != '-')
		return 0;
	s++;
	if (*s != '\0' && *s != ' ' && !parse_pos(&s, &b))
		return 0;
	while (*s == ' ')
		s++;
	if (*s != '\0')
		return 0;
	if (b >= 0 && b < a)
		return 0;
	if (a >= size)
		return -1;
	*first = a;
	*last = (b < 0 || b >= size) ? size - 1 : b;
	return 1;
}

/*
 * A file name safe in a Content-Disposition header and on any file system:
 * the last path component only (no "..", no directories, either slash),
 * control characters, quotes, backslashes and ';' replaced by '_', at most
 * cap-1 bytes without cutting a UTF-8 sequence; "file" when nothing is left.
 * Returns the length written.
 */
size_t
http_safe_filename(const char *in, char *out, size_t cap)
{
	const char *base = in ? in : "";
	const char *p;
	size_t		n = 0;

	for (p = base; *p; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	while (*base == '.' || *base == ' ')
		base++;
	for (p = base; *p && n + 1 < cap; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c >= 0x80)
		{
			/* copy a whole UTF-8 sequence or stop */
			size_t		len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
			size_t		k;

			if (len == 1 || n + len + 1 > cap)
				break;
			for (k = 1; k < len; k++)
				if (((unsigned char) p[k] & 0xC0) != 0x80)
					break;
			if (k < len)
			{
				out[n++] = '_';
				continue;
			}
			memcpy(out + n, p, len);
			n += len;
			p += len - 1;
			continue;
		}
		out[n++] = (c < 0x20 || c == 0x7f || c == '"' || c == ';' || c == '%') ? '_' : (char) c;
	}
	if (n == 0)
	{
		const char *dflt = "file";

		n = strlen(dflt) < cap ? strlen(dflt) : cap - 1;
		memcpy(out, dflt, n);
	}
	out[n] = '\0';
	return n;
}

/* the value of name in "a=1&b=2" (already decoded by lws), copied to out */
bool
http_query_get(const char *query, const char *name, char *out, size_t cap)
{
	size_t		nl = strlen(name);
	const char *s = query;

	while (s && *s)
	{
		size_t		len = strcspn(s, "&");

		if (len > nl && strncmp(s, name, nl) == 0 && s[nl] == '=')
		{
			size_t		vl = len - nl - 1;

			if (vl + 1 > cap)
				return false;
			memcpy(out, s + nl + 1, vl);
			out[vl] = '\0';
			return true;
		}
		s += len;
		if (*s == '&')
			s++;
	}
	return false;
}
