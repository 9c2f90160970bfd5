/*
 * dispatch.h — the dispatcher worker's stages (dispatcher.c runs them).
 */
#ifndef HD_DISPATCH_H
#define HD_DISPATCH_H

#include "routing.h"

#include "nodes/bitmapset.h"
#include "utils/array.h"
#include "utils/jsonb.h"

/* dispatch_match.c: one assignment pass; returns sessions placed, sets *more */
extern int	hd_dispatch_assign(bool *more);

/* dispatch_timers.c: fire every due timer; returns how many fired */
extern int	hd_dispatch_timers(void);
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
} HdAgentSkills;

extern void hd_skills_begin_pass(int agents_last_pass);
extern Bitmapset *hd_name_bits(char kind, int64 tenant_id, Datum arr);
extern const HdAgentSkills *hd_agent_skills(int64 tenant_id, int64 agent_id, Datum skills,
											Datum langs);

/* dispatch_util.c: arrays for the bulk statements */
extern Datum hd_int8_array(const int64 *v, int n);
extern Datum hd_int4_array(const int32 *v, int n);
extern Datum hd_bool_array(const bool *v, int n);
extern Datum hd_float8_array(const double *v, int n);
extern Datum hd_text_array(char *const *v, int n);
extern void hd_mark_session_error(int64 tenant_id, int64 session_id, const char *what,
								  const char *message);
extern bool hd_run_in_subxact(void (*fn) (void *), void *arg, char **error);
extern bool hd_in_own_xact(void (*fn) (void *), void *arg, char **error);

#endif							/* HD_DISPATCH_H */
