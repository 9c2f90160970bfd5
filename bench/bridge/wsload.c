/*
 * wsload.c — the load generator of bench/bridge.sh: one process holding up
 * to PER_PROC WebSockets in one epoll loop.
 *
 *   wsload URL TOKENS_FILE FIRST COUNT SRC_PREFIX MODE OUT [EXPECT]
 *
 * Opens COUNT WebSockets to URL (ws://HOST:PORT/PATH) with the tokens on
 * lines FIRST.. of TOKENS_FILE, each from SRC_PREFIX.1-250 (spreads the
 * ephemeral ports), at most 200 handshakes in flight. The first text frame
 * of each is its hello; once every socket has its hello or failed, it
 * writes OUT.ready. It answers PINGs and sends nothing else.
 *
 * MODE latency: for each event of each later frame, a line "pos at_us
 *   recv_us" (at: the event's created_at; recv: the wall clock when the
 *   frame was complete); SIGUSR2 writes them to OUT.lat and clears them.
 * MODE fanout: events are counted as occurrences of "pos": (memmem, across
 *   reads); once every socket has EXPECT events, OUT.done gets the wall-clock
 *   time of the last one.
 * MODE idle: only holding the sockets.
 * SIGTERM: writes OUT.stats (hellos, failed, closed, frames, events), exits.
 *
 * It replaced a node client (ws), which saturated its core during the
 * fan-out while our bridge used a third of one, and whose garbage
 * collection pauses landed in the latency percentiles of both relays.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONCURRENCY 200
#define READ_BYTES (256 * 1024)
#define PLEN 6

enum
{
	ST_CONNECTING, ST_UPGRADING, ST_FRAMES, ST_GONE
};

typedef struct Sock
{
	int			fd;
	int			index;
	int			stage;
	char		hdr[2048];		/* the HTTP response, then a frame header */
	int			hlen;
	uint64_t	remaining;		/* payload bytes left in the current frame */
	int			opcode;			/* of the frame being read */
	bool		in_payload;
	bool		hello;
	unsigned char carry[PLEN];	/* the last bytes of the previous chunk */
	int			carry_len;
	unsigned char ctl[125];		/* a PING's payload, to echo */
	int			ctl_len;
	long		events;
	bool		done;
	char	   *msg;			/* latency mode: the text frame being read */
	size_t		msg_len,
				msg_cap;
} Sock;

static const char pattern[PLEN + 1] = "\"pos\":";
static Sock *socks;
static char **tokens;
static int	count,
			next_open,
			inflight,
			hellos,
			failed,
			closed,
			done;
static long expect;
static long frames,
			events;
static int	epfd;
static struct sockaddr_in server;
static char host[256],
			path[512],
			src_prefix[64];
static const char *out;
static volatile sig_atomic_t stop,
			dump;
static bool latency;			/* MODE latency (else fanout or idle: count only) */
static char *lat;				/* "pos at_us recv_us" lines since the last dump */
static size_t lat_len,
			lat_cap;

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
write_file(const char *suffix, const char *text)
{
	char		name[1024],
				tmp[1100];
	FILE	   *f;

	snprintf(name, sizeof(name), "%s.%s", out, suffix);
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	if ((f = fopen(tmp, "w")) == NULL || fputs(text, f) < 0 || fclose(f) != 0 ||
		rename(tmp, name) != 0)
	{
		perror(name);
		exit(1);
	}
}

static void
settle(void)
{
	char		t[128];

	if (hellos + failed != count)
		return;
	snprintf(t, sizeof(t), "{\"connected\":%d,\"failed\":%d}\n", hellos, failed);
	write_file("ready", t);
}

static void open_more(void);

/* the socket failed or was closed by the server */
static void
gone(Sock *s)
{
	bool		had_hello = s->hello;

	if (s->stage == ST_GONE)
		return;
	s->stage = ST_GONE;
	epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	if (had_hello)
		closed++;
	else
	{
		inflight--;
		failed++;
		settle();
		open_more();
	}
}

static void
open_one(int i)
{
	Sock	   *s = &socks[i];
	struct sockaddr_in local = {.sin_family = AF_INET};
	struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = s};
	char		src[80];

	s->index = i;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	snprintf(src, sizeof(src), "%s.%d", src_prefix, 1 + i % 250);
	inet_pton(AF_INET, src, &local.sin_addr);
	inflight++;
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *) &local, sizeof(local)) != 0 ||
		(connect(s->fd, (struct sockaddr *) &server, sizeof(server)) != 0 && errno != EINPROGRESS) ||
		epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev) != 0)
	{
		if (s->fd >= 0)
			close(s->fd);
		s->stage = ST_GONE;
		inflight--;
		failed++;
		settle();
		return;
	}
	s->stage = ST_CONNECTING;
}

