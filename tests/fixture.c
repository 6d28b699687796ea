/*
 * fixture.c -- loading recorded replies (see fixture.h).
 */
#include "fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

void
fixture_load_command_table(struct cmdtable *t)
{
    const char *srcdir = getenv("TANDEM_SRCDIR");
    char path[1024];
    char err[256];
    FILE *f;
    char *data;
    long len;

    snprintf(path, sizeof(path), "%s/tests/fixtures/command-7.0.resp",
             srcdir != NULL ? srcdir : "..");
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "can't open %s", path);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = malloc((size_t)len);
    ck_assert_uint_eq(fread(data, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    cmdtable_init(t);
    ck_assert_msg(cmdtable_load(t, data, (size_t)len, err, sizeof(err)) ==
                      TD_OK, "%s", err);
    free(data);
}
