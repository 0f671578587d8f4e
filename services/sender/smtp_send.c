/*
 * smtp_send.c: one mail transaction on an open session. With PIPELINING the
 * RSET, MAIL and RCPT commands go out in groups (RFC 2920) and their replies
 * are matched in order, DATA last in the final group (RFC 2920 §3.1); without
 * it each command waits for its reply. The body goes out only after a 354
 * and only when a recipient was accepted.
 */
#include "smtp_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_data.h"
#include "xd/clock.h"
#include "xd/log.h"

#define PIPELINE_GROUP 100         /* commands written before reading replies */
#define BODY_BLOCK     (64 * 1024) /* bytes per body write (data block timeout) */

static int valid_addr(const char *a, int allow_empty)
{
    size_t n = strlen(a);
    if (n == 0)
        return allow_empty;
    if (n > SND_SMTP_ADDR_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c < 0x20 || c == 0x7f || c == '<' || c == '>')
            return 0;
    }
    return 1;
}

static int has_non_ascii(const char *a)
{
    return snd_smtp_has_8bit(a, strlen(a));
}

static xd_code check_args(const snd_smtp_session *s, const char *from, const char *const *rcpts,
                          size_t n, const void *msg, size_t len, const snd_smtp_status *results,
                          xd_err *err)
{
    if (!s)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "session", "session must not be NULL");
    if (!from || !valid_addr(from, 1))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "envelope_from",
                            "envelope_from must be at most %d bytes without control characters "
                            "or angle brackets (\"\" for the null sender)",
                            SND_SMTP_ADDR_MAX);
    if (n == 0 || n > SND_SMTP_MAX_RCPTS || !rcpts || !results)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "rcpts",
                            "give 1 to %d recipients and a results array of the same length",
                            SND_SMTP_MAX_RCPTS);
    for (size_t i = 0; i < n; i++)
        if (!rcpts[i] || !valid_addr(rcpts[i], 0))
            return xd_err_field(err, XD_INVALID_ARGUMENT, "rcpts",
                                "recipient %zu must be 1-%d bytes without control characters or "
                                "angle brackets",
                                i, SND_SMTP_ADDR_MAX);
    if ((!msg && len > 0) || len > SND_SMTP_MAX_MESSAGE)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "message", "message must be at most %u bytes",
                            SND_SMTP_MAX_MESSAGE);
    if (!s->usable)
        return xd_err_set(err, XD_FAILED_PRECONDITION,
                          "the SMTP session is no longer usable: close it and open a new one");
    return XD_OK;
}

/* One command of the MAIL/RCPT group and where its reply goes. */
typedef struct cmd {
    char text[SND_SMTP_ADDR_MAX + 64];
    size_t len;
    snd_smtp_phase phase;
    long rcpt; /* index into results, -1 for RSET/MAIL */
} cmd;

typedef struct tx {
    snd_smtp_session *s;
    size_t n;
    snd_smtp_status *results;
    unsigned char *final; /* 1 once results[i] is decided */
} tx;

/* Every undecided recipient gets st. */
static void decide_rest(tx *t, const snd_smtp_status *st)
{
    for (size_t i = 0; i < t->n; i++)
        if (!t->final[i]) {
            t->results[i] = *st;
            t->final[i] = 1;
        }
}

static int64_t timeout_for(const snd_smtp_session *s, snd_smtp_phase p)
{
    return p == SND_SMTP_PHASE_RSET   ? s->t.rset_ms
           : p == SND_SMTP_PHASE_MAIL ? s->t.mail_ms
           : p == SND_SMTP_PHASE_DATA ? s->t.data_init_ms
                                      : s->t.rcpt_ms;
}

/* A 354 came although no body is wanted (no recipient, MAIL refused): end
 * the empty data with a lone dot so the dialogue stays in step. */
static void abort_data(snd_smtp_session *s)
{
    snd_smtp_status ignored;
    snd_smtp_reply r;
    if (snd_smtp_write_cmd(s, ".\r\n", 3, NULL, SND_SMTP_PHASE_DATA_END, s->t.data_end_ms,
                           &ignored) == 0)
        (void)snd_smtp_read_reply(s, SND_SMTP_PHASE_DATA_END, s->t.data_end_ms, &r, NULL, &ignored);
}

/* Sends cmds in groups and reads their replies. A pipelined DATA's reply
 * goes to *data_reply (code 0 when DATA was not sent). Returns the number
 * of RCPTs accepted, or -1 when the transaction is over (results decided). */
