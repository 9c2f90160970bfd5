/*
 * import_rows.c — imports of agents, queues and quick replies: row by row
 * through their upsert functions, so an imported row obeys exactly the
 * rules of the API (skills, strategies, placeholders...). Each row runs in
 * its own subtransaction: a refused row becomes that line's error and the
 * next row goes on. The whole import runs inside one more subtransaction,
 * rolled back at the end when there were errors and all-or-nothing was
 * asked. These kinds count hundreds of rows, not the customers' 100,000
 * (import_customer.c is set-based).
 */
#include "import.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#define MAX_COLS 8

/*
 * One kind: read gives (line, first line of the same key, ncols texts);
 * check, exists and call take $1 = tenant and $2.. = those texts. check
 * returns an error message or NULL; exists a row when the key is stored.
 */
typedef struct RowKind
{
	const char *kind;
	int			ncols;
	HdPlan		read;
	HdPlan		check;
	HdPlan		exists;
	HdPlan		call;
} RowKind;

#define T8 {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID}
#define STAGED "WHERE tenant_id = $1 AND import_id = $2 ORDER BY line"

static RowKind row_kinds[] = {
	{"agents", 6,
		{"SELECT line, min(line) OVER (PARTITION BY external_id), external_id, display_name, "
		 "  skills, languages, max_sessions, enabled FROM helpdesk.import_agent " STAGED,
		 2, {INT8OID, INT8OID}},
		{NULL},
		{"SELECT 1 FROM helpdesk.agent WHERE tenant_id = $1 AND external_id = $2", 7, T8},
		{"SELECT helpdesk.upsert_agent($1, $2, nullif($3, ''), nullif($4, '')::jsonb, "
		 "  string_to_array(nullif($5, ''), ';'), nullif(trim($6), '')::int, "
		 "  nullif(trim($7), '')::boolean)", 7, T8}},
	{"queues", 8,
		{"SELECT line, min(line) OVER (PARTITION BY external_id), external_id, name, "
		 "  required_skills, required_languages, strategy, offer_timeout, max_wait, is_default "
		 "FROM helpdesk.import_queue " STAGED,
		 2, {INT8OID, INT8OID}},
		{NULL},
		{"SELECT 1 FROM helpdesk.queue WHERE tenant_id = $1 AND external_id = $2", 9, T8},
		{"SELECT helpdesk.upsert_queue($1, $2, nullif($3, ''), "
		 "  string_to_array(nullif($4, ''), ';'), string_to_array(nullif($5, ''), ';'), "
		 "  nullif($6, ''), nullif($7, '')::interval, nullif($8, '')::interval, NULL, "
		 "  nullif(trim($9), '')::boolean)", 9, T8}},
	{"quick_replies", 6,
		{"SELECT line, min(line) OVER (PARTITION BY coalesce(agent_external_id, ''), lower(shortcode), "
		 "  lower(coalesce(language, ''))), shortcode, title, body, category, language, "
		 "  agent_external_id FROM helpdesk.import_quick_reply " STAGED,
		 2, {INT8OID, INT8OID}},
		{"SELECT CASE WHEN nullif($7, '') IS NOT NULL AND NOT EXISTS (SELECT 1 FROM helpdesk.agent a "
		 "  WHERE a.tenant_id = $1 AND a.external_id = $7) "
		 "  THEN 'agent_external_id is not an agent of the tenant' END", 7, T8},
		{"SELECT 1 FROM helpdesk.quick_reply r WHERE r.tenant_id = $1 AND r.shortcode = lower($2) "
		 "  AND r.language IS NOT DISTINCT FROM lower(nullif($6, '')) "
		 "  AND r.agent_id IS NOT DISTINCT FROM (SELECT a.id FROM helpdesk.agent a "
		 "    WHERE a.tenant_id = $1 AND a.external_id = nullif($7, ''))", 7, T8},
		{"SELECT helpdesk.upsert_quick_reply($1, $2, $3, $4, (SELECT a.id FROM helpdesk.agent a "
		 "  WHERE a.tenant_id = $1 AND a.external_id = nullif($7, '')), nullif($5, ''), "
		 "  nullif($6, ''))", 7, T8}},
};

