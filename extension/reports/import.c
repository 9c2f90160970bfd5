/*
 * import.c — the life of a bulk import: begin_import() makes an import this
 * session's, the staging tables' column defaults (_import_tenant, _import_id,
 * _import_line) stamp every COPYed row with it and with its CSV line, and
 * run_import() validates and applies it (by kind: import_customer.c,
 * import_rows.c), recording each invalid row's first error by line.
 *
 * Line numbers come from a counter of this backend, reset by begin_import:
 * COPY inserts its rows in file order, so the n-th row is line n + 1 (the
 * header is line 1). Hence begin_import and the COPY must run in the same
 * session (behind a transaction pooler: the same transaction).
 */
#include "import.h"

#include "catalog/pg_type_d.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"

static const char *const kinds[] = {"customers", "agents", "queues", "quick_replies", NULL};

/* this session's import: what the staging defaults fill in */
static int64 cur_tenant = 0;
static int64 cur_import = 0;
static int64 cur_line = 0;
static char cur_kind[16] = "";

static void
require_current(const char *kind)
{
	if (cur_import == 0 || strcmp(cur_kind, kind) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no import of %s was begun in this session", kind),
				 errhint("Call helpdesk.begin_import(tenant_id, '%s') first, in the same session (or transaction) as the COPY.", kind)));
}

