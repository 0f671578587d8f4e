/*
 * tk_address.h: the recipient domain of a ticket, derived from the address.
 *
 * The domain is what groups tickets, so it is normalised: lower case, in the
 * form DNS uses. Results go to caller buffers. Thread-safety: pure functions.
 */
#ifndef TK_ADDRESS_H
#define TK_ADDRESS_H

#include <stddef.h>

/* Checks address and writes its normalised domain into domain (at least
 * TK_DOMAIN_MAX + 1 bytes). Returns 0, or -1 with reason saying what to fix. */
int tk_address_domain(const char *address, char *domain, size_t domain_size, char *reason,
                      size_t reason_size);

/* Checks a bare domain name and writes its normalised form. Returns 0, or -1
 * with reason. */
int tk_domain_normalize(const char *name, char *domain, size_t domain_size, char *reason,
                        size_t reason_size);

#endif
