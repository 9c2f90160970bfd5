/*
 * player_call.h — what player_call.c hands to the route actions of
 * player_routes.c: one verified, rate-limited player request.
 */
#ifndef HD_PLAYER_CALL_H
#define HD_PLAYER_CALL_H

#include "utils/jsonb.h"

typedef struct HdPlayerCall
{
	int64		tenant_id;		/* from the signature */
	int64		customer_id;	/* the player's customer */
	const char *player;			/* player_id, 1..200 characters */
	Jsonb	   *body;			/* the body as an object ({} if none or upload) */
	Jsonb	   *attachment;		/* body.attachment completed, or NULL */
	bool		has_id;
	int64		id;				/* the path's session or ticket id */
	Jsonb	   *args;			/* query arguments, or NULL */
	int32		limit;			/* page size, 1..200 */
	Jsonb	   *headers;
	bytea	   *raw;			/* the raw body */
} HdPlayerCall;

/* player_routes.c (SPI connected; the answer in SPI memory) */
extern Datum hd_player_ws_token(HdPlayerCall *c, int *status, bool *isnull);
extern Datum hd_player_route(const char *route, HdPlayerCall *c, int *status, bool *isnull);

#endif							/* HD_PLAYER_CALL_H */
