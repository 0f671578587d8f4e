/* main.c: xd-ticket, the support ticket service. */
#include "context.h"
#include "handlers.h"
#include "ticket.pb-c.h"
#include "xd/service.h"

int main(int argc, char **argv)
{
    const xd_service_def def = {
        .name = "ticket",
        .default_listen = "tcp://127.0.0.1:7404",
        .descriptor = &xd__ticket__descriptor,
        .methods = ticket_methods,
        .n_methods = ticket_method_count,
        .config = ticket_config,
        .n_config = ticket_config_count,
        .init = ticket_init,
        .fini = ticket_fini,
    };
    return xd_service_main(argc, argv, &def);
}
