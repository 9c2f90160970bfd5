/*
 * upload_attachment.c — _upload_attachment(tenant_id, attachment, base_url):
 * a message attachment that names an upload ({"upload_id": n}) completed
 * from the tenant's upload: the bridge's stable URL, name, type and size.
 * player_call uses it for every posted attachment before the message is
 * written, so a player cannot name another tenant's file (HD404).
 */
#include "security.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"

static HdPlan complete_plan = {
	"SELECT $3 || jsonb_build_object('url', $4 || '/api/v1/uploads/' || u.id, "
	"'name', coalesce($3 ->> 'name', u.name), 'mime', u.mime, 'size', u.size) "
	"FROM helpdesk.upload u WHERE u.tenant_id = $1 AND u.id = $2",
	4, {INT8OID, INT8OID, JSONBOID, TEXTOID}
};

/*
 * The completed attachment (palloc'd in the caller's context), or the
 * attachment itself when it names no upload. Opens its own SPI connection,
 * so it may be called inside another.
 */
Jsonb *
hd_upload_attachment(int64 tenant_id, Jsonb *attachment, const char *base_url)
{
	char	   *idtext;
	Datum		v[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	bool		isnull;
	Datum		d;

	SPI_connect();
	hd_require_tenant(tenant_id);
	if (attachment == NULL || !JB_ROOT_IS_OBJECT(attachment) ||
		!hd_jsonb_has(attachment, "upload_id"))
	{
		SPI_finish();
		return attachment;
	}
	if (hd_jsonb_field_type(attachment, "upload_id") != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("attachment.upload_id must be a number")));
	/* the SQL cast (->> then ::bigint): 1.5 or 1e30 raise as they did */
	idtext = hd_jsonb_field_text(attachment, "upload_id");
	v[0] = Int64GetDatum(tenant_id);
	v[1] = DirectFunctionCall1(int8in, CStringGetDatum(idtext));
	v[2] = JsonbPGetDatum(attachment);
	if (base_url != NULL)
		v[3] = CStringGetTextDatum(base_url);
	else
		nulls[3] = 'n';
	hd_exec(&complete_plan, v, nulls, true, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_NOT_FOUND),
				 errmsg("upload %s does not exist in tenant %lld",
						hd_clip(idtext), (long long) tenant_id)));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	d = SPI_datumTransfer(d, false, -1);
	SPI_finish();
	return DatumGetJsonbP(d);
}

PG_FUNCTION_INFO_V1(hd_upload_attachment_sql);

Datum
hd_upload_attachment_sql(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id"};
	Jsonb	   *r;

	hd_require_args(fcinfo, 1, names);
	r = hd_upload_attachment(PG_GETARG_INT64(0), PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1),
							 hd_arg_text_or_null(fcinfo, 2));
	if (r == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(r);
}
