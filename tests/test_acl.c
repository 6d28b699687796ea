/*
 * test_acl.c -- tandem's own users (src/acl.c).
 *
 *   rules     unit tests: rule parsing and its errors, the default user
 *             and requirepass, ACL LIST's form, and the check of commands,
 *             keys and channels against the recorded Redis 7.0 table
 *   proxy     integration: a real primary, the real tandem with `user`
 *             lines from a file, and a real redis-server 7.0 with the same
 *             rules as the reference for every -NOPERM text
 */
#include <check.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "cmdtable.h"
#include "config.h"
#include "fixture.h"
#include "harness.h"

/* The users both tandem and the reference redis-server get. */
static const char *const user_lines[] = {
    "alice on >pa ~* &* +@all -@dangerous",
    "bob on >pb ~* +get",
    "carol on >pc ~prefix:* +@all",
    "dave off >pd +@all",
    "eve on >pe ~* +@all resetchannels &news.*",
    "frank on >pf ~* +@all -flushall +select|0 -select",
    "rita on >pr %R~ro:* ~rw:* +@all",
    NULL,
};

/* ---- unit: rules ---- */

static struct acl_line
line_of(const char *text, char **words, size_t max)
{
    struct acl_line l;
    char *copy = strdup(text);
    char *save = NULL;
    char *w;

    l.words = words;
    l.nwords = 0;
    for (w = strtok_r(copy, " ", &save); w != NULL && l.nwords < max;
         w = strtok_r(NULL, " ", &save)) {
        words[l.nwords++] = strdup(w);
    }
    free(copy);
    return l;
}

static void
line_free(struct acl_line *l)
{
    size_t i;

    for (i = 0; i < l->nwords; i++) {
        free(l->words[i]);
    }
}

/* Checks one line; returns its error ("" when valid). */
static const char *
check(const char *text)
{
    static char err[512];
    char *words[32];
    struct acl_line l = line_of(text, words, 32);

    err[0] = '\0';
    if (acl_check_line(&l, err, sizeof(err)) == TD_OK) {
        err[0] = '\0';
    }
    line_free(&l);
    return err;
}

START_TEST(test_bad_rules_say_which_and_why)
{
    static const struct {
        const char *line;
        const char *why;
    } cases[] = {
        {"u on +@nosuch", "'+@nosuch': Unknown command or category name"},
        {"u on %X~k", "'%X~k': Syntax error"},
        {"u on %R", "'%R': Syntax error"},
        {"u ~* ~a", "'~a': Adding a pattern after the * pattern"},
        {"u &* &a", "'&a': Adding a pattern after the * pattern"},
        {"u >x <nope", "'<...': The password you are trying to remove"},
        {"u #abc", "'#abc': The password hash must be exactly 64"},
        {"u on bogus", "'bogus': Syntax error"},
        {"u +debug|", "'+debug|': Syntax error"},
        {"u +config|get|x", "Allowing first-arg of a subcommand"},
        {"u (~x +get)", "Selectors are not supported"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *err = check(cases[i].line);

        ck_assert_msg(strstr(err, cases[i].why) != NULL,
                      "%s: got '%s'", cases[i].line, err);
        ck_assert_msg(strstr(err, "Error in user declaration 'u'") != NULL,
                      "%s: got '%s'", cases[i].line, err);
    }
    for (i = 0; user_lines[i] != NULL; i++) {
        ck_assert_str_eq(check(user_lines[i]), "");
    }
    ck_assert_str_eq(check("u reset on nopass allkeys allchannels "
                           "allcommands -@admin +@ADMIN resetkeys "
                           "%RW~x %W~y resetpass #"
                           "0123456789abcdef0123456789abcdef"
                           "0123456789abcdef0123456789abcdef"), "");
}
END_TEST

START_TEST(test_config_error_names_line_and_directive)
{
    struct config cfg;
    char err[2048];

    config_init(&cfg);
    ck_assert_int_eq(config_load_text(&cfg, "port 7000\n"
                                      "user app on >x +@nosuch\n",
                                      "test", err, sizeof(err)),
                     TD_ERR);
    ck_assert_msg(strstr(err, "at line 2") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "user app on") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "Unknown command or category name") != NULL,
                  "%s", err);
    config_free(&cfg);

    config_init(&cfg);
    ck_assert_int_eq(config_load_text(&cfg, "user a on\nuser a off\n",
                                      "test", err, sizeof(err)),
                     TD_ERR);
    ck_assert_msg(strstr(err, "Duplicate user 'a'") != NULL, "%s", err);
    config_free(&cfg);

    config_init(&cfg);
    ck_assert_int_eq(config_load_text(&cfg, "user a on >x ~*\nuser b off\n",
                                      "test", err, sizeof(err)),
                     TD_OK);
    ck_assert_uint_eq(cfg.nusers, 2);
    ck_assert_str_eq(cfg.users[1].words[0], "b");
    config_free(&cfg);
}
END_TEST

