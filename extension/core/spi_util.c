/*
 * spi_util.c — saved SPI plans, result accessors and argument checks used by
 * every SQL-callable function.
 */
#include "hd.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"

/*
 * Prepare the statement on first use and keep it for the life of the backend.
 * The plan cache revalidates it after DDL, so a DROP/CREATE EXTENSION in the
 * same backend is safe.
 */
SPIPlanPtr
hd_plan(HdPlan *p)
{
	if (p->plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(p->sql, p->nargs, p->argtypes);

		if (plan == NULL)
			elog(ERROR, "pg_helpdesk: SPI_prepare failed (%s) for: %s",
				 SPI_result_code_string(SPI_result), p->sql);
		SPI_keepplan(plan);
		p->plan = plan;
	}
	return p->plan;
}

int
hd_exec(HdPlan *p, Datum *values, const char *nulls, bool read_only, long count)
{
	int			rc = SPI_execute_plan(hd_plan(p), values, nulls, read_only, count);

	if (rc < 0)
		elog(ERROR, "pg_helpdesk: SPI_execute_plan failed (%s) for: %s",
			 SPI_result_code_string(rc), p->sql);
	return rc;
}

/* Column col (1-based) of the first result row as int64; false if NULL. */
bool
hd_get_int64(int col, int64 *out)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	if (!isnull)
		*out = DatumGetInt64(d);
	return !isnull;
}

/* Column col of the first result row as a palloc'd C string, or NULL. */
char *
hd_get_text(int col)
{
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col);
}

bool
hd_get_bool(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	return !isnull && DatumGetBool(d);
}

/*
 * Run a plan and hand every row to the caller's result set (materialize
 * mode). The statement's columns must match the function's OUT columns.
 * Must be called between SPI_connect and SPI_finish.
 */
void
hd_return_query(FunctionCallInfo fcinfo, HdPlan *p, Datum *values, const char *nulls)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	desc;
	Datum	   *cols;
	bool	   *isnull;
	uint64		i;

	InitMaterializedSRF(fcinfo, 0);
	hd_exec(p, values, nulls, true, 0);
	desc = rsinfo->setDesc;
	if (SPI_tuptable->tupdesc->natts != desc->natts)
		elog(ERROR, "pg_helpdesk: query returns %d columns, function declares %d",
			 SPI_tuptable->tupdesc->natts, desc->natts);
	cols = palloc(sizeof(Datum) * desc->natts);
	isnull = palloc(sizeof(bool) * desc->natts);
	for (i = 0; i < SPI_processed; i++)
	{
		heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, cols, isnull);
		tuplestore_putvalues(rsinfo->setResult, desc, cols, isnull);
	}
}

/*
 * Raise 22004 naming the first of the first n arguments that is NULL. Used
 * instead of STRICT so callers learn which argument was missing.
 */
void
hd_require_args(FunctionCallInfo fcinfo, int n, const char *const *names)
{
	int			i;

	for (i = 0; i < n; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL", names[i])));
}

char *
hd_arg_text_or_null(FunctionCallInfo fcinfo, int n)
{
	if (PG_ARGISNULL(n))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/*
 * Raise 22023 (invalid_parameter_value) with a formatted message. User
 * values belong in it only through hd_quote(); the whole text is still cut
 * to HD_MAX_MESSAGE_TEXT at a character boundary (a fixed buffer cut by
 * vsnprintf could end in half a character, an invalid message).
 */
void
hd_invalid(const char *fmt,...)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		va_list		ap;
		int			needed;

		va_start(ap, fmt);
		needed = appendStringInfoVA(&buf, fmt, ap);
		va_end(ap);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg_internal("%s", hd_clip_message(buf.data, HD_MAX_MESSAGE_TEXT))));
}

/* A jsonb argument that must be an object (NULL passes). */
void
hd_require_json_object(const char *what, Jsonb *j)
{
	if (j != NULL && !JB_ROOT_IS_OBJECT(j))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object", what)));
}

/* Length check in characters, with a message that names the field. */
void
hd_check_length(const char *what, const char *s, int minlen, int maxlen)
{
	int			len = pg_mbstrlen(s);

	if (len < minlen || len > maxlen)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be %d to %d characters long, got %d",
						what, minlen, maxlen, len)));
}

