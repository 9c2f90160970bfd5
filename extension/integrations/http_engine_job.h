/*
 * http_engine_job.h — the engine's private job record and its curl side
 * (http_engine.c: the multi handle, caps and phases; http_engine_easy.c:
 * each request's easy handle, its callbacks and the SSRF hook).
 */
#ifndef HD_HTTP_ENGINE_JOB_H
#define HD_HTTP_ENGINE_JOB_H

#include "http_engine_int.h"

#include <curl/curl.h>

#include "lib/ilist.h"

typedef struct EndpointKey
{
	const HdHttpSource *source;
	int64		tenant_id;
	int64		endpoint_id;
} EndpointKey;

typedef struct EndpointCount
{
	EndpointKey key;
	int			claimed;		/* jobs claimed and not yet completed */
	int			cap;
} EndpointCount;

typedef struct EngineJob
{
	HdHttpJob	job;			/* first: HdHttpJob * and EngineJob * convert */
	dlist_node	node;
	EndpointCount *ep;
	CURL	   *easy;
	struct curl_slist *hdrs;
	HdHttpResult result;
	char		host[256];
	char		why[160];
	char		errbuf[CURL_ERROR_SIZE];
	char		retry_after[64];
	char		body[HD_HTTP_BODY_KEEP + 1];
	int			body_len;
	bool		refused;
	bool		in_claim;		/* bad row of a claim not yet committed */
} EngineJob;

/* http_engine_easy.c */
extern CURL *hd_http_easy_setup(EngineJob *ej);
extern void hd_http_easy_put(CURL *e, bool keep);
extern bool hd_http_url_host(EngineJob *ej, const char *url);

#endif							/* HD_HTTP_ENGINE_JOB_H */
