/*
 * http_ssrf.h — the SSRF guard (http_ssrf.c), used by the engine's
 * open-socket hook.
 */
#ifndef HD_HTTP_SSRF_H
#define HD_HTTP_SSRF_H

#include "http_engine.h"

#include <sys/socket.h>

extern bool hd_ssrf_allowed(const char *host, const struct sockaddr *addr, const char **why);

#endif							/* HD_HTTP_SSRF_H */
