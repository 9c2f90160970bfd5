/*
 * bot_json.h — PostgreSQL's builtins next to jansson. fmgrprotos.h declares
 * the SQL functions json_object() and json_typeof(), which jansson defines
 * as a function and a macro of its own; the SQL ones are renamed while
 * utils/builtins.h is read, so a file can use both. And at run time the
 * server's own json_object (exported by the postgres binary) wins the
 * dynamic link over jansson's: an extension calling json_object() runs the
 * SQL function. New objects come from json_pack("{}") instead (jansson's
 * internal calls are bound inside the library). The only name the two
 * share (checked with nm -D against libjansson.so.4).
 */
#ifndef HD_BOT_JSON_H
#define HD_BOT_JSON_H

#define json_object pg_sql_json_object
#define json_typeof pg_sql_json_typeof
#include "utils/builtins.h"
#undef json_object
#undef json_typeof
#include <jansson.h>

static inline json_t *
hd_json_new_object(void)
{
	return json_pack("{}");
}

#endif							/* HD_BOT_JSON_H */