static void
open_more(void)
{
	while (inflight < CONCURRENCY && next_open < count)
		open_one(next_open++);
}

/* after connect: send the upgrade request, then wait for the 101 */
static void
send_upgrade(Sock *s)
{
	char		req[4096];
	int			n,
				err = 0;
	socklen_t	len = sizeof(err);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};

	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
	{
		gone(s);
		return;
	}
	n = snprintf(req, sizeof(req),
				 "GET %s%stoken=%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
				 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				 "Sec-WebSocket-Version: 13\r\n\r\n",
				 path, strchr(path, '?') ? "&" : "?", tokens[s->index], host);
	/* a fresh socket takes a few hundred bytes at once */
	if (n >= (int) sizeof(req) || write(s->fd, req, (size_t) n) != n)
	{
		gone(s);
		return;
	}
	s->stage = ST_UPGRADING;
	epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev);
}

/* a PONG echoing the PING's payload; client frames are masked */
static void
send_pong(Sock *s)
{
	unsigned char f[6 + 125];
	static const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};

	f[0] = 0x8A;
	f[1] = (unsigned char) (0x80 | s->ctl_len);
	memcpy(f + 2, mask, 4);
	for (int i = 0; i < s->ctl_len; i++)
		f[6 + i] = s->ctl[i] ^ mask[i % 4];
	if (write(s->fd, f, (size_t) (6 + s->ctl_len)) < 0)
		gone(s);
}

/*
 * Counts "pos": in a chunk of a text frame's payload: memmem within the
 * chunk (a byte-at-a-time matcher was slower than the relays it measured),
 * and the matches that straddle the previous chunk through its last
 * PLEN - 1 bytes, kept in carry.
 */
static void
scan(Sock *s, const unsigned char *p, size_t n)
{
	long		found = 0;
	const unsigned char *q = p,
			   *end = p + n;
	unsigned char joined[2 * PLEN];
	size_t		head = n < PLEN - 1 ? n : PLEN - 1;

	if (s->carry_len > 0)
	{
		memcpy(joined, s->carry, (size_t) s->carry_len);
		memcpy(joined + s->carry_len, p, head);
		for (int i = 0; i < s->carry_len; i++)
			if ((size_t) i + PLEN <= (size_t) s->carry_len + head &&
				memcmp(joined + i, pattern, PLEN) == 0)
				found++;
	}
	while ((q = memmem(q, (size_t) (end - q), pattern, PLEN)) != NULL)
	{
		found++;
		q += PLEN;
	}
	/* the new carry: the last PLEN - 1 bytes seen, across chunks if short */
	if (n >= PLEN - 1)
	{
		memcpy(s->carry, end - (PLEN - 1), PLEN - 1);
		s->carry_len = PLEN - 1;
	}
	else
	{
		size_t		keep = (size_t) s->carry_len + n > PLEN - 1 ? PLEN - 1 - n : (size_t) s->carry_len;

		memmove(s->carry, s->carry + s->carry_len - keep, keep);
		memcpy(s->carry + keep, p, n);
		s->carry_len = (int) (keep + n);
	}
	s->events += found;
	events += found;
}

/* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" -> microseconds since the epoch */
static int64_t
parse_at(const char *p)
{
	struct tm	tm = {0};
	int			us = 0;

	if (sscanf(p, "%4d-%2d-%2dT%2d:%2d:%2d.%6d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &us) != 7)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t) timegm(&tm) * 1000000 + us;
}

static void
lat_add(const char *line, size_t n)
{
	if (lat_len + n > lat_cap)
	{
		lat_cap = (lat_len + n) * 2;
		lat = realloc(lat, lat_cap);
	}
	memcpy(lat + lat_len, line, n);
	lat_len += n;
}

/*
 * Latency mode: one "pos at_us recv_us" line per event of a frame. Each
 * event object starts with {"pos": and ends with "at" (its created_at);
 * the last "at" before the next event is its own, whatever its payload holds.
 */
static void
record_events(Sock *s, int64_t recv_us)
{
	static const char start[] = "{\"pos\":";
	static const char atkey[] = "\"at\":\"";
	char	   *p = s->msg,
			   *end = s->msg + s->msg_len;

	p = memmem(p, (size_t) (end - p), start, sizeof(start) - 1);
	while (p != NULL)
	{
		char	   *next = memmem(p + 1, (size_t) (end - p - 1), start, sizeof(start) - 1);
		char	   *limit = next ? next : end;
		char	   *at = NULL;
		long long	pos = strtoll(p + sizeof(start) - 1, NULL, 10);

		for (char *q = p; (q = memmem(q, (size_t) (limit - q), atkey, sizeof(atkey) - 1)) != NULL;
			 q += sizeof(atkey) - 1)
			at = q + sizeof(atkey) - 1;
		if (at && limit - at >= 26)
		{
			char		line[96];
			int			n = snprintf(line, sizeof(line), "%lld %lld %lld\n", pos,
									 (long long) parse_at(at), (long long) recv_us);

			lat_add(line, (size_t) n);
		}
		s->events++;
		events++;
		p = next;
	}
	s->msg_len = 0;
}

/* the last byte of a frame's payload arrived */
static void
frame_end(Sock *s)
{
	s->in_payload = false;
	s->hlen = 0;
	if (s->opcode == 0x9)
		send_pong(s);
	else if (s->opcode == 0x8)
		gone(s);
	else if (s->opcode == 0x1 || s->opcode == 0x0)
	{
		if (!s->hello)
		{
			s->hello = true;
			hellos++;
			inflight--;
			settle();
			open_more();
		}
		else
		{
			frames++;
			if (latency)
				record_events(s, now_us());
		}
		s->carry_len = 0;
		if (!s->done && expect > 0 && s->events >= expect)
		{
			s->done = true;
			if (++done == count - failed)
			{
				char		t[64];

				snprintf(t, sizeof(t), "{\"last_us\":%lld}\n", (long long) now_us());
				write_file("done", t);
			}
		}
	}
}

/* feed received bytes through the frame parser */
static void
consume(Sock *s, const unsigned char *p, size_t n)
{
	while (n > 0 && s->stage == ST_FRAMES)
	{
		if (!s->in_payload)
		{
			size_t		need;
			unsigned	plen;

			s->hdr[s->hlen++] = (char) *p++;
			n--;
			if (s->hlen < 2)
				continue;
			plen = (unsigned char) s->hdr[1] & 0x7f;
			need = plen == 126 ? 4 : plen == 127 ? 10 : 2;
			if ((size_t) s->hlen < need)
				continue;
			s->opcode = (unsigned char) s->hdr[0] & 0x0f;
			if (plen == 126)
				s->remaining = ((uint64_t) (unsigned char) s->hdr[2] << 8) | (unsigned char) s->hdr[3];
			else if (plen == 127)
			{
				s->remaining = 0;
				for (int i = 2; i < 10; i++)
					s->remaining = (s->remaining << 8) | (unsigned char) s->hdr[i];
			}
			else
				s->remaining = plen;
			s->in_payload = true;
			s->ctl_len = 0;
			if (s->remaining == 0)
				frame_end(s);
			continue;
		}
		else
		{
			size_t		take = n < s->remaining ? n : (size_t) s->remaining;

			if (s->opcode == 0x9 && s->ctl_len + take <= sizeof(s->ctl))
			{
				memcpy(s->ctl + s->ctl_len, p, take);
				s->ctl_len += (int) take;
			}
			else if (s->hello && (s->opcode == 0x1 || s->opcode == 0x0))
			{
				if (latency)
				{
					if (s->msg_len + take > s->msg_cap)
					{
						s->msg_cap = (s->msg_len + take) * 2;
						s->msg = realloc(s->msg, s->msg_cap);
					}
					memcpy(s->msg + s->msg_len, p, take);
					s->msg_len += take;
				}
				else
					scan(s, p, take);
			}
			p += take;
			n -= take;
			s->remaining -= take;
			if (s->remaining == 0)
				frame_end(s);
		}
	}
}

static void
on_readable(Sock *s)
{
	static unsigned char buf[READ_BYTES];
	ssize_t		n;

	for (;;)
	{
		n = read(s->fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		{
			gone(s);
			return;
		}
		if (n < 0)
			return;
		if (s->stage == ST_UPGRADING)
		{
			char	   *end;
			size_t		take = (size_t) n;

			if (take > sizeof(s->hdr) - 1 - (size_t) s->hlen)
				take = sizeof(s->hdr) - 1 - (size_t) s->hlen;
			memcpy(s->hdr + s->hlen, buf, take);
			s->hlen += (int) take;
			s->hdr[s->hlen] = '\0';
			if ((end = strstr(s->hdr, "\r\n\r\n")) == NULL)
			{
				if (s->hlen >= (int) sizeof(s->hdr) - 1)
					gone(s);
				continue;
			}
			if (strncmp(s->hdr, "HTTP/1.1 101", 12) != 0)
			{
				gone(s);
				return;
			}
			/* what followed the headers is the start of the frames */
			{
				size_t		used = (size_t) (end + 4 - s->hdr) - (size_t) (s->hlen - (int) take);

				s->stage = ST_FRAMES;
				s->hlen = 0;
				consume(s, buf + used, (size_t) n - used);
			}
		}
		else
			consume(s, buf, (size_t) n);
		if (s->stage == ST_GONE || n < (ssize_t) sizeof(buf))
			return;
	}
}

static void
on_signal(int sig)
{
	if (sig == SIGUSR2)
		dump = 1;
	else
		stop = 1;
}

static void
parse_url(const char *url)
{
	const char *p = url,
			   *slash,
			   *colon;
	int			port = 80;

	if (strncmp(p, "ws://", 5) != 0)
	{
		fprintf(stderr, "fanload: URL must start with ws://\n");
		exit(2);
	}
	p += 5;
	slash = strchr(p, '/');
	snprintf(path, sizeof(path), "%s", slash ? slash : "/");
	snprintf(host, sizeof(host), "%.*s", (int) (slash ? slash - p : (long) strlen(p)), p);
	if ((colon = strchr(host, ':')) != NULL)
		port = atoi(colon + 1);
	server.sin_family = AF_INET;
	server.sin_port = htons((uint16_t) port);
	{
		char		ip[256];

		snprintf(ip, sizeof(ip), "%.*s", (int) (colon ? colon - host : (long) strlen(host)), host);
		if (inet_pton(AF_INET, ip, &server.sin_addr) != 1)
		{
			fprintf(stderr, "fanload: host must be an IPv4 address: %s\n", ip);
			exit(2);
		}
	}
}

static void
read_tokens(const char *file, int first)
{
	FILE	   *f = fopen(file, "r");
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		n;
	int			lineno = 0,
				got = 0;

	if (f == NULL)
	{
		perror(file);
		exit(2);
	}
	tokens = calloc((size_t) count, sizeof(char *));
	while (got < count && (n = getline(&line, &cap, f)) >= 0)
	{
		if (lineno++ < first)
			continue;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		tokens[got++] = strdup(line);
	}
	free(line);
	fclose(f);
	if (got != count)
	{
		fprintf(stderr, "fanload: only %d tokens from line %d\n", got, first);
		exit(2);
	}
}

int
main(int argc, char **argv)
{
	struct epoll_event evs[256];
	char		t[256];

	if (argc != 8 && argc != 9)
	{
		fprintf(stderr, "usage: wsload URL TOKENS_FILE FIRST COUNT SRC_PREFIX MODE OUT [EXPECT]\n");
		return 2;
	}
	parse_url(argv[1]);
	count = atoi(argv[4]);
	snprintf(src_prefix, sizeof(src_prefix), "%s", argv[5]);
	latency = strcmp(argv[6], "latency") == 0;
	out = argv[7];
	expect = argc == 9 ? atol(argv[8]) : 0;
	read_tokens(argv[2], atoi(argv[3]));
	signal(SIGTERM, on_signal);
	signal(SIGUSR2, on_signal);
	signal(SIGPIPE, SIG_IGN);
	socks = calloc((size_t) count, sizeof(Sock));
	epfd = epoll_create1(0);
	open_more();
	settle();
	while (!stop)
	{
		int			n = epoll_wait(epfd, evs, 256, 200);

		if (dump)
		{
			/* SIGUSR2: hand over the latency records so far and start afresh */
			dump = 0;
			lat_add("", 1);
			write_file("lat", lat);
			lat_len = 0;
		}
		for (int i = 0; i < n; i++)
		{
			Sock	   *s = evs[i].data.ptr;

			if (s->stage == ST_CONNECTING)
				send_upgrade(s);
			else if (s->stage != ST_GONE)
				on_readable(s);
		}
	}
	snprintf(t, sizeof(t), "{\"hellos\":%d,\"failed\":%d,\"closed\":%d,\"frames\":%ld,\"events\":%ld}\n",
			 hellos, failed, closed, frames, events);
	write_file("stats", t);
	return 0;
}
