/* tk_store.c: opening the ticket database and its schema (see tk_store.h). */
#include "tk_store_internal.h"
#include "xd/db.h"

#include <stdlib.h>

static const char *const migrations[] = {
    /* 0 -> 1: tickets with their findings, and comments. */
    "CREATE TABLE tickets ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " org_id TEXT NOT NULL,"
    " idem_key TEXT NOT NULL,"
    " fingerprint TEXT NOT NULL,"
    " status INTEGER NOT NULL,"
    " status_changes INTEGER NOT NULL DEFAULT 0,"
    " issue_type INTEGER NOT NULL,"
    " occurred_at TEXT NOT NULL,"
    " occurred_ms INTEGER NOT NULL,"
    " recipient TEXT NOT NULL,"
    " recipient_domain TEXT NOT NULL,"
    " module TEXT NOT NULL,"
    " other_domain_tried INTEGER NOT NULL,"
    " other_domain TEXT NOT NULL,"
    " description TEXT NOT NULL,"
    " additional_info TEXT NOT NULL,"
    " reporter TEXT NOT NULL,"
    " message_id TEXT NOT NULL,"
    " assignee TEXT NOT NULL DEFAULT '',"
    " created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL,"
    " resolved_ms INTEGER NOT NULL DEFAULT 0,"
    " closed_ms INTEGER NOT NULL DEFAULT 0,"
    " f_state INTEGER NOT NULL,"
    " f_verdict INTEGER NOT NULL DEFAULT 0,"
    " f_summary TEXT NOT NULL DEFAULT '',"
    " f_record_found INTEGER NOT NULL DEFAULT 0,"
    " f_record_state INTEGER NOT NULL DEFAULT 0,"
    " f_reply_code INTEGER NOT NULL DEFAULT 0,"
    " f_reply_enhanced TEXT NOT NULL DEFAULT '',"
    " f_reply_text TEXT NOT NULL DEFAULT '',"
    " f_remote_host TEXT NOT NULL DEFAULT '',"
    " f_delivered_ms INTEGER NOT NULL DEFAULT 0,"
    " f_bounced_ms INTEGER NOT NULL DEFAULT 0,"
    " f_suppressed_ms INTEGER NOT NULL DEFAULT 0,"
    " f_failure_category INTEGER NOT NULL DEFAULT 0,"
    " f_suppressed INTEGER NOT NULL DEFAULT 0,"
    " f_domain_problem INTEGER NOT NULL DEFAULT 0,"
    " f_case_note TEXT NOT NULL DEFAULT '',"
    " f_steps TEXT NOT NULL DEFAULT '[]',"
    " f_verify_next TEXT NOT NULL DEFAULT '[]',"
    " f_action INTEGER NOT NULL DEFAULT 0,"
    " f_next_step TEXT NOT NULL DEFAULT '',"
    " f_checked_ms INTEGER NOT NULL DEFAULT 0,"
    " f_attempts INTEGER NOT NULL DEFAULT 0,"
    " f_last_error TEXT NOT NULL DEFAULT '',"
    " f_next_check_ms INTEGER NOT NULL DEFAULT 0,"
    " UNIQUE (org_id, idem_key));"
    "CREATE INDEX tickets_org ON tickets (org_id, id);"
    "CREATE INDEX tickets_domain ON tickets (recipient_domain, id);"
    "CREATE INDEX tickets_due ON tickets (f_state, f_next_check_ms);"
    "CREATE TABLE comments ("
    " ticket_id INTEGER NOT NULL REFERENCES tickets (id),"
    " seq INTEGER NOT NULL,"
    " author TEXT NOT NULL,"
    " body TEXT NOT NULL,"
    " internal INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " idem_key TEXT,"
    " PRIMARY KEY (ticket_id, seq),"
    " UNIQUE (ticket_id, idem_key));",
};

xd_code tk_store_open(const char *path, const xd_clock *clock, tk_store **out, xd_err *err)
{
    tk_store *s = calloc(1, sizeof(*s));
    if (!s)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    xd_code rc = xd_db_open(path, migrations, (int)(sizeof(migrations) / sizeof(migrations[0])),
                            NULL, &s->db, err);
    if (rc != XD_OK) {
        free(s);
        return rc;
    }
    s->clock = clock;
    pthread_mutex_init(&s->lock, NULL);
    *out = s;
    return XD_OK;
}

void tk_store_close(tk_store *store)
{
    if (!store)
        return;
    xd_db_close(store->db);
    pthread_mutex_destroy(&store->lock);
    free(store);
}
