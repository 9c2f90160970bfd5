/*
 * upload_read.c — upload_info(tenant_id, upload_id) and
 * upload_chunk(tenant_id, upload_id, offset, length): what helpdesk-bridge
 * reads to serve an upload (bridge/http_upload.c). The content is stored
 * EXTERNAL, so the substring of upload_chunk reads only the TOAST chunks of
 * the range. Both check the caller's tenant first; an upload not in the
 * tenant is a NULL answer, as a missing row.
 */
#include "security.h"

#include "funcapi.h"

static HdPlan info_plan = {
	"SELECT u.name, u.mime, u.size, encode(u.sha256, 'hex') FROM helpdesk.upload u "
	"WHERE u.tenant_id = $1 AND u.id = $2",
	2, {INT8OID, INT8OID}
};

static HdPlan chunk_plan = {
	"SELECT substring(u.content FROM ($3 + 1)::integer FOR $4) FROM helpdesk.upload u "
	"WHERE u.tenant_id = $1 AND u.id = $2",
	4, {INT8OID, INT8OID, INT8OID, INT4OID}
};

/* The arguments as plan parameters (NULLs pass: the answer is then NULL). */
static void
params(FunctionCallInfo fcinfo, int n, Datum *v, char *nulls)
{
	static const char *const names[] = {"tenant_id"};
	int			i;

	hd_require_args(fcinfo, 1, names);
	for (i = 0; i < n; i++)
	{
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		v[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
	}
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
}

PG_FUNCTION_INFO_V1(hd_upload_info);

Datum
hd_upload_info(PG_FUNCTION_ARGS)
{
	Datum		v[2];
	char		nulls[2];
	TupleDesc	desc;
	HeapTuple	t;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "pg_helpdesk: upload_info must return a record");
	params(fcinfo, 2, v, nulls);
	hd_exec(&info_plan, v, nulls, true, 1);
	if (SPI_processed == 0)
	{
		SPI_finish();
		PG_RETURN_NULL();
	}
	t = SPI_copytuple(SPI_tuptable->vals[0]);
	SPI_finish();
	PG_RETURN_DATUM(heap_copy_tuple_as_datum(t, BlessTupleDesc(desc)));
}

PG_FUNCTION_INFO_V1(hd_upload_chunk);

Datum
hd_upload_chunk(PG_FUNCTION_ARGS)
{
	Datum		v[4];
	char		nulls[4];
	bool		isnull = true;
	Datum		d = (Datum) 0;

	params(fcinfo, 4, v, nulls);
	hd_exec(&chunk_plan, v, nulls, true, 1);
	if (SPI_processed == 1)
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		d = SPI_datumTransfer(d, false, -1);
	SPI_finish();
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(d);
}