PG_FUNCTION_INFO_V1(hd_import_tenant);
Datum
hd_import_tenant(PG_FUNCTION_ARGS)
{
	require_current(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_INT64(cur_tenant);
}

PG_FUNCTION_INFO_V1(hd_import_id);
Datum
hd_import_id(PG_FUNCTION_ARGS)
{
	require_current(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_INT64(cur_import);
}

PG_FUNCTION_INFO_V1(hd_import_line);
Datum
hd_import_line(PG_FUNCTION_ARGS)
{
	if (cur_import == 0)
		require_current("any kind");
	PG_RETURN_INT64(++cur_line);
}

static HdPlan insert_import = {
	"INSERT INTO helpdesk.import (tenant_id, kind) VALUES ($1, $2) RETURNING id",
	2, {INT8OID, TEXTOID}
};

PG_FUNCTION_INFO_V1(hd_begin_import);

/* helpdesk.begin_import(tenant_id, kind) */
Datum
hd_begin_import(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "kind"};
	char	   *kind;
	Datum		v[2];
	int64		id;

	hd_check_tenant_arg(fcinfo, 0);	/* before any other argument is judged */
	hd_require_args(fcinfo, 2, names);
	kind = text_to_cstring(PG_GETARG_TEXT_PP(1));
	hd_check_enum("kind", kind, kinds);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	v[0] = PG_GETARG_DATUM(0);
	v[1] = CStringGetTextDatum(kind);
	hd_exec(&insert_import, v, NULL, false, 0);
	hd_get_int64(1, &id);
	SPI_finish();
	cur_tenant = PG_GETARG_INT64(0);
	cur_import = id;
	cur_line = 1;				/* the header */
	strlcpy(cur_kind, kind, sizeof(cur_kind));
	PG_RETURN_INT64(id);
}

void
hd_import_error(ImportErrors *e, int64 line, const char *field, const char *fmt,...)
{
	va_list		ap;
	char		buf[HD_MAX_MESSAGE_TEXT];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (e->n == e->cap)
	{
		e->cap = e->cap ? e->cap * 2 : 64;
		e->lines = e->lines ? repalloc(e->lines, sizeof(int64) * e->cap) : palloc(sizeof(int64) * e->cap);
		e->fields = e->fields ? repalloc(e->fields, sizeof(char *) * e->cap) : palloc(sizeof(char *) * e->cap);
		e->messages = e->messages ? repalloc(e->messages, sizeof(char *) * e->cap) : palloc(sizeof(char *) * e->cap);
	}
	e->lines[e->n] = line;
	e->fields[e->n] = field ? pstrdup(field) : NULL;
	e->messages[e->n] = hd_clip_message(pstrdup(buf), HD_MAX_MESSAGE_TEXT - 1);
	e->n++;
}

static HdPlan insert_errors = {
	"INSERT INTO helpdesk.import_error (tenant_id, import_id, line, field, message) "
	"SELECT $1, $2, l, f, m FROM unnest($3::int8[], $4::text[], $5::text[]) u(l, f, m)",
	5, {INT8OID, INT8OID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID}
};

/* writes the recorded errors in one statement */
void
hd_import_flush_errors(int64 tenant_id, int64 import_id, ImportErrors *e)
{
	Datum	   *l,
			   *f,
			   *m;
	bool	   *fnull;
	int			dims[1],
				lbs[1] = {1};
	Datum		v[5];
	int			n = e->n - e->flushed;
	int			i;

	if (n <= 0)
		return;
	l = palloc(sizeof(Datum) * n);
	f = palloc(sizeof(Datum) * n);
	m = palloc(sizeof(Datum) * n);
	fnull = palloc(sizeof(bool) * n);
	for (i = 0; i < n; i++)
	{
		int			j = e->flushed + i;

		l[i] = Int64GetDatum(e->lines[j]);
		fnull[i] = e->fields[j] == NULL;
		f[i] = fnull[i] ? (Datum) 0 : CStringGetTextDatum(e->fields[j]);
		m[i] = CStringGetTextDatum(e->messages[j]);
	}
	dims[0] = n;
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(import_id);
	v[2] = PointerGetDatum(construct_array(l, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	v[3] = PointerGetDatum(construct_md_array(f, fnull, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	v[4] = PointerGetDatum(construct_array(m, n, TEXTOID, -1, false, TYPALIGN_INT));
	hd_exec(&insert_errors, v, NULL, false, 0);
	e->flushed = e->n;
}

static HdPlan lock_import = {
	"SELECT kind, state FROM helpdesk.import WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
	2, {INT8OID, INT8OID}
};

static HdPlan finish_import = {
	"UPDATE helpdesk.import SET state = $3, skip_invalid = $4, rows = $5, inserted = $6, "
	"  updated = $7, skipped = $8, finished_at = now() WHERE tenant_id = $1 AND id = $2",
	8, {INT8OID, INT8OID, TEXTOID, BOOLOID, INT8OID, INT8OID, INT8OID, INT8OID}
};

/* the staging rows go once the import is decided, whichever way */
static HdPlan drop_staged[] = {
	{"DELETE FROM helpdesk.import_customer WHERE tenant_id = $1 AND import_id = $2", 2, {INT8OID, INT8OID}},
	{"DELETE FROM helpdesk.import_agent WHERE tenant_id = $1 AND import_id = $2", 2, {INT8OID, INT8OID}},
	{"DELETE FROM helpdesk.import_queue WHERE tenant_id = $1 AND import_id = $2", 2, {INT8OID, INT8OID}},
	{"DELETE FROM helpdesk.import_quick_reply WHERE tenant_id = $1 AND import_id = $2", 2, {INT8OID, INT8OID}},
};

PG_FUNCTION_INFO_V1(hd_run_import);

/* helpdesk.run_import(tenant_id, import_id, skip_invalid) */
Datum
hd_run_import(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "import_id", "skip_invalid"};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		tenant_id,
				import_id;
	bool		skip;
	char	   *kind,
			   *state;
	ImportErrors errs = {0};
	ImportResult r = {0};
	bool		rejected;
	Datum		v[8];
	bool		nulls[6] = {false, false, false, false, false, false};
	int			k;

	hd_require_args(fcinfo, 3, names);
	tenant_id = PG_GETARG_INT64(0);
	import_id = PG_GETARG_INT64(1);
	skip = PG_GETARG_BOOL(2);
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	hd_require_tenant(tenant_id);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(import_id);
	hd_exec(&lock_import, v, NULL, false, 0);
	if (SPI_processed == 0)
		hd_not_found("import", import_id, tenant_id);
	kind = hd_get_text(1);
	state = hd_get_text(2);
	if (strcmp(state, "loading") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_IDEMPOTENCY_CONFLICT),
				 errmsg("import %lld of tenant %lld was already run (%s)",
						(long long) import_id, (long long) tenant_id, state),
				 errhint("Begin a new import for another file.")));

	if (strcmp(kind, "customers") == 0)
		hd_import_customers(tenant_id, import_id, skip, &errs, &r);
	else
		hd_import_rows(kind, tenant_id, import_id, skip, &errs, &r);
	rejected = errs.n > 0 && !skip;
	hd_import_flush_errors(tenant_id, import_id, &errs);

	for (k = 0; kinds[k] != NULL; k++)
		if (strcmp(kinds[k], kind) == 0)
			hd_exec(&drop_staged[k], v, NULL, false, 0);
	v[2] = CStringGetTextDatum(rejected ? "rejected" : "applied");
	v[3] = BoolGetDatum(skip);
	v[4] = Int64GetDatum(r.rows);
	v[5] = Int64GetDatum(rejected ? 0 : r.inserted);
	v[6] = Int64GetDatum(rejected ? 0 : r.updated);
	v[7] = Int64GetDatum(rejected ? r.rows : errs.n);
	hd_exec(&finish_import, v, NULL, false, 0);
	SPI_finish();
	if (cur_import == import_id)
		cur_import = 0;			/* a later COPY must begin anew */

	{
		Datum		out[6];

		out[0] = v[2];
		out[1] = v[4];
		out[2] = v[5];
		out[3] = v[6];
		out[4] = v[7];
		out[5] = Int64GetDatum(errs.n);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, nulls);
	}
	PG_RETURN_VOID();
}

static HdPlan import_exists = {
	"SELECT 1 FROM helpdesk.import WHERE tenant_id = $1 AND id = $2", 2, {INT8OID, INT8OID}
};

static HdPlan list_errors = {
	"SELECT e.line, e.field, e.message FROM helpdesk.import_error e "
	"WHERE e.tenant_id = $1 AND e.import_id = $2 ORDER BY e.line",
	2, {INT8OID, INT8OID}
};

PG_FUNCTION_INFO_V1(hd_import_errors);

/* helpdesk.import_errors(tenant_id, import_id) */
Datum
hd_import_errors(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "import_id"};
	Datum		v[2];

	hd_require_args(fcinfo, 2, names);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	hd_exec(&import_exists, v, NULL, true, 0);
	if (SPI_processed == 0)
		hd_not_found("import", PG_GETARG_INT64(1), PG_GETARG_INT64(0));
	hd_return_query(fcinfo, &list_errors, v, NULL);
	SPI_finish();
	PG_RETURN_VOID();
}