static long run_envelope(tx *t, cmd *cmds, size_t n_cmds, int pipelining,
                         snd_smtp_reply *data_reply)
{
    snd_smtp_session *s = t->s;
    size_t group = pipelining ? PIPELINE_GROUP : 1;
    long accepted = 0;
    int mail_failed = 0;
    snd_smtp_status mail_st;
    char *buf = malloc(group * sizeof(cmds[0].text));
    if (!buf) {
        snd_smtp_status st;
        snd_smtp_status_local(&st, SND_SMTP_TEMPFAIL, SND_SMTP_PHASE_MAIL, "out of memory");
        decide_rest(t, &st);
        return -1;
    }
    for (size_t at = 0; at < n_cmds && !mail_failed; at += group) {
        size_t end = at + group < n_cmds ? at + group : n_cmds;
        size_t blen = 0;
        snd_smtp_status st;
        for (size_t i = at; i < end; i++) {
            memcpy(buf + blen, cmds[i].text, cmds[i].len);
            blen += cmds[i].len;
        }
        if (snd_smtp_write_cmd(s, buf, blen, NULL, cmds[at].phase, timeout_for(s, cmds[at].phase),
                               &st) != 0) {
            decide_rest(t, &st);
            free(buf);
            return -1;
        }
        for (size_t i = at; i < end; i++) {
            snd_smtp_reply r;
            if (snd_smtp_read_reply(s, cmds[i].phase, timeout_for(s, cmds[i].phase), &r, NULL,
                                    &st) != 0) {
                decide_rest(t, &st);
                free(buf);
                return -1;
            }
            snd_smtp_status_from_reply(&st, cmds[i].phase, &r);
            if (cmds[i].phase == SND_SMTP_PHASE_DATA) {
                *data_reply = r;
            } else if (cmds[i].phase == SND_SMTP_PHASE_RSET) {
                if (r.code != 250) { /* state unknown: this connection is done */
                    s->usable = 0;
                    if (st.outcome == SND_SMTP_DELIVERED)
                        st.outcome = SND_SMTP_TEMPFAIL;
                    decide_rest(t, &st);
                    free(buf);
                    return -1;
                }
            } else if (cmds[i].phase == SND_SMTP_PHASE_MAIL) {
                if (r.code != 250) {
                    mail_failed = 1;
                    mail_st = st;
                    if (mail_st.outcome == SND_SMTP_DELIVERED)
                        mail_st.outcome = SND_SMTP_TEMPFAIL;
                }
            } else if (!mail_failed) {
                long k = cmds[i].rcpt;
                if (r.code == 250 || r.code == 251) {
                    accepted++; /* decided later, by the final dot */
                } else {
                    if (st.outcome == SND_SMTP_DELIVERED)
                        st.outcome = SND_SMTP_TEMPFAIL;
                    t->results[k] = st;
                    t->final[k] = 1;
                }
            } /* RCPT replies after a failed MAIL are read only to keep in step */
        }
    }
    free(buf);
    if (data_reply->code == 354 && (mail_failed || accepted == 0))
        abort_data(s);
    if (mail_failed) {
        decide_rest(t, &mail_st);
        return -1;
    }
    return accepted;
}

/* DATA (unless its reply came with the pipelined group), the body, the
 * final dot; decides every recipient still open. */
