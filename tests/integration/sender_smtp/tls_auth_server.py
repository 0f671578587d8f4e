#!/usr/bin/python3
"""aiosmtpd peers for the SMTP client tests (run with Debian's /usr/bin/python3).

Listens on 127.0.0.1, one port per mode, and prints "PORT <mode> <port>" for each,
then "READY". Modes:
  starttls  STARTTLS required before MAIL, AUTH PLAIN/LOGIN (only after TLS), SMTPUTF8
  wronghost like starttls, but its certificate names wrong.example
  plain     no TLS, no AUTH, no SMTPUTF8
  implicit  TLS from the first byte (port 465 style), AUTH PLAIN/LOGIN
Each accepted message is written to OUTDIR/<n>.eml with X- lines saying the envelope,
whether TLS was on, which AUTH mechanism was used and the SNI name last received. Stops on SIGTERM.
"""
import argparse
import asyncio
import itertools
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


LAST_SNI = [None]  # server name the client sent in its last TLS ClientHello


class Recorder:
    def __init__(self, outdir):
        self.outdir = outdir
        self.seq = itertools.count()

    async def handle_DATA(self, server, session, envelope):
        n = next(self.seq)
        lines = [
            "X-Mail-From: %s" % envelope.mail_from,
            "X-Mail-Options: %s" % " ".join(envelope.mail_options),
        ]
        lines += ["X-Rcpt-To: %s" % r for r in envelope.rcpt_tos]
        tls = session.ssl or server.transport.get_extra_info("ssl_object")
        lines.append("X-TLS: %s" % ("yes" if tls else "no"))
        lines.append("X-Auth-Mech: %s" % (session.auth_data or "none"))
        lines.append("X-SNI: %s" % (LAST_SNI[0] if tls else "none"))
        head = ("\r\n".join(lines) + "\r\n").encode()
        tmp = os.path.join(self.outdir, "%d.tmp" % n)
        with open(tmp, "wb") as f:
            f.write(head + envelope.original_content)
        os.rename(tmp, os.path.join(self.outdir, "%d.eml" % n))
        return "250 2.0.0 Message accepted"


def make_auth(user, password):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == user.encode()
              and auth_data.password == password.encode())
        return AuthResult(success=ok, handled=False, auth_data=mechanism if ok else None)
    return authenticator


def tls_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    def remember_sni(sslobj, name, context):
        LAST_SNI[0] = name
    ctx.sni_callback = remember_sni
    return ctx


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--certs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    a = ap.parse_args()
    good = tls_context(os.path.join(a.certs, "server.pem"), os.path.join(a.certs, "server.key"))
    wrong = tls_context(os.path.join(a.certs, "wrong.pem"), os.path.join(a.certs, "wrong.key"))
    rec = Recorder(a.out)
    auth = make_auth(a.user, a.password)
    loop = asyncio.get_running_loop()
    modes = {
        "starttls": (lambda: SMTP(rec, hostname="localhost", tls_context=good,
                                  require_starttls=True, authenticator=auth,
                                  auth_require_tls=True, enable_SMTPUTF8=True), None),
        "wronghost": (lambda: SMTP(rec, hostname="localhost", tls_context=wrong,
                                   require_starttls=True, authenticator=auth), None),
        "plain": (lambda: SMTP(rec, hostname="localhost"), None),
        "implicit": (lambda: SMTP(rec, hostname="localhost", authenticator=auth,
                                  auth_require_tls=False), good),
    }
    servers = []
    for name, (factory, ctx) in modes.items():
        srv = await loop.create_server(factory, host="127.0.0.1", port=0, ssl=ctx)
        servers.append(srv)
        print("PORT %s %d" % (name, srv.sockets[0].getsockname()[1]), flush=True)
    print("READY", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    for srv in servers:
        srv.close()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
