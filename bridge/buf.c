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

/* appends s as a quoted JSON string (s is UTF-8; control bytes escaped) */
void
buf_json_string(Buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	buf_append(b, "\"", 1);
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

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
	buf_append(b, "\"", 1);
}

void
buf_free(Buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
