/* deliver_group.c: delivering one claimed destination group (see
 * deliver_worker.h): route, suppression, pacing, compose, SMTP, commit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver_classify.h"
#include "deliver_internal.h"
#include "deliver_message.h"
#include "sender_banner.h"
#include "xd/address.h"
#include "xd/clock.h"
#include "xd/log.h"
#include "xd/util.h"

typedef struct group {
    snd_deliver *d;
    snd_claim *c;
    snd_route_plan plan;
    snd_pace_subject subj;
    snd_smtp_session *s;
    const snd_target *target;
    snd_lease lease;
    unsigned on_conn, conn_limit;
    int conn_failed; /* every later copy gets fail_status */
    snd_smtp_status fail_status;
    const char *fail_label;
    char tls_desc[64]; /* "TLSv1.3 TLS_AES_256_GCM_SHA384" of the open session */
    struct {           /* DKIM keys of the last From domain, reused by the group */
        int loaded;
        char domain[254];
        EVP_PKEY *keys[2];
        snd_dkim_key_info info[2];
        size_t n;
    } dkim;
} group;

typedef enum sess_rc { SESS_OK, SESS_POSTPONE, SESS_FAIL } sess_rc;

static int64_t now_ms(const group *g)
{
    return xd_clock_now_ms(g->d->deps.clock);
}

/* Records outcomes. While the database refuses the commit (disk full,
 * read-only: UNAVAILABLE) it retries with a growing pause: the outcome is
 * known, and rows left SENDING would be sent again at the next start. Only a
 * stop ends the retries (the next start then retries those rows). */
static void record_outcomes(snd_deliver *d, const snd_rcpt_result *r, size_t n, const char *what)
{
    int64_t pause_ms = 250;
    for (;;) {
        xd_err err;
        xd_err_clear(&err);
        xd_code rc = snd_queue_finish(d->deps.queue, r, n, &err);
        if (rc == XD_OK)
            return;
        if (rc != XD_UNAVAILABLE) {
            XD_ERROR("delivery: cannot record %zu outcomes of %s: %s", n, what, err.message);
            return;
        }
        XD_ERROR("delivery: cannot record %zu outcomes of %s yet: %s; retrying in %lld ms", n, what,
                 err.message, (long long)pause_ms);
        if (snd_deliver_pause(d, pause_ms))
            return;
        pause_ms = pause_ms < 8000 ? pause_ms * 2 : 8000;
    }
}

/* Commits one outcome for the claim rows idx[0..n). */
static void finish_rows(group *g, const size_t *idx, size_t n, snd_result_kind kind,
                        const snd_smtp_reply *reply, int failure, const char *text,
                        int64_t retry_at_ms)
{
    if (n == 0)
        return;
    snd_rcpt_result *r = calloc(n, sizeof *r);
    if (!r)
        return; /* they stay SENDING and come back at the next start */
    for (size_t i = 0; i < n; i++) {
        r[i].recipient_id = g->c->r[idx[i]].recipient_id;
        r[i].kind = kind;
        r[i].code = reply ? reply->code : 0;
        r[i].enhanced = reply ? reply->enhanced : "";
        r[i].text = text ? text : reply ? reply->text : "";
        r[i].failure = failure;
        r[i].remote_host = g->target ? g->target->label : g->fail_label ? g->fail_label : "";
        r[i].tls_version = g->s && snd_smtp_tls_active(g->s) ? g->tls_desc : "";
        r[i].retry_at_ms = retry_at_ms;
    }
    XD_DEBUG("delivery: %s and %zu more: outcome %d (%d %s)", r[0].recipient_id, n - 1, (int)kind,
             r[0].code, r[0].text);
    record_outcomes(g->d, r, n, r[0].recipient_id);
    free(r);
}

static void postpone_rows(group *g, const size_t *idx, size_t n, int64_t at)
{
    finish_rows(g, idx, n, SND_RES_POSTPONE, NULL, 0, NULL, at);
}

static void close_session(group *g)
{
    if (g->s) {
        snd_smtp_close(g->s);
        g->s = NULL;
    }
    if (g->lease.held && g->d->deps.pacing)
        snd_pacing_release(g->d->deps.pacing, &g->lease);
    g->lease.held = 0;
    g->target = NULL;
}

/* Keeps the connection's lease alive while the connection lives longer
 * than a third of the lease's TTL. 0 when the lease is gone or ratelimit
 * did not answer: the connection must close (fail closed). */
