/* xc_commands.c: xdctl's command table and the generic argument mapper. */
#define _GNU_SOURCE /* timegm */
#include "xc_commands.h"
#include "gw_handlers.h"
#include "gw_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define P(path, help)                                                                              \
    {                                                                                              \
        NULL, path, XC_TEXT, NULL, 1, help                                                         \
    }
#define PO(path, help)                                                                             \
    {                                                                                              \
        NULL, path, XC_TEXT, NULL, 0, help                                                         \
    }
#define T(flag, path, help)                                                                        \
    {                                                                                              \
        flag, path, XC_TEXT, NULL, 0, help                                                         \
    }
#define TR(flag, path, help)                                                                       \
    {                                                                                              \
        flag, path, XC_TEXT, NULL, 1, help                                                         \
    }
#define F(flag, path)                                                                              \
    {                                                                                              \
        flag, path, XC_FLAG, NULL, 0, ""                                                           \
    }
#define E(flag, path, prefix, help)                                                                \
    {                                                                                              \
        flag, path, XC_ENUM, prefix, 0, help                                                       \
    }
#define ER(flag, path, prefix, help)                                                               \
    {                                                                                              \
        flag, path, XC_ENUM, prefix, 1, help                                                       \
    }
#define TM(flag, path)                                                                             \
    {                                                                                              \
        flag, path, XC_TIME, NULL, 0, "TIME"                                                       \
    }
#define N(flag, path)                                                                              \
    {                                                                                              \
        flag, path, XC_NUMBER, NULL, 0, "N"                                                        \
    }
#define FL(flag, path, help)                                                                       \
    {                                                                                              \
        flag, path, XC_FILE, NULL, 0, help                                                         \
    }
#define FLR(flag, path, help)                                                                      \
    {                                                                                              \
        flag, path, XC_FILE, NULL, 1, help                                                         \
    }

#define FB(flag, path, help)                                                                       \
    {                                                                                              \
        flag, path, XC_FILE64, NULL, 0, help                                                       \
    }

#define FILE_MAX (64u << 20) /* larger files are refused, not truncated */

