/*
 * signed_request.c — verify_signed_request: is this player API request
 * from the app it names, fresh, and not seen before?
 *
 * The signature (exactly as game servers compute it):
 *   X-HD-Signature = lowercase hex HMAC-SHA256(key = the app's secret text,
 *       METHOD "\n" PATH_WITH_QUERY "\n" TIMESTAMP "\n" NONCE "\n"
 *       lowercase hex SHA-256(raw body))
 * Checks in order, each with its own SQLSTATE (security.h): the parts'
 * form (HDA00), the app (HDA04), the timestamp within 300 s of the server's
 * clock either way (HDA02), the signature in constant time (HDA01), then
 * the nonce, recorded only for an authentic request so that forgeries
 * cannot use up nonces (HDA03 when the app used it within the window). The
 * nonce's primary key makes "once" hold across sessions and bridges: a
 * second insert of the same nonce waits for the first and then finds it.
 *
 * The method and path are restricted to printable ASCII without spaces, so
 * no part can contain the "\n" that separates them in the signed message.
 */
#include "security.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#define MAX_PATH_BYTES 8192
#define MAX_METHOD_BYTES 16

static HdPlan record_nonce = {
	"INSERT INTO helpdesk.api_nonce AS n (tenant_id, app_id, nonce, seen_at) "
	"VALUES ($1, $2, $3, clock_timestamp()) "
	"ON CONFLICT (tenant_id, app_id, nonce) DO UPDATE SET seen_at = EXCLUDED.seen_at "
	"WHERE n.seen_at < EXCLUDED.seen_at - make_interval(secs => $4) RETURNING 1",
	4, {INT8OID, TEXTOID, TEXTOID, FLOAT8OID}
};

/*
 * Keyed HMAC contexts of recently used apps, per backend: opening a sealed
 * secret (AES-GCM) and keying an HMAC for every request cost more than the
 * HMAC itself. An entry is used only while the app's row still holds the
 * very sealed bytes it was made from, so a new secret (or another tenant's
 * app of that id) never meets an old key. The secret's text is wiped once
 * the context is keyed.
 */
#define KEY_CACHE_SIZE 16

typedef struct KeyEntry
{
	char		app[65];
	int64		tenant_id;
	bytea	   *sealed;			/* TopMemoryContext */
	EVP_MAC_CTX *keyed;
} KeyEntry;

static KeyEntry key_cache[KEY_CACHE_SIZE];
static int	key_next = 0;
static EVP_MAC *hmac_alg = NULL;
static EVP_MD *sha256_alg = NULL;

/* OpenSSL's algorithms, fetched once per backend instead of once per call */
static void
fetch_algorithms(void)
{
	if (hmac_alg == NULL)
		hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (sha256_alg == NULL)
		sha256_alg = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (hmac_alg == NULL || sha256_alg == NULL)
		elog(ERROR, "OpenSSL has no HMAC or SHA-256");
}

static EVP_MAC_CTX *
keyed_hmac(int64 tenant_id, const char *app, const bytea *sealed)
{
	KeyEntry   *e;
	char	   *secret;
	OSSL_PARAM	params[2];
	MemoryContext old;

	for (int i = 0; i < KEY_CACHE_SIZE; i++)
	{
		e = &key_cache[i];
		if (e->keyed != NULL && e->tenant_id == tenant_id && strcmp(e->app, app) == 0 &&
			VARSIZE_ANY_EXHDR(e->sealed) == VARSIZE_ANY_EXHDR(sealed) &&
			memcmp(VARDATA_ANY(e->sealed), VARDATA_ANY(sealed), VARSIZE_ANY_EXHDR(sealed)) == 0)
			return e->keyed;
	}
	e = &key_cache[key_next];
	key_next = (key_next + 1) % KEY_CACHE_SIZE;
	if (e->keyed != NULL)
	{
		EVP_MAC_CTX_free(e->keyed);
		e->keyed = NULL;
		pfree(e->sealed);
	}
	secret = hd_app_secret_open(tenant_id, app, sealed);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	e->keyed = EVP_MAC_CTX_new(hmac_alg);
	if (e->keyed == NULL ||
		EVP_MAC_init(e->keyed, (const unsigned char *) secret, strlen(secret), params) != 1)
	{
		OPENSSL_cleanse(secret, strlen(secret));
		EVP_MAC_CTX_free(e->keyed);
		e->keyed = NULL;
		elog(ERROR, "could not key HMAC-SHA256");
	}
	OPENSSL_cleanse(secret, strlen(secret));
	old = MemoryContextSwitchTo(TopMemoryContext);
	e->sealed = palloc(VARSIZE_ANY(sealed));
	memcpy(e->sealed, sealed, VARSIZE_ANY(sealed));
	MemoryContextSwitchTo(old);
	strlcpy(e->app, app, sizeof(e->app));
	e->tenant_id = tenant_id;
	return e->keyed;
}