static int keep_lease(group *g)
{
    snd_pacing *p = g->d->deps.pacing;
    if (!p || !g->lease.held || !snd_pacing_renew_due(&g->lease, xd_monotonic_ms()))
        return 1;
    return snd_pacing_renew(p, &g->lease) == SND_PACE_GRANTED;
}

/* An AUTH refusal (535 and the like) at a relay is a configuration problem
 * of that relay's account, not a verdict on the recipient: defer, and say
 * so in the text that becomes the event's reply. */
static void auth_failure_defers(group *g, snd_smtp_status *st)
{
    char text[SND_SMTP_TEXT_MAX];
    const char *who = g->plan.route == SND_ROUTE_ORG_RELAY ? "the organization's own SMTP server"
                                                           : "the smarthost";
    snprintf(text, sizeof text,
             "%s refused our login (%d%s%s %.200s): a configuration problem at the relay, not a "
             "recipient bounce; retrying: check the relay username and password (SetRelay)",
             who, st->reply.code, st->reply.enhanced[0] ? " " : "", st->reply.enhanced,
             st->reply.text);
    xd_strlcpy(st->reply.text, text, sizeof st->reply.text);
    st->outcome = SND_SMTP_TEMPFAIL;
}

/* A usable session within the connection's message allowance, or why not
 * (*retry_at for POSTPONE; g->fail_status for FAIL). */
static sess_rc ensure_session(group *g, int64_t *retry_at)
{
    snd_deliver *d = g->d;
    if (g->conn_failed)
        return SESS_FAIL;
    if (g->s && snd_smtp_usable(g->s) && g->on_conn < g->conn_limit && keep_lease(g))
        return SESS_OK;
    close_session(g);
    g->subj.mx_host = g->plan.t[0].label;
    if (d->deps.pacing) {
        int64_t after = 0;
        snd_pace_rc pr = snd_pacing_acquire(d->deps.pacing, &g->subj, &g->lease, &after);
        if (pr != SND_PACE_GRANTED) {
            *retry_at = now_ms(g) +
                        (pr == SND_PACE_DENIED && after > 0 ? after : d->cfg.unreachable_retry_ms);
            return SESS_POSTPONE;
        }
    }
    snd_smtp_status st;
    memset(&st, 0, sizeof st);
    for (size_t i = 0; i < g->plan.n; i++) {
        const snd_target *t = &g->plan.t[i];
        snd_smtp_opts o;
        snd_smtp_opts_init(&o);
        o.host = t->host;
        o.port = t->port;
        o.tls_name = t->tls_name;
        o.helo_name = d->cfg.helo_name;
        o.tls = t->tls;
        o.tls_no_verify = t->tls_no_verify;
        o.ca_file = d->cfg.ca_file;
        if (t->use_auth) {
            o.username = g->plan.relay.username;
            o.password = g->plan.relay.password;
        }
        o.timeouts = d->cfg.timeouts;
        xd_err err;
        xd_err_clear(&err);
        if (snd_smtp_open(&o, &g->s, &st, &err) == XD_OK) {
            g->target = t;
            g->tls_desc[0] = '\0';
            if (snd_smtp_tls_active(g->s))
                snprintf(g->tls_desc, sizeof g->tls_desc, "%s %s", snd_smtp_tls_version(g->s),
                         snd_smtp_tls_cipher(g->s));
            g->on_conn = 0;
            g->conn_limit =
                g->lease.held && g->lease.messages ? g->lease.messages : d->cfg.msgs_per_conn;
            return SESS_OK;
        }
        g->s = NULL;
        g->fail_label = t->label;
        XD_INFO("delivery: %s:%u: %s at %s: %d %s", t->label, (unsigned)t->port,
                snd_smtp_outcome_name(st.outcome), snd_smtp_phase_name(st.phase), st.reply.code,
                st.reply.text);
    }
    int auth = st.phase == SND_SMTP_PHASE_AUTH;
    if (auth)
        auth_failure_defers(g, &st);
    if (d->deps.pacing && g->lease.held) {
        if (!auth) /* our account's problem says nothing about the receiver */
            snd_pacing_feedback(d->deps.pacing, &g->subj, SND_FEEDBACK_DEFERRED, st.reply.code,
                                st.reply.enhanced, st.reply.text, 1);
        snd_pacing_release(d->deps.pacing, &g->lease);
    }
    g->lease.held = 0;
    g->conn_failed = 1;
    g->fail_status = st;
    return SESS_FAIL;
}