/* Value must be one of a NULL-terminated list; the error lists them all. */
void
hd_check_enum(const char *what, const char *value, const char *const *allowed)
{
	StringInfoData list;
	int			i;

	for (i = 0; allowed[i] != NULL; i++)
		if (strcmp(value, allowed[i]) == 0)
			return;
	initStringInfo(&list);
	for (i = 0; allowed[i] != NULL; i++)
		appendStringInfo(&list, "%s%s", i ? ", " : "", allowed[i]);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s %s", what, hd_quote(value)),
			 errhint("Use one of: %s.", list.data)));
}

static HdPlan tenant_exists = {
	"SELECT 1 FROM helpdesk.tenant WHERE id = $1", 1, {INT8OID}
};

/* security/access.c's check, set at load (see hd_require_tenant) */
hd_tenant_access_fn hd_tenant_access_hook = NULL;

/*
 * Every API call names its tenant first: the calling role must be allowed
 * to act for it (42501, security/access.c), and it must exist (HD404).
 */
int64
hd_require_tenant(int64 tenant_id)
{
	Datum		v[1] = {Int64GetDatum(tenant_id)};

	if (hd_tenant_access_hook == NULL)
		elog(ERROR, "pg_helpdesk: the tenant access check is not installed");
	hd_tenant_access_hook(tenant_id);
	hd_exec(&tenant_exists, v, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_NOT_FOUND),
				 errmsg("tenant %lld does not exist", (long long) tenant_id)));
	return tenant_id;
}

/*
 * The first statement of every C function with a tenant id argument
 * (argument argno): 42501 unless the caller may act for it, before any
 * other check can tell a caller something about another tenant. A NULL is
 * left to the function's own argument checks.
 */
void
hd_check_tenant_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		return;
	if (hd_tenant_access_hook == NULL)
		elog(ERROR, "pg_helpdesk: the tenant access check is not installed");
	hd_tenant_access_hook(PG_GETARG_INT64(argno));
}

/* The access check alone, for a tenant found from a slug, token or app. */
void
hd_check_tenant(int64 tenant_id)
{
	if (hd_tenant_access_hook == NULL)
		elog(ERROR, "pg_helpdesk: the tenant access check is not installed");
	hd_tenant_access_hook(tenant_id);
}

/* Each tenant of an int8[] argument (NULL elements skipped). */
void
hd_check_tenant_array(ArrayType *tenants)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;

	deconstruct_array(tenants, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	for (i = 0; i < n; i++)
		if (!nulls[i])
			hd_check_tenant(DatumGetInt64(elems[i]));
}

/* A call for every tenant (NULL tenant, maintenance): 42501 unless allowed. */
void
hd_require_every_tenant(void)
{
	if (hd_tenant_access_hook == NULL)
		elog(ERROR, "pg_helpdesk: the tenant access check is not installed");
	hd_tenant_access_hook(0);
}

/*
 * _require_tenant(tenant_id): the same check for SQL-language functions,
 * which put it in a WHERE clause without column references (a one-time
 * filter, evaluated before any row is read). NULL asks for every tenant.
 */
PG_FUNCTION_INFO_V1(hd_sql_require_tenant);
Datum
hd_sql_require_tenant(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		hd_require_every_tenant();
	else
	{
		if (hd_tenant_access_hook == NULL)
			elog(ERROR, "pg_helpdesk: the tenant access check is not installed");
		hd_tenant_access_hook(PG_GETARG_INT64(0));
	}
	PG_RETURN_BOOL(true);
}

/*
 * Raise HD_NOT_FOUND "<what> <id> does not exist in tenant <tenant>": the
 * answer for a row of a tenant that is not there (queue, agent, ticket...),
 * written once so that every caller words it the same way.
 */
void
hd_not_found(const char *what, int64 id, int64 tenant_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_HD_NOT_FOUND),
			 errmsg("%s %lld does not exist in tenant %lld",
					what, (long long) id, (long long) tenant_id)));
}

/* Fill Datum/null arrays from the function's own arguments (n gets a terminating NUL). */
void
hd_args_to_params(FunctionCallInfo fcinfo, Datum *v, char *n, int count)
{
	int			i;

	for (i = 0; i < count; i++)
	{
		n[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		v[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
	}
	n[count] = '\0';
}
