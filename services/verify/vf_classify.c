/* vf_classify.c: see vf_classify.h. Phrase tables are lower-case. */
#include "vf_classify.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

typedef struct phrase_rule {
    const char *reason;
    const char *const *phrases;
} phrase_rule;

/* Ordered: the first reason with a matching phrase wins. */
static const char *const p_vacation[] = {
    "out of office", "out of the office",    "auto-reply", "automatic reply",
    "on vacation",   "away from the office", NULL};
static const char *const p_toomanyconn[] = {"too many connections",  "too many concurrent",
                                            "connection limit",      "too many smtp sessions",
                                            "too many simultaneous", NULL};
static const char *const p_speeding[] = {"rate limit",
                                         "rate-limit",
                                         "too many messages",
                                         "too many recipients this hour",
                                         "sending rate",
                                         "try again later, closing connection",
                                         "temporarily deferred due to user complaints",
                                         "throttl",
                                         "slow down",
                                         "exceeded the rate",
                                         "receiving mail at a rate",
                                         NULL};
static const char *const p_authfailure[] = {"spf",
                                            "dkim",
                                            "dmarc",
                                            "sender policy framework",
                                            "not authorized to send on behalf",
                                            "authentication check",
                                            NULL};
static const char *const p_failedstarttls[] = {"starttls",
                                               "tls is required",
                                               "must issue a starttls",
                                               "encryption required",
                                               "tls negotiation failed",
                                               NULL};
static const char *const p_requireptr[] = {"reverse dns",
                                           "no ptr",
                                           "ptr record",
                                           "rdns",
                                           "reverse lookup",
                                           "cannot find your hostname",
                                           "cannot resolve your address",
                                           "client host rejected: cannot find your",
                                           "does not have a valid reverse",
                                           NULL};
static const char *const p_badreputation[] = {"reputation", "sender score", "ip has a poor", NULL};
static const char *const p_blocked[] = {"blacklist",
                                        "blocklist",
                                        "block list",
                                        "black list",
                                        "spamhaus",
                                        "spamcop",
                                        "dnsbl",
                                        "rbl",
                                        "sorbs",
                                        "barracuda",
                                        "listed at",
                                        "listed on",
                                        "listed in",
                                        "client host blocked",
                                        "your ip",
                                        "your network",
                                        "access denied",
                                        "connection refused by",
                                        "has been blocked",
                                        "blocked using",
                                        "ip address blocked",
                                        "banned",
                                        "not allowed to connect",
                                        NULL};
static const char *const p_virus[] = {"virus", "malware", "infected", "trojan", NULL};
static const char *const p_spam[] = {"spam",        "junk mail",
                                     "bulk mail",   "message content rejected",
                                     "unsolicited", "content filter",
                                     "scored as",   "phish",
                                     "suspicious",  NULL};
static const char *const p_mesgtoobig[] = {"message too large",
                                           "message too big",
                                           "message size exceeds",
                                           "size limit",
                                           "exceeds size limit",
                                           "message is too large",
                                           "message length exceeds",
                                           "too big",
                                           NULL};
static const char *const p_exceedlimit[] = {"message header size exceeds", "exceeds the limit",
                                            "message size exceeds fixed maximum", NULL};
static const char *const p_mailboxfull[] = {
    "mailbox full",           "mailbox is full",   "over quota",
    "quota exceeded",         "exceeded storage",  "mailbox size limit",
    "insufficient storage",   "storage quota",     "mailfolder is full",
    "account is full",        "disk quota",        "overquota",
    "too much mail",          "exceeds its quota", "is full",
    "user's mailbox is over", "mail quota",        NULL};
static const char *const p_suspend[] = {
    "disabled",        "suspended",       "inactive",
    "deactivated",     "account expired", "mailbox unavailable (inactive",
    "not active",      "has been locked", "account is locked",
    "blocked account", "frozen",          NULL};
static const char *const p_hasmoved[] = {"has moved", "is no longer", "changed address", "moved to",
                                         NULL};
static const char *const p_norelaying[] = {"relay access denied",    "relaying denied",
                                           "not permitted to relay", "relay not permitted",
                                           "unable to relay",        "relaying not allowed",
                                           "we do not relay",        "relay denied",
                                           "not a gateway",          NULL};
static const char *const p_hostunknown[] = {"host unknown",
                                            "unknown host",
                                            "host not found",
                                            "domain not found",
                                            "no such domain",
                                            "domain does not exist",
                                            "unrouteable address",
                                            "unroutable address",
                                            "name or service not known",
                                            "nxdomain",
                                            "no mx",
                                            "mx lookup",
                                            "domain name not found",
                                            "unknown domain",
                                            "host or domain name not found",
                                            "name server error",
                                            "unrouteable mail domain",
                                            NULL};
