/*
 * quick_reply.h — what quick_reply.c (storage, search) and
 * quick_reply_render.c (placeholders) share.
 */
#ifndef HD_QUICK_REPLY_H
#define HD_QUICK_REPLY_H

#include "hd.h"

/* bounds of a body and of what rendering it can add (README, sql-api.md) */
#define HD_QR_MAX_BODY_CHARS	4000
#define HD_QR_MAX_PLACEHOLDERS	20
#define HD_QR_MAX_VALUE_CHARS	256
#define HD_QR_MAX_FALLBACK_CHARS 100

/* Refuses (22023) a body with an unknown or malformed placeholder. */
extern void hd_qr_check_body(const char *body);

#endif							/* HD_QUICK_REPLY_H */
