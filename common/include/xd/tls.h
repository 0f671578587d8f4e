/*
 * tls.h: NNG TLS configurations from PEM files, shared by every listener
 * (RPC tls+tcp://, the gateway's HTTPS) and dialer.
 *
 * The caller owns the returned nng_tls_config (nng_tls_config_free). Key
 * material read from disk is wiped from memory once NNG has parsed it.
 * Thread-safety: no shared state.
 */
#ifndef XD_TLS_H
#define XD_TLS_H

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include "xd/status.h"

/* A server configuration from a certificate (chain) file and a key file. */
xd_code xd_tls_server_config(const char *cert_file, const char *key_file, nng_tls_config **out,
                             xd_err *err);

/* A client configuration that verifies the peer against ca_file and, when
 * server_name is given, checks that name. */
xd_code xd_tls_client_config(const char *ca_file, const char *server_name, nng_tls_config **out,
                             xd_err *err);

#endif
