#include "http_router.h"
void http_upload_init(void);
void http_upload_init(void) {}
