/*
 * http_engine_int.h — what the worker loop (http_worker.c) calls in the
 * engine (http_engine.c). Sources use http_engine.h only.
 */
#ifndef HD_HTTP_ENGINE_INT_H
#define HD_HTTP_ENGINE_INT_H

#include "http_engine.h"

extern int	hd_http_nsources;
extern const HdHttpSource *hd_http_sources[HD_HTTP_MAX_SOURCES];

extern void hd_http_engine_init(void);
extern int	hd_http_engine_free_slots(void);
/* in a transaction with SPI: claim and build up to max jobs of src */
extern int	hd_http_engine_claim(const HdHttpSource *src, int max);
/* after that transaction committed (true) or rolled back (false) */
extern void hd_http_engine_claimed(bool committed);
extern void hd_http_engine_wait(long timeout_ms);
extern int	hd_http_engine_finished(void);
extern bool hd_http_engine_complete_due(long *wait_ms);
/* in a transaction with SPI: complete the finished jobs; per_item: one subtransaction each */
extern void hd_http_engine_complete(bool per_item);
/* after that transaction committed: free what was completed */
extern void hd_http_engine_completed(bool committed);
extern void hd_http_engine_shutdown(void);

/* set by a source's prepare() that could not take more input until jobs complete */
extern bool hd_http_prepare_again;
/* set by a source's prepare() that found work (a wakeup right after is served at once) */
extern bool hd_http_prepare_found;

#endif							/* HD_HTTP_ENGINE_INT_H */
