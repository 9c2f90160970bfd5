/*
 * upload_attachment.c — _upload_attachment(tenant_id, attachment, base_url):
 * a message attachment that names an upload ({"upload_id": n}) completed
 * from the tenant's upload: the bridge's stable URL, name, type and size.
 * player_call uses it for every posted attachment before the message is
 * written, so a player cannot name another tenant's file (HD404). Also the
 * check and completion of such an attachment on every new chat or ticket
 * message (core's hd_attachment_hook) and on a row's changed attachment (a
 * BEFORE UPDATE trigger).
 */
#include "security.h"
#include "message.h"

#include "commands/trigger.h"
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
 * so it may be called inside another. The caller has checked the tenant
 * (player_call's comes from the verified signature).
 */
Jsonb *
hd_upload_attachment(int64 tenant_id, Jsonb *attachment, const char *base_url)
{
	char	   *idtext;
	Datum		v[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	bool		isnull;
	Datum		d;

	if (attachment == NULL || !JB_ROOT_IS_OBJECT(attachment) ||
		!hd_jsonb_has(attachment, "upload_id"))
		return attachment;
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
	SPI_connect();
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
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	SPI_finish();
	r = hd_upload_attachment(PG_GETARG_INT64(0), PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1),
							 hd_arg_text_or_null(fcinfo, 2));
	if (r == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(r);
}

static HdPlan row_plan = {
	"SELECT $2 || jsonb_build_object('name', coalesce($2 ->> 'name', u.name), "
	"'mime', u.mime, 'size', u.size) "
	"FROM helpdesk.upload u WHERE u.tenant_id = $1 AND u.id = $3",
	3, {INT8OID, JSONBOID, INT8OID}
};

/*
 * An attachment naming an upload, checked and completed for a message row of
 * the tenant: the upload must be the tenant's (HD404), and its name (unless
 * the attachment names one), type and size are written into the attachment,
 * so a client cannot claim another type or size. Any other attachment is
 * returned as it is. Opens its own SPI connection; the result is palloc'd in
 * the caller's context.
 */
static Jsonb *
attachment_complete(int64 tenant_id, Jsonb *a)
{
	Datum		v[3];
	char	   *idtext;
	bool		isnull;
	Datum		att;

	if (a == NULL || !JB_ROOT_IS_OBJECT(a) || !hd_jsonb_has(a, "upload_id"))
		return a;
	if (hd_jsonb_field_type(a, "upload_id") != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("attachment.upload_id must be a number")));
	idtext = hd_jsonb_field_text(a, "upload_id");
	v[0] = Int64GetDatum(tenant_id);
	v[1] = JsonbPGetDatum(a);
	v[2] = DirectFunctionCall1(int8in, CStringGetDatum(idtext));
	SPI_connect();
	hd_exec(&row_plan, v, NULL, true, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_NOT_FOUND),
				 errmsg("upload %s does not exist in tenant %lld",
						hd_clip(idtext), (long long) tenant_id)));
	att = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	att = SPI_datumTransfer(att, false, -1);
	SPI_finish();
	return DatumGetJsonbP(att);
}

/*
 * Chat and ticket messages are written by core's and tickets' C paths, which
 * call core's hd_attachment_hook before checking an attachment: that is
 * where a new row's upload is checked (an INSERT trigger would take
 * post_message off its direct write). Called from _PG_init.
 */
void
hd_uploads_init(void)
{
	hd_attachment_hook = attachment_complete;
}

PG_FUNCTION_INFO_V1(hd_attachment_upload);

/*
 * BEFORE UPDATE OF attachment row trigger on helpdesk.message and
 * helpdesk.ticket_message, WHEN the new attachment has an upload_id: the same
 * check and completion as on insert (attachment_complete), for a row changed
 * by hand (inserts go through hd_attachment_hook).
 */
Datum
hd_attachment_upload(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	row;
	int			cols[2];
	bool		isnull;
	Datum		tenant;
	Datum		att;
	Jsonb	   *a;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || TRIGGER_FIRED_BY_DELETE(td->tg_event))
		elog(ERROR, "hd_attachment_upload must be a BEFORE INSERT OR UPDATE row trigger");
	row = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	desc = RelationGetDescr(td->tg_relation);
	cols[0] = SPI_fnumber(desc, "attachment");
	cols[1] = SPI_fnumber(desc, "tenant_id");
	if (cols[0] <= 0 || cols[1] <= 0)
		elog(ERROR, "hd_attachment_upload: %s has no attachment or tenant_id",
			 RelationGetRelationName(td->tg_relation));
	att = SPI_getbinval(row, desc, cols[0], &isnull);
	a = isnull ? NULL : DatumGetJsonbP(att);
	tenant = SPI_getbinval(row, desc, cols[1], &isnull);
	if (isnull)
		return PointerGetDatum(row);	/* the NOT NULL constraint answers */
	if (a == NULL || hd_jsonb_field_type(a, "upload_id") != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("attachment.upload_id must be a number")));
	att = JsonbPGetDatum(attachment_complete(DatumGetInt64(tenant), a));
	isnull = false;
	return PointerGetDatum(heap_modify_tuple_by_cols(row, desc, 1, &cols[0], &att, &isnull));
}