const xc_command xc_commands[] = {
    {NULL,
     "bootstrap",
     "Creates the first operator key by writing straight into DIR/gateway.db on this host (no "
     "running gateway needed; run it as the gateway's user). Prints the key once. Options: "
     "--data-dir DIR (default $XD_GATEWAY_DATA_DIR or ./.xdmail/data), --pepper-file FILE, "
     "--label TEXT.",
     NULL,
     NULL,
     {{0}}},
    {NULL,
     "whoami",
     "Shows the organization, role and id of the key in use.",
     "WhoAmI",
     NULL,
     {{0}}},
    {NULL,
     "health",
     "Health of the whole suite: the gateway and each service (a down one shows its error).",
     "SuiteHealth",
     NULL,
     {N("--wait-ms", "timeoutMs")}},
    {"org",
     "create",
     "Creates an organization (operator).",
     "CreateOrganization",
     NULL,
     {P("name", "NAME")}},
    {"org",
     "list",
     "Lists organizations (operator).",
     "ListOrganizations",
     NULL,
     {N("--page-size", "page.pageSize"), T("--page-token", "page.pageToken", "TOKEN")}},
    {"org",
     "get",
     "Shows an organization (default: the key's own).",
     "GetOrganization",
     NULL,
     {PO("orgId", "[ORG_ID]")}},
    {"org",
     "suspend",
     "Disables email for an organization; its SendEmail calls then fail with the reason "
     "(operator).",
     "SetOrganizationStatus",
     "{\"status\":\"ORG_STATUS_SUSPENDED\"}",
     {P("orgId", "ORG_ID"), TR("--reason", "reason", "TEXT")}},
    {"org",
     "enable",
     "Enables email for a suspended organization (operator).",
     "SetOrganizationStatus",
     "{\"status\":\"ORG_STATUS_ENABLED\"}",
     {P("orgId", "ORG_ID")}},
    {"org",
     "health",
     "Bounce and complaint rates against the thresholds (verify).",
     "GetOrganizationHealth",
     NULL,
     {T("--org", "orgId", "ORG_ID")}},
    {"key",
     "create",
     "Creates an API key and prints it once (admin: own organization; operator: any).",
     "CreateApiKey",
     NULL,
     {ER("--role", "role", "ROLE_", "module|support|admin|operator"), T("--org", "orgId", "ORG_ID"),
      T("--label", "label", "TEXT")}},
    {"key",
     "list",
     "Lists API keys (--all includes revoked ones).",
     "ListApiKeys",
     NULL,
     {T("--org", "orgId", "ORG_ID"), F("--all", "includeRevoked")}},
    {"key",
     "revoke",
     "Revokes an API key; it fails from the next call on.",
     "RevokeApiKey",
     NULL,
     {P("keyId", "KEY_ID")}},
    {NULL,
     "send",
     "Queues an email (module key). Prints each recipient's outcome: queued with its id, "
     "suppressed (why, since when) or invalid (why).",
     "SendEmail",
     NULL,
     {TR("--from", "from.address", "ADDR"), TR("--to", "to[].address", "ADDR[,ADDR...]"),
      T("--cc", "cc[].address", "ADDR[,...]"), T("--bcc", "bcc[].address", "ADDR[,...]"),
      T("--subject", "subject", "TEXT"), T("--text", "textBody", "TEXT"),
      FL("--html-file", "htmlBody", "FILE"), TR("--module", "module", "NAME"),
      ER("--category", "category", "MAIL_CATEGORY_", "transactional|marketing"),
      T("--client", "clientId", "ID"), T("--idempotency-key", "idempotencyKey", "KEY"),
      T("--org", "orgId", "ORG_ID")}},
    {NULL,
     "status",
     "Every recipient of one message with its current state.",
     "GetEmailStatus",
     NULL,
     {P("messageId", "MESSAGE_ID"), T("--org", "orgId", "ORG_ID")}},
    {NULL,
     "case-notes",
     "Delivery records and case notes by recipient or client, over a period.",
     "ListCaseNotes",
     NULL,
     {T("--recipient", "recipient", "ADDR"), T("--client", "clientId", "ID"),
      TM("--from", "fromMs"), TM("--to", "toMs"), F("--delivered", "deliveredOnly"),
      T("--org", "orgId", "ORG_ID")}},
    {NULL,
     "diagnose",
     "Walks the troubleshooting steps for one recipient around a time (support).",
     "DiagnoseDelivery",
     NULL,
     {P("recipient", "RECIPIENT"), TM("--at", "aroundMs"), T("--message", "messageId", "ID"),
      T("--org", "orgId", "ORG_ID")}},
    {NULL,
     "validate",
     "Checks one address in depth (syntax, typo, role, DNS).",
     "ValidateRecipient",
     NULL,
     {P("address", "ADDRESS"), F("--dns", "checkDns"), T("--category", "category", "NAME")}},
    {NULL,
     "counts",
     "The monthly Client Email Counts report.",
     "GetClientEmailCounts",
     NULL,
     {P("month", "YYYY-MM"), T("--org", "orgId", "ORG_ID")}},
    {NULL,
     "domain-report",
     "Outcomes per recipient domain over a period, with flagged clusters.",
     "GetDomainReport",
     NULL,
     {TM("--from", "fromMs"), TM("--to", "toMs"), N("--max", "maxDomains"),
      T("--org", "orgId", "ORG_ID")}},
    {"suppress",
     "list",
     "The organization's suppression list.",
     "ListSuppressions",
     NULL,
     {T("--address", "address", "ADDR"), F("--expired", "includeExpired"),
      T("--org", "orgId", "ORG_ID")}},
    {"suppress",
     "add",
     "Adds an address to the suppression list.",
     "AddSuppression",
     "{\"reason\":\"SUPPRESSION_REASON_MANUAL\",\"source\":\"xdctl\"}",
     {P("address", "ADDRESS"), T("--scope", "scope", "CATEGORY"), T("--detail", "detail", "TEXT"),
      T("--org", "orgId", "ORG_ID")}},
    {"suppress",
     "remove",
     "Removes an address from the suppression list.",
     "RemoveSuppression",
     NULL,
     {P("address", "ADDRESS"), T("--scope", "scope", "CATEGORY"), T("--org", "orgId", "ORG_ID")}},
    {"ticket",
     "create",
     "Files a support ticket, checked against the delivery record.",
     "CreateSupportTicket",
     NULL,
     {TR("--recipient", "recipient", "ADDR"), TR("--when", "occurredAt", "RFC3339"),
      TR("--module", "module", "NAME"),
      ER("--issue", "issueType", "TICKET_ISSUE_TYPE_",
         "not_received|spam_folder|rejected|formatting|missing_banner|other"),
      ER("--other-domain-tried", "otherDomainTried", "TICKET_OTHER_DOMAIN_TRIED_", "yes|no"),
      T("--other-domain", "otherDomain", "DOMAIN"), TR("--description", "description", "TEXT"),
      TR("--reporter", "reporter", "NAME"), T("--message", "messageId", "ID"),
      T("--idempotency-key", "idempotencyKey", "KEY")}},
    {"ticket",
     "get",
     "Shows a ticket with its findings and comments.",
     "GetSupportTicket",
     NULL,
     {P("ticketId", "TICKET_ID")}},
    {"ticket",
     "list",
     "Lists tickets.",
     "ListSupportTickets",
     NULL,
     {T("--domain", "recipientDomain", "DOMAIN"), T("--module", "module", "NAME"),
      T("--org", "orgId", "ORG_ID")}},
    {"ticket",
     "comment",
     "Adds a comment to a ticket.",
     "AddTicketComment",
     NULL,
     {P("ticketId", "TICKET_ID"), TR("--author", "author", "NAME"), TR("--body", "body", "TEXT"),
      F("--internal", "internal")}},
    {"ticket",
     "update",
     "Sets a ticket's status, with a note.",
     "UpdateSupportTicket",
     NULL,
     {P("ticketId", "TICKET_ID"), ER("--status", "status", "TICKET_STATUS_", "STATUS"),
      T("--note", "note", "TEXT"), TR("--author", "author", "NAME")}},
    {"relay",
     "set",
     "Sets how the organization's mail leaves: direct_mx, smarthost or org_relay (admin).",
     "SetSmtpRelay",
     NULL,
     {ER("--route", "route", "ROUTE_KIND_", "direct_mx|smarthost|org_relay"),
      T("--host", "host", "HOST"), N("--port", "port"),
      E("--tls", "tls", "RELAY_TLS_", "starttls_required|starttls_opportunistic|implicit"),
      T("--username", "username", "USER"), FL("--password-file", "password", "FILE"),
      T("--org", "orgId", "ORG_ID")}},
    {"dkim",
     "create",
     "Makes a DKIM key and prints the DNS TXT record to publish (admin).",
     "CreateDkimKey",
     NULL,
     {P("domain", "DOMAIN"), T("--selector", "selector", "SELECTOR"),
      E("--algorithm", "algorithm", "DKIM_ALGORITHM_", "rsa_sha256|ed25519_sha256"),
      N("--bits", "bits"), T("--org", "orgId", "ORG_ID")}},
    {"dkim",
     "list",
     "The organization's DKIM keys with their TXT records.",
     "ListDkimKeys",
     NULL,
     {T("--domain", "domain", "DOMAIN"), F("--retired", "includeRetired"),
      T("--org", "orgId", "ORG_ID")}},
    {"dkim",
     "rotate",
     "Key rotation: --step start makes a pending key, promote activates it.",
     "RotateDkimKey",
     NULL,
     {P("domain", "DOMAIN"), ER("--step", "step", "ROTATE_STEP_", "start|promote"),
      T("--selector", "newSelector", "SELECTOR"), T("--org", "orgId", "ORG_ID")}},
    {"banner",
     "set",
     "Sets the organization's banner, for every module or one (--module): an HTML block, its "
     "text form and an optional image, read from files (admin). The HTML may show the image as "
     "<img src=\"cid:banner\">.",
     "SetBanner",
     NULL,
     {T("--module", "banner.module", "NAME"), FL("--html-file", "banner.html", "FILE"),
      FL("--text-file", "banner.text", "FILE"), FB("--image-file", "banner.image", "FILE"),
      T("--image-type", "banner.imageContentType", "image/png|image/jpeg|..."),
      T("--image-alt", "banner.imageAlt", "TEXT"), T("--org", "banner.orgId", "ORG_ID")}},
    {"banner",
     "list",
     "The organization's banners (image size only, not the bytes).",
     "ListBanners",
     NULL,
     {T("--org", "orgId", "ORG_ID")}},
    {"banner",
     "remove",
     "Removes the organization-wide banner, or one module's (--module).",
     "SetBanner",
     "{\"remove\":true}",
     {T("--module", "banner.module", "NAME"), T("--org", "banner.orgId", "ORG_ID")}},
    {NULL,
     "send-test",
     "Sends a test copy of an earlier message (same module, route, template and banner) to your "
     "own mailbox, to replicate a problem.",
     "SendTestEmail",
     NULL,
     {P("messageId", "MESSAGE_ID"), TR("--to", "toAddress", "YOUR_ADDR"),
      T("--org", "orgId", "ORG_ID")}},
    {"policy",
     "set",
     "Replaces the suite's rate-limit policy with a JSON file (operator).",
     "SetRateLimitPolicy",
     NULL,
     {FLR("--file", "policyJson", "FILE"), N("--expected-version", "expectedVersion")}},
    {NULL,
     "call",
     "Calls any Gateway method with a JSON request (proto3 JSON mapping, see "
     "proto/gateway.proto) and prints the reply: xdctl call METHOD [JSON].",
     "",
     NULL,
     {{0}}},
};
const int xc_n_commands = (int)(sizeof(xc_commands) / sizeof(xc_commands[0]));

