/* deliver_classify.c: failure categories (see deliver_classify.h). */
#include "deliver_classify.h"

#include <string.h>

enum {
    F_INVALID_RECIPIENT = 1,
    F_MAILBOX_FULL = 2,
    F_MAILBOX_DISABLED = 3,
    F_CONTENT_BLOCK = 4,
    F_POLICY_BLOCK = 5,
    F_AUTH_FAILURE = 6,
    F_RATE_LIMITED = 7,
    F_TLS_FAILURE = 9,
    F_CONNECTION_FAILURE = 10,
    F_MESSAGE_TOO_LARGE = 11,
    F_RELAY_DENIED = 12,
    F_PROTOCOL_ERROR = 14,
    F_OTHER = 16,
};

static int starts(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

int snd_classify_failure(const snd_smtp_status *st)
{
    if (st->outcome == SND_SMTP_DELIVERED)
        return 0;
    const char *e = st->reply.enhanced;
    int code = st->reply.code;
    /* The phase says more than the code here: a refused STARTTLS ("454
     * 4.7.0") is a TLS problem and a refused AUTH ("535 5.7.8") a
     * credentials problem, whatever the enhanced code's subject. */
    if (st->phase == SND_SMTP_PHASE_TLS || st->phase == SND_SMTP_PHASE_STARTTLS)
        return F_TLS_FAILURE;
    if (st->phase == SND_SMTP_PHASE_AUTH)
        return F_AUTH_FAILURE;
    if (code == 0) {
        return st->phase <= SND_SMTP_PHASE_GREETING ? F_CONNECTION_FAILURE : F_PROTOCOL_ERROR;
    }
    const char *d = e[0] ? e + 2 : ""; /* "1.1" of "5.1.1" */
    if (starts(d, "1.1") || starts(d, "1.0") || starts(d, "1.3"))
        return F_INVALID_RECIPIENT;
    if (starts(d, "2.2") || code == 452)
        return F_MAILBOX_FULL;
    if (starts(d, "2.1"))
        return F_MAILBOX_DISABLED;
    if (starts(d, "3.4") || code == 552)
        return F_MESSAGE_TOO_LARGE;
    if (starts(d, "7.1") && st->phase == SND_SMTP_PHASE_RCPT && strstr(st->reply.text, "relay"))
        return F_RELAY_DENIED;
    if (starts(d, "7.28") || starts(d, "4.2") || code == 421 || strstr(st->reply.text, "rate"))
        return F_RATE_LIMITED;
    if (starts(d, "7.26") || starts(d, "7.25") || starts(d, "7.27") || starts(d, "7.23"))
        return F_AUTH_FAILURE;
    if (starts(d, "7.") && (st->phase == SND_SMTP_PHASE_DATA_END || starts(d, "7.0")))
        return F_CONTENT_BLOCK;
    if (starts(d, "7.") || st->phase == SND_SMTP_PHASE_GREETING)
        return F_POLICY_BLOCK;
    return F_OTHER;
}
