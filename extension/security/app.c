/*
 * app.c — the player API's apps: upsert_app and revoke_app.
 *
 * An app's secret is the HMAC key of its signed requests, so the database
 * must be able to read it back; it is stored sealed with the integrations'
 * AES-256-GCM helper (http_crypt.c, key in helpdesk.encryption_key_file),
 * the tenant and app id bound in as associated data, so a sealed value
 * copied to another app's row does not open. upsert_app's answer is the only
 * place the secret is shown.
 */
#include "security.h"

#include "http_engine.h"

#include "utils/builtins.h"

#define GENERATED_SECRET_BYTES 32
#define MIN_SECRET_CHARS 32
#define MAX_SECRET_CHARS 256

static HdPlan upsert_app = {
	"INSERT INTO helpdesk.api_app AS a (tenant_id, app_id, name, secret_sealed, "
	"  rate_per_minute, player_rate_per_minute) "
	"VALUES ($1, $2, $3, $4, coalesce($5, 6000), coalesce($6, 200)) "
	"ON CONFLICT (tenant_id, app_id) DO UPDATE SET name = EXCLUDED.name, "
	"  secret_sealed = EXCLUDED.secret_sealed, "
	"  rate_per_minute = coalesce($5, a.rate_per_minute), "
	"  player_rate_per_minute = coalesce($6, a.player_rate_per_minute), "
	"  revoked_at = NULL, updated_at = now() "
	"RETURNING 1",
	6, {INT8OID, TEXTOID, TEXTOID, BYTEAOID, INT4OID, INT4OID}
};
static HdPlan app_elsewhere = {
	"SELECT 1 FROM helpdesk.api_app WHERE app_id = $1 AND tenant_id <> $2",
	2, {TEXTOID, INT8OID}
};
static HdPlan revoke_app = {
	"UPDATE helpdesk.api_app SET revoked_at = now(), updated_at = now() "
	"WHERE tenant_id = $1 AND app_id = $2 AND revoked_at IS NULL RETURNING 1",
	2, {INT8OID, TEXTOID}
};
static HdPlan app_exists = {
	"SELECT 1 FROM helpdesk.api_app WHERE tenant_id = $1 AND app_id = $2",
	2, {INT8OID, TEXTOID}
};

bool
hd_app_id_valid(const char *app_id)
{
	size_t		n = strlen(app_id);

	if (n < 3 || n > 64)
		return false;
	for (const char *p = app_id; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			  (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-'))
			return false;
	return true;
}

static void
check_app_id(const char *app_id)
{
	if (!hd_app_id_valid(app_id))
		hd_invalid("invalid app_id %s: 3 to 64 of A-Z a-z 0-9 _ . -", hd_quote(app_id));
}

/* associated data of an app's sealed secret */
static char *
seal_context(int64 tenant_id, const char *app_id)
{
	return psprintf("api_app:" INT64_FORMAT ":%s", tenant_id, app_id);
}

char *
hd_app_secret_open(int64 tenant_id, const char *app_id, const bytea *sealed)
{
	int			len;
	char	   *plain = hd_decrypt_secret(sealed, seal_context(tenant_id, app_id), &len);
	char	   *s = palloc(len + 1);

	memcpy(s, plain, len);
	s[len] = '\0';
	return s;
}

PG_FUNCTION_INFO_V1(hd_upsert_app);

/*
 * upsert_app(tenant_id, app_id, name, secret, rate_per_minute,
 * player_rate_per_minute): the app's secret, new or given. The secret is
 * printable ASCII without spaces, so that it is the same key in every
 * language's HMAC whatever the encoding; it is never quoted in a message.
 */
Datum
hd_upsert_app(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "app_id", "name"};
	int64		tenant_id;
	char	   *app_id,
			   *name,
			   *secret;
	Datum		v[6];
	char		n[6] = {' ', ' ', ' ', ' ', ' ', ' '};

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 3, names);
	tenant_id = PG_GETARG_INT64(0);
	app_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	name = text_to_cstring(PG_GETARG_TEXT_PP(2));
	check_app_id(app_id);
	hd_check_length("name", name, 1, 200);
	if (!PG_ARGISNULL(4))
		hd_check_range("rate_per_minute", PG_GETARG_INT32(4), 1, 10000000);
	if (!PG_ARGISNULL(5))
		hd_check_range("player_rate_per_minute", PG_GETARG_INT32(5), 1, 1000000);
	if (PG_ARGISNULL(3))
	{
		static const char hex[] = "0123456789abcdef";
		unsigned char raw[GENERATED_SECRET_BYTES];

		hd_random_bytes(raw, sizeof(raw));
		secret = palloc(2 * sizeof(raw) + 1);
		for (int i = 0; i < (int) sizeof(raw); i++)
		{
			secret[2 * i] = hex[raw[i] >> 4];
			secret[2 * i + 1] = hex[raw[i] & 15];
		}
		secret[2 * sizeof(raw)] = '\0';
	}
	else
	{
		secret = text_to_cstring(PG_GETARG_TEXT_PP(3));
		if (strlen(secret) < MIN_SECRET_CHARS || strlen(secret) > MAX_SECRET_CHARS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("secret must be %d to %d characters long", MIN_SECRET_CHARS,
							MAX_SECRET_CHARS),
					 errhint("Pass NULL to have one generated.")));
		for (const char *p = secret; *p; p++)
			if (*p < 0x21 || *p > 0x7e)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("secret must be printable ASCII without spaces"),
						 errhint("Pass NULL to have one generated.")));
	}

	SPI_connect();
	hd_require_tenant(tenant_id);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = CStringGetTextDatum(app_id);
	hd_exec(&app_elsewhere, (Datum[]) {v[1], v[0]}, NULL, false, 1);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_IDEMPOTENCY_CONFLICT),
				 errmsg("app_id %s belongs to another tenant", hd_quote(app_id)),
				 errhint("App ids are unique across tenants: a request names only its app.")));
	v[2] = CStringGetTextDatum(name);
	v[3] = PointerGetDatum(hd_encrypt_secret(secret, strlen(secret),
											 seal_context(tenant_id, app_id)));
	v[4] = PG_ARGISNULL(4) ? (Datum) 0 : Int32GetDatum(PG_GETARG_INT32(4));
	v[5] = PG_ARGISNULL(5) ? (Datum) 0 : Int32GetDatum(PG_GETARG_INT32(5));
	n[4] = PG_ARGISNULL(4) ? 'n' : ' ';
	n[5] = PG_ARGISNULL(5) ? 'n' : ' ';
	hd_exec(&upsert_app, v, n, false, 0);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(secret));
}

PG_FUNCTION_INFO_V1(hd_revoke_app);

/* revoke_app(tenant_id, app_id): true if it was usable until now */
Datum
hd_revoke_app(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "app_id"};
	Datum		v[2];
	bool		done;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 2, names);
	v[0] = Int64GetDatum(PG_GETARG_INT64(0));
	v[1] = PointerGetDatum(PG_GETARG_TEXT_PP(1));
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	hd_exec(&revoke_app, v, NULL, false, 0);
	done = SPI_processed > 0;
	if (!done)
	{
		hd_exec(&app_exists, v, NULL, false, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_HD_NOT_FOUND),
					 errmsg("app %s does not exist in tenant " INT64_FORMAT,
							hd_quote(text_to_cstring(PG_GETARG_TEXT_PP(1))),
							PG_GETARG_INT64(0))));
	}
	SPI_finish();
	PG_RETURN_BOOL(done);
}