/* the parts of a request as text (NULL: missing) */
typedef struct SignedParts
{
	const char *method;
	const char *path;
	const char *app;
	const char *timestamp;
	const char *nonce;
	const char *signature;
	const char *body;
	size_t		body_len;
} SignedParts;

static void
malformed(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_HD_MALFORMED_REQUEST),
			 errmsg("malformed_request: %s", what)));
}

static bool
printable_token(const char *s, size_t max)
{
	size_t		n = 0;

	for (; *s; s++, n++)
		if (*s < 0x21 || *s > 0x7e || n >= max)
			return false;
	return n > 0;
}

static void
hex_lower(const unsigned char *in, int n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < n; i++)
	{
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* the parts' form: everything a client can get wrong without a secret */
static int64
check_form(const SignedParts *p)
{
	int64		ts;
	size_t		n;

	if (p->method == NULL)
		malformed("the method is missing");
	if (p->path == NULL)
		malformed("the path is missing");
	if (p->app == NULL)
		malformed("header X-HD-App is missing");
	if (p->timestamp == NULL)
		malformed("header X-HD-Timestamp is missing");
	if (p->nonce == NULL)
		malformed("header X-HD-Nonce is missing");
	if (p->signature == NULL)
		malformed("header X-HD-Signature is missing");
	if (p->body == NULL)
		malformed("the body is missing (pass an empty bytea for none)");
	for (const char *m = p->method; *m; m++)
		if (*m < 'A' || *m > 'Z')
			malformed("the method must be upper-case letters (GET, POST, ...)");
	if (p->method[0] == '\0' || strlen(p->method) > MAX_METHOD_BYTES)
		malformed("the method must be 1 to 16 upper-case letters");
	if (p->path[0] != '/' || !printable_token(p->path, MAX_PATH_BYTES))
		malformed("the path must start with / and be at most 8192 printable ASCII characters without spaces");
	if (!hd_app_id_valid(p->app))
		malformed("X-HD-App must be 3 to 64 of A-Z a-z 0-9 _ . -");
	n = strlen(p->timestamp);
	if (n == 0 || n > 12 || strspn(p->timestamp, "0123456789") != n ||
		!hd_parse_int64(p->timestamp, 0, PG_INT64_MAX, &ts))
		malformed("X-HD-Timestamp must be Unix seconds (decimal digits)");
	n = strlen(p->nonce);
	if (n < 16 || n > 64 ||
		strspn(p->nonce, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != n)
		malformed("X-HD-Nonce must be 16 to 64 of A-Z a-z 0-9 _ -");
	return ts;
}

/*
 * The whole check; returns the tenant. The app's sealed secret is opened
 * for this call only.
 */
static int64
verify(const SignedParts *p)
{
	int64		ts = check_form(p),
				now_s = hd_unix_now(),
				tenant_id = 0;
	Datum		v[4];
	bytea	   *sealed;
	EVP_MAC_CTX *mac;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t		maclen = 0;
	char		body_hex[2 * 32 + 1],
				want[2 * 32 + 1];
	StringInfoData msg;

	if (!hd_app_lookup(p->app, &tenant_id, &sealed))
		ereport(ERROR,
				(errcode(ERRCODE_HD_UNKNOWN_APP),
				 errmsg("unknown_app: app %s is unknown or revoked", hd_quote(p->app))));
	/* before anything is consumed: the caller must act for the app's tenant */
	hd_check_tenant(tenant_id);
	if (ts < now_s - HD_SIGNED_WINDOW_SECS || ts > now_s + HD_SIGNED_WINDOW_SECS)
		ereport(ERROR,
				(errcode(ERRCODE_HD_STALE_TIMESTAMP),
				 errmsg("stale_timestamp: X-HD-Timestamp is %lld s from the server's clock, more than %d",
						(long long) (ts - now_s), HD_SIGNED_WINDOW_SECS),
				 errhint("Sign with the current Unix time in seconds.")));
	fetch_algorithms();
	mac = keyed_hmac(tenant_id, p->app, sealed);
	mac = EVP_MAC_CTX_dup(mac);
	if (mac == NULL)
		elog(ERROR, "could not copy the HMAC context");

	if (EVP_Digest(p->body, p->body_len, md, &mdlen, sha256_alg, NULL) != 1)
	{
		EVP_MAC_CTX_free(mac);
		elog(ERROR, "SHA-256 failed");
	}
	hex_lower(md, (int) mdlen, body_hex);
	initStringInfo(&msg);
	appendStringInfo(&msg, "%s\n%s\n%s\n%s\n%s", p->method, p->path, p->timestamp, p->nonce,
					 body_hex);
	if (EVP_MAC_update(mac, (unsigned char *) msg.data, msg.len) != 1 ||
		EVP_MAC_final(mac, md, &maclen, sizeof(md)) != 1)
	{
		EVP_MAC_CTX_free(mac);
		elog(ERROR, "HMAC-SHA256 failed");
	}
	EVP_MAC_CTX_free(mac);
	hex_lower(md, (int) maclen, want);
	if (strlen(p->signature) != 64 || CRYPTO_memcmp(want, p->signature, 64) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_BAD_SIGNATURE),
				 errmsg("bad_signature: X-HD-Signature does not match the request"),
				 errhint("Sign METHOD, path with query, timestamp, nonce and the body's SHA-256 (lowercase hex), "
						 "joined by \\n, with HMAC-SHA256 and the app's secret.")));

	v[0] = Int64GetDatum(tenant_id);
	v[1] = CStringGetTextDatum(p->app);
	v[2] = CStringGetTextDatum(p->nonce);
	v[3] = Float8GetDatum(HD_NONCE_KEEP_SECS);
	hd_exec(&record_nonce, v, NULL, false, 0);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_REPLAYED_NONCE),
				 errmsg("replayed_nonce: app %s used this X-HD-Nonce within the last %d s",
						hd_quote(p->app), HD_NONCE_KEEP_SECS),
				 errhint("Use a new random nonce for every request.")));
	hd_security_prune_some(true);
	return tenant_id;
}

