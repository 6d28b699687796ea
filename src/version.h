/*
 * version.h -- tandem's version, from configure (PACKAGE_VERSION).
 */
#ifndef TD_VERSION_H
#define TD_VERSION_H

#ifdef PACKAGE_VERSION
#define TANDEM_VERSION PACKAGE_VERSION
#else
#define TANDEM_VERSION "0.0.0-unknown"
#endif

#endif
