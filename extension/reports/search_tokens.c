/*
 * search_tokens.c — the words of a message as the search index keys them.
 *
 * Chinese, Japanese and Korean are written without spaces, and pg_trgm
 * cannot serve them (bench/reports_ops.md, search: under the C locale it finds
 * no trigram in Han text at all, and a trigram never matches a one- or
 * two-character query anyway). So a run of CJK characters gives every
 * character (u:) and every pair of neighbours (b:), and a run of other
 * letters and digits gives the lowercased word (w:). Every key starts with
 * the tenant id, so one GIN index serves all tenants and a query reads only
 * its own tenant's posting lists.
 *
 * A query is keyed the same way, except that a CJK run of two or more
 * characters gives only its pairs (more selective than the characters):
 * the pairs of 退款申请 also match 退款 ... 申请, so search.c rechecks runs
 * of three or more characters against the text.
 */
#include "search.h"

#include "catalog/pg_type_d.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"

#define MAX_WORD_BYTES 64

/* Han (with extensions A and B, compatibility), kana, Hangul syllables */
static bool
is_cjk(pg_wchar c)
{
	return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
		(c >= 0xF900 && c <= 0xFAFF) || (c >= 0x3040 && c <= 0x30FF) ||
		(c >= 0xAC00 && c <= 0xD7AF) || (c >= 0x20000 && c <= 0x2A6DF);
}

/* letters and digits of other scripts: ASCII alnum, Latin-1 and later letters */
static bool
is_word(pg_wchar c)
{
	if (c < 0x80)
		return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
	return c >= 0xC0 && !is_cjk(c) &&
		!(c >= 0x2000 && c <= 0x2BFF) &&	/* punctuation, symbols, arrows */
		!(c >= 0x3000 && c <= 0x303F) &&	/* CJK punctuation */
		!(c >= 0xFF00 && c <= 0xFF65);	/* full-width forms */
}

static int
cmp_text(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static void
add_key(HdSearchKeys *k, int64 tenant_id, char kind, const char *s, int len)
{
	if (k->n == k->cap)
	{
		k->cap = k->cap ? k->cap * 2 : 32;
		k->keys = k->keys ? repalloc(k->keys, sizeof(char *) * k->cap) : palloc(sizeof(char *) * k->cap);
	}
	k->keys[k->n++] = psprintf("%lld%c%.*s", (long long) tenant_id, kind, len, s);
}

static void
add_run(HdSearchKeys *k, const char *s, int len)
{
	if (k->nruns == k->runcap)
	{
		k->runcap = k->runcap ? k->runcap * 2 : 8;
		k->runs = k->runs ? repalloc(k->runs, sizeof(char *) * k->runcap) : palloc(sizeof(char *) * k->runcap);
	}
	k->runs[k->nruns++] = pnstrdup(s, len);
}

/*
 * Fills k with the sorted, distinct keys of text (UTF-8). for_query: CJK
 * runs give pairs only (a single character its own key), and the runs of
 * three or more characters are kept in k->runs for the recheck.
 */
void
hd_search_keys(int64 tenant_id, const char *text, bool for_query, HdSearchKeys *k)
{
	const unsigned char *p = (const unsigned char *) text;
	int			i,
				j;

	memset(k, 0, sizeof(*k));
	while (*p)
	{
		int			l = pg_utf_mblen(p);
		pg_wchar	c = utf8_to_unicode(p);

		if (is_cjk(c))
		{
			const unsigned char *start = p,
					   *prev = NULL;
			int			nchars = 0;

			while (*p && is_cjk(utf8_to_unicode(p)))
			{
				int			cl = pg_utf_mblen(p);

				if (!for_query)
					add_key(k, tenant_id, 'u', (const char *) p, cl);
				if (prev != NULL)
					add_key(k, tenant_id, 'b', (const char *) prev, (int) (p - prev) + cl);
				prev = p;
				p += cl;
				nchars++;
			}
			if (for_query && nchars == 1)
				add_key(k, tenant_id, 'u', (const char *) start, (int) (p - start));
			if (for_query && nchars >= 3)
				add_run(k, (const char *) start, (int) (p - start));
		}
		else if (is_word(c))
		{
			StringInfoData w;

			initStringInfo(&w);
			while (*p && is_word(utf8_to_unicode(p)))
			{
				int			cl = pg_utf_mblen(p);

				if (w.len + cl <= MAX_WORD_BYTES)
				{
					if (cl == 1 && *p >= 'A' && *p <= 'Z')
						appendStringInfoChar(&w, (char) (*p + ('a' - 'A')));
					else
						appendBinaryStringInfo(&w, (const char *) p, cl);
				}
				p += cl;
			}
			add_key(k, tenant_id, 'w', w.data, w.len);
			pfree(w.data);
		}
		else
			p += l;
	}
	if (k->n > 1)
	{
		qsort(k->keys, k->n, sizeof(char *), cmp_text);
		for (i = 1, j = 1; i < k->n; i++)
			if (strcmp(k->keys[i], k->keys[j - 1]) != 0)
				k->keys[j++] = k->keys[i];
		k->n = j;
	}
}

Datum
hd_search_text_array(char **items, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(items[i]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(hd_search_tokens);

/* helpdesk.search_tokens(tenant_id, body): the index keys (IMMUTABLE, STRICT) */
Datum
hd_search_tokens(PG_FUNCTION_ARGS)
{
	HdSearchKeys k;
	char	   *body = text_to_cstring(PG_GETARG_TEXT_PP(1));

	hd_search_keys(PG_GETARG_INT64(0), body, false, &k);
	PG_RETURN_DATUM(hd_search_text_array(k.keys, k.n));
}
