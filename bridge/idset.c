/*
 * idset.c — the small sets of ids a client sees (sessions, queues).
 *
 * Nearly every socket is a customer with one session, so the first id is
 * kept inside the set itself and an array is allocated only for a second:
 * a separate allocation per socket would cost more than the id.
 */
#include "client.h"

#include <stdlib.h>

const int64_t *
idset_ids(const IdSet *s)
{
	return s->cap ? s->u.many : &s->u.one;
}

bool
idset_has(const IdSet *s, int64_t id)
{
	const int64_t *ids = idset_ids(s);

	for (int i = 0; i < s->n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

void
idset_add(IdSet *s, int64_t id)
{
	if (id == 0 || idset_has(s, id))
		return;
	if (s->cap == 0)
	{
		int64_t    *many;

		if (s->n == 0)
		{
			s->u.one = id;
			s->n = 1;
			return;
		}
		/* a second id: move the inline one into an array */
		many = malloc(4 * sizeof(int64_t));
		many[0] = s->u.one;
		s->u.many = many;
		s->cap = 4;
	}
	else if (s->n == s->cap)
	{
		s->cap *= 2;
		s->u.many = realloc(s->u.many, (size_t) s->cap * sizeof(int64_t));
	}
	s->u.many[s->n++] = id;
}

bool
idset_remove(IdSet *s, int64_t id)
{
	int64_t    *ids = s->cap ? s->u.many : &s->u.one;

	for (int i = 0; i < s->n; i++)
		if (ids[i] == id)
		{
			ids[i] = ids[--s->n];
			return true;
		}
	return false;
}

void
idset_free(IdSet *s)
{
	if (s->cap)
		free(s->u.many);
	s->u.many = NULL;
	s->n = 0;
	s->cap = 0;
}
