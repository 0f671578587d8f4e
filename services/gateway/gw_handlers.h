/*
 * gw_handlers.h: the gateway's NNG face and its service definition.
 *
 * gw_nng_methods() gives one xd_method_impl per Gateway method, all routed to
 * gw_api_dispatch(). gw_service_def() is what main.c hands to
 * xd_service_main(): config keys, init (store, service clients, HTTP face)
 * and fini. Thread-safety: the table is built once, before serving starts.
 */
#ifndef GW_HANDLERS_H
#define GW_HANDLERS_H

#include "xd/service.h"
#include "gw_api.h"

const xd_method_impl *gw_nng_methods(int *n_out);

/* The gateway's service definition (static storage). */
const xd_service_def *gw_service_def(void);

/* Writes the first operator key straight into <data_dir>/gateway.db on this
 * host (no running gateway needed) and prints it once on out. pepper_file
 * NULL or "" = <data_dir>/gateway.pepper. */
int gw_bootstrap_operator(const char *data_dir, const char *pepper_file, const char *label,
                          int out_fd);

#endif