/*
 * Runs one staged row's upsert in a subtransaction. Returns NULL, or the
 * error's message (the row's changes rolled back).
 */
static char *
apply_row(RowKind *k, Datum *v, char *n, bool *existed)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char	   *volatile err = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		if (k->check.sql != NULL)
		{
			hd_exec(&k->check, v, n, false, 1);
			err = hd_get_text(1);
			if (err != NULL)
				err = MemoryContextStrdup(cxt, err);
		}
		if (err == NULL)
		{
			hd_exec(&k->exists, v, n, false, 1);
			*existed = SPI_processed > 0;
			hd_exec(&k->call, v, n, false, 0);
		}
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		err = pstrdup(edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	return err;
}

void
hd_import_rows(const char *kind, int64 tenant_id, int64 import_id, bool skip_invalid,
			   ImportErrors *e, ImportResult *r)
{
	Datum		key[2] = {Int64GetDatum(tenant_id), Int64GetDatum(import_id)};
	RowKind    *k = NULL;
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	int64		nrows,
				i;
	int64	   *lines,
			   *dups;
	char	 ***cols;
	int64		inserted = 0,
				updated = 0;

	for (i = 0; i < (int64) lengthof(row_kinds); i++)
		if (strcmp(row_kinds[i].kind, kind) == 0)
			k = &row_kinds[i];
	if (k == NULL)
		elog(ERROR, "pg_helpdesk: no importer for kind %s", kind);
	/* plans first: a plan prepared inside a subtransaction that rolls back is not lost, but keep it simple */
	if (k->check.sql)
		hd_plan(&k->check);
	hd_plan(&k->exists);
	hd_plan(&k->call);

	hd_exec(&k->read, key, NULL, false, 0);
	nrows = (int64) SPI_processed;
	lines = palloc(sizeof(int64) * Max(nrows, 1));
	dups = palloc(sizeof(int64) * Max(nrows, 1));
	cols = palloc(sizeof(char **) * Max(nrows, 1));
	for (i = 0; i < nrows; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		bool		isnull;
		int			c;

		lines[i] = DatumGetInt64(SPI_getbinval(t, SPI_tuptable->tupdesc, 1, &isnull));
		dups[i] = DatumGetInt64(SPI_getbinval(t, SPI_tuptable->tupdesc, 2, &isnull));
		cols[i] = palloc(sizeof(char *) * k->ncols);
		for (c = 0; c < k->ncols; c++)
			cols[i][c] = SPI_getvalue(t, SPI_tuptable->tupdesc, c + 3);
	}
	r->rows = nrows;

	BeginInternalSubTransaction(NULL);	/* the whole import, undone if rejected */
	MemoryContextSwitchTo(cxt);
	for (i = 0; i < nrows; i++)
	{
		Datum		v[MAX_COLS + 1];
		char		n[MAX_COLS + 2];
		bool		existed = false;
		char	   *err;
		int			c;

		if (cols[i][0] == NULL || cols[i][0][0] == '\0')
		{
			hd_import_error(e, lines[i], NULL, "the first column (%s key) is required", kind);
			continue;
		}
		if (dups[i] != lines[i])
		{
			hd_import_error(e, lines[i], NULL, "%s repeats line %lld", hd_quote(cols[i][0]),
							(long long) dups[i]);
			continue;
		}
		memset(n, ' ', sizeof(n));
		n[k->ncols + 1] = '\0';
		v[0] = Int64GetDatum(tenant_id);
		for (c = 0; c < k->ncols; c++)
		{
			v[c + 1] = cols[i][c] ? CStringGetTextDatum(cols[i][c]) : (Datum) 0;
			n[c + 1] = cols[i][c] ? ' ' : 'n';
		}
		err = apply_row(k, v, n, &existed);
		if (err != NULL)
			hd_import_error(e, lines[i], NULL, "%s", err);
		else if (existed)
			updated++;
		else
			inserted++;
	}
	if (e->n > 0 && !skip_invalid)
		RollbackAndReleaseCurrentSubTransaction();
	else
		ReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	r->inserted = inserted;
	r->updated = updated;
}
