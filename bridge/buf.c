/*
 * buf.c — a growable byte buffer with JSON string escaping, used to render
 * frames without building a JSON tree for each one. Allocation failure
 * aborts: the bridge cannot do anything useful without memory.
 */
#include "bridge.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
buf_reserve(Buf *b, size_t extra)
{
	size_t		want = b->len + extra + 1;

	if (want <= b->cap)
		return;
	if (b->cap == 0)
		b->cap = 256;
	while (b->cap < want)
		b->cap *= 2;
	b->data = realloc(b->data, b->cap);
	if (b->data == NULL)
	{
		fprintf(stderr, "helpdesk-bridge: out of memory\n");
		abort();
	}
}

void
buf_append(Buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_puts(Buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void
buf_printf(Buf *b, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_reserve(b, (size_t) n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t) n;
}

/* one byte of a JSON string: quote, backslash and control bytes escaped */
static void
json_byte(Buf *b, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	if (c == '"' || c == '\\')
	{
		char		e[2] = {'\\', (char) c};

		buf_append(b, e, 2);
	}
	else if (c < 0x20)
	{
		char		e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

		buf_append(b, e, 6);
	}
	else
		buf_append(b, (const char *) &c, 1);
}

/* appends s as a quoted JSON string (s is UTF-8; control bytes escaped) */
void
buf_json_string(Buf *b, const char *s)
{
	buf_append(b, "\"", 1);
	for (; *s; s++)
		json_byte(b, (unsigned char) *s);
	buf_append(b, "\"", 1);
}

/* length of the well-formed UTF-8 character at s (RFC 3629), 0 if there is none */
static size_t
utf8_char_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t		n,
				i;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4;
	else
		return 0;
	/* no overlong forms, surrogates or code points above U+10FFFF */
	if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) ||
		(c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;			/* also stops at the terminating NUL */
	return n;
}

/*
 * Text from elsewhere (the database's error messages) as a JSON string that
 * is always valid UTF-8 and bounded: at most max bytes of s, cut before a
 * whole character and followed by "\u2026" (an ellipsis) when cut; a byte
 * that does not start a well-formed character becomes U+FFFD. A text frame
 * must be valid UTF-8 (RFC 6455): browsers and ws drop the socket otherwise.
 */
void
buf_json_text(Buf *b, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		used = 0;

	buf_append(b, "\"", 1);
	while (*p)
	{
		size_t		n = utf8_char_len(p);

		if (used + (n ? n : 1) > max)
		{
			buf_puts(b, "\\u2026");
			break;
		}
		if (n == 0)
		{
			buf_puts(b, "\\ufffd");
			n = 1;
		}
		else if (n == 1)
			json_byte(b, *p);
		else
			buf_append(b, (const char *) p, n);
		p += n;
		used += n;
	}
	buf_append(b, "\"", 1);
}

void
buf_free(Buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