static const char *const p_notaccept[] = {"does not accept mail", "accepts no mail", "null mx",
                                          "no mail service", NULL};
static const char *const p_userunknown[] = {"user unknown",
                                            "unknown user",
                                            "no such user",
                                            "no such mailbox",
                                            "mailbox not found",
                                            "recipient unknown",
                                            "unknown recipient",
                                            "recipient not found",
                                            "invalid recipient",
                                            "address rejected",
                                            "does not exist",
                                            "doesn't exist",
                                            "no mailbox",
                                            "not our customer",
                                            "user not found",
                                            "mailbox unavailable",
                                            "unknown or illegal alias",
                                            "no such recipient",
                                            "unknown local part",
                                            "invalid mailbox",
                                            "no such address",
                                            "address unknown",
                                            "user doesn't have",
                                            "account does not exist",
                                            "not a valid mailbox",
                                            "recipient address rejected",
                                            "is not a valid",
                                            "unknown address",
                                            "mailbox does not exist",
                                            "not listed in",
                                            "no valid recipients",
                                            "invalid address",
                                            "unknown mailbox",
                                            "user invalid",
                                            "bad recipient",
                                            "address does not exist",
                                            "no account",
                                            "user not exist",
                                            "addressee unknown",
                                            "not a registered",
                                            NULL};
static const char *const p_sender[] = {"domain of sender address", "sender address rejected",
                                       "sender verify failed",     "purported responsible address",
                                       "sender rejected",          NULL};
static const char *const p_security[] = {"smtp authentication", "authentication required",
                                         "must authenticate", NULL};
static const char *const p_notcompliant_early[] = {"multiple addresses in from", "duplicate header",
                                                   NULL};
static const char *const p_rejected[] = {"sender rejected",
                                         "sender address rejected",
                                         "domain of sender address",
                                         "sender verify failed",
                                         "sender unknown",
                                         "mail from",
                                         "sender denied",
                                         "envelope sender",
                                         "rejected sender",
                                         "sender domain",
                                         "from address",
                                         NULL};
static const char *const p_policy[] = {"policy",           "prohibited", "not allowed",
                                       "administratively", "refused",    NULL};
static const char *const p_syntaxerror[] = {"syntax error", "command unrecognized",
                                            "unrecognized command", "bad sequence", NULL};
static const char *const p_notcompliant[] = {
    "rfc 5322",       "rfc5322",           "rfc 2822",  "rfc2822",        "rfc 822",
    "not rfc",        "bare lf",           "malformed", "invalid header", "duplicate header",
    "missing header", "header is missing", NULL};
static const char *const p_expired[] = {"retry timeout exceeded",
                                        "could not be delivered for",
                                        "delivery time expired",
                                        "message expired",
                                        "has been delayed",
                                        "timed out",
                                        "timeout exceeded",
                                        "retry time not reached",
                                        "too long in queue",
                                        "delivery expired",
                                        "gave up",
                                        NULL};
static const char *const p_networkerror[] = {"connection refused",
                                             "connection timed out",
                                             "network is unreachable",
                                             "no route to host",
                                             "lost connection",
                                             "connection reset",
                                             "could not connect",
                                             "unable to connect",
                                             "mail loop",
                                             "loops back",
                                             "hop count",
                                             "too many hops",
                                             NULL};
static const char *const p_systemfull[] = {"system full", "insufficient system storage",
                                           "out of disk", NULL};
static const char *const p_systemerror[] = {
    "system error",      "internal error",       "server error",
    "temporary failure", "local error",          "service unavailable",
    "try again later",   "system not accepting", NULL};
static const char *const p_mailererror[] = {"x-unix",       "procmail",       "mailer error",
                                            "command died", "program failed", NULL};
static const char *const p_filtered[] = {"filter", "not accepted by the recipient", NULL};

static const phrase_rule rules[] = {
    {"vacation", p_vacation},
    {"notcompliantrfc", p_notcompliant_early},
    {"rejected", p_sender},
    {"securityerror", p_security},
    {"toomanyconn", p_toomanyconn},
    {"speeding", p_speeding},
    {"virusdetected", p_virus},
    {"mailererror", p_mailererror},
    {"norelaying", p_norelaying},
    {"failedstarttls", p_failedstarttls},
    {"requireptr", p_requireptr},
    {"hostunknown", p_hostunknown},
    {"notaccept", p_notaccept},
    {"mailboxfull", p_mailboxfull},
    {"exceedlimit", p_exceedlimit},
    {"mesgtoobig", p_mesgtoobig},
    {"hasmoved", p_hasmoved},
    {"userunknown", p_userunknown},
    {"suspend", p_suspend},
    {"authfailure", p_authfailure},
    {"badreputation", p_badreputation},
    {"blocked", p_blocked},
    {"spamdetected", p_spam},
    {"rejected", p_rejected},
    {"systemfull", p_systemfull},
    {"notcompliantrfc", p_notcompliant},
    {"syntaxerror", p_syntaxerror},
    {"expired", p_expired},
    {"networkerror", p_networkerror},
    {"filtered", p_filtered},
    {"policyviolation", p_policy},
    {"systemerror", p_systemerror},
};

