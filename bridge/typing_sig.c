/*
 * typing_sig.c — the signed form of a typing signal between bridges (see
 * typing.c for why): "t1 <tenant> <session> <kind 0|1> <subject> <unix ms>
 * <mac>", mac = base64url(HMAC-SHA256(secret, everything before " <mac>")).
 * Pure functions of their arguments, so the fuzz target covers the parser.
 */
#include "bridge.h"
#include "token_rules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define TYPING_MAX_PAYLOAD 200

/* writes the signed payload for f into out (cap bytes); returns its length, 0 if it does not fit */
size_t
typing_sign(char *out, size_t cap, const char *secret, const int64_t f[TYPING_FIELDS])
{
	char		mac[64];
	int			n = snprintf(out, cap, "t1 %lld %lld %lld %lld %lld", (long long) f[0],
							 (long long) f[1], (long long) f[2], (long long) f[3], (long long) f[4]);
	size_t		m;

	if (n < 0 || (size_t) n >= cap)
		return 0;
	m = hd_hmac_b64url(secret, out, (size_t) n, mac);
	if (m == 0 || (size_t) n + 1 + m >= cap)
		return 0;
	out[n] = ' ';
	memcpy(out + n + 1, mac, m);
	out[n + 1 + m] = '\0';
	return (size_t) n + 1 + m;
}

/*
 * Parses and authenticates payload (len bytes): true only when every field
 * is a decimal number, the MAC matches, the kind is 0 (customer) or 1
 * (agent), the ids are positive and the time within TYPING_WINDOW_MS of
 * now_ms. f gets the fields.
 */
bool
typing_verify(const char *payload, size_t len, const char *secret, int64_t now_ms,
			  int64_t f[TYPING_FIELDS])
{
	char		buf[TYPING_MAX_PAYLOAD + 1];
	char		mac[64];
	const char *p;
	size_t		n;

	if (len < 3 || len > TYPING_MAX_PAYLOAD || memchr(payload, '\0', len) != NULL)
		return false;
	memcpy(buf, payload, len);
	buf[len] = '\0';
	if (strncmp(buf, "t1 ", 3) != 0)
		return false;
	p = buf + 3;
	for (int i = 0; i < TYPING_FIELDS; i++)
	{
		char	   *end;
		long long	v;

		if (*p < '0' || *p > '9')
			return false;
		errno = 0;
		v = strtoll(p, &end, 10);
		if (errno != 0 || *end != ' ')
			return false;
		f[i] = v;
		p = end + 1;
	}
	n = hd_hmac_b64url(secret, buf, (size_t) (p - 1 - buf), mac);
	if (n == 0 || strlen(p) != n || CRYPTO_memcmp(mac, p, n) != 0)
		return false;
	if (f[2] > 1 || f[0] <= 0 || f[1] <= 0 || f[3] <= 0)
		return false;
	return f[4] > now_ms - TYPING_WINDOW_MS && f[4] < now_ms + TYPING_WINDOW_MS;
}
