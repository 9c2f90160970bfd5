/*
 * hd.h — declarations shared by the pg_helpdesk C sources.
 */
#ifndef HD_H
#define HD_H

#include "postgres.h"
#include "fmgr.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

/*
 * SQLSTATEs of our own, class HD. Standard codes are used where one fits
 * (22004 NULL argument, 22023 bad value, 42501 not a participant, 54000 too
 * large); README.md lists them all.
 */
#define ERRCODE_HD_NOT_FOUND			MAKE_SQLSTATE('H','D','4','0','4')
#define ERRCODE_HD_IDEMPOTENCY_CONFLICT	MAKE_SQLSTATE('H','D','4','0','9')
#define ERRCODE_HD_SESSION_CLOSED		MAKE_SQLSTATE('H','D','4','1','0')
#define ERRCODE_HD_ILLEGAL_TRANSITION	MAKE_SQLSTATE('H','D','4','2','2')
#define ERRCODE_HD_POSITION_PRUNED		MAKE_SQLSTATE('H','D','4','1','6')
#define ERRCODE_HD_LOG_REPLACED		MAKE_SQLSTATE('H','D','4','1','2')
#define ERRCODE_HD_AT_CAPACITY			MAKE_SQLSTATE('H','D','4','2','9')

/* GUCs (settings.c; helpdesk.token_secret: security/token.c) */
extern int	hd_max_message_bytes;
extern int	hd_publisher_batch_size;
extern int	hd_max_databases;
extern int	hd_launcher_naptime;
extern int	hd_publisher_min_interval_ms;
extern int	hd_dispatch_batch_size;
extern int	hd_dispatch_verify_interval_ms;
extern int	hd_position_interval_ms;
extern int	hd_backpressure_after_ms;
extern int	hd_backpressure_max_wait_ms;
extern char *hd_token_secret;
extern void hd_define_core_settings(void);
extern void hd_define_security_settings(void);

/*
 * ---- spi_util.c: saved plans and argument checks ----
 *
 * Pass read_only = false from VOLATILE functions even for lookups: a
 * read-only execution reuses the caller's snapshot and would not see rows
 * this transaction wrote earlier in the same statement.
 */
#define HD_MAX_PLAN_ARGS 16

/*
 * A condition for the workers' statements that pick due work across
 * tenants: true when the tenant in column col is placed on this node, false
 * while it is fenced, incoming or moved out (helpdesk.tenant_fence, read by
 * scripts/move-tenant): a moving tenant's rows are copied as they stand, and
 * on the node that receives them they are the source's until the switch.
 * It is a filter through a C function (tenant_fence.c) that reads the
 * backend's cached fence list and tells the planner it keeps every row, so
 * a min() over a due-time index stays one index probe; a filter the planner
 * estimates from the tenant column's statistics (the list as an array) did
 * not, with a single tenant.
 */
#define HD_PLACED(col) "helpdesk._tenant_placed(" col ")"

/* A statement prepared once per backend and kept (SPI_keepplan). */
typedef struct HdPlan
{
	const char *sql;
	int			nargs;
	Oid			argtypes[HD_MAX_PLAN_ARGS];
	SPIPlanPtr	plan;
} HdPlan;

extern SPIPlanPtr hd_plan(HdPlan *p);
extern int	hd_exec(HdPlan *p, Datum *values, const char *nulls, bool read_only,
					long count);
extern bool hd_get_int64(int col, int64 *out);
extern char *hd_get_text(int col);
extern bool hd_get_bool(int col);
extern void hd_return_query(FunctionCallInfo fcinfo, HdPlan *p, Datum *values,
							const char *nulls);

extern void hd_invalid(const char *fmt,...) pg_attribute_printf(1, 2) pg_attribute_noreturn();
extern void hd_require_args(FunctionCallInfo fcinfo, int n, const char *const *names);

extern void hd_require_json_object(const char *what, Jsonb *j);
extern char *hd_arg_text_or_null(FunctionCallInfo fcinfo, int n);
extern void hd_check_length(const char *what, const char *s, int minlen, int maxlen);
extern void hd_check_enum(const char *what, const char *value, const char *const *allowed);
extern int64 hd_require_tenant(int64 tenant_id);
/* raises 42501 unless the calling role may act for the tenant (security/access.c) */
typedef void (*hd_tenant_access_fn) (int64 tenant_id);
extern hd_tenant_access_fn hd_tenant_access_hook;
extern void hd_require_every_tenant(void);
extern void hd_check_tenant_arg(FunctionCallInfo fcinfo, int argno);
extern void hd_check_tenant(int64 tenant_id);
extern void hd_check_tenant_array(ArrayType *tenants);
extern void hd_not_found(const char *what, int64 id, int64 tenant_id) pg_attribute_noreturn();

