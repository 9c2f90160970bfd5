/*
 * token_rules.c — what a valid helpdesk token is, in one place.
 *
 * Compiled into the extension (helpdesk.verify_token, issue_token's
 * signature) and into helpdesk-bridge (the check at connect), so the two
 * accept exactly the same tokens. Only what issue_token produces passes:
 *   - three base64url parts (no padding), at most HD_TOKEN_MAX_BYTES;
 *   - HMAC-SHA256 signature over "header.claims", compared in constant time
 *     before anything is decoded (a forged token costs one HMAC);
 *   - during a secret rotation the signature may match the previous secret
 *     instead (at most two HMACs for a forgery);
 *   - header: a JSON object whose alg is exactly "HS256" (typ, if present,
 *     "JWT"; kid, if present, the key id of the secret that matched): no alg
 *     confusion, no "none";
 *   - claims: a JSON object without duplicate keys; tenant a positive
 *     integer, kind one of agent, customer, supervisor, bot, sub a positive
 *     decimal integer as a string, exp an integer, iat an integer if present;
 *     ver (the agent's token version, agent_login) a positive integer and
 *     role one of admin, supervisor, agent, qa if present, both only on agent
 *     and supervisor tokens; a bot token (issue_bot_token: sub is the bot)
 *     must carry ver (the bot's token version) and no role. Whether ver is
 *     still the agent's or bot's current version is the caller's to check
 *     (verify_token, bridge_subscriber, the bot's bridge calls).
 * Base64 is OpenSSL's (EVP_EncodeBlock/EVP_DecodeBlock over the url
 * alphabet), JSON is jansson's. Nothing here allocates with palloc or
 * raises errors: callers map the status to their own (28000, close codes).
 */
#include "token_rules.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

static const char *const kind_names[] = {"customer", "agent", "supervisor", "bot"};
static const char *const role_names[] = {"", "admin", "supervisor", "agent", "qa"};

const char *
hd_token_kind_name(HdTokenKind k)
{
	return (unsigned) k < 4 ? kind_names[k] : "?";
}

const char *
hd_token_role_name(HdTokenRole r)
{
	return (unsigned) r < 5 ? role_names[r] : "?";
}

bool
hd_token_kid(const char *secret, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(secret, strlen(secret), md, &mdlen, EVP_sha256(), NULL) != 1 ||
		mdlen < HD_TOKEN_KID_LEN / 2)
		return false;
	for (int i = 0; i < HD_TOKEN_KID_LEN / 2; i++)
	{
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[HD_TOKEN_KID_LEN] = '\0';
	return true;
}

size_t
hd_b64url_encode(const unsigned char *in, size_t len, char *out)
{
	int			n = EVP_EncodeBlock((unsigned char *) out, in, (int) len);

	while (n > 0 && out[n - 1] == '=')
		n--;
	for (int i = 0; i < n; i++)
	{
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	out[n] = '\0';
	return (size_t) n;
}

/*
 * Decodes unpadded base64url into out (cap bytes); -1 when in holds anything
 * but the url alphabet or has an impossible length. The alphabet is checked
 * here because EVP_DecodeBlock takes the standard one (and skips blanks).
 */
static long
b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	char		std[HD_TOKEN_MAX_BYTES + 4];
	size_t		pad = (4 - len % 4) % 4;
	int			n;

	if (len == 0 || len % 4 == 1 || len + pad > sizeof(std) - 1 ||
		(len + pad) / 4 * 3 > cap)
		return -1;
	for (size_t i = 0; i < len; i++)
	{
		char		ch = in[i];

		if (ch == '-')
			ch = '+';
		else if (ch == '_')
			ch = '/';
		else if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
				   (ch >= '0' && ch <= '9')))
			return -1;
		std[i] = ch;
	}
	memset(std + len, '=', pad);
	std[len + pad] = '\0';
	n = EVP_DecodeBlock(out, (const unsigned char *) std, (int) (len + pad));
	if (n < 0)
		return -1;
	return (long) n - (long) pad;
}

size_t
hd_hmac_b64url(const char *secret, const void *in, size_t len, char *out)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t		maclen = 0;

	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, strlen(secret),
				  in, len, mac, sizeof(mac), &maclen) == NULL)
		return 0;
	return hd_b64url_encode(mac, maclen, out);
}

/* a JSON object decoded from a base64url part; NULL if it is not one */
static json_t *
part_object(const char *in, size_t len)
{
	unsigned char raw[HD_TOKEN_MAX_BYTES];
	long		n = b64url_decode(in, len, raw, sizeof(raw));
	json_t	   *o;

	if (n <= 0)
		return NULL;
	o = json_loadb((const char *) raw, (size_t) n, JSON_REJECT_DUPLICATES, NULL);
	if (o != NULL && !json_is_object(o))
	{
		json_decref(o);
		return NULL;
	}
	return o;
}

static bool
get_int(json_t *o, const char *key, int64_t *out)
{
	json_t	   *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return false;
	*out = (int64_t) json_integer_value(v);
	return true;
}

#define BAD(w) do { *why = (w); goto done; } while (0)

/* whether the signature part (siglen bytes at sig_in) is secret's over the first n bytes */
static bool
signature_matches(const char *secret, const char *token, size_t n, const char *sig_in,
				  size_t siglen)
{
	char		sig[128];
	size_t		got = hd_hmac_b64url(secret, token, n, sig);

	return got != 0 && got == siglen && CRYPTO_memcmp(sig, sig_in, siglen) == 0;
}

