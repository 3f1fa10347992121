/* SPDX-License-Identifier: MIT
 * Someone without the storage key at work on a closed store (tests/cli,
 * SECURITY.md section 8.1): run SQL on a database file behind the store's
 * back.
 *
 *   rawsql DB SQL
 *
 * Exit 0, or 1 with SQLite's message when the SQL fails. */
#include <sqlite3.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    sqlite3 *db;
    char *err = NULL;
    if (argc != 3) {
        fprintf(stderr, "usage: rawsql DB SQL\n");
        return 64;
    }
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        fprintf(stderr, "rawsql: %s: %s\n", argv[1], sqlite3_errmsg(db));
        sqlite3_close(db);
        return 1;
    }
    int rc = sqlite3_exec(db, argv[2], NULL, NULL, &err);
    if (rc != SQLITE_OK) fprintf(stderr, "rawsql: %s\n", err != NULL ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : 1;
}
