/*
 * agent_login.c — agents logging in, out, and being revoked.
 *
 * agent_login answers with a row instead of raising: a failed attempt must
 * commit its count, and several bridges share the count because it lives
 * in helpdesk.agent_credential. Attempts on one agent are serialised by the
 * credential row's lock, taken before the lockout check and held through
 * the hash, so concurrent wrong passwords are counted exactly: the fifth
 * locks, any later one sees the lock.
 *
 * Revocation is a version: helpdesk.agent.token_version goes into agent_login's
 * tokens (claim ver) and is bumped by logout_agent, a new password, a role
 * change and disabling (a trigger: upsert_agent lives in routing, which
 * cannot call this folder). verify_token and bridge_subscriber refuse a
 * token whose ver is not the agent's current one.
 */
#include "security.h"
#include "routing.h"

#include <math.h>

#include <openssl/crypto.h>

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#define LOCKOUT_FAILURES 5
#define LOCKOUT_SECS (15 * 60)
#define DEFAULT_LOGIN_TTL_SECS (12 * 3600)

static const char *const agent_roles[] = {"admin", "supervisor", "agent", "qa", NULL};

static HdPlan find_agent = {
	"SELECT a.tenant_id, a.id FROM helpdesk.tenant t "
	"JOIN helpdesk.agent a ON a.tenant_id = t.id AND a.external_id = $2 "
	"WHERE t.slug = $1",
	2, {TEXTOID, TEXTOID}
};
/* the credential, locked; the agent's state read after the lock */
static HdPlan lock_credential = {
	"SELECT c.iterations, c.salt, c.hash, a.enabled, a.role, a.token_version, "
	"       c.locked_until > clock_timestamp(), "
	"       extract(epoch FROM c.locked_until - clock_timestamp())::float8 "
	"FROM helpdesk.agent_credential c "
	"JOIN helpdesk.agent a ON a.tenant_id = c.tenant_id AND a.id = c.agent_id "
	"WHERE c.tenant_id = $1 AND c.agent_id = $2 FOR UPDATE OF c",
	2, {INT8OID, INT8OID}
};
static HdPlan count_failure = {
	"UPDATE helpdesk.agent_credential SET "
	"  failed_attempts = CASE WHEN failed_attempts + 1 >= $3 THEN 0 ELSE failed_attempts + 1 END, "
	"  locked_until = CASE WHEN failed_attempts + 1 >= $3 "
	"                 THEN clock_timestamp() + make_interval(secs => $4) END, "
	"  last_failed_at = clock_timestamp() "
	"WHERE tenant_id = $1 AND agent_id = $2 RETURNING locked_until IS NOT NULL",
	4, {INT8OID, INT8OID, INT4OID, FLOAT8OID}
};
static HdPlan count_success = {
	"UPDATE helpdesk.agent_credential SET failed_attempts = 0, locked_until = NULL, "
	"  last_login_at = clock_timestamp() "
	"WHERE tenant_id = $1 AND agent_id = $2",
	2, {INT8OID, INT8OID}
};
static HdPlan rehash = {
	"UPDATE helpdesk.agent_credential SET iterations = $3, salt = $4, hash = $5 "
	"WHERE tenant_id = $1 AND agent_id = $2",
	5, {INT8OID, INT8OID, INT4OID, BYTEAOID, BYTEAOID}
};
static HdPlan bump_version = {
	"UPDATE helpdesk.agent SET token_version = token_version + 1, updated_at = now() "
	"WHERE tenant_id = $1 AND id = $2 RETURNING token_version",
	2, {INT8OID, INT8OID}
};
static HdPlan update_role = {
	"UPDATE helpdesk.agent a SET role = $3, updated_at = now() "
	"FROM (SELECT role FROM helpdesk.agent WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE) old "
	"WHERE a.tenant_id = $1 AND a.id = $2 RETURNING old.role <> $3",
	3, {INT8OID, INT8OID, TEXTOID}
};

