/*
 * http_static.c — the agent console (/console/) and the customer widget
 * (/widget/, /widget/sdk.js) as static files from the web root that
 * `make install` fills (--web-root, HELPDESK_BRIDGE_WEB_ROOT, default
 * /usr/local/share/helpdesk-bridge/web).
 *
 * Caching: `make install` writes the content hash of the files into
 * VERSION and into each index.html, whose module and style URLs go through
 * /console/v-HASH/... (relative imports inside a module then stay under the
 * same prefix). Those versioned URLs are immutable for a year; index.html
 * and sdk.js, whose URLs never change, are revalidated every time (no-cache
 * plus an ETag, answered 304 when unchanged). A versioned URL of an older
 * install is served, uncached, from the current files.
 *
 * Compression: install writes NAME.gz beside each text file (gzip -9 -n);
 * it is sent with Content-Encoding: gzip when the request's Accept-Encoding
 * allows gzip. libwebsockets 4.1's platform file operations never pick a
 * .gz themselves (only its zip fops do), so the choice is made here and the
 * file is then streamed by lws_serve_http_file.
 */
#include "relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define DEFAULT_WEB_ROOT "/usr/local/share/helpdesk-bridge/web"

static char web_version[72];
static bool version_read;

static const char *
web_root(void)
{
	const char *r = cfg.web_root ? cfg.web_root : getenv("HELPDESK_BRIDGE_WEB_ROOT");

	return (r && *r) ? r : DEFAULT_WEB_ROOT;
}

/* the install's content hash (VERSION), read once */
static const char *
current_version(void)
{
	if (!version_read)
	{
		char		path[1024];
		FILE	   *f;

		version_read = true;
		snprintf(path, sizeof(path), "%s/VERSION", web_root());
		if ((f = fopen(path, "r")) != NULL)
		{
			if (fgets(web_version, sizeof(web_version), f) == NULL)
				web_version[0] = '\0';
			web_version[strcspn(web_version, "\r\n")] = '\0';
			fclose(f);
		}
	}
	return web_version;
}

static const struct
{
	const char *ext;
	const char *mime;
	bool		compress;
}			types[] = {
	{".html", "text/html; charset=utf-8", true},
	{".js", "text/javascript; charset=utf-8", true},
	{".css", "text/css; charset=utf-8", true},
	{".json", "application/json", true},
	{".svg", "image/svg+xml", true},
	{".txt", "text/plain; charset=utf-8", true},
	{".wav", "audio/wav", true},
	{".png", "image/png", false},
	{".ico", "image/x-icon", false},
	{".woff2", "font/woff2", false},
};

/* a relative path of [A-Za-z0-9._-] segments, none starting with a dot */
static bool
safe_rel_path(const char *p)
{
	bool		seg_start = true;

	if (*p == '\0' || strlen(p) > 200)
		return false;
	for (; *p; p++)
	{
		char		ch = *p;

		if (ch == '/')
		{
			if (seg_start)
				return false;	/* empty segment */
			seg_start = true;
			continue;
		}
		if (seg_start && ch == '.')
			return false;		/* "..", hidden files */
		seg_start = false;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return !seg_start;
}

/* does Accept-Encoding allow gzip (not "gzip;q=0")? */
static bool
accepts_gzip(struct lws *wsi)
{
	char		ae[256];
	const char *g;

	if (lws_hdr_copy(wsi, ae, sizeof(ae), WSI_TOKEN_HTTP_ACCEPT_ENCODING) <= 0)
		return false;
	for (g = ae; (g = strcasestr(g, "gzip")) != NULL; g += 4)
	{
		const char *q = g + 4;

		while (*q == ' ')
			q++;
		if (*q == ';')
		{
			const char *v = strstr(q, "q=");

			if (v && strtod(v + 2, NULL) == 0.0 && (strchr(q, ',') == NULL || v < strchr(q, ',')))
				return false;
		}
		return true;
	}
	return false;
}

/* a header-only answer: 301 redirect, 304 not modified, 404 */
static int
answer_bare(struct lws *wsi, unsigned int status, const char *location, const char *etag,
			const char *cache)
{
	unsigned char hdr[LWS_PRE + 1024];
	unsigned char *p = hdr + LWS_PRE,
			   *end = hdr + sizeof(hdr);
	static const char nf[] = "not found\n";
	size_t		blen = status == HTTP_STATUS_NOT_FOUND ? sizeof(nf) - 1 : 0;

	if (lws_add_http_common_headers(wsi, status, "text/plain; charset=utf-8",
									(lws_filepos_t) blen, &p, end))
		return 1;
	if (location && lws_add_http_header_by_name(wsi, (const unsigned char *) "location:",
												(const unsigned char *) location,
												(int) strlen(location), &p, end))
		return 1;
	if (etag && lws_add_http_header_by_name(wsi, (const unsigned char *) "etag:",
											(const unsigned char *) etag,
											(int) strlen(etag), &p, end))
		return 1;
	if (cache && lws_add_http_header_by_name(wsi, (const unsigned char *) "cache-control:",
											 (const unsigned char *) cache,
											 (int) strlen(cache), &p, end))
		return 1;
	if (lws_finalize_write_http_header(wsi, hdr + LWS_PRE, &p, end))
		return 1;
	if (blen)
	{
		unsigned char body[LWS_PRE + sizeof(nf)];

		memcpy(body + LWS_PRE, nf, blen);
		if (lws_write(wsi, body + LWS_PRE, blen, LWS_WRITE_HTTP_FINAL) < 0)
			return -1;
	}
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int
add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
		   unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *) name,
									   (const unsigned char *) value, (int) strlen(value), p, end);
}