static struct acl_users *
build(const char *const *texts, const char *requirepass)
{
    struct acl_line lines[16];
    static char *words[16][32];
    struct acl_users *set;
    size_t n = 0;
    size_t i;

    memset(lines, 0, sizeof(lines));
    for (n = 0; texts[n] != NULL; n++) {
        lines[n] = line_of(texts[n], words[n], 32);
    }
    set = acl_users_build(lines, n, requirepass);
    for (i = 0; i < n; i++) {
        line_free(&lines[i]);
    }
    return set;
}

static void
describe(const struct acl_users *set, const char *name, char *out,
         size_t len)
{
    const struct acl_user *u = acl_user_find(set, name, strlen(name));
    struct buf b;

    ck_assert_ptr_nonnull(u);
    buf_init(&b);
    acl_user_describe(u, &b);
    snprintf(out, len, "%.*s", (int)b.len, buf_head(&b));
    buf_free(&b);
}

START_TEST(test_default_user_requirepass_and_list_form)
{
    const char *none[] = {NULL};
    const char *with_default[] = {"default on >mine ~* +@all", NULL};
    struct acl_users *set = build(none, NULL);
    char line[512];
    char want[512];
    char hex[65];

    /* No users, no requirepass: everyone is default, no password. */
    ck_assert_uint_eq(acl_users_count(set), 1);
    ck_assert(acl_user_open(acl_user_default(set)));
    describe(set, "default", line, sizeof(line));
    ck_assert_str_eq(line, "user default on nopass ~* &* +@all");
    acl_users_free(set);

    /* requirepass is the default user's password, shown as its hash. */
    set = build(none, "s3cret");
    ck_assert(!acl_user_open(acl_user_default(set)));
    ck_assert(acl_user_check_password(acl_user_default(set), "s3cret", 6));
    ck_assert(!acl_user_check_password(acl_user_default(set), "s3cre", 5));
    acl_sha256_hex("s3cret", 6, hex);
    snprintf(want, sizeof(want), "user default on #%s ~* &* +@all", hex);
    describe(set, "default", line, sizeof(line));
    ck_assert_str_eq(line, want);
    ck_assert(strstr(line, "s3cret") == NULL);
    acl_users_free(set);

    /* A user default line wins over requirepass. */
    set = build(with_default, "s3cret");
    ck_assert_uint_eq(acl_users_count(set), 1);
    ck_assert(!acl_user_check_password(acl_user_default(set), "s3cret", 6));
    ck_assert(acl_user_check_password(acl_user_default(set), "mine", 4));
    acl_users_free(set);

    /* ACL LIST's form, as Redis 7.0 writes these users; sorted by name. */
    set = build(user_lines, NULL);
    ck_assert_str_eq(acl_user_name(acl_users_at(set, 0)), "alice");
    ck_assert_str_eq(acl_user_name(acl_users_at(set, 4)), "default");
    acl_sha256_hex("pb", 2, hex);
    snprintf(want, sizeof(want), "user bob on #%s ~* resetchannels -@all "
             "+get", hex);
    describe(set, "bob", line, sizeof(line));
    ck_assert_str_eq(line, want);
    acl_sha256_hex("pd", 2, hex);
    snprintf(want, sizeof(want), "user dave off #%s resetchannels +@all",
             hex);
    describe(set, "dave", line, sizeof(line));
    ck_assert_str_eq(line, want);
    /* A disabled user never authenticates. */
    ck_assert(!acl_user_check_password(acl_user_find(set, "dave", 4), "pd",
                                       2));
    acl_users_free(set);
}
END_TEST

