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
 * .gz themselves (only its zip fops do), so the choice is made here.
 *
 * The routes (GET /console, /console/..., /widget, /widget/...) sit on the
 * HTTP router (http_router.h). The files are small (the whole console is
 * about 25 KB compressed), so each is read once into memory and read again
 * only when its size or mtime changes.
 */
#include "http_router.h"

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
accepts_gzip(const char *ae)
{
	const char *g;

	if (ae == NULL)
		return false;
	for (g = ae; (g = strcasestr(g, "gzip")) != NULL; g += 4)
	{
		const char *q = g + 4;

		while (*q == ' ')
			q++;
		if (*q == ';')
		{
			const char *v = strstr(q, "q=");
			const char *comma = strchr(q, ',');

			if (v && (comma == NULL || v < comma) && strtod(v + 2, NULL) == 0.0)
				return false;
		}
		return true;
	}
	return false;
}

/*
 * Maps a request path to a file under the web root. Returns false when the
 * path is not a static one. *immutable: a versioned URL of the current
 * install.
 */
static bool
map_path(const char *path, char *rel, size_t cap, bool *immutable)
{
	const char *app;
	const char *rest;

	*immutable = false;
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

/* the in-memory copy of one file (plain or .gz), keyed by its path */
typedef struct Cached
{
	char	   *file;
	off_t		size;
	time_t		mtime;
	char	   *data;
	struct Cached *next;
} Cached;

static Cached *cache;
static int	ncached;

#define MAX_CACHED 256			/* files; beyond it a file is read per request */
#define MAX_FILE (4 * 1024 * 1024)

/* the file's bytes as of st; NULL when unreadable (the caller answers 404) */
static const char *
file_bytes(const char *file, const struct stat *st, char **scratch)
{
	Cached	   *c;
	FILE	   *f;
	char	   *data;

	*scratch = NULL;
	for (c = cache; c; c = c->next)
		if (strcmp(c->file, file) == 0)
			break;
	if (c && c->size == st->st_size && c->mtime == st->st_mtime)
		return c->data;
	if (st->st_size > MAX_FILE || (f = fopen(file, "rb")) == NULL)
		return NULL;
	data = malloc((size_t) st->st_size + 1);
	if (fread(data, 1, (size_t) st->st_size, f) != (size_t) st->st_size)
	{
		fclose(f);
		free(data);
		return NULL;
	}
	fclose(f);
	if (c == NULL && ncached >= MAX_CACHED)
		return *scratch = data;
	if (c == NULL)
	{
		c = calloc(1, sizeof(Cached));
		c->file = strdup(file);
		c->next = cache;
		cache = c;
		ncached++;
	}
	free(c->data);
	c->data = data;
	c->size = st->st_size;
	c->mtime = st->st_mtime;
	return data;
}

static void
serve_redirect(HttpReq *r)
{
	char		loc[32];

	snprintf(loc, sizeof(loc), "%s/", r->path);
	http_add_header(r, "location", loc);
	http_reply(r, 301, "text/plain; charset=utf-8", NULL, 0);
}

static void
serve_file(HttpReq *r)
{
	char		rel[256],
				file[1400],
				etag[96],
			   *scratch;
	const char *mime = NULL,
			   *inm,
			   *data;
	bool		compress = false,
				immutable,
				gz = false;
	struct stat st;
	size_t		rl;

	if (!map_path(r->path, rel, sizeof(rel), &immutable))
	{
		http_reply_error(r, 404, "not_found", "no such file");
		return;
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
		http_reply_error(r, 404, "not_found", "no such file");
		return;
	}
	snprintf(file, sizeof(file), "%s/%s.gz", web_root(), rel);
	if (compress && accepts_gzip(http_header(r, "accept-encoding")) &&
		stat(file, &st) == 0 && S_ISREG(st.st_mode))
		gz = true;
	else
	{
		snprintf(file, sizeof(file), "%s/%s", web_root(), rel);
		if (stat(file, &st) != 0 || !S_ISREG(st.st_mode))
		{
			http_reply_error(r, 404, "not_found", "no such file");
			return;
		}
	}
	/* size and mtime name the content; the encoding is part of the tag */
	snprintf(etag, sizeof(etag), "\"%llx-%llx%s\"", (unsigned long long) st.st_size,
			 (unsigned long long) st.st_mtime, gz ? "-gz" : "");
	http_add_header(r, "cache-control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
	http_add_header(r, "etag", etag);
	if (compress)
		http_add_header(r, "vary", "Accept-Encoding");
	inm = http_header(r, "if-none-match");
	if (!immutable && inm && strstr(inm, etag) != NULL)
	{
		http_reply(r, 304, mime, NULL, 0);
		return;
	}
	if ((data = file_bytes(file, &st, &scratch)) == NULL)
	{
		http_reply_error(r, 404, "not_found", "no such file");
		return;
	}
	http_add_header(r, "x-content-type-options", "nosniff");
	if (gz)
		http_add_header(r, "content-encoding", "gzip");
	if (strncmp(rel, "console/", 8) == 0 && strcmp(mime, types[0].mime) == 0)
		http_add_header(r, "content-security-policy",
						"default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob: http: https:; "
						"media-src 'self' data: blob:; frame-ancestors 'self'");
	http_reply(r, 200, mime, data, (size_t) st.st_size);
	free(scratch);
}

void
http_static_init(void)
{
	static const HttpRoute routes[] = {
		{"GET", "/console", serve_redirect, 0, 0},
		{"GET", "/widget", serve_redirect, 0, 0},
		{"GET", "/console/*", serve_file, 0, 0},
		{"GET", "/widget/*", serve_file, 0, 0},
	};

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		http_route_add(&routes[i]);
	http_keep_header("accept-encoding");
	http_keep_header("if-none-match");
}