static snd_result_kind kind_of(const snd_smtp_status *st)
{
    return st->outcome == SND_SMTP_DELIVERED  ? SND_RES_DELIVERED
           : st->outcome == SND_SMTP_PERMFAIL ? SND_RES_PERMFAIL
                                              : SND_RES_TEMPFAIL;
}

static void fail_rows(group *g, const size_t *idx, size_t n, const snd_smtp_status *st)
{
    finish_rows(g, idx, n, kind_of(st), &st->reply, snd_classify_failure(st), NULL, 0);
}

/* The recipient's index in to/cc/bcc from its id "<message>-<n>". */
static const snd_address *copy_recipient(const snd_message *m, const char *rid)
{
    const char *dash = strrchr(rid, '-');
    size_t k = dash ? strtoul(dash + 1, NULL, 10) : 0;
    if (k == 0)
        return NULL;
    k--;
    if (k < m->n_to)
        return &m->to[k];
    k -= m->n_to;
    if (k < m->n_cc)
        return &m->cc[k];
    k -= m->n_cc;
    return k < m->n_bcc ? &m->bcc[k] : NULL;
}

typedef struct message_ctx {
    snd_message_info meta;
    Xd__SubmitRequest *req;
    xd_arena *arena;
    snd_message m;
    snd_dkim_signer signers[2]; /* keys borrowed from the group */
    size_t n_signers;
} message_ctx;

static void dkim_cache_clear(group *g)
{
    for (size_t i = 0; i < g->dkim.n; i++)
        EVP_PKEY_free(g->dkim.keys[i]);
    memset(&g->dkim, 0, sizeof g->dkim);
}

static void load_signers(group *g, message_ctx *mc)
{
    if (!g->d->deps.keys)
        return;
    const char *at = strrchr(mc->meta.from_address, '@');
    char domain[254];
    xd_err err;
    if (!at || snd_dkim_normalize_domain(at + 1, domain, &err) != XD_OK)
        return;
    /* A group is one organization: its messages mostly share the From
     * domain, so its keys are read (and unsealed) once per group. */
    if (!g->dkim.loaded || strcmp(g->dkim.domain, domain) != 0) {
        dkim_cache_clear(g);
        if (snd_dkim_load_active(g->d->deps.keys, mc->meta.org_id, domain, g->dkim.info,
                                 g->dkim.keys, &g->dkim.n, &err) != XD_OK) {
            XD_WARN("delivery: DKIM keys of %s not loaded: %s", domain, err.message);
            g->dkim.n = 0;
            return;
        }
        g->dkim.loaded = 1;
        xd_strlcpy(g->dkim.domain, domain, sizeof g->dkim.domain);
    }
    for (size_t i = 0; i < g->dkim.n; i++) {
        snd_dkim_signer *s = &mc->signers[i];
        memset(s, 0, sizeof *s);
        s->alg = g->dkim.info[i].alg;
        s->pkey = g->dkim.keys[i];
        s->domain = g->dkim.info[i].domain;
        s->selector = g->dkim.info[i].selector;
    }
    mc->n_signers = g->dkim.n;
}

static void message_ctx_free(message_ctx *mc)
{
    if (mc->req)
        xd__submit_request__free_unpacked(mc->req, xd_arena_allocator(mc->arena));
    xd_arena_free(mc->arena);
}

/* The RCPT form of address for this session; NULL when it cannot be sent
 * (non-ASCII local part without SMTPUTF8). */
static const char *rcpt_form(const snd_smtp_session *s, const char *address, char *buf, size_t size)
{
    int utf8 = (snd_smtp_extensions(s)->flags & SND_SMTP_EXT_SMTPUTF8) != 0;
    xd_address a;
    if (xd_address_parse(address, strlen(address), 0, &a, NULL, NULL) != XD_ADDR_OK)
        return NULL;
    if (a.needs_smtputf8 && !utf8)
        return NULL;
    xd_address_format(&a, 0, buf, size);
    return buf;
}

