#!/usr/bin/python3
"""Independent DKIM checks for the sender tests (run with Debian's python3).

verify DNSFILE MSG...    every DKIM-Signature of every MSG must verify with
                         dkimpy, reading keys from DNSFILE ("<name> <TXT>" per
                         line) instead of DNS; prints one line per signature.
split-sigs MSG PREFIX    writes PREFIX.<i> = MSG keeping only its i-th
                         DKIM-Signature, for each i (so a verifier that stops
                         at the first good signature checks each one on its
                         own); prints the count.
"""
import re
import sys


def load_dns(path):
    records = {}
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\r\n")
            if line:
                name, value = line.split(b" ", 1)
                records[name.rstrip(b".") + b"."] = value
    return records


def split(msg):
    head, body = msg.split(b"\r\n\r\n", 1)
    fields = re.split(rb"\r\n(?![ \t])", head)
    return fields, body


def verify(dns_path, paths):
    import dkim  # slow to import: only here

    records = load_dns(dns_path)

    def dnsfunc(name, timeout=5):
        return records.get(name if name.endswith(b".") else name + b".")

    ok = True
    for p in paths:
        msg = open(p, "rb").read()
        fields, _ = split(msg)
        n = sum(1 for f in fields if f.lower().startswith(b"dkim-signature:"))
        if n == 0:
            print(f"{p}: no DKIM-Signature")
            ok = False
        d = dkim.DKIM(msg)
        for i in range(n):
            res = d.verify(idx=i, dnsfunc=dnsfunc)
            sig = d.signature_fields
            print(f"{p}: sig {i} a={sig.get(b'a', b'').decode()} "
                  f"h={sig.get(b'h', b'').decode()} -> {'pass' if res else 'FAIL'}")
            ok = ok and bool(res)
    return 0 if ok else 1


def split_sigs(src, prefix):
    fields, body = split(open(src, "rb").read())
    sigs = [f for f in fields if f.lower().startswith(b"dkim-signature:")]
    rest = [f for f in fields if not f.lower().startswith(b"dkim-signature:")]
    for i, sig in enumerate(sigs):
        with open(f"{prefix}.{i}", "wb") as f:
            f.write(b"\r\n".join([sig] + rest) + b"\r\n\r\n" + body)
    print(len(sigs))
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "verify":
        sys.exit(verify(sys.argv[2], sys.argv[3:]))
    if len(sys.argv) == 4 and sys.argv[1] == "split-sigs":
        sys.exit(split_sigs(sys.argv[2], sys.argv[3]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
