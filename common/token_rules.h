/*
 * token_rules.h — the one verifier of helpdesk tokens, compiled into both
 * the extension (helpdesk.verify_token, issue_token) and helpdesk-bridge.
 * Plain C with OpenSSL and jansson only: no PostgreSQL or bridge headers.
 */
#ifndef HD_TOKEN_RULES_H
#define HD_TOKEN_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HD_TOKEN_MAX_BYTES 2048

typedef enum HdTokenStatus
{
	HD_TOKEN_OK = 0,
	HD_TOKEN_MISSING,
	HD_TOKEN_INVALID,
	HD_TOKEN_EXPIRED
} HdTokenStatus;

/* kinds, in the order of the bridge's ClientKind */
typedef enum HdTokenKind
{
	HD_TK_CUSTOMER = 0,
	HD_TK_AGENT,
	HD_TK_SUPERVISOR,
	HD_TK_BOT					/* a tenant's webhook bot (issue_bot_token): sub is the bot id */
} HdTokenKind;

/* an agent's role in its tenant (claim role, from agent_login) */
typedef enum HdTokenRole
{
	HD_TR_NONE = 0,				/* no role claim (issue_token) */
	HD_TR_ADMIN,
	HD_TR_SUPERVISOR,
	HD_TR_AGENT,
	HD_TR_QA
} HdTokenRole;

typedef struct HdTokenClaims
{
	int64_t		tenant;
	int64_t		subject;
	int64_t		iat;			/* 0 when absent */
	int64_t		exp;
	int64_t		ver;			/* the agent's or bot's token version; 0 when absent */
	HdTokenKind kind;
	HdTokenRole role;
} HdTokenClaims;

/* the key id of a secret: hex of the first 4 bytes of its SHA-256 */
#define HD_TOKEN_KID_LEN 8

/*
 * Verifies against secret, or during a rotation against previous too (NULL
 * or "" when there is none). A kid in the header must be the kid of the
 * secret whose signature matched.
 */
extern HdTokenStatus hd_token_verify2(const char *token, size_t len, const char *secret,
									  const char *previous, int64_t now_s,
									  HdTokenClaims *out, const char **why);
extern HdTokenStatus hd_token_verify(const char *token, size_t len, const char *secret,
									 int64_t now_s, HdTokenClaims *out, const char **why);
extern const char *hd_token_kind_name(HdTokenKind k);
extern const char *hd_token_role_name(HdTokenRole r);

/* out needs HD_TOKEN_KID_LEN + 1 bytes; false if SHA-256 failed */
extern bool hd_token_kid(const char *secret, char *out);

/* base64url without padding; out needs 4 * ((len + 2) / 3) + 1 bytes; returns length */
extern size_t hd_b64url_encode(const unsigned char *in, size_t len, char *out);

/* base64url(HMAC-SHA256(secret, in)) into out (>= 44 bytes); returns length, 0 on failure */
extern size_t hd_hmac_b64url(const char *secret, const void *in, size_t len, char *out);

#endif							/* HD_TOKEN_RULES_H */