/*
 * Bumps the agent's token version (its login tokens stop working) and tells
 * the agent's and the tenant's subscribers with agent.revoked. Returns the
 * new version. Must run inside SPI.
 */
int64
hd_revoke_agent_tokens(int64 tenant_id, int64 agent_id, const char *reason)
{
	Datum		v[2];
	int64		ver = 0;

	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(agent_id);
	hd_exec(&bump_version, v, NULL, false, 1);
	if (SPI_processed == 0 || !hd_get_int64(1, &ver))
		hd_not_found("agent", agent_id, tenant_id);
	hd_append_event(tenant_id, "agent", agent_id, 0, 0, "agent.revoked",
					psprintf("{\"token_version\": " INT64_FORMAT ", \"reason\": \"%s\"}",
							 ver, reason));
	hd_append_event(tenant_id, "tenant", tenant_id, 0, 0, "agent.revoked",
					psprintf("{\"agent_id\": " INT64_FORMAT ", \"token_version\": " INT64_FORMAT
							 ", \"reason\": \"%s\"}", agent_id, ver, reason));
	return ver;
}

/* the result row of agent_login */
static Datum
login_result(FunctionCallInfo fcinfo, text *token, int64 exp_s, int64 agent_id,
			 const char *role, const char *reason, double retry_secs)
{
	TupleDesc	desc;
	Datum		v[6];
	bool		n[6] = {token == NULL, token == NULL, agent_id == 0, role == NULL,
	reason == NULL, retry_secs <= 0};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "agent_login must return a row");
	desc = BlessTupleDesc(desc);
	v[0] = PointerGetDatum(token);
	v[1] = TimestampTzGetDatum((exp_s - (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY) *
							   USECS_PER_SEC);
	v[2] = Int64GetDatum(agent_id);
	v[3] = role ? CStringGetTextDatum(role) : (Datum) 0;
	v[4] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	if (retry_secs > 0)
	{
		Interval   *i = palloc0(sizeof(Interval));

		/* whole seconds, rounded up: what a Retry-After header carries */
		i->time = (int64) ceil(retry_secs) * USECS_PER_SEC;
		v[5] = IntervalPGetDatum(i);
	}
	return HeapTupleGetDatum(heap_form_tuple(desc, v, n));
}

PG_FUNCTION_INFO_V1(hd_agent_login);

/*
 * agent_login(tenant_slug, external_id, password, ttl): a token, or why not.
 * Unknown tenants and agents, agents without a password and disabled agents
 * cost one PBKDF2 at the current setting like a wrong password and answer
 * the same bad_credentials, so the answer and its time do not tell which.
 */
