/*
 * http_webhook_sign.c — Standard Webhooks secrets and signatures.
 *
 * A secret is "whsec_" + base64 of 24 to 64 random bytes; the HMAC key is
 * the decoded bytes. The signature of one request is
 * "v1," + base64(HMAC-SHA256(key, msg_id + "." + timestamp + "." + body)).
 * Base64 is OpenSSL's (EVP_EncodeBlock / EVP_DecodeBlock).
 */
#include "http_webhook.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "utils/memutils.h"

#define SECRET_PREFIX "whsec_"
#define SECRET_MIN_BYTES 24
#define SECRET_MAX_BYTES 64
#define SECRET_NEW_BYTES 32

/* The sealing context of a tenant's webhook secrets (http_crypt.c). */
char *
hd_webhook_context(int64 tenant_id)
{
	return psprintf("pg_helpdesk webhook secret, tenant %lld", (long long) tenant_id);
}

char *
hd_webhook_new_secret(void)
{
	unsigned char raw[SECRET_NEW_BYTES];
	char	   *out = palloc(sizeof(SECRET_PREFIX) + 4 * ((SECRET_NEW_BYTES + 2) / 3) + 1);

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not generate a secret (OpenSSL RAND_bytes)")));
	strcpy(out, SECRET_PREFIX);
	EVP_EncodeBlock((unsigned char *) out + strlen(SECRET_PREFIX), raw, sizeof(raw));
	explicit_bzero(raw, sizeof(raw));
	return out;
}

/*
 * The key bytes of a secret; -1 when it is not "whsec_" + canonical base64
 * (length a multiple of 4, only the base64 alphabet, padding at the end).
 */
static int
decode_secret(const char *secret, unsigned char *key, int keymax)
{
	const char *b64;
	size_t		len,
				i;
	int			pad = 0,
				n;

	if (strncmp(secret, SECRET_PREFIX, strlen(SECRET_PREFIX)) != 0)
		return -1;
	b64 = secret + strlen(SECRET_PREFIX);
	len = strlen(b64);
	if (len == 0 || len % 4 != 0 || len / 4 * 3 > (size_t) keymax)
		return -1;
	for (i = 0; i < len; i++)
	{
		char		c = b64[i];

		if (c == '=')
		{
			if (i < len - 2)
				return -1;
			pad++;
		}
		else if (pad > 0 || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
							  (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return -1;
	}
	n = EVP_DecodeBlock(key, (const unsigned char *) b64, (int) len);
	if (n < 0)
		return -1;
	return n - pad;
}

/* An ERROR unless secret is a usable Standard Webhooks secret. */
void
hd_webhook_check_secret(const char *secret)
{
	unsigned char key[SECRET_MAX_BYTES + 3];
	int			n = decode_secret(secret, key, sizeof(key));

	explicit_bzero(key, sizeof(key));
	if (n < SECRET_MIN_BYTES || n > SECRET_MAX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("secret must be \"whsec_\" followed by the base64 of %d to %d bytes",
						SECRET_MIN_BYTES, SECRET_MAX_BYTES),
				 errhint("Leave it NULL to have one generated; read it with helpdesk.webhook_secret().")));
}

/* "v1,<base64 HMAC-SHA256 over id.timestamp.body>" */
char *
hd_webhook_signature(const char *secret, const char *msg_id, int64 timestamp,
					 const char *body, size_t body_len)
{
	unsigned char key[SECRET_MAX_BYTES + 3];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char		ts[32];
	char	   *out;
	int			n = decode_secret(secret, key, sizeof(key));
	char	   *content;
	size_t		clen;
	bool		ok;

	if (n < 1)
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED), errmsg("a stored webhook secret is malformed")));
	snprintf(ts, sizeof(ts), INT64_FORMAT, timestamp);
	/* the signed content "id.timestamp.body" (HMAC_CTX is deprecated in OpenSSL 3) */
	content = palloc(strlen(msg_id) + strlen(ts) + body_len + 3);
	clen = sprintf(content, "%s.%s.", msg_id, ts);
	memcpy(content + clen, body, body_len);
	clen += body_len;
	ok = HMAC(EVP_sha256(), key, n, (const unsigned char *) content, clen, mac, &maclen) != NULL;
	pfree(content);
	explicit_bzero(key, sizeof(key));
	if (!ok)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not sign a webhook (OpenSSL HMAC)")));
	out = palloc(3 + 4 * ((maclen + 2) / 3) + 1);
	memcpy(out, "v1,", 3);
	EVP_EncodeBlock((unsigned char *) out + 3, mac, maclen);
	return out;
}

