/* SPDX-License-Identifier: MIT
 * Debian's /usr/include/xeddsa.h includes <cross_platform.h>, which the
 * libxeddsa-dev package does not ship (CONTEXT section 3). On Linux the only
 * thing it must provide is an empty INTERFACE export annotation. */
#ifndef RBX_COMPAT_CROSS_PLATFORM_H
#define RBX_COMPAT_CROSS_PLATFORM_H
#define INTERFACE
#endif
