/*
 * search.h — message search: the keys (search_tokens.c), the index job and
 * the query (search.c).
 */
#ifndef HD_SEARCH_H
#define HD_SEARCH_H

#include "hd.h"

typedef struct HdSearchKeys
{
	char	  **keys;			/* sorted, distinct */
	int			n;
	int			cap;
	char	  **runs;			/* query only: CJK runs of 3+ characters to recheck */
	int			nruns;
	int			runcap;
} HdSearchKeys;

extern void hd_search_keys(int64 tenant_id, const char *text, bool for_query, HdSearchKeys *k);
extern Datum hd_search_text_array(char **items, int n);

#endif							/* HD_SEARCH_H */
