/* SPDX-License-Identifier: MIT
 * Internal view of the store, for tests, the benchmark and rbx sim (hidden
 * symbols): every floor of src/store/, db.h (the plumbing) and store_int.h
 * (the floors built on it). */
#ifndef RBX_STORE_H
#define RBX_STORE_H

#include "store/db.h"
#include "store/store_int.h"

#endif
