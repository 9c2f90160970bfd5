/*
 * dispatch_pass.h — what one assignment pass holds in memory, shared by its
 * loading (dispatch_load.c) and its matching and writing (dispatch_match.c).
 */
#ifndef HD_DISPATCH_PASS_H
#define HD_DISPATCH_PASS_H

#include "dispatch.h"

#include "utils/hsearch.h"

typedef enum Strategy
{
	ST_LEAST_LOADED,
	ST_LONGEST_IDLE,
	ST_ROUND_ROBIN,
	ST_STICKY
} Strategy;


typedef struct Agent
{
	int64		tenant_id;
	int64		id;
	int			load;			/* as loaded + planned this pass */
	int			cap;
	int			planned;
	TimestampTz last_activity;	/* 0: never */
	TimestampTz status_changed;
	const HdAgentSkills *sk;	/* cached across passes: read only */
	uint64		skill_word;		/* sk's sets as words (matching), unless wide */
	uint64		lang_word;
	bool		wide;
	const int  *levels;			/* sk's levels (no pointer chase per candidate) */
	int			nlevels;
} Agent;

typedef struct Queue
{
	int64		tenant_id;
	int64		id;
	Strategy	strategy;
	bool		direct;
	int64		offer_timeout_us;
	int64		sticky_window_us;
	int64		idle_warn_us;
	int64		rr_cursor;
	bool		rr_changed;
	Bitmapset  *req_skills;
	Bitmapset  *req_langs;
	uint64		req_skill_word; /* the same as words, unless req_wide */
	uint64		req_lang_word;
	bool		req_wide;
	int		   *req_bits;		/* req_skills' members, for skill_weight */
	int			nreq_bits;
	char	   *req_text;		/* "skills billing, language es" for reasons */
	int		   *cands;			/* agents with the skills and a language */
	int			ncands;
	int		   *cand_weight;	/* per candidate, its skill_weight (match_one) */
	double	   *cand_idle_s;	/* and its idle seconds: fixed within a pass */
	int			nloaded;		/* waiting sessions loaded this pass */
	int			depth;			/* how many we asked for */
} Queue;

typedef struct Waiting
{
	int64		tenant_id;
	int64		id;
	int64		queue_id;
	int64		customer_id;
	int64		target;
	TimestampTz queued_at;
	int64	   *excluded;
	int			nexcluded;
	char	   *old_reason;
	int			q;				/* index into queues */
	int			chosen;			/* agent index or -1 */
	int			ncand;
	double		score;
	char	   *reason;
	bool		drop_target;
	int64		sticky_agent;
	TimestampTz sticky_at;
} Waiting;

typedef struct QueueLimit
{
	int64		key[3];			/* tenant, agent, queue */
	int			remaining;
} QueueLimit;

typedef struct Pass
{
	Agent	   *agents;
	int			nagents;
	Queue	   *queues;
	int			nqueues;
	Waiting    *waiting;
	int			nwaiting;
	HTAB	   *limits;
	int			nlimits;
	TimestampTz now;
	/* the tenants this pass routes, sorted by id, with their settings */
	HdTenantTimes *tt;
	int			ntenants;
	List	   *marks;			/* marks to write at the end (HdMark) */
	TimestampTz retry_at;		/* earliest end of a cool-down seen, 0: none */
} Pass;

static inline int64
get_int8(HeapTuple t, TupleDesc d, int col, int64 dflt)
{
	bool		isnull;
	Datum		x = SPI_getbinval(t, d, col, &isnull);

	return isnull ? dflt : DatumGetInt64(x);
}

static inline TimestampTz
get_ts(HeapTuple t, TupleDesc d, int col, TimestampTz dflt)
{
	bool		isnull;
	Datum		x = SPI_getbinval(t, d, col, &isnull);

	return isnull ? dflt : DatumGetTimestampTz(x);
}


/* Order of two (tenant_id, id) keys, for qsort and binary searches. */
static inline int
cmp_pair(int64 t1, int64 i1, int64 t2, int64 i2)
{
	if (t1 != t2)
		return t1 < t2 ? -1 : 1;
	if (i1 != i2)
		return i1 < i2 ? -1 : 1;
	return 0;
}

/*
 * Binary search over an array sorted by (tenant_id, id) whose elements start
 * with those two fields (Agent and Queue do). Returns the index or -1.
 */
typedef struct Keyed
{
	int64		tenant_id;
	int64		id;
} Keyed;

static inline int
find_keyed(const void *base, int n, size_t size, int64 tenant_id, int64 id)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		const Keyed *k = (const Keyed *) ((const char *) base + (size_t) mid * size);

		if (k->tenant_id == tenant_id && k->id == id)
			return mid;
		if (k->tenant_id < tenant_id || (k->tenant_id == tenant_id && k->id < id))
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* qsort order of the same arrays */
static inline int
cmp_keyed(const void *x, const void *y)
{
	const Keyed *a = (const Keyed *) x;
	const Keyed *b = (const Keyed *) y;

	return cmp_pair(a->tenant_id, a->id, b->tenant_id, b->id);
}

#define find_queue(p, t, q) find_keyed((p)->queues, (p)->nqueues, sizeof(Queue), (t), (q))
#define find_agent(p, t, a) find_keyed((p)->agents, (p)->nagents, sizeof(Agent), (t), (a))

/* One session placed by a pass, as dispatch_record.c writes it down. */
typedef struct HdPlaced
{
	int64		tenant_id;
	int64		session_id;
	int64		customer_id;
	int64		queue_id;
	int64		agent_id;
	bool		direct;			/* assigned (true) or offered */
	const char *strategy;
	int32		candidates;
	double		score;
	const char *reason;
	int32		load;			/* the agent's load after the pass, and its capacity */
	int32		cap;
} HdPlaced;

/* dispatch_record.c: history, audit rows and events of the placements */
extern void hd_record_placed(const HdPlaced *r, int n);

/* dispatch_load.c: fill the pass (tenants, agents, queues, waiting sessions) */
extern void hd_load_pass(Pass *p);

/* dispatch_agents.c: the present eligible agents of the tenants, into p->agents */
extern void hd_agents_load(Pass *p, const int64 *tenants, const TimestampTz *fresh,
						   int ntenants, int64 *free_slots);

#endif							/* HD_DISPATCH_PASS_H */
