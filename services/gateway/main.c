/* main.c: xd-gateway: serve the public API, or bootstrap the first operator key.
 *
 *   xd-gateway [--config FILE]
 *   xd-gateway --bootstrap-operator [--data-dir DIR] [--pepper-file FILE] [--label TEXT]
 * Bootstrap writes straight into DIR/gateway.db on this host (default: the
 * data_dir setting's default, or $XD_GATEWAY_DATA_DIR), so run it as the user
 * that runs the gateway; it may run while the gateway serves (SQLite WAL). */
#include "gw_handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bootstrap(int argc, char **argv)
{
    const char *data_dir = getenv("XD_GATEWAY_DATA_DIR");
    const char *pepper = getenv("XD_GATEWAY_PEPPER_FILE");
    const char *label = "bootstrap";
    if (!data_dir || !data_dir[0])
        data_dir = "./.xdmail/data";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bootstrap-operator") == 0)
            continue;
        if (i + 1 < argc && strcmp(argv[i], "--data-dir") == 0)
            data_dir = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--pepper-file") == 0)
            pepper = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--label") == 0)
            label = argv[++i];
        else {
            fprintf(stderr, "usage: xd-gateway --bootstrap-operator [--data-dir DIR] "
                            "[--pepper-file FILE] [--label TEXT]\n");
            return 1;
        }
    }
    return gw_bootstrap_operator(data_dir, pepper, label, 1);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--bootstrap-operator") == 0)
            return bootstrap(argc, argv);
    return xd_service_main(argc, argv, gw_service_def());
}
