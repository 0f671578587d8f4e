/* sender_schema.c: sender.db migrations (see sender_schema.h). */
#include "sender_schema.h"

const char *const snd_schema_migrations[] = {
    /* 1: DKIM keys. The private key is AES-256-GCM sealed (nonce || ct ||
     * tag) with the service master key, bound to its row by the AAD
     * key_id|org_id|domain|selector. state: 1 active, 2 pending, 3 retired. */
    "CREATE TABLE dkim_keys ("
    "  key_id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL,"
    "  domain TEXT NOT NULL,"
    "  selector TEXT NOT NULL,"
    "  algorithm INTEGER NOT NULL CHECK (algorithm IN (1, 2)),"
    "  bits INTEGER NOT NULL,"
    "  state INTEGER NOT NULL CHECK (state IN (1, 2, 3)),"
    "  public_txt TEXT NOT NULL,"
    "  private_sealed BLOB NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  activated_at_ms INTEGER NOT NULL DEFAULT 0,"
    "  retired_at_ms INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (org_id, domain, selector)"
    ");"
    "CREATE INDEX dkim_keys_by_org ON dkim_keys (org_id, domain, algorithm, state);",
};

const int snd_schema_n_migrations =
    (int)(sizeof snd_schema_migrations / sizeof snd_schema_migrations[0]);
