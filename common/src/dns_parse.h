/*
 * dns_parse.h (internal to common): turns a DNS reply into an xd_dns_answer
 * and reads its TTLs. Used by dns.c.
 *
 * The parse functions allocate the answer's array (release it with
 * xd_dns_answer_free) and return an ARES_* code: ARES_SUCCESS, ARES_ENODATA
 * when nothing usable is left, or the c-ares parser's error.
 * Thread-safety: pure functions of their input.
 */
#ifndef XD_DNS_PARSE_H
#define XD_DNS_PARSE_H

#include <stdint.h>

#include "xd/dns.h"

#define DNS_T_A    1
#define DNS_T_SOA  6
#define DNS_T_MX   15
#define DNS_T_TXT  16
#define DNS_T_AAAA 28

/* MX records sorted by preference; a "0 ." record sets status XD_DNS_NULL_MX
 * with no hosts (RFC 7505; if mixed with other MX, the null MX wins). */
int dns_parse_mx(const unsigned char *buf, int len, xd_dns_answer *out);

/* type is DNS_T_A or DNS_T_AAAA. */
int dns_parse_addr(const unsigned char *buf, int len, int type, xd_dns_answer *out);

/* Each TXT record's strings joined into one. */
int dns_parse_txt(const unsigned char *buf, int len, xd_dns_answer *out);

/* The smallest TTL among the answer records (*ans_s, -1 when none) and the
 * negative TTL from an SOA in the authority section (*neg_s, -1 when none),
 * in seconds. Tolerates truncated or malformed replies. */
void dns_reply_ttls(const unsigned char *m, int len, int64_t *ans_s, int64_t *neg_s);

#endif