static Datum
result_row(FunctionCallInfo fcinfo, int64 tenant_id, const char *app)
{
	TupleDesc	desc;
	Datum		v[2];
	bool		n[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "verify_signed_request must return a row");
	desc = BlessTupleDesc(desc);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = CStringGetTextDatum(app);
	return HeapTupleGetDatum(heap_form_tuple(desc, v, n));
}

static const char *
text_arg(FunctionCallInfo fcinfo, int i)
{
	return PG_ARGISNULL(i) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(i));
}

/*
 * The body from argument body_arg (NULL: none), the verification and the
 * result row: the two forms of verify_signed_request (separate headers, a
 * headers object) differ only in how they find the other parts.
 */
static Datum
verify_with_body(FunctionCallInfo fcinfo, SignedParts *p, int body_arg)
{
	int64		tenant_id;

	p->body = NULL;
	p->body_len = 0;
	if (!PG_ARGISNULL(body_arg))
	{
		bytea	   *b = PG_GETARG_BYTEA_PP(body_arg);

		p->body = VARDATA_ANY(b);
		p->body_len = VARSIZE_ANY_EXHDR(b);
	}
	SPI_connect();
	tenant_id = verify(p);
	SPI_finish();
	/* after SPI_finish: the row must not live in SPI's memory */
	return result_row(fcinfo, tenant_id, p->app);
}

PG_FUNCTION_INFO_V1(hd_verify_signed_request);

/* verify_signed_request(method, path_with_query, app, timestamp, nonce, signature, body) */
Datum
hd_verify_signed_request(PG_FUNCTION_ARGS)
{
	SignedParts p;

	p.method = text_arg(fcinfo, 0);
	p.path = text_arg(fcinfo, 1);
	p.app = text_arg(fcinfo, 2);
	p.timestamp = text_arg(fcinfo, 3);
	p.nonce = text_arg(fcinfo, 4);
	p.signature = text_arg(fcinfo, 5);
	PG_RETURN_DATUM(verify_with_body(fcinfo, &p, 6));
}

/* a header's value from a JSON object of strings, its name in any case */
static const char *
header(Jsonb *j, const char *name)
{
	JsonbIterator *it = JsonbIteratorInit(&j->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	const char *found = NULL;
	bool		want = false;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			want = v.type == jbvString && (int) strlen(name) == v.val.string.len &&
				pg_strncasecmp(v.val.string.val, name, v.val.string.len) == 0;
		else if (tok == WJB_VALUE && want)
		{
			if (v.type != jbvString)
				malformed(psprintf("header %s must be a string", name));
			if (found != NULL)
				malformed(psprintf("header %s is given twice", name));
			found = pnstrdup(v.val.string.val, v.val.string.len);
			want = false;
		}
	}
	return found;
}

PG_FUNCTION_INFO_V1(hd_verify_signed_request_headers);

/* verify_signed_request(method, path_with_query, headers jsonb, body) */
Datum
hd_verify_signed_request_headers(PG_FUNCTION_ARGS)
{
	SignedParts p;
	Jsonb	   *h;

	memset(&p, 0, sizeof(p));
	p.method = text_arg(fcinfo, 0);
	p.path = text_arg(fcinfo, 1);
	if (PG_ARGISNULL(2))
		malformed("the headers are missing");
	h = PG_GETARG_JSONB_P(2);
	if (!JB_ROOT_IS_OBJECT(h))
		malformed("the headers must be a JSON object");
	p.app = header(h, "X-HD-App");
	p.timestamp = header(h, "X-HD-Timestamp");
	p.nonce = header(h, "X-HD-Nonce");
	p.signature = header(h, "X-HD-Signature");
	PG_RETURN_DATUM(verify_with_body(fcinfo, &p, 3));
}
