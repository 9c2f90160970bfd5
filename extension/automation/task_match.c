/*
 * task_match.c — matching a customer's message against the tenant's live
 * trigger tasks, inside the message's own transaction (core's
 * hd_customer_message_hook, called by post_message after the row is stored).
 *
 * Each backend keeps, per tenant, an index compiled from the live keyword
 * tasks (status pending or waiting, not time_reach): one Aho-Corasick
 * automaton for the contains-matches and a sorted array for exact matches
 * (compared with the trimmed message). It is rebuilt when the shared
 * generation of the tenant (task_cache.c) moved, i.e. after one of its tasks
 * was added or its payment phrases changed. A message then costs one scan over its bytes; a tenant
 * without tasks costs one hash lookup.
 *
 * A match only records that the task fired: one UPDATE of the task row with
 * the status checked on the locked row (pending/waiting, not expired), so two
 * concurrent messages fire a task once (the second waits for the first and
 * then finds it running). That UPDATE runs in a subtransaction: a
 * serialization failure (a REPEATABLE READ caller) or any other error skips
 * the task and never fails the customer's message. The action runs after
 * commit in the dispatcher (task_stage.c), woken at commit.
 */
#include "automation.h"
#include "dispatch.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "access/xact.h"

/* customer_payment without keywords of its own, unless the tenant set its list */
static const char *const default_payment_phrases[] = {
	"已付款", "拍下了", "已拍下", "付款了", "已支付", "已下单", "付过款了", NULL
};

typedef struct MTask
{
	int64		id;
	bool		specified;		/* specified_customer_reply: customer must match */
	char	   *cust_id;		/* external id, specified only */
	char	   *cust_name;		/* NULL: any name */
	bool		dead;			/* found fired/cancelled/expired: skip until reload */
} MTask;

typedef struct ExactKw
{
	const char *kw;
	int32		task;
} ExactKw;

typedef struct TenantIndex
{
	int64		tenant_id;		/* hash key */
	uint64		gen;
	MemoryContext cxt;
	int			ntasks;
	MTask	   *tasks;
	HdAc	   *ac;				/* NULL: no contains keywords */
	int			nexact;
	ExactKw    *exact;
} TenantIndex;

static HTAB *indexes = NULL;

static HdPlan load_tasks = {
	"SELECT id, trigger_type, keywords, exact_match, trigger_customer_id, trigger_customer_name "
	"FROM helpdesk.trigger_task WHERE tenant_id = $1 AND status IN ('pending', 'waiting') "
	"AND trigger_type <> 'time_reach' ORDER BY id",
	1, {INT8OID}
};

static HdPlan load_phrases = {
	"SELECT payment_phrases FROM helpdesk.automation_settings WHERE tenant_id = $1",
	1, {INT8OID}
};

static HdPlan load_customer = {
	"SELECT external_id, display_name FROM helpdesk.customer WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

static HdPlan fire_plan = {
	"UPDATE helpdesk.trigger_task SET status = 'running', triggered_at = now(), due_at = now(), "
	"  session_id = $3, customer_id = $4, message_id = $5 "
	"WHERE tenant_id = $1 AND id = $2 AND status IN ('pending', 'waiting') AND expires_at > now() "
	"RETURNING id",
	5, {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID}
};

/* Is c whitespace to trim (ASCII or U+3000 IDEOGRAPHIC SPACE)? Returns its byte length, 0 if not. */
static int
space_len(const char *p, const char *end)
{
	if (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v'))
		return 1;
	if (end - p >= 3 && (uint8) p[0] == 0xE3 && (uint8) p[1] == 0x80 && (uint8) p[2] == 0x80)
		return 3;
	return 0;
}

/* The text without leading and trailing whitespace, palloc'd; *len its bytes. */
char *
hd_task_trim(const char *s, int *len)
{
	const char *b = s,
			   *e = s + strlen(s);
	int			n;
	char	   *out;

	while (b < e && (n = space_len(b, e)) > 0)
		b += n;
	for (;;)
	{
		if (e - b >= 1 && space_len(e - 1, e) == 1)
			e--;
		else if (e - b >= 3 && space_len(e - 3, e) == 3)
			e -= 3;
		else
			break;
	}
	out = pnstrdup(b, e - b);
	if (len)
		*len = (int) (e - b);
	return out;
}

static int
exact_cmp(const void *a, const void *b)
{
	return strcmp(((const ExactKw *) a)->kw, ((const ExactKw *) b)->kw);
}

/* text[] of the current SPI row's column as C strings in cxt; *n the count */
static char **
text_array(int col, MemoryContext cxt, int *n)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;
	int			i;

	*n = 0;
	if (isnull)
		return NULL;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, n);
	out = MemoryContextAlloc(cxt, sizeof(char *) * Max(*n, 1));
	for (i = 0; i < *n; i++)
		out[i] = nulls[i] ? MemoryContextStrdup(cxt, "") :
			MemoryContextStrdup(cxt, TextDatumGetCString(elems[i]));
	return out;
}

