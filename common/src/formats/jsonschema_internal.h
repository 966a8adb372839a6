/* jsonschema_internal: what the parts of the JSON Schema validator share (jsonschema.c compiles
 * and validates, jsonschema_format.c checks formats, jsonschema_meta.c holds the meta-schemas).
 * Not for other modules. */
#ifndef CM_JSONSCHEMA_INTERNAL_H
#define CM_JSONSCHEMA_INTERNAL_H

#include "cm/jsonschema.h"

#include <jansson.h>

/* 1 when the URI reference u starts with a scheme ("http:"). */
int jsonschema_has_scheme(const char *u);
/* 1 when v satisfies format fmt (formats not known are satisfied). */
int jsonschema_format_ok(const char *fmt, const char *v);

#endif
