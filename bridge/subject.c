/*
 * subject.c — what all sockets of one token subject share: their count
 * (capped by --max-sockets-per-subject, 4029 beyond it) and one rate-limit
 * bucket (--customer-rate / --agent-rate frames per minute for the subject,
 * however many sockets it opens), so one token cannot multiply its limits
 * by opening more sockets.
 *
 * A subject is (tenant, kind, subject id); an agent's agent and supervisor
 * tokens count separately. Entries live in a chained hash table while the
 * subject has a socket open and are freed with its last one.
 */
#include "client.h"

#include <stdlib.h>

struct Subject
{
	Subject    *next;
	int64_t		tenant;
	int64_t		id;
	double		tokens;			/* rate-limit bucket */
	int64_t		refill_us;
	int			sockets;
	uint8_t		kind;
};

static Subject **table;
static size_t nbuckets;
static size_t nsubjects;

static size_t
bucket_of(int64_t tenant, uint8_t kind, int64_t id, size_t n)
{
	uint64_t	h = (uint64_t) tenant * 0x9E3779B97F4A7C15ULL;

	h ^= (uint64_t) id + 0x632BE59BD9B4E019ULL + (h << 6) + (h >> 2);
	h ^= (uint64_t) kind * 0xC2B2AE3D27D4EB4FULL;
	h ^= h >> 29;
	return (size_t) (h & (n - 1));
}

/* doubles the table once it holds twice as many subjects as buckets */
static void
grow(void)
{
	size_t		n = nbuckets ? nbuckets * 2 : 1024;
	Subject   **t = calloc(n, sizeof(Subject *));

	for (size_t i = 0; i < nbuckets; i++)
	{
		Subject    *s = table[i],
				   *next;

		for (; s; s = next)
		{
			size_t		b = bucket_of(s->tenant, s->kind, s->id, n);

			next = s->next;
			s->next = t[b];
			t[b] = s;
		}
	}
	free(table);
	table = t;
	nbuckets = n;
}

static double
rate_of(uint8_t kind)
{
	return kind == KIND_CUSTOMER ? cfg.customer_rate : cfg.agent_rate;
}

/*
 * One more socket for this subject: its shared entry, or NULL when it
 * already has --max-sockets-per-subject open.
 */
Subject *
subject_acquire(int64_t tenant, ClientKind kind, int64_t id)
{
	Subject    *s;
	size_t		b;

	if (nsubjects >= nbuckets * 2)
		grow();
	b = bucket_of(tenant, (uint8_t) kind, id, nbuckets);
	for (s = table[b]; s; s = s->next)
		if (s->tenant == tenant && s->id == id && s->kind == kind)
			break;
	if (s == NULL)
	{
		s = calloc(1, sizeof(Subject));
		s->tenant = tenant;
		s->id = id;
		s->kind = (uint8_t) kind;
		s->tokens = rate_of(s->kind);
		s->refill_us = now_us();
		s->next = table[b];
		table[b] = s;
		nsubjects++;
	}
	if (cfg.max_subject_sockets > 0 && s->sockets >= cfg.max_subject_sockets)
		return NULL;
	s->sockets++;
	return s;
}

/* a socket of the subject closed; the entry goes with its last socket */
void
subject_release(Subject *s)
{
	Subject   **p;

	if (s == NULL || --s->sockets > 0)
		return;
	for (p = &table[bucket_of(s->tenant, s->kind, s->id, nbuckets)]; *p; p = &(*p)->next)
		if (*p == s)
		{
			*p = s->next;
			nsubjects--;
			free(s);
			return;
		}
}

/* token bucket: rate frames per minute for the subject, bursts up to rate */
bool
subject_rate_ok(Subject *s)
{
	double		rate = rate_of(s->kind);
	int64_t		now = now_us();

	s->tokens += (double) (now - s->refill_us) * rate / 60e6;
	if (s->tokens > rate)
		s->tokens = rate;
	s->refill_us = now;
	if (s->tokens >= 1.0)
	{
		s->tokens -= 1.0;
		return true;
	}
	return false;
}

int
subject_sockets(const Subject *s)
{
	return s ? s->sockets : 0;
}

void
subjects_free(void)
{
	for (size_t i = 0; i < nbuckets; i++)
	{
		Subject    *s = table[i],
				   *next;

		for (; s; s = next)
		{
			next = s->next;
			free(s);
		}
	}
	free(table);
	table = NULL;
	nbuckets = nsubjects = 0;
}
