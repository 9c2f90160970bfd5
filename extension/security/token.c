/*
 * token.c — JWT (HS256) tokens for helpdesk-bridge clients.
 *
 * The bridge holds the same secret (its --token-secret) and checks
 * signature, expiry and tenant before any data flows. The secret lives in
 * the superuser-only setting helpdesk.token_secret so that neither the
 * application roles nor the tokens' holders can read it.
 *
 * Claims: {"tenant": <id>, "kind": "agent"|"customer"|"supervisor",
 *          "sub": "<id>", "iat": <unix s>, "exp": <unix s>}, and from
 *          agent_login also "role" and "ver" (the agent's token version:
 *          logout, a new password, a role change or disabling bump it, and
 *          verify_token and bridge_subscriber refuse the older ones).
 *          issue_bot_token: kind "bot", sub the webhook bot, ver the bot's
 *          token version (revoke_bot_tokens bumps it).
 * Header: {"alg": "HS256", "typ": "JWT", "kid": <key id of the secret>}.
 * During a secret rotation, helpdesk.token_secret_previous still verifies.
 */
#include "security.h"

#include "token_rules.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/guc.h"

char	   *hd_token_secret = NULL;
char	   *hd_token_secret_previous = NULL;
int			hd_password_iterations = HD_PASSWORD_DEFAULT_ITERATIONS;

