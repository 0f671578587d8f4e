#!/usr/bin/python3
"""Scripted misbehaving SMTP server for the SMTP client's fault tests.

One listening port on 127.0.0.1 per scenario; prints "PORT <scenario> <port>" for each,
then "READY". Each scenario changes one step of an otherwise normal dialogue:
  greeting / ehlo / mail / rcpt / data / dot / starttls: a reply text (CRLF-joined
  lines), or "stall" (never answer), or "close" (hang up without answering);
  rcpt_bad: the reply for recipients containing "bad" (others get rcpt / 250);
  body: "drop" (read a little of the message, then reset the connection) or
  "stall" (stop reading the message); tls: "garbage" (answer STARTTLS with 220,
  then send non-TLS bytes and hang up), "stall" (220, then never speak), "inject"
  (220 and extra plaintext in the same write), "untrusted" (220, then a real TLS
  handshake with a self-signed certificate for 127.0.0.1 made at start with openssl,
  which a verifying client must refuse); starttls_offer: announce STARTTLS;
  size: the SIZE limit announced (default 0 = none).
Stops on SIGTERM.
"""
import asyncio
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile

OK = {
    "MAIL": "250 2.1.0 Sender ok",
    "RCPT": "250 2.1.5 Recipient ok",
    "DATA": "354 End data with <CR><LF>.<CR><LF>",
    "RSET": "250 2.0.0 Reset",
    "NOOP": "250 2.0.0 Ok",
    "QUIT": "221 2.0.0 Bye",
}

LONG_LINE = "550 5.0.0 " + "x" * 100000
MANY_LINES = "\r\n".join(["250-continued line %d" % i for i in range(10000)] + ["250 end"])

SCENARIOS = {"normal": {}, "helo_fallback": {"ehlo": "502 5.5.1 EHLO not implemented"}}
for code in ("450", "451", "452", "550", "552", "554"):
    enh = code[0] + ".7.1" if code in ("554", "550") else code[0] + ".2.2"
    SCENARIOS["mail_" + code] = {"mail": "%s %s MAIL refused (%s)" % (code, enh, code)}
    SCENARIOS["rcpt_" + code] = {"rcpt_bad": "%s-%s recipient refused (%s)\r\n%s %s see policy"
                                 % (code, enh, code, code, enh)}
    SCENARIOS["data_" + code] = {"data": "%s %s DATA refused (%s)" % (code, enh, code)}
    SCENARIOS["dot_" + code] = {"dot": "%s %s message refused (%s)" % (code, enh, code)}
SCENARIOS.update({
    "greeting_421": {"greeting": "421 4.3.2 Service not available, closing channel"},
    "greeting_554": {"greeting": "554 5.7.1 No SMTP service here"},
    "ehlo_421": {"ehlo": "421 4.7.0 Too many connections"},
    "drop_mid_data": {"body": "drop"},
    "close_at_rcpt": {"rcpt": "close"},
    "starttls_garbage": {"starttls_offer": True, "tls": "garbage"},
    "starttls_inject": {"starttls_offer": True, "tls": "inject"},
    "starttls_454": {"starttls_offer": True, "starttls": "454 4.7.0 TLS not available"},
    "implicit_to_plain": {},  # the client expects TLS from the first byte
    "stall_greeting": {"greeting": "stall"},
    "stall_ehlo": {"ehlo": "stall"},
    "stall_starttls": {"starttls_offer": True, "starttls": "stall"},
    "stall_tls_handshake": {"starttls_offer": True, "tls": "stall"},
    "starttls_untrusted": {"starttls_offer": True, "tls": "untrusted"},
    "stall_mail": {"mail": "stall"},
    "stall_rcpt": {"rcpt": "stall"},
    "stall_data": {"data": "stall"},
    "stall_body": {"body": "stall"},
    "stall_dot": {"dot": "stall"},
    "malformed_greeting": {"greeting": "hello, I am not SMTP"},
    "malformed_mail": {"mail": "2500 ok"},
    "malformed_multiline": {"rcpt": "250-first line\r\n550 second line disagrees"},
    "long_line_rcpt": {"rcpt": LONG_LINE},
    "many_lines_rcpt": {"rcpt": MANY_LINES},
    "garbage_bytes_mail": {"mail": "\x00\x01\x02\xff\xfe garbage"},
    "size_limit": {"size": "1000"},
})