/* ---- values ---- */

static int parse_time_ms(const char *s, long long *out)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (*s && !*end) {
        *out = v;
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest) {
        memset(&tm, 0, sizeof(tm));
        rest = strptime(s, "%Y-%m-%d", &tm);
    }
    if (!rest)
        return -1;
    long long offset_s = 0;
    if (*rest == 'Z' && !rest[1]) {
        rest++;
    } else if ((*rest == '+' || *rest == '-') && strlen(rest) == 6 && rest[3] == ':') {
        int h = atoi(rest + 1), m = atoi(rest + 4);
        offset_s = (rest[0] == '+' ? 1 : -1) * (h * 3600LL + m * 60LL);
        rest += 6;
    }
    if (*rest)
        return -1;
    *out = ((long long)timegm(&tm) - offset_s) * 1000;
    return 0;
}

/* The whole file, NUL-terminated, its length in *len_out; NULL when it
 * cannot be read or is larger than FILE_MAX. */
static char *read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len > FILE_MAX) {
            free(buf);
            buf = NULL;
        } else if (len + 1 >= cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    if (len_out)
        *len_out = len;
    return buf;
}

/* The JSON value for one argument; NULL after printing the problem. */
static json_t *value_of(const xc_arg *a, const char *text)
{
    switch (a->kind) {
    case XC_FLAG:
        return json_true();
    case XC_NUMBER: {
        char *end = NULL;
        long long v = strtoll(text, &end, 10);
        if (!*text || *end) {
            fprintf(stderr, "xdctl: %s needs a number, not '%s'\n", a->flag, text);
            return NULL;
        }
        return json_integer(v);
    }
    case XC_TIME: {
        long long ms;
        if (parse_time_ms(text, &ms) != 0) {
            fprintf(stderr,
                    "xdctl: %s needs a time: 2026-11-27T09:15:00Z, 2026-11-27 or Unix ms, not "
                    "'%s'\n",
                    a->flag, text);
            return NULL;
        }
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", ms);
        return json_string(buf);
    }
    case XC_ENUM: {
        char buf[128];
        size_t plen = strlen(a->prefix);
        if (strncmp(text, a->prefix, plen) == 0)
            snprintf(buf, sizeof(buf), "%s", text);
        else
            snprintf(buf, sizeof(buf), "%s%s", a->prefix, text);
        for (char *p = buf; *p; p++) {
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
            if (*p == '-')
                *p = '_';
        }
        return json_string(buf);
    }
    case XC_FILE64: {
        size_t len = 0;
        char *content = read_file(text, &len);
        if (!content) {
            fprintf(stderr, "xdctl: cannot read %s (or it is over 64 MiB)\n", text);
            return NULL;
        }
        char *b64 = gw_base64_encode((const uint8_t *)content, len);
        free(content);
        json_t *j = b64 ? json_string(b64) : NULL;
        free(b64);
        return j;
    }
    case XC_FILE: {
        size_t len = 0;
        char *content = read_file(text, &len);
        if (!content) {
            fprintf(stderr, "xdctl: cannot read %s (or it is over 64 MiB)\n", text);
            return NULL;
        }
        if (strlen(content) != len) {
            fprintf(stderr, "xdctl: %s holds a NUL byte: it must be text\n", text);
            free(content);
            return NULL;
        }
        size_t n = strlen(content);
        while (n && (content[n - 1] == '\n' || content[n - 1] == '\r'))
            content[--n] = '\0'; /* a trailing newline is not part of a password */
        json_t *j = json_string(content);
        free(content);
        return j;
    }
    default:
        return json_string(text);
    }
}