/*
 * The HTTP worker's signing keys: per sealed secret (tenant and the sealed
 * bytes, so a rotation or a new secret is a new entry), an HMAC-SHA256
 * context keyed once, duplicated for each signature. Each request used to
 * open the secret (AES-GCM), decode its base64 and key a one-shot HMAC (the
 * fetches of OpenSSL 3 included), about a tenth of the worker's time spent
 * signing. The plain secret lives only inside OpenSSL's keyed context, as
 * it did for the length of each request before; SIGN_CACHE entries, the
 * oldest replaced first.
 */
#define SIGN_CACHE 64

typedef struct SignKey
{
	int64		tenant_id;
	bytea	   *sealed;			/* in TopMemoryContext */
	EVP_MAC_CTX *mac;
	uint64		used;
} SignKey;

static SignKey sign_keys[SIGN_CACHE];
static uint64 sign_clock = 0;
static EVP_MAC *hmac_alg = NULL;

static EVP_MAC_CTX *
sign_key(int64 tenant_id, const bytea *sealed)
{
	SignKey    *k = NULL;
	int			i,
				len,
				n;
	char	   *plain;
	unsigned char key[SECRET_MAX_BYTES + 3];
	OSSL_PARAM	params[2];
	EVP_MAC_CTX *mac;
	Size		size = VARSIZE_ANY(sealed);

	for (i = 0; i < SIGN_CACHE; i++)
	{
		SignKey    *e = &sign_keys[i];

		if (e->mac != NULL && e->tenant_id == tenant_id && VARSIZE_ANY(e->sealed) == size &&
			memcmp(e->sealed, sealed, size) == 0)
		{
			e->used = ++sign_clock;
			return e->mac;
		}
		if (k == NULL || e->mac == NULL || (k->mac != NULL && e->used < k->used))
			k = e;
	}
	if (hmac_alg == NULL && (hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not sign a webhook (OpenSSL HMAC)")));
	plain = hd_decrypt_secret(sealed, hd_webhook_context(tenant_id), &len);
	n = decode_secret(plain, key, sizeof(key));
	explicit_bzero(plain, len);
	if (n < 1)
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED), errmsg("a stored webhook secret is malformed")));
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	mac = EVP_MAC_CTX_new(hmac_alg);
	if (mac == NULL || EVP_MAC_init(mac, key, n, params) != 1)
	{
		explicit_bzero(key, sizeof(key));
		EVP_MAC_CTX_free(mac);
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not sign a webhook (OpenSSL HMAC)")));
	}
	explicit_bzero(key, sizeof(key));
	/* the replaced entry */
	if (k->mac != NULL)
	{
		EVP_MAC_CTX_free(k->mac);
		pfree(k->sealed);
	}
	k->tenant_id = tenant_id;
	k->sealed = MemoryContextAlloc(TopMemoryContext, size);
	memcpy(k->sealed, sealed, size);
	k->mac = mac;
	k->used = ++sign_clock;
	return mac;
}

/*
 * "v1,<base64 HMAC-SHA256 over id.timestamp.body>" under a tenant's sealed
 * secret (the worker's path: the keyed context is kept, see above).
 */
char *
hd_webhook_sign_sealed(int64 tenant_id, const bytea *sealed, const char *msg_id, int64 timestamp,
					   const char *body, size_t body_len)
{
	EVP_MAC_CTX *mac = EVP_MAC_CTX_dup(sign_key(tenant_id, sealed));
	unsigned char out[EVP_MAX_MD_SIZE];
	size_t		outlen = 0;
	char		ts[32];
	char	   *sig;
	bool		ok;

	snprintf(ts, sizeof(ts), "." INT64_FORMAT ".", timestamp);
	ok = mac != NULL &&
		EVP_MAC_update(mac, (const unsigned char *) msg_id, strlen(msg_id)) == 1 &&
		EVP_MAC_update(mac, (const unsigned char *) ts, strlen(ts)) == 1 &&
		EVP_MAC_update(mac, (const unsigned char *) body, body_len) == 1 &&
		EVP_MAC_final(mac, out, &outlen, sizeof(out)) == 1;
	EVP_MAC_CTX_free(mac);
	if (!ok)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not sign a webhook (OpenSSL HMAC)")));
	sig = palloc(3 + 4 * ((outlen + 2) / 3) + 1);
	memcpy(sig, "v1,", 3);
	EVP_EncodeBlock((unsigned char *) sig + 3, out, (int) outlen);
	return sig;
}
