/* queue_fixture.c: see queue_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_fixture.h"
#include "sender.pb-c.h"

void reopen(fixture *f)
{
    xd_err err;
    snd_queue_close(f->q);
    f->q = NULL;
    assert_int_equal(snd_queue_open(f->path, f->clock, &f->cfg, &f->q, &err), XD_OK);
}

fixture *fixture_new_in(const char *parent, const snd_queue_config *cfg)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "%s/xd-queue-test.XXXXXX", parent ? parent : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/sender.db", f->dir);
    f->clock = xd_clock_manual_new(T0);
    if (cfg)
        f->cfg = *cfg;
    reopen(f);
    return f;
}

fixture *fixture_new(const snd_queue_config *cfg)
{
    return fixture_new_in(NULL, cfg);
}

void fixture_free(fixture *f)
{
    char cmd[400];
    snd_queue_close(f->q);
    xd_clock_free(f->clock);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
}

/* A real packed SubmitRequest (the composer's input) for n recipients
 * rcpt<i>@<domain>; malloc'd into *out. */
static size_t pack_request(const char *org, size_t n, const char *domain, void **out)
{
    Xd__SubmitRequest req = XD__SUBMIT_REQUEST__INIT;
    Xd__MailAddress from = XD__MAIL_ADDRESS__INIT;
    Xd__MailAddress *to = calloc(n, sizeof *to);
    Xd__MailAddress **top = calloc(n, sizeof *top);
    char(*addr)[64] = calloc(n, sizeof *addr);
    from.address = "news@org.example";
    for (size_t i = 0; i < n; i++) {
        xd__mail_address__init(&to[i]);
        snprintf(addr[i], sizeof addr[i], "rcpt%zu@%s", i, domain);
        to[i].address = addr[i];
        top[i] = &to[i];
    }
    req.org_id = (char *)org;
    req.module = "queue-test";
    req.from = &from;
    req.to = top;
    req.n_to = n;
    req.subject = "queue test";
    req.text_body = "hello";
    req.category = XD__MAIL_CATEGORY__MAIL_CATEGORY_TRANSACTIONAL;
    size_t len = xd__submit_request__get_packed_size(&req);
    *out = malloc(len);
    xd__submit_request__pack(&req, *out);
    free(to);
    free(top);
    free(addr);
    return len;
}

xd_code submit_err(fixture *f, const sub_opts *o, snd_submit_result *res, xd_err *err)
{
    void *blob = NULL;
    size_t len = pack_request(o->org, o->n, o->domain, &blob);
    const char **addrs = calloc(o->n, sizeof *addrs);
    const char **doms = calloc(o->n, sizeof *doms);
    char(*buf)[64] = calloc(o->n, sizeof *buf);
    for (size_t i = 0; i < o->n; i++) {
        snprintf(buf[i], sizeof buf[i], "rcpt%zu@%s", i, o->domain);
        addrs[i] = buf[i];
        doms[i] = o->domain;
    }
    snd_submit s = {.org_id = o->org,
                    .idempotency_key = o->key ? o->key : "",
                    .module = "queue-test",
                    .from_address = "news@org.example",
                    .subject = "queue test",
                    .msgid_domain = "org.example",
                    .category = 1,
                    .send_at_ms = o->send_at_ms,
                    .request = blob,
                    .request_len = len,
                    .addresses = addrs,
                    .domains = doms,
                    .n = o->n};
    xd_err local;
    xd_code rc = snd_queue_submit(f->q, &s, res, err ? err : &local);
    free(blob);
    free(addrs);
    free(doms);
    free(buf);
    return rc;
}

xd_code submit(fixture *f, const sub_opts *o, snd_submit_result *res)
{
    return submit_err(f, o, res, NULL);
}
