/*
 * jwt.c — verification of the HS256 tokens issued by helpdesk.issue_token().
 *
 * Only what issue_token produces is accepted: header alg HS256, claims
 * tenant (number), kind (agent|customer|supervisor), sub (decimal string),
 * exp (number). The signature is compared in constant time before the
 * claims are even decoded, so a forged token costs one HMAC.
 */
#include "bridge.h"

#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define MAX_TOKEN 2048

static int
b64url_value(unsigned char c)
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

/* decodes unpadded base64url into out (cap bytes); returns length or -1 */
static long
b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	uint32_t	acc = 0;
	int			bits = 0;
	size_t		n = 0;

	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++)
	{
		int			d = b64url_value((unsigned char) in[i]);

		if (d < 0)
			return -1;
		acc = (acc << 6) | (uint32_t) d;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			if (n >= cap)
				return -1;
			out[n++] = (unsigned char) ((acc >> bits) & 0xFF);
		}
	}
	return (long) n;
}

size_t
b64url_encode(const unsigned char *in, size_t len, char *out)
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t		n = 0,
				i;

	for (i = 0; i + 2 < len; i += 3)
	{
		uint32_t	v = ((uint32_t) in[i] << 16) | ((uint32_t) in[i + 1] << 8) | in[i + 2];

		out[n++] = a[(v >> 18) & 63];
		out[n++] = a[(v >> 12) & 63];
		out[n++] = a[(v >> 6) & 63];
		out[n++] = a[v & 63];
	}
	if (len - i == 1)
	{
		uint32_t	v = (uint32_t) in[i] << 16;

		out[n++] = a[(v >> 18) & 63];
		out[n++] = a[(v >> 12) & 63];
	}
	else if (len - i == 2)
	{
		uint32_t	v = ((uint32_t) in[i] << 16) | ((uint32_t) in[i + 1] << 8);

		out[n++] = a[(v >> 18) & 63];
		out[n++] = a[(v >> 12) & 63];
		out[n++] = a[(v >> 6) & 63];
	}
	return n;
}

const char *
kind_name(ClientKind k)
{
	switch (k)
	{
		case KIND_CUSTOMER:
			return "customer";
		case KIND_AGENT:
			return "agent";
		case KIND_SUPERVISOR:
			return "supervisor";
		default:
			return "?";
	}
}

static bool
json_int(json_t *o, const char *key, int64_t *out)
{
	json_t	   *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return false;
	*out = (int64_t) json_integer_value(v);
	return true;
}

TokenStatus
jwt_verify(const char *token, size_t len, const char *secret, int64_t now_s,
		   TokenClaims *out)
{
	const char *dot1,
			   *dot2;
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t		maclen = 0;
	char		sig[128];
	size_t		siglen;
	unsigned char raw[MAX_TOKEN];
	long		rawlen;
	json_t	   *hdr,
			   *claims;
	json_error_t jerr;
	const char *s;
	int64_t		sub;
	char	   *end;
	TokenStatus st = TOKEN_INVALID;

	if (token == NULL || len == 0)
		return TOKEN_MISSING;
	if (len > MAX_TOKEN)
		return TOKEN_INVALID;
	dot1 = memchr(token, '.', len);
	if (dot1 == NULL)
		return TOKEN_INVALID;
	dot2 = memchr(dot1 + 1, '.', len - (size_t) (dot1 + 1 - token));
	if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t) (dot2 + 1 - token)) != NULL)
		return TOKEN_INVALID;

	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, strlen(secret),
				  (const unsigned char *) token, (size_t) (dot2 - token),
				  mac, sizeof(mac), &maclen) == NULL)
		return TOKEN_INVALID;
	siglen = b64url_encode(mac, maclen, sig);
	if ((size_t) (token + len - (dot2 + 1)) != siglen ||
		CRYPTO_memcmp(sig, dot2 + 1, siglen) != 0)
		return TOKEN_INVALID;

	/* header: must say HS256 (no alg confusion) */
	rawlen = b64url_decode(token, (size_t) (dot1 - token), raw, sizeof(raw));
	if (rawlen < 0)
		return TOKEN_INVALID;
	hdr = json_loadb((const char *) raw, (size_t) rawlen, JSON_REJECT_DUPLICATES, &jerr);
	if (hdr == NULL)
		return TOKEN_INVALID;
	s = json_string_value(json_object_get(hdr, "alg"));
	if (s == NULL || strcmp(s, "HS256") != 0)
	{
		json_decref(hdr);
		return TOKEN_INVALID;
	}
	json_decref(hdr);

	rawlen = b64url_decode(dot1 + 1, (size_t) (dot2 - dot1 - 1), raw, sizeof(raw));
	if (rawlen < 0)
		return TOKEN_INVALID;
	claims = json_loadb((const char *) raw, (size_t) rawlen, JSON_REJECT_DUPLICATES, &jerr);
	if (claims == NULL || !json_is_object(claims))
		goto done;
	if (!json_int(claims, "tenant", &out->tenant) || !json_int(claims, "exp", &out->exp))
		goto done;
	s = json_string_value(json_object_get(claims, "kind"));
	if (s == NULL)
		goto done;
	if (strcmp(s, "agent") == 0)
		out->kind = KIND_AGENT;
	else if (strcmp(s, "customer") == 0)
		out->kind = KIND_CUSTOMER;
	else if (strcmp(s, "supervisor") == 0)
		out->kind = KIND_SUPERVISOR;
	else
		goto done;
	s = json_string_value(json_object_get(claims, "sub"));
	if (s == NULL || *s == '\0')
		goto done;
	sub = strtoll(s, &end, 10);
	if (*end != '\0' || sub <= 0)
		goto done;
	out->subject = sub;
	st = (out->exp <= now_s) ? TOKEN_EXPIRED : TOKEN_OK;
done:
	json_decref(claims);
	return st;
}