/* Runs the check of user `name` on a command line against the table. */
static enum acl_verdict
verdict(const struct cmdtable *t, const struct acl_users *set,
        const char *name, const char *line)
{
    struct resp_arg argv[16];
    char copy[256];
    char *save = NULL;
    char *w;
    size_t argc = 0;
    struct cmd *cmd;
    const struct cmd *parent = NULL;

    snprintf(copy, sizeof(copy), "%s", line);
    for (w = strtok_r(copy, " ", &save); w != NULL && argc < 16;
         w = strtok_r(NULL, " ", &save)) {
        argv[argc].ptr = w;
        argv[argc].len = strlen(w);
        argc++;
    }
    ck_assert_int_eq(cmdtable_lookup(t, argc, argv, &cmd), CMD_FOUND);
    if (strchr(cmd->name, '|') != NULL) {
        parent = cmdtable_find(t, argv[0].ptr, argv[0].len);
    }
    return acl_check(acl_user_find(set, name, strlen(name)), cmd, parent,
                     argc, argv);
}

START_TEST(test_commands_keys_and_channels_are_checked)
{
    struct cmdtable t;
    struct acl_users *set = build(user_lines, NULL);

    cmdtable_init(&t);
    fixture_load_command_table(&t);
    /* Categories, from the table: +@all -@dangerous. */
    ck_assert_int_eq(verdict(&t, set, "alice", "FLUSHALL"), ACL_DENIED_CMD);
    ck_assert_int_eq(verdict(&t, set, "alice", "CONFIG GET x"),
                     ACL_DENIED_CMD);
    ck_assert_int_eq(verdict(&t, set, "alice", "GET k"), ACL_OK);
    ck_assert_int_eq(verdict(&t, set, "alice", "SET k v"), ACL_OK);
    /* AUTH and HELLO are always allowed (no_auth). */
    ck_assert_int_eq(verdict(&t, set, "bob", "AUTH x"), ACL_OK);
    /* A command rule. */
    ck_assert_int_eq(verdict(&t, set, "bob", "GET k"), ACL_OK);
    ck_assert_int_eq(verdict(&t, set, "bob", "SET k v"), ACL_DENIED_CMD);
    ck_assert_int_eq(verdict(&t, set, "bob", "CLIENT LIST"), ACL_DENIED_CMD);
    /* Commands, subcommands, and a first-arg rule reset by -select. */
    ck_assert_int_eq(verdict(&t, set, "frank", "FLUSHALL"), ACL_DENIED_CMD);
    ck_assert_int_eq(verdict(&t, set, "frank", "CONFIG GET x"), ACL_OK);
    ck_assert_int_eq(verdict(&t, set, "frank", "SELECT 0"), ACL_DENIED_CMD);
    /* Keys, read or write by the key specs. */
    ck_assert_int_eq(verdict(&t, set, "carol", "GET prefix:a"), ACL_OK);
    ck_assert_int_eq(verdict(&t, set, "carol", "GET other"), ACL_DENIED_KEY);
    ck_assert_int_eq(verdict(&t, set, "carol", "MSET prefix:a 1 other 2"),
                     ACL_DENIED_KEY);
    ck_assert_int_eq(verdict(&t, set, "carol", "PING"), ACL_OK);
    ck_assert_int_eq(verdict(&t, set, "rita", "GET ro:a"), ACL_OK);
    ck_assert_int_eq(verdict(&t, set, "rita", "SET ro:a 1"), ACL_DENIED_KEY);
    ck_assert_int_eq(verdict(&t, set, "rita", "SET rw:a 1"), ACL_OK);
    ck_assert_int_eq(verdict(&t, set, "rita", "COPY ro:a rw:b"), ACL_OK);
    ck_assert_int_eq(verdict(&t, set, "rita", "COPY rw:a ro:b"),
                     ACL_DENIED_KEY);
    /* Channels: a pattern subscription needs that very pattern. */
    ck_assert_int_eq(verdict(&t, set, "eve", "PUBLISH news.a x"), ACL_OK);
    ck_assert_int_eq(verdict(&t, set, "eve", "PUBLISH other x"),
                     ACL_DENIED_CHANNEL);
    ck_assert_int_eq(verdict(&t, set, "eve", "SUBSCRIBE news.a other"),
                     ACL_DENIED_CHANNEL);
    ck_assert_int_eq(verdict(&t, set, "eve", "PSUBSCRIBE news.*"), ACL_OK);
    ck_assert_int_eq(verdict(&t, set, "eve", "PSUBSCRIBE news.a*"),
                     ACL_DENIED_CHANNEL);
    ck_assert_int_eq(verdict(&t, set, "eve", "UNSUBSCRIBE other"), ACL_OK);
    /* Redis 7.0's default: a user without & rules has no channel. */
    ck_assert_int_eq(verdict(&t, set, "carol", "PUBLISH prefix:a x"),
                     ACL_DENIED_CHANNEL);
    cmdtable_free(&t);
    acl_users_free(set);
}
END_TEST

