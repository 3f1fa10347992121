/* SPDX-License-Identifier: MIT
 * What both storage backends share: the choice of backend from a --db value,
 * the free functions of results and the rate-limit arithmetic. */
#include <stdlib.h>
#include <string.h>

#include "db.h"

const db_ops *db_backend(const char *url)
{
    if (strncmp(url, "sqlite:", 7) == 0) return &db_sqlite_ops;
    if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)
        return &db_pg_ops;
    return NULL;
}

void db_entries_free(db_entry *e, size_t n)
{
    if (e == NULL) return;
    for (size_t i = 0; i < n; i++) free(e[i].bytes);
    free(e);
}

void db_items_free(db_item *it, size_t n)
{
    if (it == NULL) return;
    for (size_t i = 0; i < n; i++) free(it[i].body);
    free(it);
}

void db_claim_res_free(db_claim_res *r)
{
    if (r->items != NULL)
        for (size_t i = 0; i < r->n; i++) free(r->items[i].bundle);
    free(r->items);
    memset(r, 0, sizeof *r);
}

void db_send_res_free(db_send_res *r)
{
    free(r->missing);
    free(r->extra);
    free(r->stale);
    free(r->full);
    memset(r, 0, sizeof *r);
}

int db_gcra(int64_t tat, int64_t now, uint32_t burst, uint32_t interval, int64_t *new_tat,
            int64_t *retry_after)
{
    int64_t t = tat > now ? tat : now;
    int64_t slack = (int64_t)(burst > 0 ? burst - 1 : 0) * (int64_t)interval;
    if (t - now > slack) {
        *new_tat = tat;
        *retry_after = t - now - slack;
        return 0;
    }
    *new_tat = t + (int64_t)interval;
    *retry_after = 0;
    return 1;
}
