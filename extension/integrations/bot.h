/*
 * bot.h — the bot hand-off, shared by the bot_*.c files.
 *
 *   bot_config.c   upsert_bot, delete_bot
 *   bot_intake.c   a customer message in a bot session: keywords and turns
 *                  checked in the poster's transaction, else a bot_job row
 *   bot_handoff.c  hand-off to a human (request_agent + why), handoff_to_agent
 *   bot_answer.c   an answer applied: posted (menus too), conversation id,
 *                  hand-off signals, issue type and urgency; bot_reply
 *   bot_source.c   the HTTP worker's job source: claim, Dify / webhook
 *                  request, completion, recovery, webhook reply deadlines
 */
#ifndef HD_BOT_H
#define HD_BOT_H

#include "hd.h"

/* session.bot_handoff_reason */
#define HD_HANDOFF_MARKER	"marker"
#define HD_HANDOFF_METADATA	"metadata"
#define HD_HANDOFF_KEYWORD	"keyword"
#define HD_HANDOFF_TURNS	"max_turns"
#define HD_HANDOFF_FAILURE	"failure"
#define HD_HANDOFF_TIMEOUT	"timeout"
#define HD_HANDOFF_API		"api"

/*
 * The AES-GCM context of a bot's secret ("bot:<tenant>"): a sealed key
 * copied to another tenant's bot, or into a webhook row, does not open.
 */
#define hd_bot_secret_context(tenant_id) psprintf("bot:%lld", (long long) (tenant_id))

/* bot_source.c: the HTTP worker's job source */
struct HdHttpSource;
extern const struct HdHttpSource hd_bot_source;

/* bot_intake.c */
extern void hd_bot_init(void);
extern bool hd_bot_keyword_match(const char *body, const char *keyword);

/* bot_handoff.c */
extern bool hd_bot_handoff(int64 tenant_id, int64 session_id, const char *reason,
						   bool has_queue, int64 queue_id, bool has_priority,
						   int32 priority, int64 *queue_out);

/* bot_answer.c: apply an answer (JSON text) to a job; see the file comment */
typedef enum HdBotOutcome
{
	HD_BOT_POSTED,				/* the answer was posted (and maybe handed off) */
	HD_BOT_HANDED_OFF,			/* handed off with nothing to post */
	HD_BOT_DROPPED				/* job no longer open: late, logged */
} HdBotOutcome;

extern HdBotOutcome hd_bot_apply_answer(int64 tenant_id, int64 job_id, const char *json,
										size_t len, int http_status, int64 *message_id);
extern void hd_bot_fail(int64 tenant_id, int64 job_id, const char *reason,
						int http_status, const char *error);

#endif							/* HD_BOT_H */