/* ---- integration ---- */

static struct proc primary;
static struct proc reference;   /* redis-server with the same users */
static struct proc tandem;
static char confdir[128];
static char confpath[256];

static void
write_conf(const char *extra)
{
    FILE *f = fopen(confpath, "w");
    size_t i;

    ck_assert_ptr_nonnull(f);
    for (i = 0; user_lines[i] != NULL; i++) {
        fprintf(f, "user %s\n", user_lines[i]);
    }
    if (extra != NULL) {
        fputs(extra, f);
    }
    fclose(f);
}

static void
start_fleet(void)
{
    /* harness_start_redis passes on at most 49 words. */
    const char *words[64];
    char port[16];
    char primary_addr[64];
    const char *args[] = {confpath, "--port", port, "--primary",
                          primary_addr, "--loglevel", "verbose", NULL};
    char copies[8][128];
    int tport;
    size_t n = 0;
    size_t i;

    ck_assert_int_eq(harness_start_redis(&primary, NULL), 0);
    /* The reference: redis-server --user <words> ... for each line. */
    for (i = 0; user_lines[i] != NULL; i++) {
        char *save = NULL;
        char *w;

        snprintf(copies[i], sizeof(copies[i]), "%s", user_lines[i]);
        words[n++] = "--user";
        for (w = strtok_r(copies[i], " ", &save); w != NULL;
             w = strtok_r(NULL, " ", &save)) {
            words[n++] = w;
        }
    }
    words[n] = NULL;
    ck_assert_int_eq(harness_start_redis(&reference, words), 0);

    snprintf(confdir, sizeof(confdir), "/tmp/tandem-acl-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(confdir));
    snprintf(confpath, sizeof(confpath), "%s/tandem.conf", confdir);
    write_conf(NULL);
    tport = harness_free_port();
    snprintf(port, sizeof(port), "%d", tport);
    snprintf(primary_addr, sizeof(primary_addr), "127.0.0.1:%d",
             primary.port);
    ck_assert_int_eq(harness_spawn_tandem(&tandem, args), 0);
    tandem.port = tport;
    if (harness_wait_ready(&tandem, 10000) != 0) {
        harness_dump_log(&tandem);
        ck_abort_msg("tandem did not start");
    }
}

static void
stop_fleet(void)
{
    char rm[300];

    harness_stop(&tandem);
    harness_stop(&reference);
    harness_stop(&primary);
    snprintf(rm, sizeof(rm), "rm -rf '%s'", confdir);
    if (system(rm) != 0) {
        fprintf(stderr, "could not remove %s\n", confdir);
    }
}

/* Waits until tandem's pipe is up (its command table is loaded). */
static void
wait_up(void)
{
    redisContext *c = harness_connect(tandem.port);
    int i;

    for (i = 0; i < 500; i++) {
        const char *s = harness_info_field(c, "primary",
                                           "primary_link_status");

        if (s != NULL && strcmp(s, "up") == 0) {
            redisFree(c);
            return;
        }
        usleep(20000);
    }
    redisFree(c);
    harness_dump_log(&tandem);
    ck_abort_msg("tandem's pipe did not come up");
}

static redisContext *
login(int port, const char *user, const char *pass)
{
    redisContext *c = harness_connect(port);
    redisReply *r = harness_cmd(c, "AUTH %s %s", user, pass);

    ck_assert_ptr_nonnull(r);
    ck_assert_msg(r->type == REDIS_REPLY_STATUS, "AUTH %s: %s", user,
                  r->str != NULL ? r->str : "?");
    freeReplyObject(r);
    return c;
}

static void
expect(redisContext *c, int type, const char *text, const char *fmt, ...)
{
    redisReply *r;
    va_list ap;

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    ck_assert_msg(r != NULL, "%s: no reply", fmt);
    ck_assert_msg(r->type == type, "%s: reply type %d (%s), not %d", fmt,
                  r->type, r->str != NULL ? r->str : "", type);
    if (text != NULL) {
        ck_assert_str_eq(r->str, text);
    }
    freeReplyObject(r);
}

static const char wrongpass[] =
    "WRONGPASS invalid username-password pair or user is disabled.";

START_TEST(test_users_log_in_with_auth_and_hello)
{
    redisContext *c;
    redisReply *r;

    wait_up();
    c = harness_connect(tandem.port);
    /* No user lines for default: it is open, as before. */
    expect(c, REDIS_REPLY_STRING, "default", "ACL WHOAMI");
    expect(c, REDIS_REPLY_ERROR, wrongpass, "AUTH alice wrong");
    expect(c, REDIS_REPLY_ERROR, wrongpass, "AUTH dave pd");
    expect(c, REDIS_REPLY_ERROR, wrongpass, "AUTH nobody x");
    expect(c, REDIS_REPLY_STATUS, "OK", "AUTH alice pa");
    expect(c, REDIS_REPLY_STRING, "alice", "ACL WHOAMI");
    r = harness_cmd(c, "CLIENT INFO");
    ck_assert_ptr_nonnull(r);
    ck_assert_msg(strstr(r->str, " user=alice ") != NULL, "%s", r->str);
    freeReplyObject(r);
    /* CLIENT LIST is @dangerous: alice may not; default may. */
    expect(c, REDIS_REPLY_ERROR, "NOPERM this user has no permissions to "
           "run the 'client|list' command", "CLIENT LIST");
    {
        redisContext *d = harness_connect(tandem.port);

        r = harness_cmd(d, "CLIENT LIST");
        ck_assert_msg(strstr(r->str, " user=alice ") != NULL, "%s", r->str);
        ck_assert_msg(strstr(r->str, " user=default ") != NULL, "%s",
                      r->str);
        freeReplyObject(r);
        r = harness_cmd(d, "ACL USERS");
        ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
        ck_assert_uint_eq(r->elements, 8);
        ck_assert_str_eq(r->element[0]->str, "alice");
        ck_assert_str_eq(r->element[4]->str, "default");
        freeReplyObject(r);
        redisFree(d);
    }
    expect(c, REDIS_REPLY_ERROR, "NOPERM this user has no permissions to "
           "run the 'acl|users' command", "ACL USERS");
    /* RESET: back to the default user. */
    expect(c, REDIS_REPLY_STATUS, "RESET", "RESET");
    expect(c, REDIS_REPLY_STRING, "default", "ACL WHOAMI");
    /* HELLO 2 AUTH. */
    r = harness_cmd(c, "HELLO 2 AUTH eve pe");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    expect(c, REDIS_REPLY_STRING, "eve", "ACL WHOAMI");
    expect(c, REDIS_REPLY_ERROR, wrongpass, "HELLO 2 AUTH dave pd");
    expect(c, REDIS_REPLY_STRING, "eve", "ACL WHOAMI");
    redisFree(c);
}
END_TEST

/* The same commands to tandem and to the reference redis-server 7.0:
 * the same replies, -NOPERM texts byte for byte. */
START_TEST(test_noperm_texts_match_redis)
{
    static const struct {
        const char *user;
        const char *pass;
        const char *argv[6];
    } cases[] = {
        {"alice", "pa", {"FLUSHALL"}},
        {"alice", "pa", {"CONFIG", "GET", "maxmemory"}},
        {"alice", "pa", {"ACL", "SETUSER", "x"}},
        {"alice", "pa", {"ACL", "FOO"}},
        {"alice", "pa", {"SET", "k", "v"}},
        {"alice", "pa", {"GET", "k"}},
        {"bob", "pb", {"SET", "a", "1"}},
        {"bob", "pb", {"CLIENT", "LIST"}},
        {"bob", "pb", {"ACL", "WHOAMI"}},
        {"bob", "pb", {"BLPOP", "list", "0"}},
        {"bob", "pb", {"INFO"}},
        {"bob", "pb", {"MULTI"}},
        {"carol", "pc", {"GET", "other"}},
        {"carol", "pc", {"SET", "other", "1"}},
        {"carol", "pc", {"MSET", "prefix:a", "1", "other", "2"}},
        {"carol", "pc", {"GET", "prefix:a"}},
        {"carol", "pc", {"PUBLISH", "ch", "x"}},
        {"carol", "pc", {"WATCH", "other"}},
        {"eve", "pe", {"PUBLISH", "other", "x"}},
        {"eve", "pe", {"PUBLISH", "news.a", "x"}},
        {"frank", "pf", {"SELECT", "0"}},
        {"frank", "pf", {"PING"}},
        {"rita", "pr", {"SET", "ro:x", "1"}},
        {"rita", "pr", {"SET", "rw:x", "1"}},
    };
    size_t i;

    wait_up();
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        redisContext *t = login(tandem.port, cases[i].user, cases[i].pass);
        redisContext *r = login(reference.port, cases[i].user,
                                cases[i].pass);
        const char *argv[6];
        int argc = 0;
        redisReply *a;
        redisReply *b;

        while (argc < 6 && cases[i].argv[argc] != NULL) {
            argv[argc] = cases[i].argv[argc];
            argc++;
        }
        a = redisCommandArgv(t, argc, argv, NULL);
        b = redisCommandArgv(r, argc, argv, NULL);
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_nonnull(b);
        ck_assert_msg(a->type == b->type,
                      "%s %s: tandem reply type %d (%s), redis %d (%s)",
                      cases[i].user, argv[0], a->type,
                      a->str != NULL ? a->str : "", b->type,
                      b->str != NULL ? b->str : "");
        if (b->type == REDIS_REPLY_ERROR &&
            strncmp(b->str, "NOPERM", 6) == 0) {
            ck_assert_str_eq(a->str, b->str);
        } else if (b->type == REDIS_REPLY_ERROR) {
            /* Unknown subcommand: the same text too. */
            ck_assert_str_eq(a->str, b->str);
        }
        freeReplyObject(a);
        freeReplyObject(b);
        redisFree(t);
        redisFree(r);
    }
}
END_TEST