static void feedback(group *g, const snd_smtp_status *res, size_t n)
{
    if (!g->d->deps.pacing)
        return;
    unsigned count[3] = {0, 0, 0};
    const snd_smtp_status *last[3] = {NULL, NULL, NULL};
    for (size_t i = 0; i < n; i++) {
        int k = (int)res[i].outcome;
        count[k]++;
        last[k] = &res[i];
    }
    static const snd_feedback_kind kinds[3] = {SND_FEEDBACK_DELIVERED, SND_FEEDBACK_DEFERRED,
                                               SND_FEEDBACK_BOUNCED};
    for (int k = 0; k < 3; k++)
        if (count[k])
            snd_pacing_feedback(g->d->deps.pacing, &g->subj, kinds[k], last[k]->reply.code,
                                last[k]->reply.enhanced, last[k]->reply.text, count[k]);
}

/* One copy (one transaction) to the claim rows idx[0..n). */
static void send_copy(group *g, message_ctx *mc, const size_t *idx, size_t n)
{
    snd_deliver *d = g->d;
    int64_t retry_at = 0;
    sess_rc sr = ensure_session(g, &retry_at);
    if (sr == SESS_POSTPONE) {
        postpone_rows(g, idx, n, retry_at);
        return;
    }
    if (sr == SESS_FAIL) {
        fail_rows(g, idx, n, &g->fail_status);
        return;
    }
    if (d->deps.pacing) {
        unsigned granted = 0;
        int64_t after = 0;
        snd_pace_rc pr =
            snd_pacing_consume(d->deps.pacing, &g->subj, (unsigned)n, &granted, &after);
        if (pr != SND_PACE_GRANTED || granted == 0) {
            int64_t wait = pr == SND_PACE_DENIED && after > 0 ? after : d->cfg.unreachable_retry_ms;
            postpone_rows(g, idx, n, now_ms(g) + wait);
            return;
        }
        if (granted < n) {
            postpone_rows(g, idx + granted, n - granted, now_ms(g) + (after > 0 ? after : 1000));
            n = granted;
        }
    }
    /* Envelope: VERP sender, RCPT forms. */
    const snd_claim_rcpt *first = &g->c->r[idx[0]];
    const char *bdom =
        d->cfg.bounce_domain && d->cfg.bounce_domain[0]
            ? d->cfg.bounce_domain
            : (strrchr(mc->meta.from_address, '@') ? strrchr(mc->meta.from_address, '@') + 1
                                                   : "localhost");
    char from[SND_ADDR_MAX + 64];
    snprintf(from, sizeof from, "b-%s@%s", mc->m.shared ? first->message_id : first->recipient_id,
             bdom);
    const char **rcpts = calloc(n, sizeof *rcpts);
    char(*forms)[SND_ADDR_MAX] = calloc(n, sizeof *forms);
    size_t *ok_idx = calloc(n, sizeof *ok_idx), *bad_idx = calloc(n, sizeof *bad_idx);
    snd_smtp_status *res = calloc(n, sizeof *res);
    if (!rcpts || !forms || !ok_idx || !bad_idx || !res)
        goto out;
    size_t n_ok = 0, n_bad = 0;
    for (size_t i = 0; i < n; i++) {
        const char *f = rcpt_form(g->s, g->c->r[idx[i]].address, forms[i], SND_ADDR_MAX);
        if (f) {
            rcpts[n_ok] = f;
            ok_idx[n_ok++] = idx[i];
        } else {
            bad_idx[n_bad++] = idx[i];
        }
    }
    if (n_bad) {
        snd_smtp_reply r = {.code = 0, .enhanced = "5.6.7", .text = ""};
        finish_rows(g, bad_idx, n_bad, SND_RES_PERMFAIL, &r, 14,
                    "the address needs SMTPUTF8, which the receiving server does not offer", 0);
    }
    if (n_ok == 0)
        goto out;
    /* Compose (and sign) this copy. */
    snd_compose_opts o;
    memset(&o, 0, sizeof o);
    o.message_id = mc->meta.message_id;
    o.recipient_id = mc->m.shared ? NULL : first->recipient_id;
    o.recipient = mc->m.shared ? NULL : copy_recipient(&mc->m, first->recipient_id);
    o.date_ms = mc->meta.created_at_ms;
    o.smtputf8 = (snd_smtp_extensions(g->s)->flags & SND_SMTP_EXT_SMTPUTF8) != 0;
    o.optout = d->deps.optout;
    snd_buf body;
    snd_buf_init(&body, SND_MAX_MESSAGE);
    xd_err err;
    xd_err_clear(&err);
    xd_code rc = mc->n_signers
                     ? snd_compose_signed(&mc->m, &o, mc->signers, mc->n_signers, &body, &err)
                     : snd_compose(&mc->m, &o, &body, &err);
    if (rc != XD_OK) {
        /* A message that passed Submit but cannot be composed now: a
         * configuration problem (opt-out secret) is retried, bad input not. */
        XD_WARN("delivery: message %s cannot be composed: %s", mc->meta.message_id, err.message);
        snd_smtp_reply r = {.code = 0};
        finish_rows(g, ok_idx, n_ok,
                    rc == XD_INVALID_ARGUMENT ? SND_RES_PERMFAIL : SND_RES_TEMPFAIL, &r, 16,
                    err.message, 0);
        snd_buf_free(&body);
        goto out;
    }
    snd_smtp_status tx;
    memset(&tx, 0, sizeof tx);
    rc = snd_smtp_send(g->s, from, rcpts, n_ok, body.data, body.len, res, &tx, &err);
    snd_buf_free(&body);
    g->on_conn++;
    if (rc != XD_OK) {
        snd_smtp_status st;
        memset(&st, 0, sizeof st);
        st.outcome = rc == XD_INVALID_ARGUMENT ? SND_SMTP_PERMFAIL : SND_SMTP_TEMPFAIL;
        st.phase = SND_SMTP_PHASE_MAIL;
        xd_strlcpy(st.reply.text, err.message, sizeof st.reply.text);
        fail_rows(g, ok_idx, n_ok, &st);
        goto out;
    }
    /* Commit each recipient's outcome (one transaction for the copy). */
    snd_rcpt_result *rr = calloc(n_ok, sizeof *rr);
    if (rr) {
        for (size_t i = 0; i < n_ok; i++) {
            rr[i].recipient_id = g->c->r[ok_idx[i]].recipient_id;
            rr[i].kind = kind_of(&res[i]);
            rr[i].code = res[i].reply.code;
            rr[i].enhanced = res[i].reply.enhanced;
            rr[i].text = res[i].reply.text;
            rr[i].failure = snd_classify_failure(&res[i]);
            rr[i].remote_host = g->target->label;
            rr[i].tls_version = snd_smtp_tls_active(g->s) ? g->tls_desc : "";
        }
        XD_DEBUG("delivery: %s and %zu more via %s: first %d %s", rr[0].recipient_id, n_ok - 1,
                 g->target->label, rr[0].code, rr[0].text);
        record_outcomes(d, rr, n_ok, mc->meta.message_id);
        free(rr);
    }
    feedback(g, res, n_ok);
out:
    free(rcpts);
    free(forms);
    free(ok_idx);
    free(bad_idx);
    free(res);
}

