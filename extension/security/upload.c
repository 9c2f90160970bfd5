/*
 * upload.c — files players and agents attach to messages: store_upload
 * checks the size against helpdesk.max_upload_bytes, sniffs the type from
 * the bytes (a small signature table of the types we accept; never the
 * name or the declared type), refuses a file whose declared type or name
 * says otherwise, cleans the name and stores content, size and SHA-256 in
 * helpdesk.upload (content EXTERNAL: the bridge reads ranges with
 * substring, which then fetches only the TOAST chunks it needs).
 */
#include "security.h"

#include <openssl/evp.h>

#include "access/htup_details.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/guc.h"

int			hd_max_upload_bytes = 10 * 1024 * 1024;

static HdPlan insert_upload = {
	"INSERT INTO helpdesk.upload (tenant_id, uploader_kind, uploader_id, name, mime, size, "
	"sha256, content) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
	8, {INT8OID, TEXTOID, INT8OID, TEXTOID, TEXTOID, INT8OID, BYTEAOID, BYTEAOID}
};

void
hd_define_upload_settings(void)
{
	DefineCustomIntVariable("helpdesk.max_upload_bytes",
							"Largest file store_upload accepts (bytes).",
							"The bridge answers 413 beyond it.",
							&hd_max_upload_bytes, 10 * 1024 * 1024, 1, 1024 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);
}

/* valid UTF-8 without control characters other than tab, CR, LF */
static bool
is_plain_text(const unsigned char *b, size_t n)
{
	size_t		i = 0;

	while (i < n)
	{
		unsigned char c = b[i];
		size_t		len;

		if (c < 0x80)
		{
			if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f)
				return false;
			i++;
			continue;
		}
		len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
		if (len == 0 || i + len > n || (len == 2 && c < 0xC2))
			return false;
		for (size_t k = 1; k < len; k++)
			if ((b[i + k] & 0xC0) != 0x80)
				return false;
		i += len;
	}
	return true;
}

/*
 * The type of the bytes, from the types we accept; NULL for anything else
 * (executables, archives, HTML, SVG: nothing a browser could run).
 */
const char *
hd_sniff_mime(const unsigned char *b, size_t n)
{
	if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0)
		return "image/png";
	if (n >= 3 && memcmp(b, "\xff\xd8\xff", 3) == 0)
		return "image/jpeg";
	if (n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0))
		return "image/gif";
	if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
		return "image/webp";
	if (n >= 5 && memcmp(b, "%PDF-", 5) == 0)
		return "application/pdf";
	if (n >= 12 && memcmp(b + 4, "ftyp", 4) == 0)
		return "video/mp4";
	if (n > 0 && is_plain_text(b, n))
	{
		/* text that a browser would take for markup is not plain text */
		size_t		i = 0;

		while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
			i++;
		if (i < n && b[i] == '<')
			return NULL;
		return "text/plain";
	}
	return NULL;
}

