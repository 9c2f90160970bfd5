/*
 * token.c — JWT (HS256) tokens for helpdesk-bridge clients.
 *
 * The bridge holds the same secret (its --token-secret) and checks
 * signature, expiry and tenant before any data flows. The secret lives in
 * the superuser-only setting helpdesk.token_secret so that neither the
 * application roles nor the tokens' holders can read it.
 *
 * Claims: {"tenant": <id>, "kind": "agent"|"customer"|"supervisor",
 *          "sub": "<id>", "iat": <unix s>, "exp": <unix s>}.
 */
#include "hd.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/guc.h"

char	   *hd_token_secret = NULL;

#define MIN_SECRET_BYTES 32
#define MAX_TTL_SECS (30 * 86400)

static const char *const token_kinds[] = {"agent", "customer", "supervisor", NULL};

static HdPlan agent_exists = {
	"SELECT 1 FROM helpdesk.agent WHERE tenant_id = $1 AND id = $2 AND enabled",
	2, {INT8OID, INT8OID}
};
static HdPlan customer_exists = {
	"SELECT 1 FROM helpdesk.customer WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

static void
b64url_append(StringInfo out, const unsigned char *in, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t		i;

	for (i = 0; i + 2 < len; i += 3)
	{
		uint32		v = (in[i] << 16) | (in[i + 1] << 8) | in[i + 2];

		appendStringInfoChar(out, alphabet[(v >> 18) & 63]);
		appendStringInfoChar(out, alphabet[(v >> 12) & 63]);
		appendStringInfoChar(out, alphabet[(v >> 6) & 63]);
		appendStringInfoChar(out, alphabet[v & 63]);
	}
	if (len - i == 1)
	{
		uint32		v = in[i] << 16;

		appendStringInfoChar(out, alphabet[(v >> 18) & 63]);
		appendStringInfoChar(out, alphabet[(v >> 12) & 63]);
	}
	else if (len - i == 2)
	{
		uint32		v = (in[i] << 16) | (in[i + 1] << 8);

		appendStringInfoChar(out, alphabet[(v >> 18) & 63]);
		appendStringInfoChar(out, alphabet[(v >> 12) & 63]);
		appendStringInfoChar(out, alphabet[(v >> 6) & 63]);
	}
}

static const char *
require_secret(void)
{
	if (hd_token_secret == NULL || strlen(hd_token_secret) < MIN_SECRET_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("helpdesk.token_secret is not set or shorter than %d bytes",
						MIN_SECRET_BYTES),
				 errhint("Set it in postgresql.conf to the same value as helpdesk-bridge's "
						 "--token-secret (for example the output of "
						 "\"openssl rand -hex 32\") and reload.")));
	return hd_token_secret;
}

/* HMAC-SHA256 of signing_input, base64url-appended to out */
static void
append_signature(StringInfo out, const char *signing_input, size_t len)
{
	const char *secret = require_secret();
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t		maclen = 0;

	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, strlen(secret),
				  (const unsigned char *) signing_input, len,
				  mac, sizeof(mac), &maclen) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute the token signature")));
	b64url_append(out, mac, maclen);
}

PG_FUNCTION_INFO_V1(hd_issue_token);

/*
 * issue_token(tenant_id, kind, subject, ttl): a signed token for one agent,
 * customer or supervisor (an agent of the tenant who sees all of it). The
 * subject must exist (and an agent be enabled) now; the bridge re-checks
 * at connect, so a token of a deleted subject opens nothing.
 */
