/*
 * http_claim_rows.c — the claim loop that the row-per-job sources of the
 * HTTP engine share (bot jobs, trigger-task callbacks): one job per due row
 * their claimable query returned, each row marked as sending once it has
 * its job.
 */
#include "http_engine.h"

/*
 * See http_engine.h. A row whose endpoint is at its cap gets no job and is
 * not marked: it stays due for a later claim.
 */
int
hd_http_claim_rows(HdHttpClaim *claim, SPITupleTable *rows, uint64 n,
				   int endpoint_col, int attempt_col, HdPlan *mark_sending)
{
	uint64		i;
	int			taken = 0;

	for (i = 0; i < n; i++)
	{
		bool		isnull;
		int64		tenant_id = DatumGetInt64(SPI_getbinval(rows->vals[i], rows->tupdesc, 1, &isnull));
		int64		row_id = DatumGetInt64(SPI_getbinval(rows->vals[i], rows->tupdesc, 2, &isnull));
		int64		endpoint_id = endpoint_col > 0 ?
			DatumGetInt64(SPI_getbinval(rows->vals[i], rows->tupdesc, endpoint_col, &isnull)) : 0;
		int			attempt = DatumGetInt32(SPI_getbinval(rows->vals[i], rows->tupdesc, attempt_col, &isnull));
		HdHttpJob  *job = hd_http_job_new(claim, tenant_id, row_id, endpoint_id, 0);
		Datum		k[2] = {Int64GetDatum(tenant_id), Int64GetDatum(row_id)};

		if (job == NULL)
			continue;
		job->attempt = attempt;
		hd_http_exec(mark_sending, k, NULL, false, 0);
		taken++;
	}
	return taken;
}
