/*
 * xt_peers.h: the real peers of the e2e tests on loopback: Postfix's
 * smtp-sink (one file per message), aiosmtpd with STARTTLS + AUTH (the
 * sender tests' tls_auth_server.py), dnsmasq serving MX/A/TXT records on a
 * free UDP port, and a throwaway CA with a certificate for 127.0.0.1.
 * Memory: the structs are caller-owned values; *_stop releases what they
 * hold. Thread-safety: one thread starts and stops a peer; counting a
 * sink's files may run in any thread.
 */
#ifndef XT_PEERS_H
#define XT_PEERS_H

#include "xt_proc.h"

/* Makes <dir>/ca.pem, server.pem/key (CN localhost, SAN localhost and
 * 127.0.0.1) and wrong.pem/key (wrong.example) with openssl. 0 or -1. */
int xt_make_certs(const char *dir);

typedef struct xt_sink {
    xt_proc proc;
    char dir[512]; /* one file per message: X-Rcpt-Args headers, then it */
    char addr[64];
    int port;
} xt_sink;

/* smtp-sink on addr:port (port 0 = a free one) writing each message into
 * dir (created 0777: smtp-sink drops to nobody, so dir's parent must be
 * traversable by others, e.g. 0711). extra = more smtp-sink
 * options ("-r rcpt", "-W data:30", "-q ."), NULL-ended, or NULL. */
int xt_sink_start(xt_sink *k, const char *dir, const char *addr, int port,
                  const char *const *extra);
/* Stops it, keeps the files. Restart on the same port with new options by
 * calling xt_sink_start again with k->port. */
void xt_sink_stop(xt_sink *k);
/* Messages (files) in the sink's folder. */
int xt_sink_messages(const xt_sink *k);

typedef struct xt_relay {
    xt_proc proc;
    char out[512]; /* <n>.eml per message with X-TLS / X-Auth-Mech lines */
    int starttls_port;
} xt_relay;

/* aiosmtpd (Debian's /usr/bin/python3) requiring STARTTLS then AUTH with
 * user/password, certificates from certs_dir (xt_make_certs); messages in
 * out_dir. Waits (bounded, 15 s) until it listens. */
int xt_relay_start(xt_relay *r, const char *source_dir, const char *certs_dir, const char *out_dir,
                   const char *user, const char *password);
void xt_relay_stop(xt_relay *r);

typedef struct xt_dns {
    xt_proc proc;
    int port;
    char conf[512];
} xt_dns;

/* dnsmasq on 127.0.0.1:<free UDP port> answering only the conf lines given
 * (dnsmasq.conf syntax: "mx-host=a.test,mx.a.test,10", NULL-ended), NXDOMAIN
 * for other *.test names, no upstream. conf_dir holds its files. Waits
 * (bounded, 5 s) until it answers. */
int xt_dns_start(xt_dns *d, const char *conf_dir, const char *const *lines);
void xt_dns_stop(xt_dns *d);

#endif
