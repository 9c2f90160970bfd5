/*
 * fuzz_frames.c — libFuzzer target for everything the bridge parses from
 * the network before the database sees it: client frames (JSON), tokens
 * (base64url, HMAC, claims JSON), typing notifications, the JSON string
 * escapers and the HTTP layer's parsers (route patterns, Range headers,
 * query arguments, download file names: http_parse.c).
 *
 * The first byte picks the parser so one corpus covers all of them. Forged
 * tokens never reach the claims parser (the signature fails first), so
 * mode 2 signs the fuzzer's bytes as claims with the test secret to reach it.
 */
#include "bridge.h"
#include "http_router.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char secret[] = "fuzz-secret-fuzz-secret-fuzz-secret!";

/* header.claims.signature with data as the claims */
static void
signed_token(const uint8_t *data, size_t size)
{
	static const char hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char	   *tok = malloc(64 + 2 * size + 128);
	size_t		n = b64url_encode((const unsigned char *) hdr, strlen(hdr), tok);
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t		maclen = 0;
	TokenClaims claims;

	tok[n++] = '.';
	n += b64url_encode(data, size, tok + n);
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, strlen(secret),
				  (unsigned char *) tok, n, mac, sizeof(mac), &maclen) != NULL)
	{
		tok[n++] = '.';
		n += b64url_encode(mac, maclen, tok + n);
		if (jwt_verify(tok, n, secret, NULL, 1700000000, &claims) == TOKEN_OK &&
			(claims.subject <= 0 || claims.kind >= KIND_COUNT))
			abort();			/* accepted claims must be well-formed */
	}
	free(tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t		mode;

	if (size == 0)
		return 0;
	mode = data[0] % 5;
	data++;
	size--;
	switch (mode)
	{
		case 0:
			{
				Cmd			cmd;
				const char *msg;
				const char *err = cmd_parse((const char *) data, size,
											(ClientKind) (size % KIND_COUNT), &cmd, &msg);

				if (err == NULL && (cmd.type < 0 || cmd.type >= CMD_COUNT))
					abort();
				cmd_free(&cmd);
				break;
			}
		case 1:
			{
				TokenClaims claims;

				int64_t		f[TYPING_FIELDS];

				(void) jwt_verify((const char *) data, size, secret, NULL, 1700000000, &claims);
				/* the same bytes as a helpdesk_typing payload */
				if (typing_verify((const char *) data, size, secret, 1700000000000LL, f) &&
					(f[2] > 1 || f[0] <= 0 || f[3] <= 0))
					abort();
				break;
			}
		case 2:
			signed_token(data, size);
			break;
		case 3:
			{
				/* escaping any C string gives JSON that parses back to it */
				char	   *s = strndup((const char *) data, size);
				Buf			b = {0};
				json_t	   *j;

				buf_json_string(&b, s);
				j = json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
				if (j && strcmp(json_string_value(j), s) != 0)
					abort();
				json_decref(j);
				buf_free(&b);
				/* database text: always valid UTF-8 JSON, cut to the bound (an invalid byte becomes 3) */
				buf_json_text(&b, s, size % 64);
				j = json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
				if (j == NULL || strlen(json_string_value(j)) > 3 * (size % 64) + 3)
					abort();
				json_decref(j);
				buf_free(&b);
				free(s);
				break;
			}
		case 4:
			{
				/* the HTTP parsers: one string, split at the first NUL-free '|' into parts */
				char	   *s = strndup((const char *) data, size);
				char	   *bar = strchr(s, '|');
				const char *pattern = bar ? (*bar = '\0', s) : "/api/v1/x/{}/y/{}/*";
				const char *rest = bar ? bar + 1 : s;
				char	   *params[HTTP_MAX_PARAMS] = {0};
				int			n = http_match(pattern, rest, params, HTTP_MAX_PARAMS);
				int64_t		first = -1,
							last = -1;
				int64_t		total = (int64_t) (size * 977);
				int			rc = http_parse_range(rest, total, &first, &last);
				char		name[220];
				char		val[64];
				size_t		nl;

				if (n > HTTP_MAX_PARAMS)
					abort();
				for (int i = 0; i < n; i++)
				{
					if (params[i] == NULL || params[i][0] == '\0' || strchr(params[i], '/'))
						abort();	/* a {} is one non-empty segment */
					free(params[i]);
				}
				if (rc > 0 && (first < 0 || last < first || last >= total))
					abort();		/* a range lies inside the body */
				nl = http_safe_filename(rest, name, sizeof(name));
				if (nl == 0 || nl != strlen(name) || strchr(name, '/') || strchr(name, '\\') ||
					strchr(name, '"') || name[0] == '.')
					abort();		/* a download name is one safe component */
				for (size_t i = 0; i < nl; i++)
					if ((unsigned char) name[i] < 0x20)
						abort();
				(void) http_query_get(rest, pattern, val, sizeof(val));
				free(s);
				break;
			}
	}
	return 0;
}
