/* xc_commands.c: xdctl's command table and argument parsing. */
#include "xc_commands.h"
#include "gw_handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --name VALUE options; positional args go to pos[]. Returns 0 or 1. */
typedef struct opt_spec {
    const char *flag; /* "--reason" */
    const char *key;  /* JSON field */
    int boolean;      /* flag without value -> true */
} opt_spec;

static int parse(int argc, char **argv, const opt_spec *opts, int n_opts, const char **pos,
                 int n_pos_min, int n_pos_max, json_t *req)
{
    int n_pos = 0;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0) {
            int k = 0;
            for (; k < n_opts; k++)
                if (strcmp(argv[i], opts[k].flag) == 0)
                    break;
            if (k == n_opts) {
                fprintf(stderr, "xdctl: unknown option '%s' (try --help)\n", argv[i]);
                return 1;
            }
            if (opts[k].boolean) {
                json_object_set_new(req, opts[k].key, json_true());
                continue;
            }
            if (i + 1 >= argc) {
                fprintf(stderr, "xdctl: option %s needs a value\n", argv[i]);
                return 1;
            }
            json_object_set_new(req, opts[k].key, json_string(argv[++i]));
            continue;
        }
        if (n_pos >= n_pos_max) {
            fprintf(stderr, "xdctl: unexpected argument '%s' (try --help)\n", argv[i]);
            return 1;
        }
        pos[n_pos++] = argv[i];
    }
    if (n_pos < n_pos_min) {
        fprintf(stderr, "xdctl: missing argument (try --help)\n");
        return 1;
    }
    for (int i = n_pos; i < n_pos_max; i++)
        pos[i] = NULL;
    return 0;
}

static int build_none(int argc, char **argv, json_t *req)
{
    const char *pos[1];
    return parse(argc, argv, NULL, 0, pos, 0, 0, req);
}

static int build_org_create(int argc, char **argv, json_t *req)
{
    const char *pos[1];
    if (parse(argc, argv, NULL, 0, pos, 1, 1, req))
        return 1;
    json_object_set_new(req, "name", json_string(pos[0]));
    return 0;
}

static int build_org_list(int argc, char **argv, json_t *req)
{
    const char *pos[1];
    static const opt_spec o[] = {{"--page-size", "pageSize", 0}, {"--page-token", "pageToken", 0}};
    json_t *page = json_object();
    int rc = parse(argc, argv, o, 2, pos, 0, 0, page);
    json_t *size = json_object_get(page, "pageSize");
    if (rc == 0 && size)
        json_object_set_new(page, "pageSize", json_integer(atoll(json_string_value(size))));
    json_object_set_new(req, "page", page);
    return rc;
}

static int build_org_get(int argc, char **argv, json_t *req)
{
    const char *pos[1];
    if (parse(argc, argv, NULL, 0, pos, 0, 1, req))
        return 1;
    if (pos[0])
        json_object_set_new(req, "orgId", json_string(pos[0]));
    return 0;
}

static int build_org_suspend(int argc, char **argv, json_t *req)
{
    const char *pos[1];
    static const opt_spec o[] = {{"--reason", "reason", 0}};
    if (parse(argc, argv, o, 1, pos, 1, 1, req))
        return 1;
    if (!json_object_get(req, "reason")) {
        fprintf(stderr, "xdctl: org suspend needs --reason TEXT (shown to the organization)\n");
        return 1;
    }
    json_object_set_new(req, "orgId", json_string(pos[0]));
    json_object_set_new(req, "status", json_string("ORG_STATUS_SUSPENDED"));
    return 0;
}

static int build_org_enable(int argc, char **argv, json_t *req)
{
    const char *pos[1];
    if (parse(argc, argv, NULL, 0, pos, 1, 1, req))
        return 1;
    json_object_set_new(req, "orgId", json_string(pos[0]));
    json_object_set_new(req, "status", json_string("ORG_STATUS_ENABLED"));
    return 0;
}

