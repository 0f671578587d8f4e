/* xdctl.c: the operator and support CLI over the gateway's NNG API.
 *
 *   xdctl [--gateway URL] [--key-file FILE | --key KEY] [--json | --csv]
 *         [--timeout MS] [--ca FILE] COMMAND [ARGS...]
 * The key comes from --key-file, $XDCTL_KEY_FILE, --key or $XDCTL_KEY (a file
 * keeps it out of `ps`). The gateway URL from --gateway or $XDCTL_GATEWAY
 * (default tcp://127.0.0.1:7400; tls+tcp:// with --ca).
 * Exit codes: 0 success; 1 usage error (bad command, option or JSON);
 * 2 the call failed: stderr says "xdctl: <STATUS_NAME>: <message>". */
#include "gw_json.h"
#include "xc_commands.h"
#include "xc_output.h"
#include "gateway.pb-c.h"
#include "xd/rpc_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 1
#define EXIT_RPC   2

typedef struct globals {
    const char *gateway;
    const char *key;
    const char *key_file;
    const char *ca;
    long long timeout_ms;
    xc_format format;
} globals;

static void print_command_help(const xc_command *c)
{
    if (c->method && !c->method[0])
        printf("usage: xdctl call METHOD [JSON]\n");
    else if (!c->method)
        printf("usage: xdctl bootstrap [--data-dir DIR] [--pepper-file FILE] [--label TEXT]\n");
    else
        xc_print_usage(c);
    printf("\n  %s\n", c->help);
    if (c->method && c->method[0])
        printf("\n  Gateway method: %s (see proto/gateway.proto).\n", c->method);
    printf("\n  Output: a table for people; --json or --csv for scripts.\n"
           "  Exit codes: 0 ok, 1 usage error, 2 the call failed (status name on stderr).\n");
}

static void print_help(const char *group)
{
    printf("usage: xdctl [--gateway URL] [--key-file FILE | --key KEY] [--json | --csv]\n"
           "             [--timeout MS] [--ca FILE] COMMAND [ARGS...]\n\n"
           "The xdmail operator and support CLI (talks to xd-gateway over NNG).\n"
           "Key: --key-file, $XDCTL_KEY_FILE, --key or $XDCTL_KEY. Gateway: --gateway or\n"
           "$XDCTL_GATEWAY (default tcp://127.0.0.1:7400).\n\nCommands:\n");
    for (int i = 0; i < xc_n_commands; i++) {
        const xc_command *c = &xc_commands[i];
        if (group && (!c->group || strcmp(group, c->group) != 0))
            continue;
        char words[64];
        snprintf(words, sizeof(words), "%s%s%s", c->group ? c->group : "", c->group ? " " : "",
                 c->name);
        printf("  %-16s %.60s%s\n", words, c->help, strlen(c->help) > 60 ? "..." : "");
    }
    printf("\n`xdctl COMMAND --help` explains one command.\n"
           "Exit codes: 0 ok, 1 usage error, 2 the call failed (status name on stderr).\n");
}

static char *read_key_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "xdctl: cannot read key file %s\n", path);
        return NULL;
    }
    char buf[256] = "";
    char *ok = fgets(buf, sizeof(buf), f);
    fclose(f);
    if (!ok)
        return NULL;
    buf[strcspn(buf, " \r\n")] = '\0';
    return strdup(buf);
}

static int call(const globals *g, const char *method, json_t *req_json)
{
    const ProtobufCMethodDescriptor *md =
        protobuf_c_service_descriptor_get_method_by_name(&xd__gateway__descriptor, method);
    if (!md) {
        fprintf(stderr, "xdctl: the gateway has no method '%s'\n", method);
        return EXIT_USAGE;
    }
    char *key = NULL;
    const char *key_file = g->key_file ? g->key_file : getenv("XDCTL_KEY_FILE");
    if (key_file && key_file[0])
        key = read_key_file(key_file);
    else if (g->key || getenv("XDCTL_KEY"))
        key = strdup(g->key ? g->key : getenv("XDCTL_KEY"));
    xd_arena *arena = xd_arena_new();
    xd_err err;
    xd_err_clear(&err);
    ProtobufCMessage *in = NULL;
    if (gw_json_to_message(req_json, md->input, arena, &in, &err) != XD_OK) {
        fprintf(stderr, "xdctl: bad request: %s\n", err.message);
        xd_arena_free(arena);
        free(key);
        return EXIT_USAGE;
    }
    const char *url = g->gateway ? g->gateway : getenv("XDCTL_GATEWAY");
    if (!url || !url[0])
        url = "tcp://127.0.0.1:7400";
    xd_client_options co = {.connect_wait_ms = 2000, .tls_ca_file = g->ca};
    xd_client *client = NULL;
    int rc = EXIT_RPC;
    xd_code code = xd_client_open(url, "gateway", &co, &client, &err);
    if (code == XD_OK) {
        Xd__Caller caller = XD__CALLER__INIT;
        caller.principal = key ? key : "";
        xd_call_options o = {.timeout_ms = g->timeout_ms, .caller = &caller};
        ProtobufCMessage *reply = NULL;
        code = xd_client_call(client, &o, md->name, in, md->output, arena, &reply, &err);
        if (code == XD_OK) {
            xc_print(stdout, reply, g->format);
            rc = 0;
        }
        xd_client_close(client);
    }
    if (code != XD_OK) {
        fprintf(stderr, "xdctl: %s: %s\n", xd_code_name(code), err.message);
        if (err.field[0])
            fprintf(stderr, "xdctl: field: %s\n", err.field);
    }
    if (key) {
        memset(key, 0, strlen(key));
        free(key);
    }
    xd_arena_free(arena);
    return rc;
}