static void run_data(tx *t, const void *msg, size_t len, const snd_smtp_reply *data_reply)
{
    snd_smtp_session *s = t->s;
    snd_smtp_status st;
    snd_smtp_reply r;
    if (data_reply->code != 0) {
        r = *data_reply;
    } else if (snd_smtp_write_cmd(s, "DATA\r\n", 6, NULL, SND_SMTP_PHASE_DATA, s->t.data_init_ms,
                                  &st) != 0 ||
               snd_smtp_read_reply(s, SND_SMTP_PHASE_DATA, s->t.data_init_ms, &r, NULL, &st) != 0) {
        decide_rest(t, &st);
        return;
    }
    if (r.code != 354) {
        snd_smtp_status_from_reply(&st, SND_SMTP_PHASE_DATA, &r);
        if (st.outcome == SND_SMTP_DELIVERED)
            st.outcome = SND_SMTP_TEMPFAIL;
        decide_rest(t, &st);
        return;
    }
    char *block = malloc(BODY_BLOCK);
    if (!block) {
        s->usable = 0; /* the server waits for a body we cannot send */
        snd_smtp_status_local(&st, SND_SMTP_TEMPFAIL, SND_SMTP_PHASE_BODY, "out of memory");
        decide_rest(t, &st);
        return;
    }
    snd_smtp_dot_encoder enc;
    size_t n;
    snd_smtp_dot_encoder_init(&enc, msg, len);
    while ((n = snd_smtp_dot_encode(&enc, block, BODY_BLOCK)) > 0) {
        snd_smtp_io_rc rc =
            snd_smtp_io_write(&s->io, block, n, xd_monotonic_ms() + s->t.data_block_ms);
        if (rc != SND_SMTP_IO_OK) {
            s->usable = 0;
            if (rc == SND_SMTP_IO_TIMEOUT)
                snd_smtp_status_local(&st, SND_SMTP_TEMPFAIL, SND_SMTP_PHASE_BODY,
                                      "timeout after %lld ms sending a data block",
                                      (long long)s->t.data_block_ms);
            else
                snd_smtp_status_local(&st, SND_SMTP_TEMPFAIL, SND_SMTP_PHASE_BODY,
                                      "%s sending the message: %s", snd_smtp_io_rc_name(rc),
                                      s->io.detail);
            decide_rest(t, &st);
            free(block);
            return;
        }
    }
    free(block);
    if (snd_smtp_read_reply(s, SND_SMTP_PHASE_DATA_END, s->t.data_end_ms, &r, NULL, &st) != 0) {
        decide_rest(t, &st); /* the server may have it: a retry can duplicate (RFC 1047) */
        return;
    }
    snd_smtp_status_from_reply(&st, SND_SMTP_PHASE_DATA_END, &r);
    if (r.code != 250 && st.outcome == SND_SMTP_DELIVERED)
        st.outcome = SND_SMTP_TEMPFAIL;
    decide_rest(t, &st);
}

/* The transaction's status from the recipients'. */
static void summarise(const tx *t, snd_smtp_status *status)
{
    const snd_smtp_status *temp = NULL, *perm = NULL;
    for (size_t i = 0; i < t->n; i++) {
        const snd_smtp_status *r = &t->results[i];
        if (r->outcome == SND_SMTP_DELIVERED) {
            *status = *r;
            return;
        }
        if (r->outcome == SND_SMTP_TEMPFAIL && !temp)
            temp = r;
        if (r->outcome == SND_SMTP_PERMFAIL && !perm)
            perm = r;
    }
    *status = temp ? *temp : *perm;
}

/* Local checks against what the server announced; undecided recipients
 * that need SMTPUTF8 the server lacks fail here. Returns -1 when nothing
 * can be sent. */
static int local_checks(tx *t, const char *from, const char *const *rcpts, const void *msg,
                        size_t len, uint64_t *size_out, int *utf8_out, int *body8_out)
{
    const snd_smtp_ext *e = &t->s->ext;
    int utf8_ok = (e->flags & SND_SMTP_EXT_SMTPUTF8) != 0;
    snd_smtp_status st;
    *utf8_out = 0;
    *body8_out = snd_smtp_has_8bit(msg, len);
    if (has_non_ascii(from)) {
        if (!utf8_ok) {
            snd_smtp_status_local(&st, SND_SMTP_PERMFAIL, SND_SMTP_PHASE_MAIL,
                                  "the sender address is not ASCII and the server does not "
                                  "offer SMTPUTF8");
            decide_rest(t, &st);
            return -1;
        }
        *utf8_out = 1;
    }
    for (size_t i = 0; i < t->n; i++) {
        if (!has_non_ascii(rcpts[i]))
            continue;
        if (utf8_ok) {
            *utf8_out = 1;
            continue;
        }
        snd_smtp_status_local(&t->results[i], SND_SMTP_PERMFAIL, SND_SMTP_PHASE_RCPT,
                              "the recipient address is not ASCII and the server does not offer "
                              "SMTPUTF8");
        t->final[i] = 1;
    }
    if (*body8_out && !(e->flags & (SND_SMTP_EXT_8BITMIME | SND_SMTP_EXT_SMTPUTF8))) {
        snd_smtp_status_local(&st, SND_SMTP_PERMFAIL, SND_SMTP_PHASE_MAIL,
                              "the message has 8-bit bytes and the server does not offer "
                              "8BITMIME: encode the body as 7-bit MIME");
        decide_rest(t, &st);
        return -1;
    }
    *size_out = snd_smtp_dot_encoded_size(msg, len);
    if ((e->flags & SND_SMTP_EXT_SIZE) && e->size_max > 0 && *size_out > e->size_max) {
        snd_smtp_status_local(&st, SND_SMTP_PERMFAIL, SND_SMTP_PHASE_MAIL,
                              "the message (%llu bytes) exceeds the server's SIZE limit of %llu",
                              (unsigned long long)*size_out, (unsigned long long)e->size_max);
        decide_rest(t, &st);
        return -1;
    }
    for (size_t i = 0; i < t->n; i++)
        if (!t->final[i])
            return 0;
    return -1;
}

