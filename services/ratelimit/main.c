/* main.c: xd-ratelimit: recipient-counted limits, connection leases and
 * sender reputation over NNG (see README.md). */
#include "ratelimit.pb-c.h"
#include "rl_service.h"
#include "xd/service.h"

int main(int argc, char **argv)
{
    const xd_service_def def = {
        .name = "ratelimit",
        .default_listen = "tcp://127.0.0.1:7402",
        .descriptor = &xd__ratelimit__descriptor,
        .methods = rl_methods,
        .n_methods = rl_n_methods,
        .config = rl_config_items,
        .n_config = rl_n_config_items,
        .init = rl_service_init,
        .fini = rl_service_fini,
    };
    return xd_service_main(argc, argv, &def);
}
