/*
 * task_ac.c — Aho-Corasick over bytes, for the keywords of a tenant's live
 * trigger tasks: one pass over a message finds every keyword in it, however
 * many tasks wait. UTF-8 needs no special care: a keyword's bytes can only
 * match at a character boundary because UTF-8 is self-synchronising.
 *
 * States keep their children as sibling lists (the root has a 256-entry
 * table): 10,000 Chinese keywords make ~60,000 states, which a full 256-way
 * table per state would turn into 60 MB per backend. Outputs are chained
 * per state plus a dictionary-suffix link, so a scan visits only states that
 * really end a keyword. Everything lives in the current memory context at
 * hd_ac_new() (the caller's per-tenant cache context).
 */
#include "automation.h"

struct HdAc
{
	int			nstates,
				cap;
	uint8	   *byte;			/* the edge into the state */
	int32	   *first_child,
			   *next_sib,
			   *fail,
			   *out,			/* first pattern ending here, -1 */
			   *dict;			/* nearest fail-ancestor with an output, -1 */
	int32		root[256];		/* the root's children */
	int			npat,
				patcap;
	int32	   *pat_value,
			   *pat_next;
	bool		built;
};

static int
new_state(HdAc *ac, uint8 b)
{
	if (ac->nstates == ac->cap)
	{
		ac->cap *= 2;
		ac->byte = repalloc(ac->byte, ac->cap);
		ac->first_child = repalloc(ac->first_child, ac->cap * sizeof(int32));
		ac->next_sib = repalloc(ac->next_sib, ac->cap * sizeof(int32));
		ac->fail = repalloc(ac->fail, ac->cap * sizeof(int32));
		ac->out = repalloc(ac->out, ac->cap * sizeof(int32));
		ac->dict = repalloc(ac->dict, ac->cap * sizeof(int32));
	}
	ac->byte[ac->nstates] = b;
	ac->first_child[ac->nstates] = -1;
	ac->next_sib[ac->nstates] = -1;
	ac->fail[ac->nstates] = 0;
	ac->out[ac->nstates] = -1;
	ac->dict[ac->nstates] = -1;
	return ac->nstates++;
}

HdAc *
hd_ac_new(void)
{
	HdAc	   *ac = palloc0(sizeof(HdAc));

	ac->cap = 64;
	ac->byte = palloc(ac->cap);
	ac->first_child = palloc(ac->cap * sizeof(int32));
	ac->next_sib = palloc(ac->cap * sizeof(int32));
	ac->fail = palloc(ac->cap * sizeof(int32));
	ac->out = palloc(ac->cap * sizeof(int32));
	ac->dict = palloc(ac->cap * sizeof(int32));
	memset(ac->root, -1, sizeof(ac->root));
	(void) new_state(ac, 0);	/* the root is state 0 */
	ac->patcap = 64;
	ac->pat_value = palloc(ac->patcap * sizeof(int32));
	ac->pat_next = palloc(ac->patcap * sizeof(int32));
	return ac;
}

static inline int32
child(const HdAc *ac, int32 s, uint8 b)
{
	int32		c;

	if (s == 0)
		return ac->root[b];
	for (c = ac->first_child[s]; c >= 0; c = ac->next_sib[c])
		if (ac->byte[c] == b)
			return c;
	return -1;
}

void
hd_ac_add(HdAc *ac, const char *pat, int len, int32 value)
{
	int32		s = 0;
	int			i;

	Assert(!ac->built);
	if (len <= 0)
		return;
	for (i = 0; i < len; i++)
	{
		uint8		b = (uint8) pat[i];
		int32		c = child(ac, s, b);

		if (c < 0)
		{
			c = new_state(ac, b);
			if (s == 0)
				ac->root[b] = c;
			else
			{
				ac->next_sib[c] = ac->first_child[s];
				ac->first_child[s] = c;
			}
		}
		s = c;
	}
	if (ac->npat == ac->patcap)
	{
		ac->patcap *= 2;
		ac->pat_value = repalloc(ac->pat_value, ac->patcap * sizeof(int32));
		ac->pat_next = repalloc(ac->pat_next, ac->patcap * sizeof(int32));
	}
	ac->pat_value[ac->npat] = value;
	ac->pat_next[ac->npat] = ac->out[s];
	ac->out[s] = ac->npat++;
}

/* Failure and dictionary links, breadth first. */
void
hd_ac_build(HdAc *ac)
{
	int32	   *queue = palloc(ac->nstates * sizeof(int32));
	int			head = 0,
				tail = 0,
				b;

	for (b = 0; b < 256; b++)
		if (ac->root[b] >= 0)
		{
			ac->fail[ac->root[b]] = 0;
			queue[tail++] = ac->root[b];
		}
	while (head < tail)
	{
		int32		s = queue[head++];
		int32		c;

		for (c = ac->first_child[s]; c >= 0; c = ac->next_sib[c])
		{
			int32		f = ac->fail[s];
			int32		t;

			while ((t = child(ac, f, ac->byte[c])) < 0 && f != 0)
				f = ac->fail[f];
			ac->fail[c] = (t >= 0 && t != c) ? t : 0;
			ac->dict[c] = ac->out[ac->fail[c]] >= 0 ? ac->fail[c] : ac->dict[ac->fail[c]];
			queue[tail++] = c;
		}
	}
	pfree(queue);
	ac->built = true;
}

void
hd_ac_scan(const HdAc *ac, const char *text, int len,
		   void (*fn) (int32 value, void *arg), void *arg)
{
	int32		s = 0;
	int			i;

	Assert(ac->built);
	for (i = 0; i < len; i++)
	{
		uint8		b = (uint8) text[i];
		int32		t;
		int32		o;

		while ((t = child(ac, s, b)) < 0 && s != 0)
			s = ac->fail[s];
		s = t >= 0 ? t : 0;
		for (o = s; o > 0; o = ac->dict[o])
		{
			int32		p;

			for (p = ac->out[o]; p >= 0; p = ac->pat_next[p])
				fn(ac->pat_value[p], arg);
			if (ac->dict[o] < 0)
				break;
		}
	}
}

int
hd_ac_states(const HdAc *ac)
{
	return ac->nstates;
}
