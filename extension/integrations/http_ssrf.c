/*
 * http_ssrf.c — the SSRF guard: which addresses the HTTP worker may connect
 * to.
 *
 * The check runs on the address actually connected to (curl's open-socket
 * hook, http_engine.c), after DNS, so a public name that resolves to
 * 127.0.0.1, or a rebinding DNS answer, is caught where a check of the name
 * would not be. Loopback, private (RFC 1918, CGNAT, ULA), link-local,
 * unspecified, multicast, broadcast and reserved addresses are refused
 * unless helpdesk.http_allowed_hosts names the request's host or lists a
 * CIDR that holds the address.
 */
#include "http_ssrf.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "utils/memutils.h"

typedef struct AllowEntry
{
	bool		is_net;
	int			family;			/* AF_INET or AF_INET6 for a net */
	unsigned char addr[16];
	int			bits;
	char	   *host;			/* lower-case host name otherwise */
} AllowEntry;

static char *parsed_from = NULL;	/* the setting's value the list came from */
static AllowEntry *entries = NULL;
static int	nentries = 0;

/* Parse "a.b.c.d[/n]" or "v6[/n]"; false if it is not an address. */
static bool
parse_net(const char *s, AllowEntry *e)
{
	char		buf[128];
	char	   *slash;
	int			maxbits;

	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, e->addr) == 1)
	{
		e->family = AF_INET;
		maxbits = 32;
	}
	else if (inet_pton(AF_INET6, buf, e->addr) == 1)
	{
		e->family = AF_INET6;
		maxbits = 128;
	}
	else
		return false;
	e->bits = maxbits;
	if (slash)
	{
		char	   *end;
		long		b = strtol(slash + 1, &end, 10);

		if (*end != '\0' || b < 0 || b > maxbits)
			return false;
		e->bits = (int) b;
	}
	e->is_net = true;
	return true;
}

/* (Re)parse the setting when it changed since the last look. */
static void
refresh_list(void)
{
	const char *v = hd_http_allowed_hosts ? hd_http_allowed_hosts : "";
	MemoryContext old;
	char	   *copy,
			   *tok,
			   *save = NULL;
	int			cap = 8;

	if (parsed_from != NULL && strcmp(parsed_from, v) == 0)
		return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	if (parsed_from)
	{
		int			i;

		for (i = 0; i < nentries; i++)
			if (entries[i].host)
				pfree(entries[i].host);
		pfree(entries);
		pfree(parsed_from);
	}
	parsed_from = pstrdup(v);
	entries = palloc0(sizeof(AllowEntry) * cap);
	nentries = 0;
	copy = pstrdup(v);
	for (tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save))
	{
		AllowEntry *e;
		char	   *c;

		if (nentries == cap)
		{
			cap *= 2;
			entries = repalloc(entries, sizeof(AllowEntry) * cap);
		}
		e = &entries[nentries];
		memset(e, 0, sizeof(*e));
		if (!parse_net(tok, e))
		{
			e->host = pstrdup(tok);
			for (c = e->host; *c; c++)
				*c = pg_ascii_tolower((unsigned char) *c);
		}
		nentries++;
	}
	pfree(copy);
	MemoryContextSwitchTo(old);
}

static bool
in_net(const unsigned char *a, const unsigned char *net, int bits)
{
	int			full = bits / 8,
				rest = bits % 8;

	if (memcmp(a, net, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ net[full]) & (0xFF << (8 - rest))) == 0;
}

/* Why an IPv4 address is not public (NULL: it is). */
static const char *
v4_class(const unsigned char *a)
{
	if (a[0] == 127)
		return "loopback";
	if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xF0) == 16) || (a[0] == 192 && a[1] == 168) ||
		(a[0] == 100 && (a[1] & 0xC0) == 64))
		return "private";
	if (a[0] == 169 && a[1] == 254)
		return "link-local";
	if ((a[0] & 0xF0) == 224)
		return "multicast";
	if (a[0] == 0 || (a[0] & 0xF0) == 240)
		return "reserved";
	return NULL;
}

static const char *
v6_class(const unsigned char *a)
{
	static const unsigned char zero[16] = {0};
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};

	if (memcmp(a, zero, 15) == 0 && (a[15] == 1 || a[15] == 0))
		return a[15] == 1 ? "loopback" : "reserved";
	if (memcmp(a, mapped, 12) == 0)
		return v4_class(a + 12);
	if ((a[0] & 0xFE) == 0xFC)
		return "private";
	if (a[0] == 0xFE && (a[1] & 0xC0) == 0x80)
		return "link-local";
	if (a[0] == 0xFF)
		return "multicast";
	return NULL;
}

/*
 * May the worker connect to addr for a request to host? When not, *why says
 * what the address is ("loopback", "private", ...).
 */
bool
hd_ssrf_allowed(const char *host, const struct sockaddr *addr, const char **why)
{
	const unsigned char *a;
	int			family = addr->sa_family;
	const char *cls;
	int			i;

	if (family == AF_INET)
	{
		a = (const unsigned char *) &((const struct sockaddr_in *) addr)->sin_addr;
		cls = v4_class(a);
	}
	else if (family == AF_INET6)
	{
		a = (const unsigned char *) &((const struct sockaddr_in6 *) addr)->sin6_addr;
		cls = v6_class(a);
	}
	else
	{
		*why = "not an internet address";
		return false;
	}
	if (cls == NULL)
		return true;
	refresh_list();
	for (i = 0; i < nentries; i++)
	{
		AllowEntry *e = &entries[i];

		if (!e->is_net)
		{
			if (host && pg_strcasecmp(host, e->host) == 0)
				return true;
		}
		else if (e->family == family && in_net(a, e->addr, e->bits))
			return true;
	}
	*why = cls;
	return false;
}
