/*
 * dispatch.h — the dispatcher worker's stages (dispatcher.c runs them).
 */
#ifndef HD_DISPATCH_H
#define HD_DISPATCH_H

#include "routing.h"
#include "worker.h"

#include "nodes/bitmapset.h"
#include "utils/array.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

/* dispatch_match.c: one assignment pass; returns sessions placed, sets *more */
extern int	hd_dispatch_assign(bool *more);

/* dispatch_timers.c: fire every due timer; returns how many fired */
extern int	hd_dispatch_timers(void);

/* dispatch_tenant_timers.c: presence expiry and grace ends, set-based per tenant */
typedef struct TenantSet HdTimerTenants;
extern HdTimerTenants *hd_timer_tenants_load(void);
extern int64 hd_timer_expire_presence(const HdTimerTenants *ts);
extern void hd_timer_end_grace(const HdTimerTenants *ts);
extern void hd_timer_grace_params(const HdTimerTenants *ts, Datum *v);
extern TimestampTz hd_dispatch_next_due(bool *have_waiting);

/* dispatch_positions.c: recompute queue positions, push changed ones */
extern int	hd_dispatch_positions(void);

/* dispatch_skills.c: skills and languages as bitmaps, cached across passes */
typedef struct HdAgentSkills
{
	Bitmapset  *skills;
	Bitmapset  *langs;
	int		   *levels;			/* level per skill bit, indexed by bit */
	int			nlevels;
	char	   *error;			/* 'settings:' mark when a level is unusable */
	/* the same sets as words, when every bit is below 64 (!wide): matching */
	uint64		skill_word;
	uint64		lang_word;
	bool		wide;
} HdAgentSkills;

/* a set as one word; false when a member is 64 or more */
extern bool hd_bms_word(const Bitmapset *b, uint64 *word);

/* true when the cache was (re)created: pointers into it from before are gone */
extern bool hd_skills_begin_pass(int agents_last_pass);

/* dispatch_agents.c: the dispatcher's view of agents across passes */
extern void hd_agents_reset(void);
extern void hd_agents_recheck(int64 tenant_id, int64 agent_id);
extern int	hd_agents_cached(void);
extern Bitmapset *hd_name_bits(char kind, int64 tenant_id, Datum arr);
extern const HdAgentSkills *hd_agent_skills(int64 tenant_id, int64 agent_id, Datum skills,
											Datum langs);

/* dispatch_util.c: arrays for the bulk statements */
extern Datum hd_int8_array(const int64 *v, int n);
extern Datum hd_int4_array(const int32 *v, int n);
extern Datum hd_bool_array(const bool *v, int n);
extern Datum hd_float8_array(const double *v, int n);
extern Datum hd_timestamptz_array(const TimestampTz *v, int n);
extern Datum hd_text_array(char *const *v, int n);
extern void hd_mark_session_error(int64 tenant_id, int64 session_id, const char *what,
								  const char *message);
extern bool hd_run_in_subxact(void (*fn) (void *), void *arg, char **error);
extern bool hd_run_in_subxact_rethrow_cancel(void (*fn) (void *), void *arg,
											 char **error);
extern bool hd_in_own_xact(void (*fn) (void *), void *arg, char **error);

/*
 * Settings as the dispatcher uses them, checked in C so that a stored value
 * no arithmetic can use marks its own row instead of failing a statement
 * that reads every tenant. Delays are microseconds in [0, HD_MAX_DELAY_US]
 * (about 10,000 years: any delay that makes sense, and now() plus or minus
 * it is always a valid timestamp).
 */
#define HD_MAX_DELAY_US (INT64CONST(3650000) * USECS_PER_DAY)

/* columns of helpdesk.tenant t that hd_tenant_times reads, in this order */
#define HD_TENANT_COLS "t.id, t.heartbeat_interval, t.heartbeat_misses, t.presence_grace, " \
	"t.idle_warn_after, t.idle_close_after, t.dispatch_error"
typedef struct HdTenantTimes
{
	int64		tenant_id;
	int64		presence_us;	/* heartbeat_interval x heartbeat_misses */
	int64		grace_us;
	int64		warn_us;
	int64		close_us;
	char	   *mark;			/* stored dispatch_error or NULL */
} HdTenantTimes;

/* columns of helpdesk.queue q that hd_queue_times reads, in this order */
#define HD_QUEUE_COLS "q.offer_timeout, q.sticky_window, q.idle_warn_after, " \
	"q.idle_close_after, q.max_wait, q.dispatch_error"
typedef struct HdQueueTimes
{
	int64		offer_timeout_us;
	int64		sticky_window_us;
	int64		warn_us;		/* with the tenant's as fallback */
	int64		close_us;
	int64		max_wait_us;	/* 0: none */
	char	   *mark;
} HdQueueTimes;

typedef enum HdMarkKind
{
	HD_MARK_TENANT,
	HD_MARK_QUEUE,
	HD_MARK_AGENT
} HdMarkKind;

typedef struct HdMark
{
	HdMarkKind	kind;
	int64		tenant_id;
	int64		id;
	char	   *error;			/* NULL: clear */
} HdMark;

extern bool hd_delay_us(const Interval *iv, int64 *us);
extern bool hd_ts_plus_us(TimestampTz ts, int64 us, TimestampTz *out);
extern const char *hd_tenant_times(HeapTuple t, TupleDesc d, int col, HdTenantTimes *out);
extern const char *hd_queue_times(HeapTuple t, TupleDesc d, int col,
								  const HdTenantTimes *tenant, HdQueueTimes *out);
extern void hd_mark_row(HdMarkKind kind, int64 tenant_id, int64 id, const char *error);
extern void hd_defer_mark(List **marks, HdMarkKind kind, int64 tenant_id, int64 id,
						  const char *error);
extern void hd_write_marks(List *marks);
extern bool hd_mark_is(const char *mark, const char *prefix);

/* dispatch_match.c: when a pass wants to look again (cool-downs), 0: no need */
extern TimestampTz hd_dispatch_retry_at;

/* dispatcher.c: the dispatcher worker's loop (registered in pg_helpdesk.c) */
extern void hd_dispatcher_run(HdWorkerSlot *w);

#endif							/* HD_DISPATCH_H */
