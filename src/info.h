/*
 * info.h -- INFO: tandem's own sections, in Redis's field:value format.
 */
#ifndef TD_INFO_H
#define TD_INFO_H

#include <stddef.h>

#include "buf.h"
#include "resp.h"

/* Writes the sections named in argv (none, "default", "all" or
 * "everything": every section). Unknown names write nothing, as Redis. */
void info_generate(struct buf *out, size_t argc, const struct resp_arg *argv);

#endif