typedef struct status_rule {
    const char *prefix; /* matched against "x.y.z" with the class digit dropped */
    const char *reason;
} status_rule;

/* RFC 3463 subject.detail -> reason. */
static const status_rule status_rules[] = {
    {".1.1", "userunknown"},   {".1.2", "hostunknown"},     {".1.3", "userunknown"},
    {".1.4", "userunknown"},   {".1.6", "hasmoved"},        {".1.7", "rejected"},
    {".1.8", "rejected"},      {".1.10", "notaccept"},      {".2.1", "suspend"},
    {".2.2", "mailboxfull"},   {".2.3", "mesgtoobig"},      {".2.4", "systemerror"},
    {".3.1", "systemfull"},    {".3.2", "notaccept"},       {".3.3", "systemerror"},
    {".3.4", "mesgtoobig"},    {".3.5", "systemerror"},     {".4.1", "networkerror"},
    {".4.2", "networkerror"},  {".4.3", "systemerror"},     {".4.4", "hostunknown"},
    {".4.5", "systemerror"},   {".4.6", "networkerror"},    {".4.7", "expired"},
    {".5.0", "syntaxerror"},   {".5.1", "syntaxerror"},     {".5.2", "syntaxerror"},
    {".5.3", "syntaxerror"},   {".5.4", "syntaxerror"},     {".5.5", "syntaxerror"},
    {".6.0", "contenterror"},  {".6.1", "contenterror"},    {".6.2", "contenterror"},
    {".6.3", "contenterror"},  {".6.4", "contenterror"},    {".6.5", "contenterror"},
    {".7.0", "securityerror"}, {".7.1", "blocked"},         {".7.2", "securityerror"},
    {".7.3", "securityerror"}, {".7.4", "securityerror"},   {".7.5", "securityerror"},
    {".7.6", "securityerror"}, {".7.7", "securityerror"},   {".7.8", "securityerror"},
    {".7.9", "securityerror"}, {".7.10", "failedstarttls"}, {".7.11", "failedstarttls"},
    {".7.13", "suspend"},      {".7.15", "securityerror"},  {".7.20", "authfailure"},
    {".7.21", "authfailure"},  {".7.22", "authfailure"},    {".7.23", "authfailure"},
    {".7.24", "authfailure"},  {".7.25", "requireptr"},     {".7.26", "authfailure"},
    {".7.27", "notaccept"},    {".7.28", "spamdetected"},
};

static const struct {
    const char *reason;
    Xd__FailureCategory category;
} reason_categories[] = {
    {"userunknown", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_INVALID_RECIPIENT},
    {"hasmoved", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_INVALID_RECIPIENT},
    {"mailboxfull", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_MAILBOX_FULL},
    {"suspend", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_MAILBOX_DISABLED},
    {"filtered", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_CONTENT_BLOCK},
    {"spamdetected", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_CONTENT_BLOCK},
    {"virusdetected", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_CONTENT_BLOCK},
    {"contenterror", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_CONTENT_BLOCK},
    {"rejected", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_POLICY_BLOCK},
    {"blocked", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_POLICY_BLOCK},
    {"badreputation", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_POLICY_BLOCK},
    {"requireptr", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_POLICY_BLOCK},
    {"policyviolation", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_POLICY_BLOCK},
    {"securityerror", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_AUTH_FAILURE},
    {"authfailure", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_AUTH_FAILURE},
    {"toomanyconn", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_RATE_LIMITED},
    {"speeding", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_RATE_LIMITED},
    {"hostunknown", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_DNS_FAILURE},
    {"failedstarttls", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_TLS_FAILURE},
    {"networkerror", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_CONNECTION_FAILURE},
    {"mesgtoobig", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_MESSAGE_TOO_LARGE},
    {"exceedlimit", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_MESSAGE_TOO_LARGE},
    {"norelaying", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_RELAY_DENIED},
    {"syntaxerror", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_PROTOCOL_ERROR},
    {"notcompliantrfc", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_PROTOCOL_ERROR},
    {"expired", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_EXPIRED},
    {"systemerror", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_SYSTEM_ERROR},
    {"systemfull", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_SYSTEM_ERROR},
    {"mailererror", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_SYSTEM_ERROR},
    {"notaccept", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_NOT_ACCEPTING},
    {"onhold", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_OTHER},
    {"undefined", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_OTHER},
    {"vacation", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_UNSPECIFIED},
    {"delivered", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_UNSPECIFIED},
    {"feedback", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_UNSPECIFIED},
};

