/* main.c: xd-verify, the verify daemon. Everything is in the core library. */
#include "verify.pb-c.h"
#include "vf_service.h"
#include "xd/service.h"

int main(int argc, char **argv)
{
    xd_service_def def = {
        .name = "verify",
        .default_listen = "tcp://127.0.0.1:7403",
        .descriptor = &xd__verify__descriptor,
        .methods = vf_methods,
        .n_methods = vf_n_methods,
        .config = vf_config_items,
        .n_config = vf_n_config_items,
        .init = vf_service_init,
        .fini = vf_service_fini,
    };
    return xd_service_main(argc, argv, &def);
}
