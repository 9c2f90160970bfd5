/*
 * automation.h — trigger tasks (seed 003): what the files of this folder
 * share. receive/cancel/list (task_api.c, task_json.c), the matcher on every
 * customer message (task_match.c, task_ac.c), the dispatcher stage that arms,
 * fires time_reach, expires and runs actions (task_stage.c, task_action.c),
 * the callbacks through the HTTP worker (task_callback.c).
 */
#ifndef HD_AUTOMATION_H
#define HD_AUTOMATION_H

#include "hd.h"
#include "message.h"

#define HD_TASK_MAX_KEYWORDS 100
#define HD_TASK_MAX_KEYWORD_BYTES 200
#define HD_TASK_CALLBACK_ATTEMPTS 5

/* task_cache.c: the shared generation of every tenant's task index */
extern void hd_task_shmem_init(void);
extern void hd_task_index_changed(int64 tenant_id);	/* at commit, every backend reloads it */
extern uint64 hd_task_index_gen(int64 tenant_id);

/* task_ac.c: an Aho-Corasick automaton over byte strings */
typedef struct HdAc HdAc;
extern HdAc *hd_ac_new(void);
extern void hd_ac_add(HdAc *ac, const char *pat, int len, int32 value);
extern void hd_ac_build(HdAc *ac);
/* calls fn(value, arg) for every pattern occurring in text (repeats included) */
extern void hd_ac_scan(const HdAc *ac, const char *text, int len,
					   void (*fn) (int32 value, void *arg), void *arg);
extern int	hd_ac_states(const HdAc *ac);

/* task_match.c */
extern void hd_task_on_customer_message(HdPostArgs *m, int64 customer_id, int64 message_id);
extern char *hd_task_trim(const char *s, int *len);

/* task_stage.c */
extern void hd_task_register_stage(void);
extern int	hd_task_pass(TimestampTz now, int max_rows, bool *more);

/* task_action.c: the action of a running task, in the caller's subtransaction */
extern void hd_task_run_action(int64 tenant_id, int64 task_row_id, int64 *session_id,
							   int64 *message_id);

/* task_callback.c */
extern void hd_task_register_callback_source(void);
extern void hd_task_callback_due(int64 tenant_id, int64 task_row_id);

/* task_json.c: the task's status object as receive/status/list return it */
extern Datum hd_task_json(int64 tenant_id, int64 task_row_id);

extern void hd_automation_init(void);

/* task_api.c: the AES-GCM context (associated data) of the tenant's sealed callback secret */
extern char *hd_task_secret_context(int64 tenant_id);

#endif							/* HD_AUTOMATION_H */
