/* service.c: the daemon skeleton (config, logging, serve until SIGTERM). */
#include "xd/service.h"
#include "xd/log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_int service_stopping;

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};

int xd_service_stopping(void)
{
    return atomic_load(&service_stopping);
}

const char *xd_service_data_dir(const xd_config *cfg)
{
    return xd_config_str(cfg, "data_dir");
}

void xd_service_path(const xd_config *cfg, const char *name, char *out, unsigned out_size)
{
    snprintf(out, out_size, "%s/%s", xd_service_data_dir(cfg), name);
}

static void usage(const xd_service_def *def, const xd_config *cfg)
{
    printf("usage: xd-%s [--config FILE]\n\n"
           "Serves the xdmail %s RPC service until SIGTERM.\n"
           "Configuration: built-in defaults < FILE (key = value lines) < environment\n"
           "variables XD_%s_<KEY> (upper case, '.' as '_'). Current values:\n",
           def->name, def->name, def->name);
    fflush(stdout);
    if (cfg)
        xd_config_print(cfg, 1);
}

/* tcp:// and tls+tcp:// listeners on other than loopback need TLS or consent. */
static int is_loopback_or_local(const char *url)
{
    if (strncmp(url, "ipc://", 6) == 0 || strncmp(url, "inproc://", 9) == 0 ||
        strncmp(url, "tls+tcp://", 10) == 0)
        return 1;
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    return strncmp(host, "127.", 4) == 0 || strncmp(host, "[::1]", 5) == 0 ||
           strncmp(host, "localhost:", 10) == 0;
}

/* Loads the common keys plus the service's; *items_out must outlive *out. */
static xd_code load_config(const xd_service_def *def, const char *file, xd_config **out,
                           xd_config_item **items_out, xd_err *err)
{
    const xd_config_item common[] = {
        {"listen", XD_CFG_STRING, def->default_listen,
         "RPC listen URL (tcp://, ipc://, tls+tcp://)", .required = 1},
        {"log_level", XD_CFG_ENUM, "info", "lowest level logged", .choices = log_levels},
        {"workers", XD_CFG_INT, "8", "handler threads", 1, 256},
        {"max_request_bytes", XD_CFG_SIZE, "16m", "largest request accepted", 1024, 256 << 20},
        {"data_dir", XD_CFG_STRING, "./.xdmail/data", "directory for the SQLite files",
         .required = 1},
        {"tls_cert", XD_CFG_STRING, "", "PEM certificate for a tls+tcp:// listener"},
        {"tls_key", XD_CFG_STRING, "", "PEM private key for a tls+tcp:// listener", .secret = 1},
        {"allow_plaintext_remote", XD_CFG_BOOL, "false",
         "allow a plain tcp:// listener on a non-loopback address"},
    };
    int n_common = (int)(sizeof(common) / sizeof(common[0]));
    int n = n_common + def->n_config;
    xd_config_item *items = calloc((size_t)n, sizeof(*items));
    if (!items)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    memcpy(items, common, sizeof(common));
    if (def->n_config)
        memcpy(items + n_common, def->config, (size_t)def->n_config * sizeof(*items));
    xd_code rc = xd_config_load(def->name, items, n, file, out, err);
    if (rc != XD_OK)
        free(items);
    else
        *items_out = items;
    return rc;
}

int xd_service_main(int argc, char **argv, const xd_service_def *def)
{
    const char *file = NULL;
    char env_name[128];
    xd_config_env_name(def->name, "config", env_name, sizeof(env_name));
    file = getenv(env_name);
    int want_help = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            want_help = 1;
        else {
            fprintf(stderr, "xd-%s: unknown argument '%s' (try --help)\n", def->name, argv[i]);
            return 2;
        }
    }
    xd_err err;
    xd_err_clear(&err);
    xd_config *cfg = NULL;
    xd_config_item *items = NULL;
    if (load_config(def, file, &cfg, &items, &err) != XD_OK) {
        fprintf(stderr, "xd-%s: configuration error: %s\n", def->name, err.message);
        return 2;
    }
    int rc = 0;
    if (want_help) {
        usage(def, cfg);
        goto out;
    }
    xd_log_init(def->name, (xd_log_level)xd_log_level_parse(xd_config_str(cfg, "log_level")));
    const char *listen = xd_config_str(cfg, "listen");
    if (!is_loopback_or_local(listen) && !xd_config_bool(cfg, "allow_plaintext_remote")) {
        XD_ERROR("listen URL %s is plain TCP on a non-loopback address: use tls+tcp:// with "
                 "tls_cert/tls_key, or set allow_plaintext_remote=true",
                 listen);
        rc = 2;
        goto out;
    }
    const char *data_dir = xd_service_data_dir(cfg);
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
        XD_ERROR("cannot create data_dir %s: %s", data_dir, strerror(errno));
        rc = 2;
        goto out;
    }

    /* Signals go to the main thread only: block them before any thread starts. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    void *ctx = NULL;
    if (def->init && def->init(cfg, &ctx, &err) != XD_OK) {
        XD_ERROR("start-up failed: %s", err.message);
        rc = 2;
        goto out;
    }
    xd_server_options opts = {
        .url = listen,
        .service_name = def->name,
        .workers = (int)xd_config_int(cfg, "workers"),
        .max_request_bytes = xd_config_int(cfg, "max_request_bytes"),
        .service_ctx = ctx,
        .tls_cert_file = xd_config_str(cfg, "tls_cert"),
        .tls_key_file = xd_config_str(cfg, "tls_key"),
    };
    xd_server *server = NULL;
    if (xd_server_start(&opts, def->descriptor, def->methods, def->n_methods, &server, &err) !=
        XD_OK) {
        XD_ERROR("cannot serve: %s", err.message);
        if (def->fini)
            def->fini(ctx);
        rc = 2;
        goto out;
    }
    XD_INFO("serving %s on %s (version %s)", def->descriptor->name, listen, XD_VERSION_STRING);
    int sig = 0;
    while (sigwait(&stop_signals, &sig) != 0)
        ;
    atomic_store(&service_stopping, 1);
    XD_INFO("signal %d: finishing in-flight requests", sig);
    int closed = xd_server_stop(server) == 0;
    if (def->fini)
        def->fini(ctx);
    XD_INFO("stopped");
    if (!closed) {
        /* NNG's at-exit clean-up would wait on the same stuck socket: the
         * service's own state is closed (fini), so leave without it. */
        fflush(NULL);
        _exit(rc);
    }
out:
    xd_config_free(cfg);
    free(items);
    return rc;
}