static const char *category_name(const message_ctx *mc)
{
    /* Marketing opt-outs cover the organization's marketing; a
     * transactional opt-out covers its module (optout_links.h). */
    return mc->meta.category == 2 ? "marketing" : mc->meta.module;
}

/* Removes suppressed rows from idx (recording them); -1 when verify did
 * not answer (the rows were postponed). */
static int check_suppression(group *g, message_ctx *mc, size_t *idx, size_t *n)
{
    snd_suppress *sp = g->d->deps.suppress;
    if (!sp || *n == 0)
        return 0;
    const char **addrs = calloc(*n, sizeof *addrs);
    int *sup = calloc(*n, sizeof *sup);
    size_t *gone = calloc(*n, sizeof *gone);
    int rc = 0;
    if (!addrs || !sup || !gone) {
        rc = -1;
    } else {
        for (size_t i = 0; i < *n; i++)
            addrs[i] = g->c->r[idx[i]].address;
        rc = snd_suppress_check(sp, mc->meta.org_id, category_name(mc), addrs, *n, sup);
    }
    if (rc != 0) {
        postpone_rows(g, idx, *n, now_ms(g) + g->d->cfg.unreachable_retry_ms);
    } else {
        size_t keep = 0, n_gone = 0;
        for (size_t i = 0; i < *n; i++) {
            if (sup[i])
                gone[n_gone++] = idx[i];
            else
                idx[keep++] = idx[i];
        }
        snd_smtp_reply r = {.code = 0};
        finish_rows(g, gone, n_gone, SND_RES_SUPPRESSED, &r, 0,
                    "on the suppression list of the organization", 0);
        *n = keep;
    }
    free(addrs);
    free(sup);
    free(gone);
    return rc;
}