/* the type a file name's extension claims, NULL for an unknown extension */
static const char *
mime_of_name(const char *name)
{
	static const struct
	{
		const char *ext;
		const char *mime;
	}			map[] = {
		{"png", "image/png"}, {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"},
		{"gif", "image/gif"}, {"webp", "image/webp"}, {"pdf", "application/pdf"},
		{"mp4", "video/mp4"}, {"txt", "text/plain"}, {"log", "text/plain"},
	};
	const char *dot = strrchr(name, '.');

	if (dot == NULL)
		return NULL;
	for (size_t i = 0; i < lengthof(map); i++)
		if (pg_strcasecmp(dot + 1, map[i].ext) == 0)
			return map[i].mime;
	return "?";					/* some other extension: claims a type we do not accept */
}

/*
 * The last path component, without leading dots and spaces, control
 * characters, quotes, backslashes, ';' and '%' replaced by '_'; at most 200
 * bytes (whole characters); "file" when nothing is left.
 */
static char *
clean_name(const char *in)
{
	const char *base = in;
	StringInfoData s;

	for (const char *p = in; *p; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	while (*base == '.' || *base == ' ')
		base++;
	initStringInfo(&s);
	for (const char *p = base; *p;)
	{
		int			len = pg_mblen(p);

		if (s.len + len > 200)
			break;
		if (len == 1)
		{
			unsigned char c = (unsigned char) *p;

			appendStringInfoChar(&s, (c < 0x20 || c == 0x7f || c == '"' || c == ';' || c == '%') ? '_' : (char) c);
		}
		else
			appendBinaryStringInfo(&s, p, len);
		p += len;
	}
	if (s.len == 0)
		appendStringInfoString(&s, "file");
	return s.data;
}

PG_FUNCTION_INFO_V1(hd_store_upload);

/*
 * store_upload(tenant_id, uploader_kind, uploader_id, name, declared_type,
 * content) -> (upload_id, mime, size, sha256)
 */
Datum
hd_store_upload(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "uploader_kind", "uploader_id", "content"};
	static const char *const kinds[] = {"customer", "agent", "supervisor", NULL};
	int64		tenant_id;
	char	   *kind;
	int64		uploader;
	char	   *name;
	char	   *declared;
	bytea	   *content;
	size_t		n;
	const char *mime;
	const char *claimed;
	unsigned char digest[32];
	char		hex[65];
	Datum		v[8];
	Datum		out[4];
	bool		nulls[4] = {false, false, false, false};
	TupleDesc	td;
	int64		id;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(5))
		hd_require_args(fcinfo, 4, names);
	SPI_connect();
	tenant_id = hd_require_tenant(PG_GETARG_INT64(0));
	kind = text_to_cstring(PG_GETARG_TEXT_PP(1));
	hd_check_enum("uploader_kind", kind, kinds);
	uploader = PG_GETARG_INT64(2);
	name = clean_name(PG_ARGISNULL(3) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(3)));
	declared = hd_arg_text_or_null(fcinfo, 4);
	content = PG_GETARG_BYTEA_PP(5);
	n = VARSIZE_ANY_EXHDR(content);
	if (n == 0)
		hd_invalid("the upload is empty");
	if (n > (size_t) hd_max_upload_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the upload has %zu bytes, more than helpdesk.max_upload_bytes (%d)",
						n, hd_max_upload_bytes)));
	mime = hd_sniff_mime((const unsigned char *) VARDATA_ANY(content), n);
	if (mime == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_HD_UNSUPPORTED_MEDIA),
				 errmsg("unsupported_type: the file is none of PNG, JPEG, GIF, WebP, PDF, MP4 or plain text")));
	claimed = mime_of_name(name);
	if (claimed && strcmp(claimed, mime) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_UNSUPPORTED_MEDIA),
				 errmsg("unsupported_type: the name %s says another type than the content (%s)",
						hd_quote(name), mime)));
	if (declared && *declared && strcmp(declared, "application/octet-stream") != 0 &&
		strncmp(declared, mime, strlen(mime)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_UNSUPPORTED_MEDIA),
				 errmsg("unsupported_type: declared as %s but the content is %s",
						hd_quote(declared), mime)));
	if (EVP_Digest(VARDATA_ANY(content), n, digest, NULL, EVP_sha256(), NULL) != 1)
		elog(ERROR, "SHA-256 failed");
	hex_encode((const char *) digest, 32, hex);
	hex[64] = '\0';

	v[0] = Int64GetDatum(tenant_id);
	v[1] = CStringGetTextDatum(kind);
	v[2] = Int64GetDatum(uploader);
	v[3] = CStringGetTextDatum(name);
	v[4] = CStringGetTextDatum(mime);
	v[5] = Int64GetDatum((int64) n);
	v[6] = PointerGetDatum(hd_bytea_from(digest, 32));
	v[7] = PointerGetDatum(content);
	hd_exec(&insert_upload, v, NULL, false, 1);
	hd_get_int64(1, &id);
	SPI_finish();

	if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "store_upload must return a record");
	td = BlessTupleDesc(td);
	out[0] = Int64GetDatum(id);
	out[1] = CStringGetTextDatum(mime);
	out[2] = Int64GetDatum((int64) n);
	out[3] = CStringGetTextDatum(hex);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(td, out, nulls)));
}
