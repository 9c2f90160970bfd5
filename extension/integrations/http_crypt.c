/*
 * http_crypt.c — secrets at rest: AES-256-GCM (OpenSSL EVP) under the key in
 * helpdesk.encryption_key_file.
 *
 * A sealed secret is bytea: version byte 1, a random 12-byte nonce, the
 * 16-byte tag, then the ciphertext. The caller's context string (e.g.
 * "webhook:<tenant>") is authenticated as associated data, so a sealed value
 * copied to another tenant's row does not open there. Only the HTTP worker
 * (and webhook_secret() for the admin) opens secrets; backends seal them.
 */
#include "http_engine.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "storage/fd.h"
#include "utils/builtins.h"

#define SEAL_VERSION 1
#define NONCE_LEN 12
#define TAG_LEN 16
#define HEADER_LEN (1 + NONCE_LEN + TAG_LEN)

static unsigned char key[32];
static char *key_path = NULL;	/* the file the cached key came from */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The key, read from the file on first use and again when the setting names
 * another file. A missing setting or a malformed file is the operator's to
 * fix: the error says what is expected (never the file's content).
 */
static const unsigned char *
load_key(void)
{
	FILE	   *f;
	char		buf[256];
	size_t		n;
	int			i,
				k = 0;

	if (hd_encryption_key_file == NULL || hd_encryption_key_file[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("helpdesk.encryption_key_file is not set"),
				 errhint("Secrets are stored encrypted: write 64 hex digits (openssl rand -hex 32) to a file "
						 "readable by the server, set helpdesk.encryption_key_file to it and reload.")));
	if (key_path != NULL && strcmp(key_path, hd_encryption_key_file) == 0)
		return key;
	f = AllocateFile(hd_encryption_key_file, "r");
	if (f == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open helpdesk.encryption_key_file \"%s\": %m", hd_encryption_key_file)));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	FreeFile(f);
	buf[n] = '\0';
	for (i = 0; buf[i] != '\0'; i++)
	{
		int			hi,
					lo;

		if (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t')
			continue;
		hi = hexval(buf[i]);
		lo = buf[i + 1] ? hexval(buf[i + 1]) : -1;
		if (hi < 0 || lo < 0 || k >= 32)
		{
			k = -1;
			break;
		}
		key[k++] = (unsigned char) (hi << 4 | lo);
		i++;
	}
	explicit_bzero(buf, sizeof(buf));
	if (k != 32)
	{
		explicit_bzero(key, sizeof(key));
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("helpdesk.encryption_key_file \"%s\" does not hold a 256-bit key", hd_encryption_key_file),
				 errhint("The file must contain exactly 64 hex digits (openssl rand -hex 32).")));
	}
	if (key_path)
		pfree(key_path);
	key_path = MemoryContextStrdup(TopMemoryContext, hd_encryption_key_file);
	return key;
}

bytea *
hd_encrypt_secret(const char *plain, int len, const char *context)
{
	const unsigned char *k = load_key();
	bytea	   *out = palloc(VARHDRSZ + HEADER_LEN + len);
	unsigned char *p = (unsigned char *) VARDATA(out);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int			outl = 0,
				fin = 0;
	bool		ok;

	p[0] = SEAL_VERSION;
	ok = ctx != NULL && RAND_bytes(p + 1, NONCE_LEN) == 1 &&
		EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
		EVP_EncryptInit_ex(ctx, NULL, NULL, k, p + 1) == 1 &&
		EVP_EncryptUpdate(ctx, NULL, &outl, (const unsigned char *) context, strlen(context)) == 1 &&
		EVP_EncryptUpdate(ctx, p + HEADER_LEN, &outl, (const unsigned char *) plain, len) == 1 &&
		EVP_EncryptFinal_ex(ctx, p + HEADER_LEN + outl, &fin) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, p + 1 + NONCE_LEN) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not encrypt a secret (OpenSSL)")));
	SET_VARSIZE(out, VARHDRSZ + HEADER_LEN + outl + fin);
	return out;
}

/*
 * The plain secret (palloc'd, NUL-terminated, length in *len). A value that
 * does not open (another key, another context, tampered) is an ERROR that
 * names neither.
 */
char *
hd_decrypt_secret(const bytea *sealed, const char *context, int *len)
{
	const unsigned char *k = load_key();
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(sealed);
	int			n = VARSIZE_ANY_EXHDR(sealed);
	char	   *out;
	EVP_CIPHER_CTX *ctx;
	int			outl = 0,
				fin = 0;
	bool		ok;

	if (n < HEADER_LEN || p[0] != SEAL_VERSION)
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED), errmsg("a stored secret is not in a known format")));
	out = palloc(n - HEADER_LEN + 1);
	ctx = EVP_CIPHER_CTX_new();
	ok = ctx != NULL &&
		EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
		EVP_DecryptInit_ex(ctx, NULL, NULL, k, p + 1) == 1 &&
		EVP_DecryptUpdate(ctx, NULL, &outl, (const unsigned char *) context, strlen(context)) == 1 &&
		EVP_DecryptUpdate(ctx, (unsigned char *) out, &outl, p + HEADER_LEN, n - HEADER_LEN) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *) (p + 1 + NONCE_LEN)) == 1 &&
		EVP_DecryptFinal_ex(ctx, (unsigned char *) out + outl, &fin) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
	{
		explicit_bzero(out, n - HEADER_LEN + 1);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("a stored secret does not decrypt under helpdesk.encryption_key_file"),
				 errhint("The key file was changed or the row was altered; set the secret again with upsert_webhook.")));
	}
	out[outl + fin] = '\0';
	*len = outl + fin;
	return out;
}