/* Nothing refused reaches the primary; what is allowed does. */
START_TEST(test_denied_commands_never_reach_the_primary)
{
    redisContext *p;
    redisContext *c;
    redisReply *r;

    wait_up();
    p = harness_connect(primary.port);
    expect(p, REDIS_REPLY_STATUS, "OK", "SET keep 1");
    expect(p, REDIS_REPLY_STATUS, "OK", "CONFIG RESETSTAT");

    c = login(tandem.port, "alice", "pa");
    expect(c, REDIS_REPLY_ERROR, "NOPERM this user has no permissions to "
           "run the 'flushall' command", "FLUSHALL");
    expect(c, REDIS_REPLY_ERROR, "NOPERM this user has no permissions to "
           "run the 'tandem' command", "TANDEM STATUS");
    expect(c, REDIS_REPLY_STATUS, "OK", "SET alice:k v");
    expect(c, REDIS_REPLY_STRING, "v", "GET alice:k");
    redisFree(c);
    c = login(tandem.port, "bob", "pb");
    expect(c, REDIS_REPLY_ERROR, "NOPERM this user has no permissions to "
           "run the 'set' command", "SET bob:k v");
    expect(c, REDIS_REPLY_NIL, NULL, "GET bob:k");
    redisFree(c);
    c = login(tandem.port, "frank", "pf");
    expect(c, REDIS_REPLY_ERROR, "NOPERM this user has no permissions to "
           "run the 'flushall' command", "FLUSHALL");
    redisFree(c);
    c = login(tandem.port, "carol", "pc");
    expect(c, REDIS_REPLY_ERROR, "NOPERM this user has no permissions to "
           "access one of the keys used as arguments", "SET other 1");
    expect(c, REDIS_REPLY_STATUS, "OK", "SET prefix:a 1");
    redisFree(c);

    expect(p, REDIS_REPLY_STRING, "1", "GET keep");
    expect(p, REDIS_REPLY_STRING, "v", "GET alice:k");
    expect(p, REDIS_REPLY_STRING, "1", "GET prefix:a");
    r = harness_cmd(p, "EXISTS bob:k other");
    ck_assert_int_eq(r->integer, 0);
    freeReplyObject(r);
    r = harness_cmd(p, "INFO commandstats");
    ck_assert_msg(strstr(r->str, "cmdstat_flushall") == NULL, "%s", r->str);
    ck_assert_msg(strstr(r->str, "cmdstat_set:calls=3,") != NULL ||
                  strstr(r->str, "cmdstat_set:calls=2,") != NULL, "%s",
                  r->str);
    freeReplyObject(r);
    redisFree(p);
}
END_TEST