static char *
col_text(HeapTuple tup, TupleDesc desc, int col, MemoryContext cxt)
{
	char	   *v = SPI_getvalue(tup, desc, col);

	return v ? MemoryContextStrdup(cxt, v) : NULL;
}

/* Compile the tenant's live keyword tasks into idx (SPI connected). */
static void
build_index(TenantIndex *idx)
{
	Datum		v[1] = {Int64GetDatum(idx->tenant_id)};
	char	  **phrases = NULL;
	int			nphrases = 0,
				i,
				exact_cap = 16;
	uint64		n;
	SPITupleTable *tt;
	MemoryContext old;
	bool		any_contains = false;

	hd_exec(&load_phrases, v, NULL, true, 1);
	if (SPI_processed > 0)
		phrases = text_array(1, idx->cxt, &nphrases);
	if (phrases == NULL)
	{
		for (nphrases = 0; default_payment_phrases[nphrases]; nphrases++)
			;
		phrases = (char **) default_payment_phrases;
	}

	hd_exec(&load_tasks, v, NULL, true, 0);
	n = SPI_processed;
	tt = SPI_tuptable;
	old = MemoryContextSwitchTo(idx->cxt);
	idx->ntasks = (int) n;
	idx->tasks = palloc0(sizeof(MTask) * Max(n, 1));
	idx->exact = palloc(sizeof(ExactKw) * exact_cap);
	idx->nexact = 0;
	idx->ac = hd_ac_new();
	for (i = 0; i < (int) n; i++)
	{
		HeapTuple	tup = tt->vals[i];
		bool		isnull;
		char	   *type = SPI_getvalue(tup, tt->tupdesc, 2);
		bool		exact = DatumGetBool(SPI_getbinval(tup, tt->tupdesc, 4, &isnull));
		bool		payment = strcmp(type, "customer_payment") == 0;
		char	  **kws;
		int			nkw,
					k;

		idx->tasks[i].id = DatumGetInt64(SPI_getbinval(tup, tt->tupdesc, 1, &isnull));
		idx->tasks[i].specified = strcmp(type, "specified_customer_reply") == 0;
		idx->tasks[i].cust_id = col_text(tup, tt->tupdesc, 5, idx->cxt);
		idx->tasks[i].cust_name = col_text(tup, tt->tupdesc, 6, idx->cxt);
		SPI_tuptable = tt;		/* text_array reads vals[0]: point it at this row */
		{
			HeapTuple	save = tt->vals[0];

			tt->vals[0] = tup;
			kws = text_array(3, idx->cxt, &nkw);
			tt->vals[0] = save;
		}
		if (payment && nkw == 0)
		{
			kws = phrases;
			nkw = nphrases;
			exact = false;		/* payment phrases are always found inside the text */
		}
		for (k = 0; k < nkw; k++)
		{
			int			len = (int) strlen(kws[k]);

			if (len == 0)
				continue;
			if (exact)
			{
				if (idx->nexact == exact_cap)
				{
					exact_cap *= 2;
					idx->exact = repalloc(idx->exact, sizeof(ExactKw) * exact_cap);
				}
				idx->exact[idx->nexact].kw = kws[k];
				idx->exact[idx->nexact].task = i;
				idx->nexact++;
			}
			else
			{
				hd_ac_add(idx->ac, kws[k], len, i);
				any_contains = true;
			}
		}
	}
	if (any_contains)
		hd_ac_build(idx->ac);
	else
		idx->ac = NULL;
	if (idx->nexact > 1)
		qsort(idx->exact, idx->nexact, sizeof(ExactKw), exact_cmp);
	MemoryContextSwitchTo(old);
	SPI_tuptable = tt;
}

