/*
 * password.c — agents' passwords: PBKDF2-HMAC-SHA256 through OpenSSL
 * (PKCS5_PBKDF2_HMAC), a random salt per password, the iteration count
 * stored with each hash so that helpdesk.password_iterations can be raised
 * later without breaking old hashes (agent_login rehashes on the next
 * successful login).
 *
 * The password itself goes nowhere but into PBKDF2: it is in no error
 * message and in no statement this code runs (SPI gets the hash and the
 * salt as parameters, never the password); the derived hash is wiped from
 * the stack after use. The caller should pass the password as a bind
 * parameter so that it is not in its own statement's text either.
 * Credentials live in helpdesk.agent_credential, apart from the agent table
 * that readers see.
 */
#include "security.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "mb/pg_wchar.h"
#include "utils/builtins.h"

void
hd_random_bytes(unsigned char *out, int n)
{
	if (RAND_bytes(out, n) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes")));
}

void
hd_password_hash(const char *pw, size_t len, const unsigned char *salt, size_t saltlen,
				 int iterations, unsigned char *out)
{
	if (PKCS5_PBKDF2_HMAC(pw, (int) len, salt, (int) saltlen, iterations, EVP_sha256(),
						  HD_PASSWORD_HASH_BYTES, out) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute the password hash")));
}

/*
 * Length rules, checked before any hashing: at least HD_PASSWORD_MIN_CHARS
 * characters, at most HD_PASSWORD_MAX_BYTES bytes (so nobody makes the
 * server hash megabytes). The message states the rule, never the value.
 */
void
hd_check_password_rules(const char *pw, size_t len)
{
	if (len > HD_PASSWORD_MAX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("password must be at most %d bytes long", HD_PASSWORD_MAX_BYTES)));
	if (pg_mbstrlen_with_len(pw, (int) len) < HD_PASSWORD_MIN_CHARS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("password must be at least %d characters long", HD_PASSWORD_MIN_CHARS)));
	if (memchr(pw, '\0', len) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("password must not contain NUL bytes")));
}

static HdPlan agent_for_update = {
	"SELECT id FROM helpdesk.agent WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE",
	2, {INT8OID, INT8OID}
};
static HdPlan store_credential = {
	"INSERT INTO helpdesk.agent_credential AS c (tenant_id, agent_id, iterations, salt, hash) "
	"VALUES ($1, $2, $3, $4, $5) "
	"ON CONFLICT (tenant_id, agent_id) DO UPDATE SET iterations = EXCLUDED.iterations, "
	"salt = EXCLUDED.salt, hash = EXCLUDED.hash, failed_attempts = 0, locked_until = NULL, "
	"password_changed_at = now()",
	5, {INT8OID, INT8OID, INT4OID, BYTEAOID, BYTEAOID}
};
static HdPlan drop_credential = {
	"DELETE FROM helpdesk.agent_credential WHERE tenant_id = $1 AND agent_id = $2",
	2, {INT8OID, INT8OID}
};

/*
 * n raw bytes as a palloc'd bytea: the salt and hash that set_agent_password
 * stores and agent_login rewrites on a rehash (agent_login.c) go through
 * this one copy.
 */
bytea *
hd_bytea_from(const unsigned char *b, int n)
{
	bytea	   *r = palloc(VARHDRSZ + n);

	SET_VARSIZE(r, VARHDRSZ + n);
	memcpy(VARDATA(r), b, n);
	return r;
}

PG_FUNCTION_INFO_V1(hd_set_agent_password);

/*
 * set_agent_password(tenant_id, agent_id, password): stores a new hash
 * (fresh salt, helpdesk.password_iterations), clears the failure count and
 * any lockout, and revokes the agent's earlier login tokens. A NULL password
 * removes the credential (the agent can no longer log in).
 */
Datum
hd_set_agent_password(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "agent_id"};
	int64		tenant_id,
				agent_id;
	unsigned char salt[HD_PASSWORD_SALT_BYTES],
				hash[HD_PASSWORD_HASH_BYTES];
	Datum		v[5];

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	tenant_id = PG_GETARG_INT64(0);
	agent_id = PG_GETARG_INT64(1);
	if (!PG_ARGISNULL(2))
	{
		text	   *pw = PG_GETARG_TEXT_PP(2);
		size_t		len = VARSIZE_ANY_EXHDR(pw);

		hd_check_password_rules(VARDATA_ANY(pw), len);
		hd_random_bytes(salt, sizeof(salt));
		hd_password_hash(VARDATA_ANY(pw), len, salt, sizeof(salt), hd_password_iterations, hash);
	}

	SPI_connect();
	hd_require_tenant(tenant_id);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(agent_id);
	hd_exec(&agent_for_update, v, NULL, false, 1);
	if (SPI_processed == 0)
		hd_not_found("agent", agent_id, tenant_id);
	if (PG_ARGISNULL(2))
		hd_exec(&drop_credential, v, NULL, false, 0);
	else
	{
		v[2] = Int32GetDatum(hd_password_iterations);
		v[3] = PointerGetDatum(hd_bytea_from(salt, sizeof(salt)));
		v[4] = PointerGetDatum(hd_bytea_from(hash, sizeof(hash)));
		hd_exec(&store_credential, v, NULL, false, 0);
	}
	hd_revoke_agent_tokens(tenant_id, agent_id, "password");
	SPI_finish();
	OPENSSL_cleanse(hash, sizeof(hash));
	PG_RETURN_VOID();
}
