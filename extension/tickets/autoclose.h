/*
 * autoclose.h — what the auto-close files (autoclose.c: settings and the
 * schedule; autoclose_stage.c: the dispatcher stage) and csat.c share.
 */
#ifndef HD_AUTOCLOSE_H
#define HD_AUTOCLOSE_H

#include "tickets.h"

typedef enum HdAutocloseRule
{
	HD_AC_PENDING = 0,
	HD_AC_REPLIED,
	HD_AC_RESOLVED,
	HD_AC_NUM_RULES
} HdAutocloseRule;

extern const char *const hd_autoclose_rule_names[HD_AC_NUM_RULES];

/*
 * True while the auto-close stage resolves a ticket in this backend: the
 * CSAT observer skips the survey when the tenant's csat_mode is
 * not_after_autoclose.
 */
extern bool hd_autoclose_firing;

/* autoclose.c: recompute the schedule of a ticket (SPI connected, row locked) */
extern void hd_autoclose_reschedule(int64 tenant_id, int64 ticket_id);

/* autoclose_stage.c: fire what is due at now (at most max_rows); *more when cut short */
extern int	hd_autoclose_pass(TimestampTz now, int max_rows, bool *more);
extern void hd_autoclose_register_stage(void);

#endif							/* HD_AUTOCLOSE_H */