xd_code snd_smtp_send(snd_smtp_session *s, const char *from, const char *const *rcpts,
                      size_t n_rcpts, const void *msg, size_t len, snd_smtp_status *results,
                      snd_smtp_status *status, xd_err *err)
{
    snd_smtp_status local_st;
    xd_code code = check_args(s, from, rcpts, n_rcpts, msg, len, results, err);
    if (code != XD_OK)
        return code;
    if (!status)
        status = &local_st;
    unsigned char *final = calloc(n_rcpts, 1);
    cmd *cmds = calloc(n_rcpts + 3, sizeof(*cmds)); /* RSET, MAIL, RCPTs, DATA */
    if (!final || !cmds) {
        free(final);
        free(cmds);
        return xd_err_set(err, XD_RESOURCE_EXHAUSTED, "out of memory for %zu recipients", n_rcpts);
    }
    memset(results, 0, n_rcpts * sizeof(*results));
    tx t = {.s = s, .n = n_rcpts, .results = results, .final = final};
    uint64_t size = 0;
    int utf8 = 0, body8 = 0;
    if (local_checks(&t, from, rcpts, msg, len, &size, &utf8, &body8) == 0) {
        size_t nc = 0;
        if (s->n_tx > 0) {
            cmds[nc].len = (size_t)snprintf(cmds[nc].text, sizeof(cmds[nc].text), "RSET\r\n");
            cmds[nc].phase = SND_SMTP_PHASE_RSET;
            cmds[nc++].rcpt = -1;
        }
        int w = snprintf(cmds[nc].text, sizeof(cmds[nc].text), "MAIL FROM:<%s>", from);
        if (s->ext.flags & SND_SMTP_EXT_SIZE)
            w += snprintf(cmds[nc].text + w, sizeof(cmds[nc].text) - (size_t)w, " SIZE=%llu",
                          (unsigned long long)size);
        if (body8 && (s->ext.flags & SND_SMTP_EXT_8BITMIME))
            w += snprintf(cmds[nc].text + w, sizeof(cmds[nc].text) - (size_t)w, " BODY=8BITMIME");
        if (utf8)
            w += snprintf(cmds[nc].text + w, sizeof(cmds[nc].text) - (size_t)w, " SMTPUTF8");
        w += snprintf(cmds[nc].text + w, sizeof(cmds[nc].text) - (size_t)w, "\r\n");
        cmds[nc].len = (size_t)w;
        cmds[nc].phase = SND_SMTP_PHASE_MAIL;
        cmds[nc++].rcpt = -1;
        for (size_t i = 0; i < n_rcpts; i++) {
            if (final[i])
                continue;
            cmds[nc].len = (size_t)snprintf(cmds[nc].text, sizeof(cmds[nc].text),
                                            "RCPT TO:<%s>\r\n", rcpts[i]);
            cmds[nc].phase = SND_SMTP_PHASE_RCPT;
            cmds[nc++].rcpt = (long)i;
        }
        int pipelining = (s->ext.flags & SND_SMTP_EXT_PIPELINING) != 0;
        if (pipelining) {
            memcpy(cmds[nc].text, "DATA\r\n", 6);
            cmds[nc].len = 6;
            cmds[nc].phase = SND_SMTP_PHASE_DATA;
            cmds[nc++].rcpt = -1;
        }
        s->n_tx++; /* from here on the server has seen a transaction: RSET next time */
        snd_smtp_reply data_reply = {0};
        long accepted = run_envelope(&t, cmds, nc, pipelining, &data_reply);
        if (accepted > 0)
            run_data(&t, msg, len, &data_reply);
        else if (accepted == 0) {
            snd_smtp_status st;
            snd_smtp_status_local(&st, SND_SMTP_PERMFAIL, SND_SMTP_PHASE_RCPT,
                                  "no recipient accepted");
            decide_rest(&t, &st); /* none are open; kept for safety */
        }
    }
    summarise(&t, status);
    XD_DEBUG("smtp %s: transaction %s at %s (%d %s)", s->host,
             snd_smtp_outcome_name(status->outcome), snd_smtp_phase_name(status->phase),
             status->reply.code, status->reply.enhanced);
    free(final);
    free(cmds);
    return XD_OK;
}