/*
 * Maps a request path to a file under the web root. Returns false when the
 * path is not a static one (the caller answers it). *immutable: a versioned
 * URL of the current install.
 */
static bool
map_path(const char *path, char *rel, size_t cap, bool *immutable, bool *redirect)
{
	const char *app;
	const char *rest;

	*immutable = false;
	*redirect = false;
	if (strcmp(path, "/console") == 0 || strcmp(path, "/widget") == 0)
	{
		*redirect = true;
		return true;
	}
	if (strncmp(path, "/console/", 9) == 0)
		app = "console", rest = path + 9;
	else if (strncmp(path, "/widget/", 8) == 0)
		app = "widget", rest = path + 8;
	else
		return false;
	if (strncmp(rest, "v-", 2) == 0 && strchr(rest, '/'))
	{
		const char *slash = strchr(rest, '/');
		const char *v = current_version();
		size_t		vlen = (size_t) (slash - rest - 2);

		*immutable = v[0] && strlen(v) == vlen && strncmp(rest + 2, v, vlen) == 0;
		rest = slash + 1;
	}
	if (*rest == '\0')
		rest = "index.html";
	snprintf(rel, cap, "%s/%s", app, rest);
	return true;
}

/*
 * Serves path when it is a static one: returns 1 with *verdict set to lws's
 * verdict, 0 when the path is not static (http_serve answers it).
 */
int
http_static_serve(struct lws *wsi, const char *path, int *verdict)
{
	char		rel[256],
				file[1400],
				etag[96],
				inm[128];
	unsigned char hdrs[1024];
	unsigned char *p = hdrs,
			   *end = hdrs + sizeof(hdrs);
	const char *mime = NULL;
	bool		compress = false,
				immutable,
				redirect,
				gz = false;
	struct stat st;
	size_t		rl;
	int			n;

	if (!map_path(path, rel, sizeof(rel), &immutable, &redirect))
		return 0;
	if (redirect)
	{
		char		loc[32];

		snprintf(loc, sizeof(loc), "%s/", path);
		*verdict = answer_bare(wsi, HTTP_STATUS_MOVED_PERMANENTLY, loc, NULL, NULL);
		return 1;
	}
	rl = strlen(rel);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
	{
		size_t		el = strlen(types[i].ext);

		if (rl > el && strcmp(rel + rl - el, types[i].ext) == 0)
		{
			mime = types[i].mime;
			compress = types[i].compress;
		}
	}
	if (mime == NULL || !safe_rel_path(rel))
	{
		*verdict = answer_bare(wsi, HTTP_STATUS_NOT_FOUND, NULL, NULL, NULL);
		return 1;
	}
	snprintf(file, sizeof(file), "%s/%s.gz", web_root(), rel);
	if (compress && accepts_gzip(wsi) && stat(file, &st) == 0 && S_ISREG(st.st_mode))
		gz = true;
	else
	{
		snprintf(file, sizeof(file), "%s/%s", web_root(), rel);
		if (stat(file, &st) != 0 || !S_ISREG(st.st_mode))
		{
			*verdict = answer_bare(wsi, HTTP_STATUS_NOT_FOUND, NULL, NULL, NULL);
			return 1;
		}
	}
	/* size and mtime name the content; the encoding is part of the tag */
	snprintf(etag, sizeof(etag), "\"%llx-%llx%s\"", (unsigned long long) st.st_size,
			 (unsigned long long) st.st_mtime, gz ? "-gz" : "");
	if (!immutable && lws_hdr_copy(wsi, inm, sizeof(inm), WSI_TOKEN_HTTP_IF_NONE_MATCH) > 0 &&
		strstr(inm, etag) != NULL)
	{
		*verdict = answer_bare(wsi, HTTP_STATUS_NOT_MODIFIED, NULL, etag, "no-cache");
		return 1;
	}
	if (add_header(wsi, "cache-control:", immutable ? "public, max-age=31536000, immutable"
				   : "no-cache", &p, end) ||
		add_header(wsi, "etag:", etag, &p, end) ||
		add_header(wsi, "x-content-type-options:", "nosniff", &p, end) ||
		(compress && add_header(wsi, "vary:", "Accept-Encoding", &p, end)) ||
		(gz && add_header(wsi, "content-encoding:", "gzip", &p, end)) ||
		(strncmp(rel, "console/", 8) == 0 && strcmp(mime, types[0].mime) == 0 &&
		 add_header(wsi, "content-security-policy:",
					"default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob: http: https:; "
					"media-src 'self' data: blob:; frame-ancestors 'self'", &p, end)))
	{
		*verdict = 1;
		return 1;
	}
	n = lws_serve_http_file(wsi, file, mime, (const char *) hdrs, (int) (p - hdrs));
	/* < 0: failed, the connection closes; > 0: served and completed already */
	if (n < 0)
		*verdict = -1;
	else if (n > 0)
		*verdict = lws_http_transaction_completed(wsi) ? -1 : 0;
	else
		*verdict = 0;
	return 1;
}
