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

#endif							/* HD_MESSAGE_H */
