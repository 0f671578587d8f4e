/* gw_perm.c: the role x method permission table. */
#include "gw_perm.h"
#include "envelope.pb-c.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#define M (1u << XD__ROLE__ROLE_MODULE)
#define S (1u << XD__ROLE__ROLE_SUPPORT)
#define A (1u << XD__ROLE__ROLE_ADMIN)
#define O (1u << XD__ROLE__ROLE_OPERATOR)

typedef struct perm_row {
    const char *method;
    unsigned roles;
    const char *roles_text;
} perm_row;

/* Operators may do everything; the other roles what issue 8 gives them:
 * module = send + status, support = diagnose, tickets, reports,
 * admin = its organization's settings (and reading its reports). */
static const perm_row table[] = {
    {"SendEmail", M | O, "module, operator"},
    /* A test copy goes to the caller's own mailbox: anyone who works with
     * the organization's mail may ask for one. */
    {"SendTestEmail", M | S | A | O, "module, support, admin, operator"},
    {"GetEmailStatus", M | S | A | O, "module, support, admin, operator"},
    {"ListCaseNotes", M | S | A | O, "module, support, admin, operator"},
    {"ValidateRecipient", M | S | O, "module, support, operator"},
    {"Unsubscribe", M | S | A | O, "module, support, admin, operator"},
    {"DiagnoseDelivery", S | O, "support, operator"},
    {"ListSuppressions", S | A | O, "support, admin, operator"},
    {"AddSuppression", S | A | O, "support, admin, operator"},
    {"RemoveSuppression", S | A | O, "support, admin, operator"},
    {"GetClientEmailCounts", S | A | O, "support, admin, operator"},
    {"GetDomainReport", S | A | O, "support, admin, operator"},
    {"CreateSupportTicket", S | O, "support, operator"},
    {"GetSupportTicket", S | O, "support, operator"},
    {"ListSupportTickets", S | O, "support, operator"},
    {"UpdateSupportTicket", S | O, "support, operator"},
    {"AddTicketComment", S | O, "support, operator"},
    {"CreateOrganization", O, "operator"},
    {"ListOrganizations", O, "operator"},
    {"SetOrganizationStatus", O, "operator"},
    {"GetOrganization", S | A | O, "support, admin, operator"},
    {"GetOrganizationHealth", S | A | O, "support, admin, operator"},
    /* Bounce and complaint intake: the operator's bounce MTA, or an
     * organization's own server through its admin key. */
    {"IngestBounce", A | O, "admin, operator"},
    {"IngestComplaint", A | O, "admin, operator"},
    {"CreateApiKey", A | O, "admin, operator"},
    {"ListApiKeys", A | O, "admin, operator"},
    {"RevokeApiKey", A | O, "admin, operator"},
    {"SetSmtpRelay", A | O, "admin, operator"},
    {"CreateDkimKey", A | O, "admin, operator"},
    {"ListDkimKeys", A | O, "admin, operator"},
    {"RotateDkimKey", A | O, "admin, operator"},
    {"SetBanner", A | O, "admin, operator"},
    {"ListBanners", A | O, "admin, operator"},
    /* ratelimit's SetPolicy replaces the whole suite's policy: operators only. */
    {"SetRateLimitPolicy", O, "operator"},
    {"WhoAmI", M | S | A | O, "module, support, admin, operator"},
    {"SuiteHealth", M | S | A | O, "module, support, admin, operator"},
};

static const perm_row *find(const char *method)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(table[i].method, method) == 0)
            return &table[i];
    return NULL;
}

int gw_perm_allowed(const char *method, int role)
{
    const perm_row *row = find(method);
    if (!row || role <= 0 || role >= 32)
        return 0;
    return (row->roles & (1u << role)) != 0;
}

int gw_perm_public(const char *method)
{
    return strcmp(method, "Health") == 0;
}

const char *gw_perm_roles_text(const char *method)
{
    const perm_row *row = find(method);
    return row ? row->roles_text : "";
}

const char *gw_role_name(int role)
{
    switch (role) {
    case XD__ROLE__ROLE_MODULE:
        return "module";
    case XD__ROLE__ROLE_SUPPORT:
        return "support";
    case XD__ROLE__ROLE_ADMIN:
        return "admin";
    case XD__ROLE__ROLE_OPERATOR:
        return "operator";
    case XD__ROLE__ROLE_SERVICE:
        return "service";
    default:
        return "unspecified";
    }
}

int gw_role_parse(const char *name)
{
    if (strncasecmp(name, "ROLE_", 5) == 0)
        name += 5;
    for (int r = XD__ROLE__ROLE_MODULE; r <= XD__ROLE__ROLE_OPERATOR; r++)
        if (strcasecmp(name, gw_role_name(r)) == 0)
            return r;
    return 0;
}