HdTokenStatus
hd_token_verify(const char *token, size_t len, const char *secret, int64_t now_s,
				HdTokenClaims *out, const char **why)
{
	return hd_token_verify2(token, len, secret, NULL, now_s, out, why);
}

/*
 * Verifies token (len bytes, not necessarily NUL-terminated) against secret
 * (or previous, during a rotation) at now_s (Unix seconds). On HD_TOKEN_OK
 * and HD_TOKEN_EXPIRED *out holds the claims; *why always says what was
 * wrong (a constant string).
 */
HdTokenStatus
hd_token_verify2(const char *token, size_t len, const char *secret, const char *previous,
				 int64_t now_s, HdTokenClaims *out, const char **why)
{
	const char *used;
	char		kid[HD_TOKEN_KID_LEN + 1];
	const char *dot1,
			   *dot2,
			   *s;
	size_t		siglen;
	json_t	   *hdr = NULL,
			   *claims = NULL,
			   *v;
	char	   *end;
	long long	sub;
	HdTokenStatus st = HD_TOKEN_INVALID;

	memset(out, 0, sizeof(*out));
	*why = "token missing";
	if (token == NULL || len == 0)
		return HD_TOKEN_MISSING;
	*why = "token too long";
	if (len > HD_TOKEN_MAX_BYTES)
		return HD_TOKEN_INVALID;
	*why = "not three dot-separated parts";
	dot1 = memchr(token, '.', len);
	if (dot1 == NULL)
		return HD_TOKEN_INVALID;
	dot2 = memchr(dot1 + 1, '.', len - (size_t) (dot1 + 1 - token));
	if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t) (dot2 + 1 - token)) != NULL)
		return HD_TOKEN_INVALID;

	*why = "signature does not match";
	siglen = (size_t) (token + len - (dot2 + 1));
	used = secret;
	if (!signature_matches(secret, token, (size_t) (dot2 - token), dot2 + 1, siglen))
	{
		used = previous;
		if (previous == NULL || previous[0] == '\0' ||
			!signature_matches(previous, token, (size_t) (dot2 - token), dot2 + 1, siglen))
			return HD_TOKEN_INVALID;
	}

	hdr = part_object(token, (size_t) (dot1 - token));
	if (hdr == NULL)
		BAD("header is not base64url JSON");
	s = json_string_value(json_object_get(hdr, "alg"));
	if (s == NULL || strcmp(s, "HS256") != 0)
		BAD("header alg is not HS256");
	v = json_object_get(hdr, "typ");
	if (v != NULL && (!json_is_string(v) || strcmp(json_string_value(v), "JWT") != 0))
		BAD("header typ is not JWT");
	v = json_object_get(hdr, "kid");
	if (v != NULL && (!json_is_string(v) || !hd_token_kid(used, kid) ||
					  strcmp(json_string_value(v), kid) != 0))
		BAD("header kid is not the key id of the secret that signed it");

	claims = part_object(dot1 + 1, (size_t) (dot2 - dot1 - 1));
	if (claims == NULL)
		BAD("claims are not base64url JSON");
	if (!get_int(claims, "tenant", &out->tenant) || out->tenant <= 0)
		BAD("claim tenant is missing or not a positive integer");
	s = json_string_value(json_object_get(claims, "kind"));
	if (s == NULL)
		BAD("claim kind is missing");
	if (strcmp(s, "customer") == 0)
		out->kind = HD_TK_CUSTOMER;
	else if (strcmp(s, "agent") == 0)
		out->kind = HD_TK_AGENT;
	else if (strcmp(s, "supervisor") == 0)
		out->kind = HD_TK_SUPERVISOR;
	else if (strcmp(s, "bot") == 0)
		out->kind = HD_TK_BOT;
	else
		BAD("claim kind is not agent, customer, supervisor or bot");
	s = json_string_value(json_object_get(claims, "sub"));
	if (s == NULL || *s < '1' || *s > '9')
		BAD("claim sub is missing or not a positive decimal string");
	errno = 0;
	sub = strtoll(s, &end, 10);
	if (*end != '\0' || errno != 0 || sub <= 0)
		BAD("claim sub is missing or not a positive decimal string");
	out->subject = sub;
	if (!get_int(claims, "exp", &out->exp))
		BAD("claim exp is missing or not an integer");
	if (json_object_get(claims, "iat") != NULL && !get_int(claims, "iat", &out->iat))
		BAD("claim iat is not an integer");
	if (json_object_get(claims, "ver") != NULL &&
		(out->kind == HD_TK_CUSTOMER || !get_int(claims, "ver", &out->ver) || out->ver <= 0))
		BAD("claim ver is not a positive integer on an agent, supervisor or bot token");
	if (out->kind == HD_TK_BOT && out->ver == 0)
		BAD("claim ver is missing on a bot token");
	v = json_object_get(claims, "role");
	if (v != NULL)
	{
		s = json_string_value(v);
		out->role = HD_TR_NONE;
		for (int r = HD_TR_ADMIN; s != NULL && r <= HD_TR_QA; r++)
			if (strcmp(s, role_names[r]) == 0)
				out->role = (HdTokenRole) r;
		if (out->role == HD_TR_NONE || out->kind == HD_TK_CUSTOMER || out->kind == HD_TK_BOT)
			BAD("claim role is not admin, supervisor, agent or qa on an agent or supervisor token");
	}
	if (out->exp <= now_s)
	{
		*why = "expired";
		st = HD_TOKEN_EXPIRED;
	}
	else
	{
		*why = "ok";
		st = HD_TOKEN_OK;
	}
done:
	json_decref(hdr);
	json_decref(claims);
	return st;
}
