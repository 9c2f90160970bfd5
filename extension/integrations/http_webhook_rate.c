/*
 * http_webhook_rate.c — per-endpoint rate limits (webhook.rate_limit
 * deliveries per second, webhook.rate_burst at once): a token bucket per
 * limited endpoint in the HTTP worker's memory.
 *
 * The claim (http_webhook_queue.c, http_webhook_fast.c) asks before it
 * hands an endpoint a job; an endpoint without a token keeps its deliveries
 * queued (in the window or the queue, never as attempts), and the claim
 * notes when its next token comes. next_due() then makes the worker sleep
 * until the earliest of those times, not poll: a limited endpoint costs a
 * claim per token, and the others are handed out as usual in the same turn.
 *
 * Every attempt takes a token (first attempts, retries, redeliveries,
 * replays). A bucket starts full (burst tokens) and fills at the rate up to
 * the burst; a token taken in a claim that rolls back is not given back (the
 * limit errs on the slow side). A 429 or 503 with Retry-After still delays
 * that delivery on top (http_webhook_send.c). Buckets are dropped when their
 * endpoint is seen without a limit or when full and unused for a minute, so
 * memory follows the limited endpoints in use.
 */
#include "http_webhook.h"

#include <math.h>

#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define IDLE_DROP_US (60 * USECS_PER_SEC)

typedef struct BucketKey
{
	int64		tenant_id;
	int64		id;
} BucketKey;

struct WebhookBucket
{
	BucketKey	key;
	double		tokens;
	TimestampTz at;				/* when tokens was last brought up to date */
	TimestampTz used;			/* when a token was last taken */
	double		rate;			/* per second */
	int			burst;
};

static HTAB *buckets = NULL;
static TimestampTz next_token = 0;	/* earliest token of an endpoint turned away */
static bool other_wait = true;	/* a job waited for something else (caps, slots) */

static void
refill(WebhookBucket *b, TimestampTz now)
{
	if (now > b->at)
		b->tokens = Min((double) b->burst, b->tokens + (double) (now - b->at) * b->rate / USECS_PER_SEC);
	b->at = now;
}

/*
 * In the claim's endpoint lookup: the endpoint's bucket, made or updated
 * (NULL without a limit; an old bucket of it is dropped).
 */
void
hd_webhook_rate_attach(WebhookEndpoint *ep, double rate, int burst)
{
	BucketKey	key;
	WebhookBucket *b;
	bool		found;
	TimestampTz now = GetCurrentTimestamp();

	ep->bucket = NULL;
	if (buckets == NULL)
	{
		HASHCTL		ctl;

		if (rate <= 0)
			return;
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(BucketKey);
		ctl.entrysize = sizeof(WebhookBucket);
		ctl.hcxt = TopMemoryContext;
		buckets = hash_create("pg_helpdesk webhook rate limits", 16, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.tenant_id = ep->tenant_id;
	key.id = ep->id;
	if (rate <= 0)
	{
		(void) hash_search(buckets, &key, HASH_REMOVE, NULL);
		return;
	}
	b = hash_search(buckets, &key, HASH_ENTER, &found);
	if (!found)
	{
		b->tokens = burst;
		b->at = b->used = now;
	}
	else
		refill(b, now);
	b->rate = rate;
	b->burst = burst;
	b->tokens = Min(b->tokens, (double) burst);
	ep->bucket = b;
}

/* At the start of a claim. */
void
hd_webhook_rate_begin(void)
{
	HASH_SEQ_STATUS st;
	WebhookBucket *b;
	TimestampTz now = GetCurrentTimestamp();

	next_token = 0;
	other_wait = false;
	if (buckets == NULL)
		return;
	/* forget buckets that are full and unused (endpoints deleted, idle) */
	hash_seq_init(&st, buckets);
	while ((b = hash_seq_search(&st)) != NULL)
	{
		refill(b, now);
		if (b->tokens >= b->burst && now - b->used > IDLE_DROP_US)
			(void) hash_search(buckets, &b->key, HASH_REMOVE, NULL);
	}
}

/*
 * Whether ep may be sent one more request now; if not, notes when its
 * next token comes.
 */
bool
hd_webhook_rate_allows(WebhookEndpoint *ep)
{
	WebhookBucket *b = ep->bucket;
	TimestampTz now;
	TimestampTz t;

	if (b == NULL)
		return true;
	now = GetCurrentTimestamp();
	refill(b, now);
	if (b->tokens >= 1.0)
		return true;
	t = now + (TimestampTz) ceil((1.0 - b->tokens) * USECS_PER_SEC / b->rate);
	if (next_token == 0 || t < next_token)
		next_token = t;
	return false;
}

/* A job was made for ep: take its token. */
void
hd_webhook_rate_took(WebhookEndpoint *ep)
{
	if (ep->bucket == NULL)
		return;
	ep->bucket->tokens -= 1.0;
	ep->bucket->used = GetCurrentTimestamp();
}

/* A waiting job could not go for another reason (its endpoint's cap, no free slot). */
void
hd_webhook_rate_other_wait(void)
{
	other_wait = true;
}

/*
 * After the last claim: when waiting jobs may go next. 0: at once (something
 * other than a rate limit held a job back, or no claim ran yet); else the
 * earliest token of the endpoints that were turned away (still right until
 * the next claim: only claims take tokens).
 */
TimestampTz
hd_webhook_rate_next(void)
{
	return other_wait ? 0 : next_token;
}