/* A refusal at queue time dooms EXEC, as in Redis. */
START_TEST(test_denied_key_inside_multi_aborts_exec)
{
    redisContext *c;
    redisContext *r;
    redisContext *p;
    int round;

    wait_up();
    for (round = 0; round < 2; round++) {
        int port = round == 0 ? tandem.port : reference.port;

        c = login(port, "carol", "pc");
        expect(c, REDIS_REPLY_STATUS, "OK", "MULTI");
        expect(c, REDIS_REPLY_STATUS, "QUEUED", "SET prefix:m 1");
        expect(c, REDIS_REPLY_ERROR, "NOPERM this user has no permissions "
               "to access one of the keys used as arguments",
               "SET other 1");
        expect(c, REDIS_REPLY_ERROR, "EXECABORT Transaction discarded "
               "because of previous errors.", "EXEC");
        redisFree(c);
    }
    p = harness_connect(primary.port);
    expect(p, REDIS_REPLY_NIL, NULL, "GET prefix:m");
    redisFree(p);
    r = harness_connect(reference.port);
    expect(r, REDIS_REPLY_NIL, NULL, "GET prefix:m");
    redisFree(r);
}
END_TEST

START_TEST(test_acl_list_cat_and_refusals)
{
    redisContext *c;
    redisReply *r;
    char hex[65];
    char want[256];
    size_t i;
    int found = 0;

    wait_up();
    c = harness_connect(tandem.port);
    r = harness_cmd(c, "ACL LIST");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    acl_sha256_hex("pa", 2, hex);
    snprintf(want, sizeof(want), "user alice on #%s ~* &* +@all "
             "-@dangerous", hex);
    ck_assert_str_eq(r->element[0]->str, want);
    for (i = 0; i < r->elements; i++) {
        ck_assert_msg(strstr(r->element[i]->str, ">") == NULL,
                      "a clear password in %s", r->element[i]->str);
    }
    freeReplyObject(r);
    r = harness_cmd(c, "ACL CAT");
    ck_assert_uint_eq(r->elements, 21);
    ck_assert_str_eq(r->element[0]->str, "keyspace");
    ck_assert_str_eq(r->element[20]->str, "scripting");
    freeReplyObject(r);
    r = harness_cmd(c, "ACL CAT dangerous");
    for (i = 0; i < r->elements; i++) {
        found += strcmp(r->element[i]->str, "flushall") == 0 ||
                 strcmp(r->element[i]->str, "config|set") == 0;
    }
    ck_assert_int_eq(found, 2);
    freeReplyObject(r);
    expect(c, REDIS_REPLY_ERROR, "ERR Unknown category 'nosuch'",
           "ACL CAT nosuch");
    r = harness_cmd(c, "ACL SETUSER x on");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_msg(strstr(r->str, "'user' lines") != NULL &&
                  strstr(r->str, "SIGHUP") != NULL, "%s", r->str);
    freeReplyObject(r);
    redisFree(c);
}
END_TEST