/* Sets path ("a.b", "a[].b", "a[]") in obj; lists split text at commas. */
static int set_path(json_t *obj, const xc_arg *a, const char *text)
{
    char path[128];
    snprintf(path, sizeof(path), "%s", a->path);
    char *dot = strchr(path, '.');
    char *list = strstr(path, "[]");
    if (list && (!dot || list < dot)) {
        *list = '\0';
        const char *sub = list[2] == '.' ? list + 3 : NULL;
        json_t *arr = json_object_get(obj, path);
        if (!arr) {
            arr = json_array();
            json_object_set_new(obj, path, arr);
        }
        char *copy = strdup(text), *save = NULL;
        for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
            while (*item == ' ')
                item++;
            json_t *v = value_of(a, item);
            if (!v) {
                free(copy);
                return 1;
            }
            if (sub) {
                json_t *o = json_object();
                json_object_set_new(o, sub, v);
                json_array_append_new(arr, o);
            } else {
                json_array_append_new(arr, v);
            }
        }
        free(copy);
        return 0;
    }
    if (dot) {
        *dot = '\0';
        json_t *inner = json_object_get(obj, path);
        if (!inner) {
            inner = json_object();
            json_object_set_new(obj, path, inner);
        }
        json_t *v = value_of(a, text);
        if (!v)
            return 1;
        json_object_set_new(inner, dot + 1, v);
        return 0;
    }
    json_t *v = value_of(a, text);
    if (!v)
        return 1;
    json_object_set_new(obj, path, v);
    return 0;
}

