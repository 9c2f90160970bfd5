/*
 * dispatch_skills.c — skills and languages as bitmaps, kept across passes.
 *
 * Matching compares a queue's required skills and languages with every
 * online agent's, so both become bitmaps over one dictionary of names per
 * (tenant, kind). Parsing 1,000 agents' skills jsonb and languages into
 * bitmaps took about a fifth of every pass, although they change rarely; so
 * the dictionary and each agent's parsed sets live in the dispatcher's
 * long-lived memory, and a pass reuses an agent's sets while its stored
 * skills and languages are byte for byte what they were when parsed.
 *
 * Bits never change meaning while the cache lives. The cache is dropped as
 * a whole at the start of a pass (hd_skills_begin_pass) when it holds far
 * more agents than the last pass loaded (agents removed or gone offline for
 * good) or too many names, which bounds its memory.
 */
#include "dispatch.h"

#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#define MAX_NAMES 65536
#define MAX_NAME_LEN 72			/* directory.c allows names of 1 to 64 bytes */

typedef struct NameKey
{
	int64		tenant_id;
	char		kind;			/* 's' skill, 'l' language */
	char		name[MAX_NAME_LEN + 1];
} NameKey;

typedef struct NameEntry
{
	NameKey		key;
	int			bit;
} NameEntry;

typedef struct AgentKey
{
	int64		tenant_id;
	int64		id;
} AgentKey;

typedef struct AgentEntry
{
	AgentKey	key;
	struct varlena *raw_skills; /* as parsed, to detect a change */
	struct varlena *raw_langs;
	HdAgentSkills sk;
} AgentEntry;

static MemoryContext cache_cxt = NULL;
static HTAB *names = NULL;
static HTAB *agents = NULL;
static int	nnames = 0;

