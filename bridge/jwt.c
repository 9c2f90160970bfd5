/*
 * jwt.c — the bridge's side of token verification: the rules live in
 * token_rules.c, shared with the extension's helpdesk.verify_token, so
 * the bridge and the database accept exactly the same tokens.
 */
#include "bridge.h"
#include "token_rules.h"

#include <string.h>

const char *
kind_name(ClientKind k)
{
	return k < KIND_COUNT ? hd_token_kind_name((HdTokenKind) k) : "?";
}

const char *
role_name(ClientRole r)
{
	return r == ROLE_NONE ? NULL : hd_token_role_name((HdTokenRole) r);
}

ClientRole
role_from_name(const char *s)
{
	for (int r = ROLE_ADMIN; s && r <= ROLE_QA; r++)
		if (strcmp(s, hd_token_role_name((HdTokenRole) r)) == 0)
			return (ClientRole) r;
	return ROLE_NONE;
}

size_t
b64url_encode(const unsigned char *in, size_t len, char *out)
{
	return hd_b64url_encode(in, len, out);
}

TokenStatus
jwt_verify(const char *token, size_t len, const char *secret, const char *previous,
		   int64_t now_s, TokenClaims *out)
{
	HdTokenClaims cl;
	const char *why;
	HdTokenStatus st = hd_token_verify2(token, len, secret, previous, now_s, &cl, &why);

	out->tenant = cl.tenant;
	out->subject = cl.subject;
	out->exp = cl.exp;
	out->ver = cl.ver;
	out->kind = (ClientKind) cl.kind;
	out->role = st == HD_TOKEN_OK ? (ClientRole) cl.role : ROLE_NONE;
	switch (st)
	{
		case HD_TOKEN_OK:
			return TOKEN_OK;
		case HD_TOKEN_MISSING:
			return TOKEN_MISSING;
		case HD_TOKEN_EXPIRED:
			return TOKEN_EXPIRED;
		default:
			return TOKEN_INVALID;
	}
}
