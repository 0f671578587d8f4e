#!/bin/sh
# opendkim_verify.sh DNSFILE WORKDIR MSG...
# Verifies every DKIM-Signature of every MSG with opendkim-testmsg (the
# unmodified tool, libopendkim's own DNS path) inside a private network and
# mount namespace: loopback only, /etc/resolv.conf bind-mounted to point at
# a dnsmasq that serves the TXT records of DNSFILE ("<name> <TXT>" lines;
# values over 255 octets are split into several strings). Each signature is
# checked alone, because opendkim-testmsg passes when any one signature does.
# Exit 0 only when every signature of every message passes.
set -u
if [ "${XD_IN_NS:-}" != 1 ]; then
    XD_IN_NS=1 exec unshare --net --mount "$0" "$@"
fi
dns=$1; work=$2; shift 2
here=$(dirname "$0")
ip link set lo up || exit 3
printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:2\n' > "$work/resolv.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf || exit 3
: > "$work/dnsmasq.args"
rm -f "$work/dnsmasq.pid"
while IFS=' ' read -r name value; do
    [ -n "$name" ] || continue
    chunks=$(printf '%s' "$value" | /usr/bin/python3 -c 'import sys; v=sys.stdin.read(); print(",".join(v[i:i+255] for i in range(0,len(v),255)))')
    printf -- '--txt-record=%s,%s\n' "$name" "$chunks" >> "$work/dnsmasq.args"
done < "$dns"
tr '\n' '\0' < "$work/dnsmasq.args" | xargs -0 dnsmasq --keep-in-foreground --no-resolv \
    --no-hosts --listen-address=127.0.0.1 --bind-interfaces --port=53 --user=root \
    --pid-file="$work/dnsmasq.pid" 2>"$work/dnsmasq.log" &
for _ in 1 2 3 4 5 6 7 8 9 10; do
    [ -s "$work/dnsmasq.pid" ] && break
    sleep 0.1
done
status=0
for msg in "$@"; do
    n=$(/usr/bin/python3 "$here/dkim_tools.py" split-sigs "$msg" "$work/one") || exit 3
    [ "$n" -gt 0 ] || { echo "$msg: no DKIM-Signature"; status=1; }
    i=0
    while [ "$i" -lt "$n" ]; do
        if opendkim-testmsg -t "$work" < "$work/one.$i"; then
            echo "$msg: opendkim sig $i -> pass"
        else
            echo "$msg: opendkim sig $i -> FAIL"
            status=1
        fi
        i=$((i + 1))
    done
done
kill "$(cat "$work/dnsmasq.pid")" 2>/dev/null
exit $status
