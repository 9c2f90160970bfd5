/*
 * security.h — what the files of extension/security share: token signing
 * (token.c), password hashing (password.c), the settings of the subsystem.
 */
#ifndef HD_SECURITY_H
#define HD_SECURITY_H

#include "hd.h"

#include "utils/jsonb.h"

/* settings (token.c defines them all) */
extern char *hd_token_secret_previous;
extern int	hd_password_iterations;

#define HD_MAX_TOKEN_TTL_SECS (30 * 86400)

/*
 * A signed token (kid header) for a subject of a tenant; role NULL and ver 0
 * leave those claims out (issue_token). *exp_s gets the expiry, Unix seconds.
 */
extern text *hd_sign_token(int64 tenant_id, const char *kind, int64 subject, int64 ttl_s,
						   const char *role, int64 ver, int64 *exp_s);
extern int64 hd_unix_now(void);

/* access.c: who may act for which tenant (0: every tenant) */
extern bool hd_role_may_act_for(Oid role, int64 tenant_id);
extern void hd_check_tenant_role(int64 tenant_id);
extern void hd_check_tenant_access(int64 tenant_id);
extern void hd_access_init(void);

/* tenant_fence.c: 55000 for a tenant moving to (or moved to) another node */
extern void hd_check_tenant_fence(int64 tenant_id);

/* audit.c */
extern void hd_define_audit_settings(void);

/* password.c */
#define HD_PASSWORD_SALT_BYTES 16
#define HD_PASSWORD_HASH_BYTES 32
#define HD_PASSWORD_MIN_ITERATIONS 1000	/* the floor, for tests only */
#define HD_PASSWORD_DEFAULT_ITERATIONS 600000	/* OWASP 2023 for PBKDF2-HMAC-SHA256 */
#define HD_PASSWORD_MIN_CHARS 10
#define HD_PASSWORD_MAX_BYTES 1024

extern void hd_password_hash(const char *pw, size_t len, const unsigned char *salt,
							 size_t saltlen, int iterations, unsigned char *out);
extern void hd_check_password_rules(const char *pw, size_t len);
extern void hd_random_bytes(unsigned char *out, int n);
extern bytea *hd_bytea_from(const unsigned char *b, int n);

/* agent_login.c: a bump of the agent's token version with its agent.revoked event */
extern int64 hd_revoke_agent_tokens(int64 tenant_id, int64 agent_id, const char *reason);

/*
 * The signed player API's refusals (verify_signed_request), one SQLSTATE
 * each; the message starts with the code word the bridge answers with.
 */
#define ERRCODE_HD_MALFORMED_REQUEST	MAKE_SQLSTATE('H','D','A','0','0')
#define ERRCODE_HD_BAD_SIGNATURE		MAKE_SQLSTATE('H','D','A','0','1')
#define ERRCODE_HD_STALE_TIMESTAMP		MAKE_SQLSTATE('H','D','A','0','2')
#define ERRCODE_HD_REPLAYED_NONCE		MAKE_SQLSTATE('H','D','A','0','3')
#define ERRCODE_HD_UNKNOWN_APP			MAKE_SQLSTATE('H','D','A','0','4')

#define HD_SIGNED_WINDOW_SECS 300
#define HD_NONCE_KEEP_SECS (2 * HD_SIGNED_WINDOW_SECS)

/* app.c: an app's secret, opened (palloc'd, NUL-terminated) */
extern char *hd_app_secret_open(int64 tenant_id, const char *app_id, const bytea *sealed);
extern bool hd_app_id_valid(const char *app_id);

/* app_cache.c: a usable app's tenant and sealed secret (SPI connected) */
extern bool hd_app_lookup(const char *app, int64 *tenant_id, bytea **sealed);

/* upload.c */
#define ERRCODE_HD_UNSUPPORTED_MEDIA	MAKE_SQLSTATE('H','D','4','1','5')
extern int	hd_max_upload_bytes;
extern void hd_define_upload_settings(void);
extern const char *hd_sniff_mime(const unsigned char *b, size_t n);

/* jsonb_field.c: ?, -> and ->> of a top-level key, as the SQL operators answer */
extern bool hd_jsonb_has(Jsonb *j, const char *key);
extern int	hd_jsonb_field_type(Jsonb *j, const char *key);
extern Jsonb *hd_jsonb_field(Jsonb *j, const char *key);
extern char *hd_jsonb_field_text(Jsonb *j, const char *key);

/* upload_attachment.c: {"upload_id": n} completed from the tenant's upload */
extern Jsonb *hd_upload_attachment(int64 tenant_id, Jsonb *attachment, const char *base_url);
extern void hd_uploads_init(void);

/* nonce_prune.c */
extern void hd_security_prune_some(bool nonces);

#endif							/* HD_SECURITY_H */