/* The tenant's index, current for gen (rebuilt if needed). */
static TenantIndex *
get_index(int64 tenant_id, uint64 gen)
{
	TenantIndex *idx;
	bool		found;

	if (indexes == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(TenantIndex);
		ctl.hcxt = CacheMemoryContext;
		indexes = hash_create("pg_helpdesk trigger task indexes", 16, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	idx = hash_search(indexes, &tenant_id, HASH_ENTER, &found);
	if (!found)
	{
		idx->cxt = AllocSetContextCreate(CacheMemoryContext, "pg_helpdesk trigger task index",
										 ALLOCSET_DEFAULT_SIZES);
		idx->gen = 0;
		idx->ntasks = -1;
	}
	if (idx->gen != gen || idx->ntasks < 0 || (gen >> 63) != 0)
	{
		MemoryContextReset(idx->cxt);
		idx->ntasks = -1;		/* an error while building leaves it marked stale */
		idx->gen = 0;
		build_index(idx);
		idx->gen = gen;
	}
	return idx;
}

typedef struct MatchState
{
	TenantIndex *idx;
	int32	   *hits;
	int			nhits,
				cap;
} MatchState;

static void
add_hit(int32 task, void *arg)
{
	MatchState *ms = (MatchState *) arg;

	if (ms->idx->tasks[task].dead)
		return;
	if (ms->nhits > 0 && ms->hits[ms->nhits - 1] == task)
		return;					/* the same task's keyword twice in a row */
	if (ms->nhits == ms->cap)
	{
		ms->cap = ms->cap ? ms->cap * 2 : 8;
		ms->hits = ms->hits ? repalloc(ms->hits, ms->cap * sizeof(int32))
			: palloc(ms->cap * sizeof(int32));
	}
	ms->hits[ms->nhits++] = task;
}

static int
int32_cmp(const void *a, const void *b)
{
	int32		x = *(const int32 *) a,
				y = *(const int32 *) b;

	return x < y ? -1 : x > y;
}

typedef struct FireArgs
{
	int64		tenant_id,
				task_id,
				session_id,
				customer_id,
				message_id;
	bool		fired;
} FireArgs;

static void
fire_one(void *arg)
{
	FireArgs   *f = (FireArgs *) arg;
	Datum		v[5] = {Int64GetDatum(f->tenant_id), Int64GetDatum(f->task_id),
		Int64GetDatum(f->session_id), Int64GetDatum(f->customer_id),
	Int64GetDatum(f->message_id)};

	hd_exec(&fire_plan, v, NULL, false, 1);
	f->fired = SPI_processed > 0;
}

/*
 * core's hook: a customer message with a body was stored (SPI connected,
 * session row locked FOR KEY SHARE).
 */
void
hd_task_on_customer_message(HdPostArgs *m, int64 customer_id, int64 message_id)
{
	TenantIndex *idx;
	MatchState	ms;
	char	   *trimmed;
	int			tlen,
				i;
	bool		have_customer = false;
	char	   *ext_id = NULL,
			   *name = NULL;

	if (m->body == NULL || strcmp(m->type, "text") != 0)
		return;
	idx = get_index(m->tenant_id, hd_task_index_gen(m->tenant_id));
	if (idx->ntasks <= 0)
		return;
	memset(&ms, 0, sizeof(ms));
	ms.idx = idx;
	if (idx->ac)
		hd_ac_scan(idx->ac, m->body, (int) strlen(m->body), add_hit, &ms);
	if (idx->nexact > 0)
	{
		ExactKw		key;
		int			lo = 0,
					hi = idx->nexact;

		trimmed = hd_task_trim(m->body, &tlen);
		key.kw = trimmed;
		/* the first entry >= trimmed, then every equal one */
		while (lo < hi)
		{
			int			mid = (lo + hi) / 2;

			if (exact_cmp(&idx->exact[mid], &key) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < idx->nexact && strcmp(idx->exact[lo].kw, trimmed) == 0; lo++)
			add_hit(idx->exact[lo].task, &ms);
	}
	if (ms.nhits == 0)
		return;
	qsort(ms.hits, ms.nhits, sizeof(int32), int32_cmp);
	for (i = 0; i < ms.nhits; i++)
	{
		MTask	   *t = &idx->tasks[ms.hits[i]];
		FireArgs	f;
		char	   *error = NULL;

		if ((i > 0 && ms.hits[i] == ms.hits[i - 1]) || t->dead)
			continue;
		if (t->specified)
		{
			if (!have_customer)
			{
				Datum		v[2] = {Int64GetDatum(m->tenant_id), Int64GetDatum(customer_id)};

				hd_exec(&load_customer, v, NULL, true, 1);
				if (SPI_processed > 0)
				{
					ext_id = hd_get_text(1);
					name = hd_get_text(2);
				}
				have_customer = true;
			}
			if (ext_id == NULL || t->cust_id == NULL || strcmp(ext_id, t->cust_id) != 0)
				continue;
			if (t->cust_name != NULL && t->cust_name[0] != '\0' &&
				(name == NULL || strcmp(name, t->cust_name) != 0))
				continue;
		}
		f.tenant_id = m->tenant_id;
		f.task_id = t->id;
		f.session_id = m->session_id;
		f.customer_id = customer_id;
		f.message_id = message_id;
		f.fired = false;
		/*
		 * In a subtransaction: an error (a serialization failure of a
		 * REPEATABLE READ caller, a lock timeout) skips the task and the
		 * message stays; a cancel or shutdown is re-raised, it is the
		 * caller's, not ours to swallow.
		 */
		if (!hd_run_in_subxact_rethrow_cancel(fire_one, &f, &error))
		{
			ereport(LOG,
					(errmsg("pg_helpdesk: trigger task %lld of tenant %lld not fired: %s",
							(long long) t->id, (long long) m->tenant_id,
							error ? error : "unknown error")));
			continue;
		}
		if (f.fired)
			hd_wake_at_commit(HD_WORKER_DISPATCHER);
		else
			t->dead = true;		/* gone (fired, cancelled, expired): not tried again here */
	}
}
