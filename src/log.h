/*
 * log.h -- log lines shaped like Redis's:
 *   pid:role dd Mon yyyy hh:mm:ss.mmm * message
 * with the level checked before anything is formatted.
 */
#ifndef TD_LOG_H
#define TD_LOG_H

#include "util.h"

enum log_level {
    LOG_DEBUG = 0,
    LOG_VERBOSE,
    LOG_NOTICE,
    LOG_WARNING
};

extern enum log_level log_min_level;

/* Opens the log: path NULL or "" logs to stdout. Returns TD_ERR and fills
 * err when the file cannot be opened. */
td_status log_open(const char *path, char *err, size_t errlen) TD_WUR;
void log_close(void);
void log_set_level(enum log_level level);

void log_write(enum log_level level, const char *fmt, ...) TD_PRINTF(2, 3);

#define log_msg(level, ...)                 \
    do {                                    \
        if ((level) >= log_min_level) {     \
            log_write((level), __VA_ARGS__); \
        }                                   \
    } while (0)

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_verbose(...) log_msg(LOG_VERBOSE, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)

/* Parses "debug|verbose|notice|warning". Returns 1 on success. */
int log_level_parse(const char *name, enum log_level *level);

#endif
