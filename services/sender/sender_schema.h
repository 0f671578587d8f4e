/*
 * sender_schema.h: the sender database's migrations (PRAGMA user_version).
 * Entry i brings the schema from version i to i+1 (xd_db_open applies
 * them). Append only: never edit a migration that has shipped.
 * Thread-safety: constant data.
 */
#ifndef SND_SENDER_SCHEMA_H
#define SND_SENDER_SCHEMA_H

extern const char *const snd_schema_migrations[];
extern const int snd_schema_n_migrations;

#endif
