/* SPDX-License-Identifier: MIT
 * Debian's /usr/include/xeddsa.h includes <cross_platform.h>, which the
 * libxeddsa-dev package (Debian 12) does not ship. On Linux the only
 * thing it must provide is an empty INTERFACE export annotation. */
#ifndef RBX_COMPAT_CROSS_PLATFORM_H
#define RBX_COMPAT_CROSS_PLATFORM_H
#define INTERFACE
#endif
