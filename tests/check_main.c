/* SPDX-License-Identifier: MIT
 * One runner for every Check suite. CK_RUN_SUITE / CK_RUN_CASE select. */
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

int main(void)
{
    if (rbx_init() != 0) {
        fprintf(stderr, "rbx_init failed\n");
        return 1;
    }
    SRunner *sr = srunner_create(suite_kdf());
    srunner_add_suite(sr, suite_keys());
    srunner_add_suite(sr, suite_baseline());
    srunner_add_suite(sr, suite_wire());
    srunner_add_suite(sr, suite_x3dh());
    srunner_add_suite(sr, suite_ratchet());
    srunner_add_suite(sr, suite_security());
    srunner_add_suite(sr, suite_vectors());
    srunner_add_suite(sr, suite_store());
    srunner_add_suite(sr, suite_durability());
    srunner_add_suite(sr, suite_atrest());
    srunner_add_suite(sr, suite_storefiles());
    srunner_add_suite(sr, suite_badinput());
    srunner_add_suite(sr, suite_rotation());
    srunner_add_suite(sr, suite_rotate());
    srunner_add_suite(sr, suite_policy());
    srunner_add_suite(sr, suite_audit());
    srunner_add_suite(sr, suite_archive());
    srunner_add_suite(sr, suite_devlist());
    srunner_add_suite(sr, suite_multidev());
    srunner_add_suite(sr, suite_integrity());
    srunner_add_suite(sr, suite_lifecycle());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