/* the security settings, defined at module load (pg_helpdesk.c) */
void
hd_define_security_settings(void)
{
	DefineCustomStringVariable("helpdesk.token_secret",
							   "Secret that signs bridge tokens (HS256); helpdesk-bridge needs the same value.",
							   "At least 32 bytes. Readable by superusers only.",
							   &hd_token_secret, NULL, PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("helpdesk.token_secret_previous",
							   "During a rotation of helpdesk.token_secret, the secret before it: tokens it signed stay valid.",
							   "Empty when no rotation is under way. Readable by superusers only.",
							   &hd_token_secret_previous, NULL, PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.password_iterations",
							"PBKDF2-HMAC-SHA256 iterations for new agent passwords (stored with each hash).",
							"OWASP's recommendation is the default; the floor of 1000 is for tests only.",
							&hd_password_iterations, HD_PASSWORD_DEFAULT_ITERATIONS,
							HD_PASSWORD_MIN_ITERATIONS, 100000000, PGC_SUSET, 0,
							NULL, NULL, NULL);
	hd_define_upload_settings();
}

#define MIN_SECRET_BYTES 32
#define MAX_TTL_SECS HD_MAX_TOKEN_TTL_SECS

static const char *const token_kinds[] = {"agent", "customer", "supervisor", NULL};

static HdPlan agent_exists = {
	"SELECT 1 FROM helpdesk.agent WHERE tenant_id = $1 AND id = $2 AND enabled",
	2, {INT8OID, INT8OID}
};
static HdPlan agent_version = {
	"SELECT token_version FROM helpdesk.agent WHERE tenant_id = $1 AND id = $2 AND enabled",
	2, {INT8OID, INT8OID}
};
/* a bot token's subject: an enabled webhook bot of the tenant, and its token version */
static HdPlan bot_version = {
	"SELECT token_version FROM helpdesk.bot WHERE tenant_id = $1 AND id = $2 AND enabled "
	"AND kind = 'webhook'",
	2, {INT8OID, INT8OID}
};
static HdPlan bot_bump = {
	"UPDATE helpdesk.bot SET token_version = token_version + 1 "
	"WHERE tenant_id = $1 AND id = $2 RETURNING token_version",
	2, {INT8OID, INT8OID}
};
static HdPlan customer_exists = {
	"SELECT 1 FROM helpdesk.customer WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

/* base64url of in (no padding), appended to out */
static void
b64url_append(StringInfo out, const unsigned char *in, size_t len)
{
	enlargeStringInfo(out, (int) (4 * ((len + 2) / 3) + 1));
	out->len += (int) hd_b64url_encode(in, len, out->data + out->len);
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
	size_t		n;

	enlargeStringInfo(out, 64);
	n = hd_hmac_b64url(secret, signing_input, len, out->data + out->len);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute the token signature")));
	out->len += (int) n;
}

int64
hd_unix_now(void)
{
	return (GetCurrentTimestamp() / USECS_PER_SEC) +
		(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
}

/*
 * The one signer of tokens: the header names the key id of the current
 * secret, so that during a rotation it is clear which secret a token needs.
 */
text *
hd_sign_token(int64 tenant_id, const char *kind, int64 subject, int64 ttl_s,
			  const char *role, int64 ver, int64 *exp_s)
{
	int64		now_s = hd_unix_now();
	char		kid[HD_TOKEN_KID_LEN + 1];
	char	   *header;
	StringInfoData claims,
				tok;

	if (!hd_token_kid(require_secret(), kid))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute the token key id")));
	header = psprintf("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);
	initStringInfo(&claims);
	appendStringInfo(&claims,
					 "{\"tenant\":%lld,\"kind\":\"%s\",\"sub\":\"%lld\"",
					 (long long) tenant_id, kind, (long long) subject);
	if (role != NULL)
		appendStringInfo(&claims, ",\"role\":\"%s\"", role);
	if (ver > 0)
		appendStringInfo(&claims, ",\"ver\":%lld", (long long) ver);
	appendStringInfo(&claims, ",\"iat\":%lld,\"exp\":%lld}",
					 (long long) now_s, (long long) (now_s + ttl_s));
	if (exp_s)
		*exp_s = now_s + ttl_s;

	initStringInfo(&tok);
	b64url_append(&tok, (const unsigned char *) header, strlen(header));
	appendStringInfoChar(&tok, '.');
	b64url_append(&tok, (const unsigned char *) claims.data, claims.len);
	{
		size_t		signed_len = tok.len;

		appendStringInfoChar(&tok, '.');
		append_signature(&tok, tok.data, signed_len);
	}
	return cstring_to_text_with_len(tok.data, tok.len);
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
	Datum		v[2];

	hd_check_tenant_arg(fcinfo, 0);
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

	PG_RETURN_TEXT_P(hd_sign_token(tenant_id, kind, subject, ttl_us / USECS_PER_SEC, NULL, 0, NULL));
}

PG_FUNCTION_INFO_V1(hd_verify_token);

/*
 * verify_token(token): the claims {tenant, kind, sub, iat, exp} of a valid,
 * unexpired token, by the rules helpdesk-bridge applies at connect (the
 * same code: common/token_rules.c), signed with the current secret or the
 * previous one during a rotation. A token of agent_login (claim ver) must
 * also carry the agent's current token version, and the agent be enabled:
 * logout, a new password, a role change and disabling revoke it. Anything
 * else is 28000, with what was wrong in the message (never the token itself).
 */
Datum
hd_verify_token(PG_FUNCTION_ARGS)
{
	text	   *t;
	const char *secret;
	const char *why;
	HdTokenClaims cl;
	HdTokenStatus st;
	int64		now_s;
	char	   *json;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid token: token is NULL")));
	t = PG_GETARG_TEXT_PP(0);
	secret = require_secret();
	now_s = hd_unix_now();
	st = hd_token_verify2(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), secret,
						  hd_token_secret_previous, now_s, &cl, &why);
	if (st != HD_TOKEN_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid token: %s", why),
				 st == HD_TOKEN_EXPIRED ? errhint("Issue a new one with helpdesk.issue_token().") : 0));
	hd_check_tenant(cl.tenant);
	if (cl.kind == HD_TK_BOT)
	{
		Datum		v[2];
		int64		current = 0;

		v[0] = Int64GetDatum(cl.tenant);
		v[1] = Int64GetDatum(cl.subject);
		SPI_connect();
		hd_exec(&bot_version, v, NULL, true, 1);
		if (SPI_processed == 0 || !hd_get_int64(1, &current) || current != cl.ver)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("invalid token: revoked (revoke_bot_tokens, or the bot disabled or deleted)"),
					 errhint("Issue a new one with helpdesk.issue_bot_token().")));
		SPI_finish();
	}
	else if (cl.ver > 0)
	{
		Datum		v[2];
		int64		current = 0;

		v[0] = Int64GetDatum(cl.tenant);
		v[1] = Int64GetDatum(cl.subject);
		SPI_connect();
		hd_exec(&agent_version, v, NULL, true, 1);
		if (SPI_processed == 0 || !hd_get_int64(1, &current) || current != cl.ver)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("invalid token: revoked (logout, new password, role change or agent disabled)"),
					 errhint("Log in again with helpdesk.agent_login().")));
		SPI_finish();
	}
	json = psprintf("{\"tenant\": " INT64_FORMAT ", \"kind\": \"%s\", \"sub\": \"" INT64_FORMAT
					"\", \"iat\": %s, \"exp\": " INT64_FORMAT "%s%s%s%s}",
					(int64) cl.tenant, hd_token_kind_name(cl.kind), (int64) cl.subject,
					cl.iat ? psprintf(INT64_FORMAT, (int64) cl.iat) : "null", (int64) cl.exp,
					cl.role ? ", \"role\": \"" : "", cl.role ? hd_token_role_name(cl.role) : "",
					cl.role ? "\"" : "",
					cl.ver ? psprintf(", \"ver\": " INT64_FORMAT, (int64) cl.ver) : "");
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

