/*
 * gw_perm.h: which role may call which public method (the table is data in
 * gw_perm.c, one row per method). A method without a row is refused for
 * every role: new methods fail closed until someone decides who may call
 * them. Thread-safety: read-only table.
 */
#ifndef GW_PERM_H
#define GW_PERM_H

/* 1 when role (envelope.proto Role) may call method. */
int gw_perm_allowed(const char *method, int role);

/* 1 when the method answers without an API key (Health). */
int gw_perm_public(const char *method);

/* "module, support, operator": the roles that may call method, for error
 * messages; "" when none. */
const char *gw_perm_roles_text(const char *method);

/* Role name in lower case ("module"), "unspecified" otherwise. */
const char *gw_role_name(int role);

/* Parses "module" / "support" / "admin" / "operator" (any case, with or
 * without the ROLE_ prefix); 0 when unknown. */
int gw_role_parse(const char *name);

#endif
