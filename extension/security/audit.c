/*
 * audit.c — the configuration audit trigger (helpdesk.config_audit).
 *
 * One C row trigger for every configuration table (extension/access.sql
 * creates them, AFTER INSERT OR DELETE OR UPDATE OF the configuration
 * columns, so the workers' writes of load, cursors or presence never fire
 * it). Its arguments: object type, key columns (comma-separated), tenant
 * column, then the columns that are state rather than configuration (left
 * out of before/after, and an update that changed only those is not
 * logged). bytea columns (sealed secrets, password hashes) are never
 * logged: they show as "[sealed]", "[sealed, changed]" when an update
 * replaced them, or null.
 *
 * A restore is not a change: pg_restore and pg_dump's scripts run with
 * row_security = off, and then the rows they load are not logged (the
 * dump brings config_audit's own rows, whose ids the new ones would take).
 * Nor is what our background workers write (dispatch marks, a webhook the
 * HTTP worker disables): state kept for the configuration, by no one; and
 * the trigger must not cost the dispatcher's passes anything (e2e
 * dispatcher_poison's timers were late with it firing there).
 */
#include "security.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"

#define AUDIT_SQL \
	"INSERT INTO helpdesk.config_audit (tenant_id, actor_role, actor_agent_id, object_type, " \
	"  object_table, object_key, action, before, after) " \
	"SELECT $1, $2, $3, $4, $5, $6, $7, " \
	"  CASE WHEN $7 <> 'insert' THEN (to_jsonb($8) - $10) || coalesce((SELECT jsonb_object_agg(n, v) " \
	"    FROM unnest($11, $12) u(n, v)), '{}') END, " \
	"  CASE WHEN $7 <> 'delete' THEN (to_jsonb($9) - $10) || coalesce((SELECT jsonb_object_agg(n, v) " \
	"    FROM unnest($11, $13) u(n, v)), '{}') END"

/* helpdesk.actor_agent_id: who the client says is at the keyboard (0: nobody said) */
static int	actor_agent_id = 0;

void
hd_define_audit_settings(void)
{
	DefineCustomIntVariable("helpdesk.actor_agent_id",
							"The agent on whose behalf this session changes configuration (config_audit).",
							"Set by helpdesk-bridge or a backend for a logged-in agent; 0 for none. "
							"Declared by the client, not verified.",
							&actor_agent_id, 0, 0, INT_MAX, PGC_USERSET, 0, NULL, NULL, NULL);
}

static bool
name_in(const char *name, char **list, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (strcmp(name, list[i]) == 0)
			return true;
	return false;
}

/* Did an update change a configuration column (any not in state[])? */
static bool
config_changed(TupleDesc desc, HeapTuple oldt, HeapTuple newt, char **state, int nstate)
{
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		on,
					nn;
		Datum		o,
					n;

		if (att->attisdropped || name_in(NameStr(att->attname), state, nstate))
			continue;
		o = heap_getattr(oldt, i + 1, desc, &on);
		n = heap_getattr(newt, i + 1, desc, &nn);
		if (on != nn || (!on && !datumIsEqual(o, n, att->attbyval, att->attlen)))
			return true;
	}
	return false;
}

/* The key columns' values as text, joined by '/'. */
static char *
object_key(TupleDesc desc, HeapTuple row, const char *cols)
{
	StringInfoData out;
	char	   *copy = pstrdup(cols);
	char	   *save = NULL;
	char	   *col;

	initStringInfo(&out);
	for (col = strtok_r(copy, ",", &save); col != NULL; col = strtok_r(NULL, ",", &save))
	{
		int			attno = SPI_fnumber(desc, col);
		char	   *v;

		if (attno <= 0)
			elog(ERROR, "_config_audit: no column %s", col);
		v = SPI_getvalue(row, desc, attno);
		if (out.len > 0)
			appendStringInfoChar(&out, '/');
		appendStringInfoString(&out, v != NULL ? v : "null");
	}
	return out.data;
}