Datum
hd_issue_token(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "kind", "subject", "ttl"};
	int64		tenant_id,
				subject;
	char	   *kind;
	int64		ttl_us;
	int64		now_s;
	Datum		v[2];
	StringInfoData claims,
				tok;
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

	hd_require_args(fcinfo, 4, names);
	tenant_id = PG_GETARG_INT64(0);
	kind = text_to_cstring(PG_GETARG_TEXT_PP(1));
	subject = PG_GETARG_INT64(2);
	hd_check_enum("kind", kind, token_kinds);
	ttl_us = hd_interval_arg(fcinfo, 3, "ttl", USECS_PER_SEC, (int64) MAX_TTL_SECS * USECS_PER_SEC,
							 false, NULL);
	require_secret();

	SPI_connect();
	hd_require_tenant(tenant_id);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(subject);
	hd_exec(strcmp(kind, "customer") == 0 ? &customer_exists : &agent_exists,
			v, NULL, true, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_NOT_FOUND),
				 errmsg("%s %lld does not exist in tenant %lld%s",
						strcmp(kind, "customer") == 0 ? "customer" : "agent",
						(long long) subject, (long long) tenant_id,
						strcmp(kind, "customer") == 0 ? "" : " or is disabled")));
	SPI_finish();

	now_s = (GetCurrentTimestamp() / USECS_PER_SEC) +
		(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
	initStringInfo(&claims);
	appendStringInfo(&claims,
					 "{\"tenant\":%lld,\"kind\":\"%s\",\"sub\":\"%lld\",\"iat\":%lld,\"exp\":%lld}",
					 (long long) tenant_id, kind, (long long) subject,
					 (long long) now_s, (long long) (now_s + ttl_us / USECS_PER_SEC));

	initStringInfo(&tok);
	b64url_append(&tok, (const unsigned char *) header, strlen(header));
	appendStringInfoChar(&tok, '.');
	b64url_append(&tok, (const unsigned char *) claims.data, claims.len);
	{
		size_t		signed_len = tok.len;

		appendStringInfoChar(&tok, '.');
		append_signature(&tok, tok.data, signed_len);
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(tok.data, tok.len));
}

static int
b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* decodes base64url without padding; false on a bad character or length */
static bool
b64url_decode(const char *in, size_t len, StringInfo out)
{
	uint32		acc = 0;
	int			bits = 0;
	size_t		i;

	if (len % 4 == 1)
		return false;
	for (i = 0; i < len; i++)
	{
		int			d = b64url_value(in[i]);

		if (d < 0)
			return false;
		acc = (acc << 6) | d;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			appendStringInfoChar(out, (char) ((acc >> bits) & 0xFF));
		}
	}
	return true;
}

static void
bad_token(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("invalid token: %s", why)));
}

PG_FUNCTION_INFO_V1(hd_verify_token);

/*
 * verify_token(token): the claims of a token this database issued, as
 * jsonb, after checking the signature (constant time) and expiry. For
 * backends that take the same tokens as the bridge.
 */
Datum
hd_verify_token(PG_FUNCTION_ARGS)
{
	char	   *token;
	char	   *dot1,
			   *dot2;
	StringInfoData sig,
				claims;
	Jsonb	   *j;
	JsonbValue *exp;
	int64		now_s;

	if (PG_ARGISNULL(0))
		bad_token("token is NULL");
	token = text_to_cstring(PG_GETARG_TEXT_PP(0));
	dot1 = strchr(token, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL)
		bad_token("not three dot-separated parts");

	initStringInfo(&sig);
	append_signature(&sig, token, dot2 - token);
	if (strlen(dot2 + 1) != (size_t) sig.len ||
		CRYPTO_memcmp(sig.data, dot2 + 1, sig.len) != 0)
		bad_token("signature does not match");

	initStringInfo(&claims);
	if (!b64url_decode(dot1 + 1, dot2 - dot1 - 1, &claims))
		bad_token("claims are not base64url");
	j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(claims.data)));
	exp = getKeyJsonValueFromContainer(&j->root, "exp", 3, NULL);
	if (exp == NULL || exp->type != jbvNumeric)
		bad_token("no exp claim");
	now_s = (GetCurrentTimestamp() / USECS_PER_SEC) +
		(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
	if (DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(exp->val.numeric))) <= now_s)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid token: expired")));
	PG_RETURN_JSONB_P(j);
}
