/* dns_parse.c: DNS replies (wire format) into xd_dns_answer, via c-ares parsers. */
#include "dns_parse.h"

#include <arpa/inet.h>
#include <ares.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Skips a (possibly compressed) name at m[*off]; 0 when malformed. */
static int skip_name(const unsigned char *m, int len, int *off)
{
    int o = *off;
    for (int guard = 0; guard < 128 && o < len; guard++) {
        unsigned char b = m[o];
        if (b == 0) {
            *off = o + 1;
            return 1;
        }
        if ((b & 0xC0) == 0xC0) {
            *off = o + 2;
            return o + 2 <= len;
        }
        o += 1 + b;
    }
    return 0;
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* From a reply: the smallest TTL among the answer records (*ans_s, -1 when
 * none) and the negative TTL of an SOA in the authority section (*neg_s, -1
 * when none), in seconds. */
void dns_reply_ttls(const unsigned char *m, int len, int64_t *ans_s, int64_t *neg_s)
{
    *ans_s = -1;
    *neg_s = -1;
    if (!m || len < 12)
        return;
    int qd = m[4] << 8 | m[5], an = m[6] << 8 | m[7], ns = m[8] << 8 | m[9];
    int off = 12;
    for (int i = 0; i < qd; i++) {
        if (!skip_name(m, len, &off) || off + 4 > len)
            return;
        off += 4;
    }
    for (int i = 0; i < an + ns; i++) {
        if (!skip_name(m, len, &off) || off + 10 > len)
            return;
        int type = m[off] << 8 | m[off + 1];
        int64_t ttl = rd32(m + off + 4) & 0x7FFFFFFF; /* RFC 2181 8: top bit set = 0 */
        int rdlen = m[off + 8] << 8 | m[off + 9];
        off += 10;
        if (off + rdlen > len)
            return;
        if (i < an) {
            if (*ans_s < 0 || ttl < *ans_s)
                *ans_s = ttl;
        } else if (type == DNS_T_SOA && rdlen >= 20) {
            int64_t minimum = rd32(m + off + rdlen - 4) & 0x7FFFFFFF;
            *neg_s = ttl < minimum ? ttl : minimum; /* RFC 2308 5 */
        }
        off += rdlen;
    }
}

int dns_parse_mx(const unsigned char *buf, int len, xd_dns_answer *out)
{
    struct ares_mx_reply *list = NULL;
    int rc = ares_parse_mx_reply(buf, len, &list);
    if (rc != ARES_SUCCESS)
        return rc;
    size_t n = 0;
    for (struct ares_mx_reply *p = list; p; p = p->next)
        n++;
    out->mx = calloc(n ? n : 1, sizeof(*out->mx));
    if (!out->mx) {
        ares_free_data(list);
        return ARES_ENOMEM;
    }
    int null_mx = 0;
    for (struct ares_mx_reply *p = list; p && out->n < XD_DNS_ANSWERS_MAX; p = p->next) {
        size_t hl = strlen(p->host);
        if (hl > 0 && p->host[hl - 1] == '.')
            hl--;
        if (hl == 0) { /* the root: "MX 0 ." */
            null_mx = 1;
            continue;
        }
        if (hl > XD_DNS_NAME_MAX)
            continue;
        xd_dns_mx *m = &out->mx[out->n++];
        m->preference = p->priority;
        memcpy(m->host, p->host, hl);
        m->host[hl] = '\0';
    }
    ares_free_data(list);
    if (null_mx) {
        /* RFC 7505 3: a null MX must stand alone; if mixed, trust the "no mail". */
        xd_dns_answer_free(out);
        out->status = XD_DNS_NULL_MX;
        return ARES_SUCCESS;
    }
    xd_dns_mx_sort(out->mx, out->n);
    return out->n ? ARES_SUCCESS : ARES_ENODATA;
}

int dns_parse_addr(const unsigned char *buf, int len, int type, xd_dns_answer *out)
{
    struct hostent *host = NULL;
    int n = XD_DNS_ANSWERS_MAX, rc;
    struct ares_addrttl v4[XD_DNS_ANSWERS_MAX];
    struct ares_addr6ttl v6[XD_DNS_ANSWERS_MAX];
    if (type == DNS_T_A)
        rc = ares_parse_a_reply(buf, len, &host, v4, &n);
    else
        rc = ares_parse_aaaa_reply(buf, len, &host, v6, &n);
    if (host)
        ares_free_hostent(host);
    if (rc != ARES_SUCCESS)
        return rc;
    if (n <= 0)
        return ARES_ENODATA;
    out->addr = calloc((size_t)n, sizeof(*out->addr));
    if (!out->addr)
        return ARES_ENOMEM;
    for (int i = 0; i < n; i++) {
        xd_dns_addr *a = &out->addr[out->n++];
        a->family = type == DNS_T_A ? AF_INET : AF_INET6;
        if (type == DNS_T_A)
            memcpy(a->bytes, &v4[i].ipaddr, 4);
        else
            memcpy(a->bytes, &v6[i].ip6addr, 16);
        inet_ntop(a->family, a->bytes, a->text, sizeof(a->text));
    }
    return ARES_SUCCESS;
}

int dns_parse_txt(const unsigned char *buf, int len, xd_dns_answer *out)
{
    struct ares_txt_ext *list = NULL;
    int rc = ares_parse_txt_reply_ext(buf, len, &list);
    if (rc != ARES_SUCCESS)
        return rc;
    size_t records = 0;
    for (struct ares_txt_ext *p = list; p; p = p->next)
        records += p->record_start || p == list;
    if (records > XD_DNS_ANSWERS_MAX)
        records = XD_DNS_ANSWERS_MAX;
    out->txt = calloc(records ? records : 1, sizeof(*out->txt));
    rc = out->txt ? ARES_SUCCESS : ARES_ENOMEM;
    xd_dns_txt *cur = NULL;
    for (struct ares_txt_ext *p = list; p && rc == ARES_SUCCESS; p = p->next) {
        if (p->record_start || !cur) {
            if (out->n == records)
                break;
            cur = &out->txt[out->n++];
        }
        char *grown = realloc(cur->data, cur->len + p->length + 1);
        if (!grown) {
            rc = ARES_ENOMEM;
            break;
        }
        memcpy(grown + cur->len, p->txt, p->length);
        cur->len += p->length;
        grown[cur->len] = '\0';
        cur->data = grown;
    }
    ares_free_data(list);
    if (rc == ARES_SUCCESS && out->n == 0)
        rc = ARES_ENODATA;
    return rc;
}