/* Removes the flags that may appear anywhere (--json, --csv, --help). */
static int take_flag(int *argc, char **argv, const char *flag)
{
    int found = 0;
    for (int i = 0; i < *argc;) {
        if (strcmp(argv[i], flag) == 0) {
            memmove(&argv[i], &argv[i + 1], sizeof(char *) * (size_t)(*argc - i - 1));
            (*argc)--;
            found = 1;
        } else {
            i++;
        }
    }
    return found;
}

int main(int argc, char **argv)
{
    globals g = {.timeout_ms = 10000};
    argc--;
    argv++;
    int help = take_flag(&argc, argv, "--help") | take_flag(&argc, argv, "-h");
    if (take_flag(&argc, argv, "--json"))
        g.format = XC_JSON;
    if (take_flag(&argc, argv, "--csv"))
        g.format = g.format == XC_JSON ? XC_JSON : XC_CSV;
    int i = 0;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "xdctl: option %s needs a value\n", argv[i]);
            return EXIT_USAGE;
        }
        if (strcmp(argv[i], "--gateway") == 0)
            g.gateway = v;
        else if (strcmp(argv[i], "--key") == 0)
            g.key = v;
        else if (strcmp(argv[i], "--key-file") == 0)
            g.key_file = v;
        else if (strcmp(argv[i], "--ca") == 0)
            g.ca = v;
        else if (strcmp(argv[i], "--timeout") == 0)
            g.timeout_ms = atoll(v);
        else {
            fprintf(stderr, "xdctl: unknown option '%s' (try --help)\n", argv[i]);
            return EXIT_USAGE;
        }
        i++;
    }
    if (i >= argc) {
        print_help(NULL);
        return help ? 0 : EXIT_USAGE;
    }
    const char *word = argv[i++];
    const xc_command *cmd = NULL;
    int is_group = 0;
    for (int k = 0; k < xc_n_commands && !cmd; k++) {
        const xc_command *c = &xc_commands[k];
        if (!c->group && strcmp(c->name, word) == 0)
            cmd = c;
        else if (c->group && strcmp(c->group, word) == 0) {
            is_group = 1;
            if (i < argc && strcmp(c->name, argv[i]) == 0)
                cmd = c;
        }
    }
    if (!cmd) {
        if (is_group) {
            print_help(word);
            return help ? 0 : EXIT_USAGE;
        }
        fprintf(stderr, "xdctl: unknown command '%s' (try --help)\n", word);
        return EXIT_USAGE;
    }
    if (cmd->group)
        i++;
    if (help) {
        print_command_help(cmd);
        return 0;
    }
    if (!cmd->method)
        return xc_bootstrap(argc - i, argv + i);
    json_t *req = NULL;
    const char *method = cmd->method;
    if (!cmd->method[0]) { /* call METHOD [JSON] */
        if (i >= argc || argc - i > 2) {
            print_command_help(cmd);
            return EXIT_USAGE;
        }
        method = argv[i];
        json_error_t je;
        req = i + 1 < argc ? json_loads(argv[i + 1], JSON_REJECT_DUPLICATES, &je) : json_object();
        if (!req) {
            fprintf(stderr, "xdctl: the request is not valid JSON: %s\n", je.text);
            return EXIT_USAGE;
        }
    } else {
        req = json_object();
        if (xc_build(cmd, argc - i, argv + i, req) != 0) {
            json_decref(req);
            return EXIT_USAGE;
        }
    }
    int rc = call(&g, method, req);
    json_decref(req);
    return rc;
}
