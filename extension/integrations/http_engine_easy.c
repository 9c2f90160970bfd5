/*
 * http_engine_easy.c — one request's curl easy handle: its options
 * (keep-alive through the multi handle, no signals, timeouts, no proxy
 * unless configured, no redirects, http/https only), the callbacks that
 * copy the response into the job's fixed buffers (they never raise an
 * ERROR), and the SSRF guard on the address curl is about to connect to.
 */
#include "http_engine_job.h"
#include "http_ssrf.h"

#include <arpa/inet.h>
#include <sys/socket.h>

/*
 * Easy handles are kept for the next request (curl_easy_reset keeps none of
 * a request's options, only the handle's caches).
 */
#define EASY_POOL 64
static CURL *easy_pool[EASY_POOL];
static int	neasy_pool = 0;

/* A finished request's handle: kept for the next one, or (keep false, or the pool full) freed. */
void
hd_http_easy_put(CURL *e, bool keep)
{
	if (keep && neasy_pool < EASY_POOL)
	{
		curl_easy_reset(e);
		easy_pool[neasy_pool++] = e;
	}
	else
		curl_easy_cleanup(e);
}

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	EngineJob  *ej = userdata;
	size_t		n = size * nmemb;
	char	   *buf = ej->job.request.response_buf ? ej->job.request.response_buf : ej->body;
	size_t		cap = ej->job.request.response_buf ? ej->job.request.response_cap : HD_HTTP_BODY_KEEP;
	size_t		room = cap - ej->body_len;

	if (n > room)
		ej->result.body_truncated = true;
	if (room > 0)
	{
		size_t		take = Min(room, n);

		memcpy(buf + ej->body_len, ptr, take);
		ej->body_len += take;
		buf[ej->body_len] = '\0';
	}
	return n;
}

static size_t
header_cb(char *buf, size_t size, size_t nitems, void *userdata)
{
	EngineJob  *ej = userdata;
	size_t		n = size * nitems;

	if (n > 12 && pg_strncasecmp(buf, "retry-after:", 12) == 0)
	{
		size_t		i = 12,
					k = 0;

		while (i < n && (buf[i] == ' ' || buf[i] == '\t'))
			i++;
		while (i < n && buf[i] != '\r' && buf[i] != '\n' && k < sizeof(ej->retry_after) - 1)
			ej->retry_after[k++] = buf[i++];
		ej->retry_after[k] = '\0';
	}
	return n;
}

/* The SSRF guard, on the address curl is about to connect to. */
static curl_socket_t
open_socket_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
	EngineJob  *ej = clientp;
	const char *why = NULL;
	char		text[INET6_ADDRSTRLEN] = "?";

	if (!hd_ssrf_allowed(ej->host, &addr->addr, &why))
	{
		if (addr->family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *) &addr->addr)->sin_addr, text, sizeof(text));
		else if (addr->family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *) &addr->addr)->sin6_addr, text, sizeof(text));
		ej->refused = true;
		snprintf(ej->why, sizeof(ej->why),
				 "refused by the SSRF guard: %s is a %s address (helpdesk.http_allowed_hosts)", text, why);
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype, addr->protocol);
}

/* The request's host as curl parses it (brackets of an IPv6 literal off). */
bool
hd_http_url_host(EngineJob *ej, const char *url)
{
	CURLU	   *u = curl_url();
	char	   *host = NULL;
	bool		ok;

	ok = u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK;
	if (ok)
	{
		const char *h = host;
		size_t		len = strlen(h);

		if (len >= 2 && h[0] == '[' && h[len - 1] == ']')
		{
			h++;
			len -= 2;
		}
		len = Min(len, sizeof(ej->host) - 1);
		memcpy(ej->host, h, len);
		ej->host[len] = '\0';
	}
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

/* An easy handle with the job's request set on it; NULL when out of memory. */
CURL *
hd_http_easy_setup(EngineJob *ej)
{
	HdHttpRequest *r = &ej->job.request;
	CURL	   *e;
	int			i;

	e = neasy_pool > 0 ? easy_pool[--neasy_pool] : curl_easy_init();
	if (e == NULL)
		return NULL;
	ej->easy = e;
	for (i = 0; i < r->nheaders; i++)
		ej->hdrs = curl_slist_append(ej->hdrs, r->headers[i]);
	/* no "Expect: 100-continue" round trip for bodies over 1 KB */
	ej->hdrs = curl_slist_append(ej->hdrs, "Expect:");
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, ej);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, ej->hdrs);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	/* "" disables proxies, including http_proxy and friends from the environment */
	curl_easy_setopt(e, CURLOPT_PROXY, hd_http_proxy ? hd_http_proxy : "");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
					 (long) (r->connect_timeout_ms > 0 ? r->connect_timeout_ms : hd_http_connect_timeout_ms));
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
					 (long) (r->timeout_ms > 0 ? r->timeout_ms : hd_http_timeout_ms));
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ej->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, ej);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, ej);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket_cb);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, ej);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	if (r->method == NULL || strcmp(r->method, "POST") == 0)
	{
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) r->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
	}
	else if (strcmp(r->method, "GET") != 0)
	{
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
		if (r->body)
		{
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) r->body_len);
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
		}
	}
	return e;
}
