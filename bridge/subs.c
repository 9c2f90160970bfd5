/*
 * subs.c — which sockets may care about an event, without asking each.
 *
 * Waking every socket for every batch costs a writeable callback (and two
 * epoll changes) per socket per batch: at 10k sockets and hundreds of
 * batches a second that is the whole CPU. Instead each socket registers
 * keys — its tenant (supervisors), its customer or agent id, the sessions
 * and queues it sees — and a new event wakes only the sockets under its
 * keys. The keys are a superset of visibility; the socket's own scan still
 * decides, in position order, what it is sent.
 */
#include "client.h"

#include <stdlib.h>

/*
 * One key and its sockets. Most keys (a customer, a session) have a single
 * socket, kept inline; an array is allocated from the second on. Its
 * capacity is not stored: it is 4, or the power of two at or above n.
 */
typedef struct SubNode
{
	struct SubNode *next;
	int64_t		tenant;
	int64_t		id;
	union
	{
		Client	   *one;		/* n == 1 */
		Client	  **many;		/* n >= 2 */
	}			u;
	int			n;
	char		cls;
} SubNode;

static inline Client **
node_clients(SubNode *n)
{
	return n->n == 1 ? &n->u.one : n->u.many;
}

static SubNode **buckets;
static size_t nbuckets;
static size_t nnodes;

static size_t
hash_key(char cls, int64_t tenant, int64_t id)
{
	uint64_t	h = (uint64_t) id * 0x9E3779B97F4A7C15ull;

	h ^= ((uint64_t) tenant + (uint64_t) (unsigned char) cls * 0x100000001B3ull) * 0xC2B2AE3D27D4EB4Full;
	h ^= h >> 29;
	return (size_t) h & (nbuckets - 1);
}

static void
grow(void)
{
	size_t		old = nbuckets;
	SubNode   **ob = buckets;

	nbuckets = old ? old * 2 : 1024;
	buckets = calloc(nbuckets, sizeof(SubNode *));
	for (size_t i = 0; i < old; i++)
	{
		SubNode    *n = ob[i];

		while (n)
		{
			SubNode    *next = n->next;
			size_t		b = hash_key(n->cls, n->tenant, n->id);

			n->next = buckets[b];
			buckets[b] = n;
			n = next;
		}
	}
	free(ob);
}

static SubNode *
find(char cls, int64_t tenant, int64_t id, SubNode ***link_out)
{
	SubNode   **link;

	if (nbuckets == 0)
		return NULL;
	link = &buckets[hash_key(cls, tenant, id)];
	for (; *link; link = &(*link)->next)
		if ((*link)->cls == cls && (*link)->tenant == tenant && (*link)->id == id)
		{
			if (link_out)
				*link_out = link;
			return *link;
		}
	return NULL;
}

void
subs_add(char cls, int64_t tenant, int64_t id, Client *c)
{
	SubNode    *n;

	if (nnodes >= nbuckets)
		grow();
	n = find(cls, tenant, id, NULL);
	if (n == NULL)
	{
		size_t		b = hash_key(cls, tenant, id);

		n = calloc(1, sizeof(SubNode));
		n->cls = cls;
		n->tenant = tenant;
		n->id = id;
		n->next = buckets[b];
		buckets[b] = n;
		nnodes++;
	}
	if (n->n == 0)
		n->u.one = c;
	else if (n->n == 1)
	{
		Client	  **many = malloc(4 * sizeof(Client *));

		many[0] = n->u.one;
		many[1] = c;
		n->u.many = many;
	}
	else
	{
		/* full when n is a power of two of 4 or more */
		if (n->n >= 4 && (n->n & (n->n - 1)) == 0)
			n->u.many = realloc(n->u.many, (size_t) n->n * 2 * sizeof(Client *));
		n->u.many[n->n] = c;
	}
	n->n++;
}

void
subs_remove(char cls, int64_t tenant, int64_t id, Client *c)
{
	SubNode   **link;
	SubNode    *n = find(cls, tenant, id, &link);
	Client	  **v;

	if (n == NULL)
		return;
	v = node_clients(n);
	for (int i = 0; i < n->n; i++)
		if (v[i] == c)
		{
			v[i] = v[n->n - 1];
			n->n--;
			if (n->n == 1)
			{
				/* back to one: inline again */
				Client	   *last = v[0];

				free(v);
				n->u.one = last;
			}
			break;
		}
	if (n->n == 0)
	{
		*link = n->next;
		free(n);
		nnodes--;
	}
}

void
subs_foreach(char cls, int64_t tenant, int64_t id, void (*fn) (Client *, void *), void *arg)
{
	SubNode    *n = find(cls, tenant, id, NULL);
	Client	  **v;

	if (n == NULL)
		return;
	v = node_clients(n);
	for (int i = 0; i < n->n; i++)
		fn(v[i], arg);
}

void
subs_free(void)
{
	for (size_t i = 0; i < nbuckets; i++)
		while (buckets[i])
		{
			SubNode    *n = buckets[i];

			buckets[i] = n->next;
			if (n->n >= 2)
				free(n->u.many);
			free(n);
		}
	free(buckets);
	buckets = NULL;
	nbuckets = nnodes = 0;
}