static int build_key_create(int argc, char **argv, json_t *req)
{
    const char *pos[1];
    static const opt_spec o[] = {
        {"--role", "role", 0}, {"--org", "orgId", 0}, {"--label", "label", 0}};
    if (parse(argc, argv, o, 3, pos, 0, 0, req))
        return 1;
    json_t *role = json_object_get(req, "role");
    if (!role) {
        fprintf(stderr, "xdctl: key create needs --role module|support|admin|operator\n");
        return 1;
    }
    char name[64];
    const char *r = json_string_value(role);
    snprintf(name, sizeof(name), "ROLE_%s", r);
    for (char *p = name; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    json_object_set_new(req, "role", json_string(strncmp(r, "ROLE_", 5) == 0 ? r : name));
    return 0;
}

static int build_key_list(int argc, char **argv, json_t *req)
{
    const char *pos[1];
    static const opt_spec o[] = {{"--org", "orgId", 0}, {"--all", "includeRevoked", 1}};
    return parse(argc, argv, o, 2, pos, 0, 0, req);
}

static int build_key_revoke(int argc, char **argv, json_t *req)
{
    const char *pos[1];
    if (parse(argc, argv, NULL, 0, pos, 1, 1, req))
        return 1;
    json_object_set_new(req, "keyId", json_string(pos[0]));
    return 0;
}

static int build_health(int argc, char **argv, json_t *req)
{
    const char *pos[1];
    static const opt_spec o[] = {{"--wait-ms", "timeoutMs", 0}};
    if (parse(argc, argv, o, 1, pos, 0, 0, req))
        return 1;
    json_t *t = json_object_get(req, "timeoutMs");
    if (t)
        json_object_set_new(req, "timeoutMs", json_integer(atoll(json_string_value(t))));
    return 0;
}

const xc_command xc_commands[] = {
    {NULL, "bootstrap", "[--data-dir DIR] [--pepper-file FILE] [--label TEXT]",
     "Creates the first operator key by writing straight into DIR/gateway.db on this host "
     "(no running gateway needed; run it as the gateway's user). Prints the key once.",
     NULL, NULL},
    {NULL, "whoami", "", "Shows the organization, role and id of the key in use.", "WhoAmI",
     build_none},
    {NULL, "health", "[--wait-ms MS]",
     "Health of the whole suite: the gateway and each service (down ones show the error).",
     "SuiteHealth", build_health},
    {"org", "create", "NAME", "Creates an organization (operator).", "CreateOrganization",
     build_org_create},
    {"org", "list", "[--page-size N] [--page-token T]", "Lists organizations (operator).",
     "ListOrganizations", build_org_list},
    {"org", "get", "[ORG_ID]", "Shows an organization (default: the key's own).", "GetOrganization",
     build_org_get},
    {"org", "suspend", "ORG_ID --reason TEXT",
     "Disables email for an organization; its SendEmail calls then fail with the reason "
     "(operator).",
     "SetOrganizationStatus", build_org_suspend},
    {"org", "enable", "ORG_ID", "Enables email for a suspended organization (operator).",
     "SetOrganizationStatus", build_org_enable},
    {"key", "create", "--role module|support|admin|operator [--org ORG_ID] [--label TEXT]",
     "Creates an API key and prints it once (admin: own organization; operator: any).",
     "CreateApiKey", build_key_create},
    {"key", "list", "[--org ORG_ID] [--all]", "Lists API keys (--all includes revoked ones).",
     "ListApiKeys", build_key_list},
    {"key", "revoke", "KEY_ID", "Revokes an API key; it fails from the next call on.",
     "RevokeApiKey", build_key_revoke},
    {NULL, "call", "METHOD [JSON]",
     "Calls any Gateway method with a JSON request (proto3 JSON mapping, see "
     "proto/gateway.proto) and prints the reply.",
     "", NULL},
};
const int xc_n_commands = (int)(sizeof(xc_commands) / sizeof(xc_commands[0]));

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
