/*
 * import.h — what the bulk import's files share (import.c: the import's life
 * and its errors; import_customer.c: customers, set-based; import_rows.c:
 * agents, queues and quick replies, row by row through their upsert
 * functions).
 */
#ifndef HD_IMPORT_H
#define HD_IMPORT_H

#include "hd.h"

/* the errors found so far, one per line, written to import_error at the end */
typedef struct ImportErrors
{
	int			n;
	int			cap;
	int			flushed;		/* the first this many are in import_error */
	int64	   *lines;
	char	  **fields;
	char	  **messages;
} ImportErrors;

typedef struct ImportResult
{
	int64		rows;			/* staged rows */
	int64		inserted;
	int64		updated;
} ImportResult;

extern void hd_import_error(ImportErrors *e, int64 line, const char *field, const char *fmt,...)
			pg_attribute_printf(4, 5);
extern void hd_import_flush_errors(int64 tenant_id, int64 import_id, ImportErrors *e);

/* each validates every staged row, records the errors, and (unless
 * !apply_with_errors and there are errors) writes the valid rows */
extern void hd_import_customers(int64 tenant_id, int64 import_id, bool skip_invalid,
								ImportErrors *e, ImportResult *r);
extern void hd_import_rows(const char *kind, int64 tenant_id, int64 import_id, bool skip_invalid,
						   ImportErrors *e, ImportResult *r);

#endif							/* HD_IMPORT_H */
