/* xt_peers.c: smtp-sink, aiosmtpd, dnsmasq and test certificates. */
#include "xt_peers.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xt_util.h"

int xt_make_certs(const char *dir)
{
    return xt_sh("set -e; cd '%s'; "
                 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                 "  -keyout ca.key -out ca.pem -days 2 -subj '/CN=xdmail e2e CA' 2>/dev/null; "
                 "for n in server:localhost wrong:wrong.example; do f=${n%%%%:*}; h=${n#*:}; "
                 "  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                 "    -keyout $f.key -out $f.csr -subj \"/CN=$h\" 2>/dev/null; "
                 "  printf 'subjectAltName=DNS:%%s,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n"
                 "extendedKeyUsage=serverAuth\\n' $h > $f.ext; "
                 "  openssl x509 -req -in $f.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
                 "    -extfile $f.ext -out $f.pem 2>/dev/null; "
                 "done; chmod 644 *.pem *.key",
                 dir);
}

/* ---------------------------------------------------------------- sink */

int xt_sink_start(xt_sink *k, const char *dir, const char *addr, int port, const char *const *extra)
{
    if (dir != k->dir) /* a restart passes k->dir itself */
        snprintf(k->dir, sizeof k->dir, "%s", dir);
    snprintf(k->addr, sizeof k->addr, "%s", addr ? addr : "127.0.0.1");
    k->port = port > 0 ? port : xt_free_tcp_port();
    mkdir(k->dir, 0777);
    chmod(k->dir, 0777);
    char listen[96], log[600];
    snprintf(listen, sizeof listen, "%s:%d", k->addr, k->port);
    snprintf(log, sizeof log, "%s.log", k->dir);
    char *argv[32];
    int a = 0;
    argv[a++] = "/usr/sbin/smtp-sink";
    if (geteuid() == 0) {
        argv[a++] = "-u";
        argv[a++] = "nobody";
    }
    argv[a++] = "-d";
    char tmpl[600];
    snprintf(tmpl, sizeof tmpl, "%s/%%H%%M%%S.", k->dir);
    argv[a++] = tmpl;
    for (int i = 0; extra && extra[i] && a < 28; i++)
        argv[a++] = (char *)extra[i];
    argv[a++] = listen;
    argv[a++] = "1024";
    argv[a] = NULL;
    if (xt_proc_spawn(&k->proc, argv, NULL, log) != 0)
        return -1;
    return xt_wait_tcp(k->addr, k->port, 5000);
}

void xt_sink_stop(xt_sink *k)
{
    xt_proc_stop(&k->proc, 3000);
}

int xt_sink_messages(const xt_sink *k)
{
    DIR *d = opendir(k->dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    if (d)
        closedir(d);
    return n;
}

/* --------------------------------------------------------------- relay */

int xt_relay_start(xt_relay *r, const char *source_dir, const char *certs_dir, const char *out_dir,
                   const char *user, const char *password)
{
    char script[700], log[600];
    snprintf(script, sizeof script, "%s/tests/integration/sender_smtp/tls_auth_server.py",
             source_dir);
    snprintf(r->out, sizeof r->out, "%s", out_dir);
    mkdir(r->out, 0700);
    snprintf(log, sizeof log, "%s.log", out_dir);
    char *argv[] = {
        "/usr/bin/python3", script,       "--certs",    (char *)certs_dir, "--out", (char *)out_dir,
        "--user",           (char *)user, "--password", (char *)password,  NULL};
    r->starttls_port = 0;
    if (xt_proc_spawn(&r->proc, argv, NULL, log) != 0)
        return -1;
    /* It prints "PORT starttls <n>" ... "READY" (stdout goes to the log). */
    for (int64_t end = xt_now_ms() + 15000; xt_now_ms() < end && xt_proc_alive(&r->proc);) {
        char *text = xt_read_file(log, NULL);
        const char *p = text ? strstr(text, "PORT starttls ") : NULL;
        int ready = text && strstr(text, "READY") != NULL;
        if (p)
            r->starttls_port = atoi(p + 14);
        free(text);
        if (ready && r->starttls_port > 0)
            return 0;
        xt_sleep_ms(50);
    }
    xt_proc_dump_log(&r->proc, 20);
    xt_relay_stop(r);
    return -1;
}

void xt_relay_stop(xt_relay *r)
{
    xt_proc_stop(&r->proc, 3000);
}

/* ----------------------------------------------------------------- dns */

/* One TXT query for probe.test; 1 when dnsmasq answered within wait_ms. */
static int dns_probe(int port, int wait_ms)
{
    static const unsigned char q[] = {0x12, 0x34, 0x01, 0x00, 0,   1,   0,   0,   0, 0,
                                      0,    0,    5,    'p',  'r', 'o', 'b', 'e', 4, 't',
                                      'e',  's',  't',  0,    0,   16,  0,   1};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = 0;
    if (sendto(fd, q, sizeof q, 0, (struct sockaddr *)&sa, sizeof sa) == (ssize_t)sizeof q) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        unsigned char reply[512];
        ok = poll(&p, 1, wait_ms) == 1 && recv(fd, reply, sizeof reply, 0) >= 12 &&
             reply[0] == 0x12 && reply[1] == 0x34;
    }
    close(fd);
    return ok;
}

int xt_dns_start(xt_dns *d, const char *conf_dir, const char *const *lines)
{
    snprintf(d->conf, sizeof d->conf, "%s/dnsmasq.conf", conf_dir);
    FILE *f = fopen(d->conf, "w");
    if (!f)
        return -1;
    fprintf(f, "no-resolv\nno-hosts\nlisten-address=127.0.0.1\nbind-interfaces\n"
               "local=/test/\nlocal-ttl=60\ntxt-record=probe.test,ready\n");
    for (int i = 0; lines && lines[i]; i++)
        fprintf(f, "%s\n", lines[i]);
    fclose(f);
    char log[600];
    snprintf(log, sizeof log, "%s/dnsmasq.log", conf_dir);
    for (int attempt = 0; attempt < 3; attempt++) {
        d->port = xt_free_udp_port();
        char port_opt[32], conf_opt[600], pid_opt[600];
        snprintf(port_opt, sizeof port_opt, "--port=%d", d->port);
        snprintf(conf_opt, sizeof conf_opt, "--conf-file=%s", d->conf);
        snprintf(pid_opt, sizeof pid_opt, "--pid-file=%s/dnsmasq.pid", conf_dir);
        char *argv[] = {"/usr/sbin/dnsmasq", "--no-daemon", pid_opt, conf_opt, port_opt, NULL};
        if (xt_proc_spawn(&d->proc, argv, NULL, log) != 0)
            return -1;
        for (int waited = 0; waited < 5000 && xt_proc_alive(&d->proc); waited += 50)
            if (dns_probe(d->port, 50))
                return 0;
        if (xt_proc_alive(&d->proc))
            break; /* running but silent: another port will not help */
    }
    xt_proc_dump_log(&d->proc, 20);
    xt_dns_stop(d);
    return -1;
}

void xt_dns_stop(xt_dns *d)
{
    xt_proc_stop(&d->proc, 3000);
}