int xc_build(const xc_command *cmd, int argc, char **argv, json_t *req)
{
    if (cmd->fixed) {
        json_t *fixed = json_loads(cmd->fixed, 0, NULL);
        json_object_update(req, fixed);
        json_decref(fixed);
    }
    int given[XC_ARGS_MAX] = {0};
    int next_pos = 0;
    for (int i = 0; i < argc; i++) {
        int k = -1;
        if (strncmp(argv[i], "--", 2) == 0) {
            for (int j = 0; j < XC_ARGS_MAX && cmd->args[j].path; j++)
                if (cmd->args[j].flag && strcmp(cmd->args[j].flag, argv[i]) == 0)
                    k = j;
            if (k < 0) {
                fprintf(stderr, "xdctl: unknown option '%s' (try --help)\n", argv[i]);
                return 1;
            }
            const char *text = "";
            if (cmd->args[k].kind != XC_FLAG) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "xdctl: option %s needs a value\n", argv[i]);
                    return 1;
                }
                text = argv[++i];
            }
            if (set_path(req, &cmd->args[k], text))
                return 1;
            given[k] = 1;
            continue;
        }
        int seen = 0;
        for (int j = 0; j < XC_ARGS_MAX && cmd->args[j].path; j++)
            if (!cmd->args[j].flag && seen++ == next_pos)
                k = j;
        if (k < 0) {
            fprintf(stderr, "xdctl: unexpected argument '%s' (try --help)\n", argv[i]);
            return 1;
        }
        next_pos++;
        if (set_path(req, &cmd->args[k], argv[i]))
            return 1;
        given[k] = 1;
    }
    for (int j = 0; j < XC_ARGS_MAX && cmd->args[j].path; j++)
        if (cmd->args[j].required && !given[j]) {
            fprintf(stderr, "xdctl: missing %s (try --help)\n",
                    cmd->args[j].flag ? cmd->args[j].flag : cmd->args[j].help);
            return 1;
        }
    return 0;
}

void xc_print_usage(const xc_command *cmd)
{
    printf("usage: xdctl %s%s%s", cmd->group ? cmd->group : "", cmd->group ? " " : "", cmd->name);
    for (int j = 0; j < XC_ARGS_MAX && cmd->args[j].path; j++) {
        const xc_arg *a = &cmd->args[j];
        const char *open = a->required ? "" : "[", *close = a->required ? "" : "]";
        if (!a->flag)
            printf(" %s", a->help);
        else if (a->kind == XC_FLAG)
            printf(" [%s]", a->flag);
        else
            printf(" %s%s %s%s", open, a->flag, a->help, close);
    }
    printf("\n");
}

int xc_bootstrap(int argc, char **argv)
{
    const char *data_dir = getenv("XD_GATEWAY_DATA_DIR");
    const char *pepper = getenv("XD_GATEWAY_PEPPER_FILE");
    const char *label = "bootstrap";
    if (!data_dir || !data_dir[0])
        data_dir = "./.xdmail/data";
    for (int i = 0; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--data-dir") == 0)
            data_dir = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--pepper-file") == 0)
            pepper = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--label") == 0)
            label = argv[++i];
        else {
            fprintf(stderr, "usage: xdctl bootstrap [--data-dir DIR] [--pepper-file FILE] "
                            "[--label TEXT]\n");
            return 1;
        }
    }
    return gw_bootstrap_operator(data_dir, pepper, label, 1);
}