/* SIGHUP reloads the users: a new one can log in; clients of other users
 * than default are disconnected, as Redis 7.0's ACL LOAD does. */
START_TEST(test_sighup_reload_adds_a_user)
{
    redisContext *def;
    redisContext *alice;
    redisReply *r = NULL;
    int i;

    wait_up();
    def = harness_connect(tandem.port);
    alice = login(tandem.port, "alice", "pa");
    write_conf("user zed on >pz ~z:* +@all\n");
    harness_signal(&tandem, SIGHUP);
    for (i = 0; i < 200; i++) {
        redisContext *z = harness_connect(tandem.port);

        r = harness_cmd(z, "AUTH zed pz");
        redisFree(z);
        if (r != NULL && r->type == REDIS_REPLY_STATUS) {
            break;
        }
        freeReplyObject(r);
        r = NULL;
        usleep(20000);
    }
    ck_assert_msg(r != NULL, "AUTH zed never worked after SIGHUP");
    freeReplyObject(r);
    /* alice's connection was closed by the reload. */
    r = redisCommand(alice, "PING");
    ck_assert_msg(r == NULL, "alice's client survived the reload");
    redisFree(alice);
    /* The default user's client stays. */
    expect(def, REDIS_REPLY_STATUS, "PONG", "PING");
    redisFree(def);
    alice = login(tandem.port, "zed", "pz");
    expect(alice, REDIS_REPLY_ERROR, "NOPERM this user has no permissions "
           "to access one of the keys used as arguments", "GET a");
    redisFree(alice);
}
END_TEST

static Suite *
acl_suite(void)
{
    Suite *s = suite_create("acl");
    TCase *rules = tcase_create("rules");
    TCase *proxy = tcase_create("proxy");

    tcase_add_test(rules, test_bad_rules_say_which_and_why);
    tcase_add_test(rules, test_config_error_names_line_and_directive);
    tcase_add_test(rules, test_default_user_requirepass_and_list_form);
    tcase_add_test(rules, test_commands_keys_and_channels_are_checked);
    suite_add_tcase(s, rules);

    tcase_add_checked_fixture(proxy, start_fleet, stop_fleet);
    tcase_set_timeout(proxy, 60);
    tcase_add_test(proxy, test_users_log_in_with_auth_and_hello);
    tcase_add_test(proxy, test_noperm_texts_match_redis);
    tcase_add_test(proxy, test_denied_commands_never_reach_the_primary);
    tcase_add_test(proxy, test_denied_key_inside_multi_aborts_exec);
    tcase_add_test(proxy, test_acl_list_cat_and_refusals);
    tcase_add_test(proxy, test_sighup_reload_adds_a_user);
    suite_add_tcase(s, proxy);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(acl_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