static void
cache_create(void)
{
	HASHCTL		ctl;

	if (cache_cxt == NULL)
		cache_cxt = AllocSetContextCreate(TopMemoryContext, "pg_helpdesk skills cache",
										  ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(NameKey);
	ctl.entrysize = sizeof(NameEntry);
	ctl.hcxt = cache_cxt;
	names = hash_create("pg_helpdesk skill names", 256, &ctl,
						HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(AgentKey);
	ctl.entrysize = sizeof(AgentEntry);
	ctl.hcxt = cache_cxt;
	agents = hash_create("pg_helpdesk agent skills", 1024, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	nnames = 0;
}

bool
hd_skills_begin_pass(int agents_last_pass)
{
	bool		reset = false;

	if (names != NULL &&
		(nnames > MAX_NAMES ||
		 hash_get_num_entries(agents) > 2 * (long) agents_last_pass + 1024))
	{
		MemoryContextReset(cache_cxt);
		names = NULL;
		agents = NULL;
	}
	if (names == NULL)
	{
		cache_create();
		reset = true;
	}
	return reset;
}

/* The bit of a name (names longer than MAX_NAME_LEN bytes are cut there). */
static int
name_bit(char kind, int64 tenant_id, const char *name, int len)
{
	NameKey		key;
	NameEntry  *e;
	bool		found;

	memset(&key, 0, sizeof(key));
	key.tenant_id = tenant_id;
	key.kind = kind;
	memcpy(key.name, name, Min(len, MAX_NAME_LEN));
	e = hash_search(names, &key, HASH_ENTER, &found);
	if (!found)
		e->bit = nnames++;
	return e->bit;
}

/* text[] -> bitmap of dictionary bits, allocated in the current context */
Bitmapset *
hd_name_bits(char kind, int64 tenant_id, Datum arr)
{
	Datum	   *el;
	bool	   *nulls;
	int			n,
				i;
	Bitmapset  *b = NULL;

	deconstruct_array(DatumGetArrayTypeP(arr), TEXTOID, -1, false, TYPALIGN_INT, &el, &nulls, &n);
	for (i = 0; i < n; i++)
		if (!nulls[i])
		{
			text	   *t = DatumGetTextPP(el[i]);

			b = bms_add_member(b, name_bit(kind, tenant_id, VARDATA_ANY(t),
										   VARSIZE_ANY_EXHDR(t)));
		}
	return b;
}

/*
 * skills jsonb {"name": level} -> bitmap + levels. A level that is not a
 * number counts as 1; a number outside 1..10 (possible only by writing the
 * table directly) makes the agent unusable: sk->error says why and the pass
 * marks and skips the agent instead of failing for everyone.
 */
static void
parse_skills(HdAgentSkills *sk, int64 tenant_id, Jsonb *skills)
{
	JsonbIterator *it = JsonbIteratorInit(&skills->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			bit = -1;
	const char *name = NULL;	/* points into the jsonb */
	int			namelen = 0;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			bit = name_bit('s', tenant_id, v.val.string.val, v.val.string.len);
			sk->skills = bms_add_member(sk->skills, bit);
			name = v.val.string.val;
			namelen = v.val.string.len;
		}
		else if (tok == WJB_VALUE && bit >= 0)
		{
			int			level = 1;

			if (v.type == jbvNumeric)
			{
				bool		bad = false;

				level = numeric_int4_opt_error(v.val.numeric, &bad);
				if (bad || level < 1 || level > 10)
				{
					if (sk->error == NULL)
						sk->error = psprintf("settings: skill \"%s\" has level %s; levels are 1..10",
											 hd_clip_message(pnstrdup(name, Min(namelen, 200)), 64),
											 hd_clip_message(DatumGetCString(DirectFunctionCall1(numeric_out,
																								  NumericGetDatum(v.val.numeric))), 40));
					level = 1;
				}
			}
			if (bit >= sk->nlevels)
			{
				int			n = Max(bit + 1, sk->nlevels * 2);
				int		   *grown = palloc0(sizeof(int) * n);

				if (sk->levels)
					memcpy(grown, sk->levels, sizeof(int) * sk->nlevels);
				sk->levels = grown;
				sk->nlevels = n;
			}
			sk->levels[bit] = level;
			bit = -1;
		}
	}
}

/* Compare a stored copy with a column value as it came (maybe short-header). */
static bool
same_value(struct varlena *stored, struct varlena *packed)
{
	return stored != NULL && VARSIZE_ANY_EXHDR(stored) == VARSIZE_ANY_EXHDR(packed) &&
		memcmp(VARDATA_ANY(stored), VARDATA_ANY(packed), VARSIZE_ANY_EXHDR(packed)) == 0;
}

static struct varlena *
copy_value(struct varlena *packed)
{
	struct varlena *c = palloc(VARSIZE_ANY(packed));

	memcpy(c, packed, VARSIZE_ANY(packed));
	return c;
}

static void
free_entry(AgentEntry *e)
{
	if (e->raw_skills)
		pfree(e->raw_skills);
	if (e->raw_langs)
		pfree(e->raw_langs);
	bms_free(e->sk.skills);
	bms_free(e->sk.langs);
	if (e->sk.levels)
		pfree(e->sk.levels);
	if (e->sk.error)
		pfree(e->sk.error);
}

/*
 * An agent's parsed skills and languages (read only; valid until the next
 * hd_skills_begin_pass), from the raw column values. The values are compared
 * as they come, without detoasting: unchanged agents cost a hash lookup and
 * two memcmp.
 */
const HdAgentSkills *
hd_agent_skills(int64 tenant_id, int64 agent_id, Datum skills, Datum langs)
{
	AgentKey	key = {tenant_id, agent_id};
	AgentEntry *e;
	bool		found;
	struct varlena *rs = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(skills));
	struct varlena *rl = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(langs));
	MemoryContext old;

	e = hash_search(agents, &key, HASH_ENTER, &found);
	if (found && same_value(e->raw_skills, rs) && same_value(e->raw_langs, rl))
		return &e->sk;
	if (found)
		free_entry(e);
	/* the raw values go in last: an error while parsing leaves no match */
	e->raw_skills = NULL;
	e->raw_langs = NULL;
	memset(&e->sk, 0, sizeof(e->sk));
	old = MemoryContextSwitchTo(cache_cxt);
	parse_skills(&e->sk, tenant_id, DatumGetJsonbP(skills));
	e->sk.langs = hd_name_bits('l', tenant_id, langs);
	e->sk.wide = !hd_bms_word(e->sk.skills, &e->sk.skill_word) |
		!hd_bms_word(e->sk.langs, &e->sk.lang_word);
	e->raw_skills = copy_value(rs);
	e->raw_langs = copy_value(rl);
	MemoryContextSwitchTo(old);
	return &e->sk;
}

/*
 * Matching tests every (queue, agent) pair of a tenant each pass: with
 * 10,000 agents and 20 queues, bms_is_subset and bms_overlap were a third
 * of the dispatcher's CPU. Dictionaries of fewer than 64 names fit one word,
 * and the test becomes two ANDs.
 */
bool
hd_bms_word(const Bitmapset *b, uint64 *word)
{
	int			bit = -1;

	*word = 0;
	while ((bit = bms_next_member(b, bit)) >= 0)
	{
		if (bit >= 64)
			return false;
		*word |= UINT64CONST(1) << bit;
	}
	return true;
}
