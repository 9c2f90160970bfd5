/*
 * bot_json.h — PostgreSQL's builtins next to jansson. fmgrprotos.h declares
 * the SQL functions json_object() and json_typeof(), which jansson defines
 * as a function and a macro of its own; the SQL ones are renamed while
 * utils/builtins.h is read, so a file can use both.
 */
#ifndef HD_BOT_JSON_H
#define HD_BOT_JSON_H

#define json_object pg_sql_json_object
#define json_typeof pg_sql_json_typeof
#include "utils/builtins.h"
#undef json_object
#undef json_typeof
#include <jansson.h>

#endif							/* HD_BOT_JSON_H */
