/*
 * fixture.h -- recorded replies for unit tests.
 */
#ifndef TD_TEST_FIXTURE_H
#define TD_TEST_FIXTURE_H

#include "cmdtable.h"

/* Loads the COMMAND reply recorded from Redis 7.0.15
 * (tests/fixtures/command-7.0.resp) into t; fails the test otherwise. */
void fixture_load_command_table(struct cmdtable *t);

#endif