static void deliver_message(group *g, size_t from, size_t to)
{
    snd_deliver *d = g->d;
    size_t n = to - from;
    size_t *idx = calloc(n, sizeof *idx);
    message_ctx mc;
    memset(&mc, 0, sizeof mc);
    mc.arena = xd_arena_new();
    if (!idx || !mc.arena) {
        free(idx);
        xd_arena_free(mc.arena);
        return; /* stays SENDING: recovered at the next start */
    }
    for (size_t i = 0; i < n; i++)
        idx[i] = from + i;
    void *blob = NULL;
    size_t blob_len = 0;
    xd_err err;
    xd_err_clear(&err);
    if (snd_queue_load_request(d->deps.queue, g->c->r[from].message_id, &mc.meta, &blob, &blob_len,
                               &err) != XD_OK) {
        XD_ERROR("delivery: message %s unreadable: %s", g->c->r[from].message_id, err.message);
        postpone_rows(g, idx, n, now_ms(g) + d->cfg.unreachable_retry_ms);
        goto out;
    }
    mc.req = xd__submit_request__unpack(xd_arena_allocator(mc.arena), blob_len, blob);
    free(blob);
    if (!mc.req) {
        snd_smtp_reply r = {.code = 0};
        finish_rows(g, idx, n, SND_RES_PERMFAIL, &r, 16, "the stored message is damaged", 0);
        goto out;
    }
    snd_message_from_proto(mc.req, mc.arena, &mc.m);
    /* The banner stored with the message at Submit (never a newer one). */
    if (snd_banner_attach(d->deps.queue, mc.meta.message_id, mc.arena, &mc.m, &err) != XD_OK) {
        XD_ERROR("delivery: banner of %s unreadable: %s", mc.meta.message_id, err.message);
        postpone_rows(g, idx, n, now_ms(g) + d->cfg.unreachable_retry_ms);
        goto out;
    }
    if (check_suppression(g, &mc, idx, &n) != 0 || n == 0)
        goto out;
    load_signers(g, &mc);
    size_t step = mc.m.shared ? d->cfg.tx_max_rcpts : 1;
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        if (snd_deliver_stopping(d)) {
            postpone_rows(g, idx + i, n - i, now_ms(g));
            break;
        }
        send_copy(g, &mc, idx + i, k);
    }
out:
    message_ctx_free(&mc);
    free(idx);
}

void snd_deliver_group(snd_deliver *d, snd_claim *c)
{
    group g;
    memset(&g, 0, sizeof g);
    g.d = d;
    g.c = c;
    g.subj.org_id = c->org_id;
    g.subj.domain = c->domain;
    g.subj.ip = d->cfg.sending_ip;
    xd_err err;
    xd_err_clear(&err);
    size_t *all = calloc(c->n, sizeof *all);
    if (!all)
        return;
    for (size_t i = 0; i < c->n; i++)
        all[i] = i;
    if (snd_route_plan_make(&d->cfg.route, d->deps.relays, c->org_id, c->domain, &g.plan, &err) !=
        XD_OK) {
        XD_ERROR("delivery: no route for %s/%s: %s", c->org_id, c->domain, err.message);
        postpone_rows(&g, all, c->n, now_ms(&g) + d->cfg.unreachable_retry_ms);
        free(all);
        return;
    }
    if (g.plan.n == 0) {
        snd_smtp_reply r = {.code = 0};
        xd_strlcpy(r.enhanced, g.plan.permanent ? "5.1.2" : "4.4.3", sizeof r.enhanced);
        finish_rows(&g, all, c->n, g.plan.permanent ? SND_RES_PERMFAIL : SND_RES_TEMPFAIL, &r,
                    g.plan.failure, g.plan.why, 0);
    } else {
        for (size_t i = 0; i < c->n;) {
            size_t j = i + 1;
            while (j < c->n && strcmp(c->r[j].message_id, c->r[i].message_id) == 0)
                j++;
            if (snd_deliver_stopping(d)) {
                postpone_rows(&g, all + i, c->n - i, now_ms(&g));
                break;
            }
            deliver_message(&g, i, j);
            i = j;
        }
    }
    close_session(&g);
    dkim_cache_clear(&g);
    snd_route_plan_wipe(&g.plan);
    free(all);
}
