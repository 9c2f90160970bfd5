/*
 * message.h — posting messages, shared by message.c and session.c.
 */
#ifndef HD_MESSAGE_H
#define HD_MESSAGE_H

#include "hd.h"
#include "utils/jsonb.h"

typedef struct HdPostArgs
{
	int64		tenant_id;
	int64		session_id;
	const char *sender_kind;
	bool		has_sender;
	int64		sender_id;
	const char *type;
	const char *body;			/* may be NULL for image/file/menu */
	const char *client_msg_id;	/* may be NULL */
	Jsonb	   *attachment;		/* may be NULL */
	Jsonb	   *options;		/* may be NULL */
} HdPostArgs;

extern int64 hd_post_message(HdPostArgs *m);
extern void hd_check_attachment(Jsonb *a, bool image);
extern void hd_check_message_bytes(int64 bytes);

/*
 * Completes an attachment that names an upload ({"upload_id": n}) before a
 * chat or ticket message is checked and written: the upload must be one of
 * the tenant's (HD404), and its name, type and size go into the attachment.
 * Set at load by security/ (the uploads); NULL leaves attachments as given.
 * A hook and not a row trigger, so post_message keeps its direct write
 * (core/direct_insert.c refuses tables with INSERT triggers).
 */
typedef Jsonb *(*hd_attachment_hook_type) (int64 tenant_id, Jsonb *attachment);
extern PGDLLIMPORT hd_attachment_hook_type hd_attachment_hook;

/*
 * Called after a customer or bot message is stored (never for a replay)
 * in a session in state bot, with the session row locked FOR KEY SHARE and SPI
 * connected: integrations/ hands it to the bot, or hands off. A layer above
 * core sets it at load; one pointer test costs every other post nothing.
 */
typedef void (*hd_bot_message_hook_type) (HdPostArgs *m, int64 customer_id,
										  int64 message_id);
extern PGDLLIMPORT hd_bot_message_hook_type hd_bot_message_hook;

/*
 * Called after every customer text message is stored (never for a replay),
 * in the posting transaction with SPI connected: automation/ matches it
 * against the tenant's trigger tasks. NULL: nothing.
 */
typedef void (*hd_customer_message_hook_type) (HdPostArgs *m, int64 customer_id,
											   int64 message_id);
extern PGDLLIMPORT hd_customer_message_hook_type hd_customer_message_hook;

#endif							/* HD_MESSAGE_H */