static Datum
text_array(List *items)
{
	int			n = list_length(items);
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int			i = 0;
	ListCell   *lc;

	foreach(lc, items)
	{
		nulls[i] = lfirst(lc) == NULL;
		d[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum((char *) lfirst(lc));
		i++;
	}
	if (n == 0)
		return PointerGetDatum(construct_empty_array(TEXTOID));
	return PointerGetDatum(construct_md_array(d, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(hd_config_audit);
Datum
hd_config_audit(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Trigger    *tg;
	TupleDesc	desc;
	HeapTuple	oldt = NULL,
				newt = NULL,
				row;
	char	  **args;
	int			nstate;
	const char *action;
	int			tenant_att;
	bool		isnull;
	List	   *drop = NIL,
			   *sealed = NIL,
			   *sealed_before = NIL,
			   *sealed_after = NIL;
	Oid			rowtype;
	Oid			types[13];
	Datum		v[13];
	char		n[14];
	int			i;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!TRIGGER_FIRED_AFTER(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("_config_audit() must be an AFTER ... FOR EACH ROW trigger")));
	if (!row_security || IsBackgroundWorker)
		return PointerGetDatum(NULL);
	tg = td->tg_trigger;
	if (tg->tgnargs < 3)
		elog(ERROR, "_config_audit: needs object type, key columns and tenant column");
	args = tg->tgargs;
	nstate = tg->tgnargs - 3;
	desc = RelationGetDescr(td->tg_relation);
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		action = "insert";
		newt = td->tg_trigtuple;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		action = "update";
		oldt = td->tg_trigtuple;
		newt = td->tg_newtuple;
		if (!config_changed(desc, oldt, newt, args + 3, nstate))
			return PointerGetDatum(NULL);
	}
	else
	{
		action = "delete";
		oldt = td->tg_trigtuple;
	}
	row = newt != NULL ? newt : oldt;
	tenant_att = SPI_fnumber(desc, args[2]);
	if (tenant_att <= 0)
		elog(ERROR, "_config_audit: no column %s", args[2]);

	for (i = 0; i < nstate; i++)
		drop = lappend(drop, args[3 + i]);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		bn,
					an;
		Datum		b = (Datum) 0,
					a = (Datum) 0;

		if (att->attisdropped || att->atttypid != BYTEAOID)
			continue;
		drop = lappend(drop, NameStr(att->attname));
		sealed = lappend(sealed, NameStr(att->attname));
		bn = an = true;
		if (oldt != NULL)
			b = heap_getattr(oldt, i + 1, desc, &bn);
		if (newt != NULL)
			a = heap_getattr(newt, i + 1, desc, &an);
		sealed_before = lappend(sealed_before, bn ? NULL : "[sealed]");
		if (an)
			sealed_after = lappend(sealed_after, NULL);
		else if (oldt == NULL || (!bn && datumIsEqual(a, b, false, -1)))
			sealed_after = lappend(sealed_after, "[sealed]");
		else
			sealed_after = lappend(sealed_after, "[sealed, changed]");
	}

	rowtype = td->tg_relation->rd_rel->reltype;
	types[0] = INT8OID;
	v[0] = heap_getattr(row, tenant_att, desc, &isnull);
	if (isnull)
		v[0] = Int64GetDatum(0);
	types[1] = TEXTOID;
	v[1] = CStringGetTextDatum(GetUserNameFromId(GetOuterUserId(), false));
	types[2] = INT8OID;
	v[2] = Int64GetDatum((int64) actor_agent_id);
	types[3] = TEXTOID;
	v[3] = CStringGetTextDatum(args[0]);
	types[4] = TEXTOID;
	v[4] = CStringGetTextDatum(RelationGetRelationName(td->tg_relation));
	types[5] = TEXTOID;
	v[5] = CStringGetTextDatum(object_key(desc, row, args[1]));
	types[6] = TEXTOID;
	v[6] = CStringGetTextDatum(action);
	types[7] = rowtype;
	v[7] = oldt != NULL ? heap_copy_tuple_as_datum(oldt, desc) : (Datum) 0;
	types[8] = rowtype;
	v[8] = newt != NULL ? heap_copy_tuple_as_datum(newt, desc) : (Datum) 0;
	types[9] = TEXTARRAYOID;
	v[9] = text_array(drop);
	types[10] = TEXTARRAYOID;
	v[10] = text_array(sealed);
	types[11] = TEXTARRAYOID;
	v[11] = text_array(sealed_before);
	types[12] = TEXTARRAYOID;
	v[12] = text_array(sealed_after);
	memset(n, ' ', sizeof(n));
	n[2] = actor_agent_id > 0 ? ' ' : 'n';
	n[7] = oldt != NULL ? ' ' : 'n';
	n[8] = newt != NULL ? ' ' : 'n';
	n[13] = '\0';

	/* not a saved plan: the row type differs per table, and changes are rare */
	SPI_connect();
	if (SPI_execute_with_args(AUDIT_SQL, 13, types, v, n, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "_config_audit: insert failed");
	SPI_finish();
	return PointerGetDatum(NULL);
}