Datum
hd_agent_login(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_slug", "external_id", "password"};
	static const unsigned char dummy_salt[HD_PASSWORD_SALT_BYTES] = "hd-no-such-agent";
	text	   *pw;
	size_t		pwlen;
	int64		ttl_s = DEFAULT_LOGIN_TTL_SECS;
	int64		tenant_id = 0,
				agent_id = 0;
	Datum		v[5];
	unsigned char got[HD_PASSWORD_HASH_BYTES];
	bool		have_cred = false,
				match = false,
				enabled = false;
	char	   *role = NULL;
	int64		ver = 0;
	int			iterations = hd_password_iterations;
	const char *reason = NULL;
	double		retry = 0;
	text	   *tok = NULL;
	int64		exp_s = 0;
	MemoryContext outer = CurrentMemoryContext;	/* the result outlives SPI's */

	hd_require_args(fcinfo, 3, names);
	pw = PG_GETARG_TEXT_PP(2);
	pwlen = VARSIZE_ANY_EXHDR(pw);
	if (!PG_ARGISNULL(3))
		ttl_s = hd_interval_arg(fcinfo, 3, "ttl", USECS_PER_SEC,
								(int64) HD_MAX_TOKEN_TTL_SECS * USECS_PER_SEC, false, NULL) / USECS_PER_SEC;

	SPI_connect();
	v[0] = PointerGetDatum(PG_GETARG_TEXT_PP(0));
	v[1] = PointerGetDatum(PG_GETARG_TEXT_PP(1));
	hd_exec(&find_agent, v, NULL, false, 1);
	if (SPI_processed == 1)
	{
		hd_get_int64(1, &tenant_id);
		/* the caller (the bridge, a backend) must act for the agent's tenant */
		hd_check_tenant(tenant_id);
		hd_get_int64(2, &agent_id);
		v[0] = Int64GetDatum(tenant_id);
		v[1] = Int64GetDatum(agent_id);
		hd_exec(&lock_credential, v, NULL, false, 1);
		if (SPI_processed == 1)
		{
			bool		isnull;
			HeapTuple	row = SPI_tuptable->vals[0];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bytea	   *salt,
					   *hash;

			if (hd_get_bool(7))
			{
				double		left = DatumGetFloat8(SPI_getbinval(row, desc, 8, &isnull));

				SPI_finish();
				PG_RETURN_DATUM(login_result(fcinfo, NULL, 0, 0, NULL, "locked", Max(left, 1)));
			}
			/* the row's values live in SPI's memory, gone at SPI_finish */
			have_cred = true;
			iterations = DatumGetInt32(SPI_getbinval(row, desc, 1, &isnull));
			salt = DatumGetByteaPP(SPI_getbinval(row, desc, 2, &isnull));
			hash = DatumGetByteaPP(SPI_getbinval(row, desc, 3, &isnull));
			enabled = hd_get_bool(4);
			role = MemoryContextStrdup(outer, hd_get_text(5));
			hd_get_int64(6, &ver);
			if (pwlen <= HD_PASSWORD_MAX_BYTES)
			{
				hd_password_hash(VARDATA_ANY(pw), pwlen, (unsigned char *) VARDATA_ANY(salt),
								 VARSIZE_ANY_EXHDR(salt), iterations, got);
				match = VARSIZE_ANY_EXHDR(hash) == HD_PASSWORD_HASH_BYTES &&
					CRYPTO_memcmp(got, VARDATA_ANY(hash), HD_PASSWORD_HASH_BYTES) == 0;
			}
		}
	}
	if (!have_cred && pwlen <= HD_PASSWORD_MAX_BYTES)
		hd_password_hash(VARDATA_ANY(pw), pwlen, dummy_salt, sizeof(dummy_salt),
						 iterations, got);
	OPENSSL_cleanse(got, sizeof(got));

	if (!have_cred || !enabled)
		reason = "bad_credentials";
	else if (!match)
	{
		v[2] = Int32GetDatum(LOCKOUT_FAILURES);
		v[3] = Float8GetDatum(LOCKOUT_SECS);
		hd_exec(&count_failure, v, NULL, false, 0);
		if (hd_get_bool(1))
		{
			reason = "locked";
			retry = LOCKOUT_SECS;
		}
		else
			reason = "bad_credentials";
	}
	else
	{
		MemoryContext spi;

		hd_exec(&count_success, v, NULL, false, 0);
		if (iterations != hd_password_iterations)
		{
			/* the setting changed since the hash was made: make it anew */
			unsigned char salt[HD_PASSWORD_SALT_BYTES],
						hash[HD_PASSWORD_HASH_BYTES];

			hd_random_bytes(salt, sizeof(salt));
			hd_password_hash(VARDATA_ANY(pw), pwlen, salt, sizeof(salt),
							 hd_password_iterations, hash);
			v[2] = Int32GetDatum(hd_password_iterations);
			v[3] = PointerGetDatum(hd_bytea_from(salt, sizeof(salt)));
			v[4] = PointerGetDatum(hd_bytea_from(hash, sizeof(hash)));
			hd_exec(&rehash, v, NULL, false, 0);
			OPENSSL_cleanse(hash, sizeof(hash));
		}
		spi = MemoryContextSwitchTo(outer);
		/*
		 * The kind is what the socket sees: its own chats (agent) or the
		 * whole tenant (supervisor, and qa, which reads every transcript).
		 * The role claim is what it may do: the bridge refuses a qa token's
		 * writes, and the database any write for a qa agent.
		 */
		tok = hd_sign_token(tenant_id, strcmp(role, "agent") == 0 ? "agent" : "supervisor",
							agent_id, ttl_s, role, ver, &exp_s);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	if (tok == NULL)
		PG_RETURN_DATUM(login_result(fcinfo, NULL, 0, 0, NULL, reason, retry));
	PG_RETURN_DATUM(login_result(fcinfo, tok, exp_s, agent_id, role, NULL, 0));
}

PG_FUNCTION_INFO_V1(hd_logout_agent);

/* logout_agent(tenant_id, agent_id): every login token of the agent stops working */
Datum
hd_logout_agent(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "agent_id"};
	int64		ver;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	ver = hd_revoke_agent_tokens(PG_GETARG_INT64(0), PG_GETARG_INT64(1), "logout");
	SPI_finish();
	PG_RETURN_INT64(ver);
}