/* spi_util.c: a function's own arguments as SPI parameters */
extern void hd_args_to_params(FunctionCallInfo fcinfo, Datum *v, char *n, int count);

/*
 * ---- validate.c: argument checks and quoting input into messages ----
 *
 * Free-form jsonb documents (settings, attributes, skills) are limited to
 * HD_MAX_JSON_BYTES in jsonb's binary form and HD_MAX_JSON_DEPTH levels of
 * nesting: they are copied onto every session row, into agents' screens and
 * through the bridge, whose clients parse them recursively. A value echoed
 * in an error message is cut to HD_QUOTE_MAX_BYTES (at a character boundary).
 */
#define HD_MAX_JSON_BYTES	65536
#define HD_MAX_JSON_DEPTH	8
#define HD_QUOTE_MAX_BYTES	64
#define HD_MAX_MESSAGE_TEXT	1000	/* bytes of a whole error message */

extern char *hd_quote(const char *s);
extern char *hd_clip(const char *s);
extern char *hd_clip_message(char *msg, int max_bytes);
extern int64 hd_interval_usecs(const Interval *i);
extern void hd_check_interval(const char *what, Interval *i, int64 min_usecs, int64 max_usecs);
extern int64 hd_interval_arg(FunctionCallInfo fcinfo, int argno, const char *what,
							 int64 min_usecs, int64 max_usecs, bool zero_ok, Datum *stored);
extern void hd_check_range(const char *what, int64 v, int64 min, int64 max);
extern bool hd_parse_int64(const char *s, int64 min, int64 max, int64 *out);
extern bool hd_json_int(const JsonbValue *v, int64 min, int64 max, int64 *out, char **text);
extern void hd_check_json_limits(const char *what, Jsonb *j);
extern void hd_check_json_document(const char *what, Jsonb *j);

/* system_text.c */
extern bool hd_language_tag_shaped(const char *tag);
extern char *hd_system_text(int64 tenant_id, const char *key, const char *language,
							int64 duration_us);

/* ---- event.c ---- */
extern void hd_append_event(int64 tenant_id, const char *audience, int64 audience_id,
							int64 session_id, int64 message_id, const char *type,
							const char *payload_json);

/* ---- wake.c: COMMIT-time wakeups ---- */
typedef enum HdWorkerKind
{
	HD_WORKER_PUBLISHER = 0,
	HD_WORKER_DISPATCHER,
	HD_WORKER_HTTP,				/* integrations/: webhooks, bot calls */
	HD_WORKER_ROLLUP,			/* reports/: rollups from the event log */
	HD_WORKER_RULES,			/* automation/: rules from the event log, time rules */
	HD_NUM_WORKER_KINDS
} HdWorkerKind;

extern void hd_wake_at_commit(HdWorkerKind kind);
extern void hd_wake_skip_self_at_commit(HdWorkerKind kind);

/* ---- backpressure.c: session calls wait while routing timers run late ---- */
extern void hd_dispatch_backpressure(void);
extern void hd_request_launcher_at_commit(void);
extern void hd_fence_changed_at_commit(void);
extern void hd_note_agent_change(int64 tenant_id, int64 agent_id);

/* ---- state_table.c: lookups in state machines' static tables ---- */
typedef struct HdTransition
{
	const char *from;
	const char *to;
} HdTransition;

extern bool hd_transition_in(const HdTransition *table, const char *from, const char *to);
extern const char *hd_literal_in(const char *const *list, const char *s, const char *what);

/* ---- session_state.c ---- */
extern bool hd_transition_allowed(const char *from, const char *to);
extern void hd_check_transition(int64 session_id, const char *from, const char *to);
extern const char *hd_state_literal(const char *state);

/* ---- session_row.c: a session row by key, locked as the caller needs ---- */
typedef struct HdSessionRow
{
	int64		id;
	int64		customer_id;
	char	   *state;
	bool		has_agent;
	int64		agent_id;
	bool		has_queue;
	int64		queue_id;
} HdSessionRow;

typedef enum HdRowLock
{
	HD_LOCK_NONE,
	HD_LOCK_KEY_SHARE,
	HD_LOCK_UPDATE
} HdRowLock;

extern void hd_load_session(int64 tenant_id, int64 session_id, HdRowLock lock,
							HdSessionRow *row);
extern void hd_require_enabled_agent(int64 tenant_id, int64 agent_id);
extern void hd_require_agent_may(int64 tenant_id, int64 agent_id, const char *action);
extern void hd_refuse_qa(int64 agent_id, const char *action) pg_attribute_noreturn();

/* ---- background workers ---- */
extern void hd_shmem_request(void);
extern void hd_shmem_startup(void);
extern void hd_register_launcher(void);
extern void hd_install_utility_hook(void);

#endif							/* HD_H */