async def stall():
    await asyncio.sleep(3600)


TLS_CTX = [None]  # server context with the self-signed certificate


def make_tls_ctx():
    """A self-signed EC certificate for 127.0.0.1 in a temp dir (removed at once)."""
    d = tempfile.mkdtemp(prefix="xd-fault-tls.")
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-keyout", os.path.join(d, "k.pem"), "-out", os.path.join(d, "c.pem"),
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(os.path.join(d, "c.pem"), os.path.join(d, "k.pem"))
        return ctx
    finally:
        shutil.rmtree(d, ignore_errors=True)


async def session(spec, reader, writer):
    async def send(text):
        writer.write(text.encode("latin-1") + b"\r\n")
        await writer.drain()

    greeting = spec.get("greeting", "220 fault.test ESMTP scripted")
    if greeting == "stall":
        return await stall()
    await send(greeting)
    while True:
        line = await reader.readline()
        if not line:
            return
        cmd = line.decode("latin-1").rstrip("\r\n")
        verb = cmd.split(" ", 1)[0].upper()
        action = spec.get(verb.lower())
        if verb == "RCPT" and "bad" in cmd.lower() and "rcpt_bad" in spec:
            action = spec["rcpt_bad"]
        if action == "stall":
            return await stall()
        if action == "close":
            writer.close()
            return
        if verb in ("EHLO", "HELO") and action is None:
            ext = ["fault.test", "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES",
                   "SIZE " + spec.get("size", "0")]
            if spec.get("starttls_offer"):
                ext.append("STARTTLS")
            action = "\r\n".join("250-" + e for e in ext[:-1]) + "\r\n250 " + ext[-1]
            if verb == "HELO":
                action = "250 fault.test"
        if verb == "STARTTLS" and action is None:
            tls = spec.get("tls")
            if tls == "inject":
                writer.write(b"220 2.0.0 Ready\r\n250 injected before TLS\r\n")
                await writer.drain()
                return await stall()
            await send("220 2.0.0 Ready to start TLS")
            if tls == "stall":
                return await stall()
            if tls == "untrusted":
                try:  # a real handshake; the verifying client aborts it
                    await writer.start_tls(TLS_CTX[0])
                except (ssl.SSLError, ConnectionError, OSError):
                    pass
                writer.transport.abort()
                return
            await reader.read(512)  # the ClientHello
            writer.write(b"this is not a TLS record\r\n")
            await writer.drain()
            writer.close()
            return
        if action is None:
            action = OK.get(verb, "502 5.5.2 Command not recognized")
        await send(action)
        if verb == "QUIT":
            writer.close()
            return
        if verb == "DATA" and action.startswith("354"):
            body = spec.get("body")
            if body == "drop":
                await reader.read(1000)
                writer.transport.abort()  # reset while the client is still writing
                return
            if body == "stall":
                return await stall()
            while True:
                bl = await reader.readline()
                if not bl:
                    return
                if bl == b".\r\n":
                    break
            dot = spec.get("dot", "250 2.0.0 Ok: queued")
            if dot == "stall":
                return await stall()
            await send(dot)


async def main():
    loop = asyncio.get_running_loop()
    TLS_CTX[0] = make_tls_ctx()
    servers = []
    for name, spec in SCENARIOS.items():
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if spec.get("body") in ("drop", "stall"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fill up quickly
        sock.bind(("127.0.0.1", 0))

        def handler(r, w, spec=spec):
            return session(spec, r, w)
        srv = await asyncio.start_server(handler, sock=sock, limit=1 << 20)
        servers.append(srv)
        print("PORT %s %d" % (name, sock.getsockname()[1]), flush=True)
    print("READY", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    for srv in servers:
        srv.close()


if __name__ == "__main__":
    asyncio.run(main())