PG_FUNCTION_INFO_V1(hd_set_agent_role);

/*
 * set_agent_role(tenant_id, agent_id, role): admin, supervisor, agent or qa.
 * A change revokes the agent's login tokens, which carry the role. An agent
 * becoming qa (reads only) first gives back its offers and chats, as a
 * disabled agent does: it could no longer answer them.
 */
Datum
hd_set_agent_role(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "agent_id", "role"};
	int64		tenant_id,
				agent_id;
	char	   *role;
	Datum		v[3];
	bool		changed;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 3, names);
	tenant_id = PG_GETARG_INT64(0);
	agent_id = PG_GETARG_INT64(1);
	role = text_to_cstring(PG_GETARG_TEXT_PP(2));
	hd_check_enum("role", role, agent_roles);
	SPI_connect();
	hd_require_tenant(tenant_id);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(agent_id);
	v[2] = CStringGetTextDatum(role);
	/* sessions before the agent row (the lock order of upsert_agent) */
	if (strcmp(role, "qa") == 0)
		(void) hd_release_disabled_agent(tenant_id, agent_id);
	hd_exec(&update_role, v, NULL, false, 1);
	if (SPI_processed == 0)
		hd_not_found("agent", agent_id, tenant_id);
	changed = hd_get_bool(1);
	if (strcmp(role, "qa") == 0)
		(void) hd_release_disabled_agent(tenant_id, agent_id);	/* an offer placed meanwhile */
	if (changed)
	{
		hd_append_event(tenant_id, "agent", agent_id, 0, 0, "agent.updated", NULL);
		hd_revoke_agent_tokens(tenant_id, agent_id, "role");
	}
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(hd_agent_disable_bump);

/*
 * BEFORE UPDATE trigger on helpdesk.agent, WHEN the agent is being disabled:
 * its token version goes up in the same row, so its login tokens are
 * refused from this commit on (upsert_agent's agent.disabled event already
 * closes its sockets).
 */
Datum
hd_agent_disable_bump(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	int			col;
	bool		isnull;
	Datum		ver;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event))
		elog(ERROR, "hd_agent_disable_bump must be a BEFORE UPDATE row trigger");
	desc = RelationGetDescr(td->tg_relation);
	col = SPI_fnumber(desc, "token_version");
	if (col <= 0)
		elog(ERROR, "helpdesk.agent has no column token_version");
	ver = SPI_getbinval(td->tg_trigtuple, desc, col, &isnull);
	if (isnull)
		return PointerGetDatum(td->tg_newtuple);
	ver = Int64GetDatum(DatumGetInt64(ver) + 1);
	isnull = false;
	return PointerGetDatum(heap_modify_tuple_by_cols(td->tg_newtuple, desc, 1, &col, &ver, &isnull));
}