Xd__FailureCategory vf_reason_category(const char *reason)
{
    for (size_t i = 0; i < sizeof reason_categories / sizeof reason_categories[0]; i++)
        if (strcmp(reason_categories[i].reason, reason) == 0)
            return reason_categories[i].category;
    return XD__FAILURE_CATEGORY__FAILURE_CATEGORY_OTHER;
}

int vf_find_status(const char *text, char *out)
{
    for (const char *p = text; *p; p++) {
        if ((*p == '2' || *p == '4' || *p == '5') && p[1] == '.' &&
            (p == text || (!isalnum((unsigned char)p[-1]) && p[-1] != '.'))) {
            const char *q = p + 2;
            int d1 = 0, d2 = 0;
            while (isdigit((unsigned char)*q) && d1 < 3)
                q++, d1++;
            if (d1 == 0 || *q != '.')
                continue;
            q++;
            while (isdigit((unsigned char)*q) && d2 < 3)
                q++, d2++;
            if (d2 == 0 || isdigit((unsigned char)*q) ||
                (*q == '.' && isdigit((unsigned char)q[1])))
                continue;
            size_t n = (size_t)(q - p);
            memcpy(out, p, n);
            out[n] = '\0';
            return 1;
        }
    }
    return 0;
}

unsigned vf_find_reply_code(const char *text)
{
    for (const char *p = text; *p; p++) {
        if ((*p == '4' || *p == '5') && isdigit((unsigned char)p[1]) &&
            isdigit((unsigned char)p[2]) && (p == text || !isalnum((unsigned char)p[-1])) &&
            (p == text || (p[-1] != '.' && p[-1] != '-' && p[-1] != ':')) &&
            (p[3] == ' ' || p[3] == '-' || p[3] == '\0' || p[3] == '\n') && p[1] <= '5')
            return (unsigned)((p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0'));
    }
    return 0;
}

static void lower_copy(const char *s, char *out, size_t size)
{
    size_t o = 0;
    for (; s && *s && o + 1 < size; s++)
        out[o++] = (char)tolower((unsigned char)*s);
    out[o] = '\0';
}

static const char *reason_from_text(const char *lower)
{
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        for (const char *const *p = rules[i].phrases; *p; p++)
            if (strstr(lower, *p))
                return rules[i].reason;
    return NULL;
}

static const char *reason_from_status(const char *enhanced)
{
    if (!enhanced || strlen(enhanced) < 5)
        return NULL;
    const char *tail = enhanced + 1;
    for (size_t i = 0; i < sizeof status_rules / sizeof status_rules[0]; i++)
        if (strcmp(tail, status_rules[i].prefix) == 0)
            return status_rules[i].reason;
    return NULL;
}

static int is_hard(const char *reason, unsigned code, const char *enhanced)
{
    int permanent = code >= 500 || (enhanced && enhanced[0] == '5') || (!code && !enhanced);
    if (!permanent)
        return 0;
    return strcmp(reason, "userunknown") == 0 || strcmp(reason, "hasmoved") == 0 ||
           strcmp(reason, "hostunknown") == 0 || strcmp(reason, "notaccept") == 0;
}

vf_class vf_classify(unsigned reply_code, const char *enhanced, const char *text)
{
    char lower[2048];
    lower_copy(text, lower, sizeof lower);
    const char *reason = reason_from_text(lower);
    const char *by_status = reason_from_status(enhanced);
    /* A precise status beats generic words such as "rejected" or "refused". */
    if (by_status &&
        (!reason || strcmp(reason, "systemerror") == 0 || strcmp(reason, "filtered") == 0))
        reason = by_status;
    if (!reason && enhanced && enhanced[0] == '2')
        reason = "delivered";
    if (!reason) {
        if (reply_code == 421 || reply_code == 450 || reply_code == 451 || reply_code == 452)
            reason = reply_code == 452 ? "mailboxfull" : "systemerror";
        else if (reply_code == 550 || reply_code == 553)
            reason = "userunknown";
        else if (reply_code == 552)
            reason = "mailboxfull";
        else if (reply_code == 554)
            reason = "blocked";
        else if (reply_code == 521 || reply_code == 556)
            reason = "notaccept";
        else
            reason = "undefined";
    }
    vf_class c = {reason, vf_reason_category(reason), 0};
    c.hard = is_hard(reason, reply_code, enhanced && *enhanced ? enhanced : NULL);
    return c;
}