PG_FUNCTION_INFO_V1(hd_issue_bot_token);

/*
 * issue_bot_token(tenant_id, bot_id, ttl): a token of kind bot for one of
 * the tenant's webhook bots (sub: the bot id, ver: its token version), for
 * answering over helpdesk-bridge. A Dify bot is called by the HTTP worker
 * and needs none. revoke_bot_tokens, disabling and deleting the bot revoke it.
 */
Datum
hd_issue_bot_token(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "bot_id", "ttl"};
	int64		tenant_id,
				bot_id,
				ver = 0;
	int64		ttl_us;
	Datum		v[2];

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 3, names);
	tenant_id = PG_GETARG_INT64(0);
	bot_id = PG_GETARG_INT64(1);
	ttl_us = hd_interval_arg(fcinfo, 2, "ttl", USECS_PER_SEC, (int64) MAX_TTL_SECS * USECS_PER_SEC,
							 false, NULL);
	require_secret();

	SPI_connect();
	hd_require_tenant(tenant_id);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(bot_id);
	hd_exec(&bot_version, v, NULL, true, 1);
	if (SPI_processed == 0 || !hd_get_int64(1, &ver))
		ereport(ERROR,
				(errcode(ERRCODE_HD_NOT_FOUND),
				 errmsg("webhook bot %lld does not exist in tenant %lld or is disabled",
						(long long) bot_id, (long long) tenant_id),
				 errhint("Only bots of kind webhook answer through helpdesk-bridge; the HTTP worker calls Dify bots.")));
	SPI_finish();

	PG_RETURN_TEXT_P(hd_sign_token(tenant_id, "bot", bot_id, ttl_us / USECS_PER_SEC, NULL, ver, NULL));
}

PG_FUNCTION_INFO_V1(hd_revoke_bot_tokens);

/*
 * revoke_bot_tokens(tenant_id, bot_id): every token issued for the bot so
 * far is refused from now on (its token version is bumped): by
 * verify_token, at the bridge's connect, and by each of the bot's calls on
 * an open socket. Returns the new version.
 */
Datum
hd_revoke_bot_tokens(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "bot_id"};
	int64		tenant_id,
				bot_id,
				ver = 0;
	Datum		v[2];

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	tenant_id = PG_GETARG_INT64(0);
	bot_id = PG_GETARG_INT64(1);

	SPI_connect();
	hd_require_tenant(tenant_id);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(bot_id);
	hd_exec(&bot_bump, v, NULL, false, 1);
	if (SPI_processed == 0)
		hd_not_found("bot", bot_id, tenant_id);
	hd_get_int64(1, &ver);
	SPI_finish();
	PG_RETURN_INT64(ver);
}
