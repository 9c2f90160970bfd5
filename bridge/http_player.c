#include "http_router.h"
void http_player_init(void);
void http_player_init(void) {}
