#!/bin/sh
# dkim_check.sh MESSAGE RECORD_NAME CHUNKS_FILE
# Verifies the DKIM signature of MESSAGE (as stored by smtp-sink) with the two
# independent, unmodified verifiers: dkimverify (python3-dkim) and
# opendkim-testmsg (libopendkim). Both look the key up in DNS, so they run in
# a private network and mount namespace (unshare; needs root) where a
# dnsmasq on 127.0.0.1:53 serves exactly one TXT record: RECORD_NAME with the
# character-strings in CHUNKS_FILE (one per line, as CreateDkimKey returned
# them). Nothing reaches public DNS. Prints one line per verifier; exit 0
# only when both pass.
set -u
msg=$1 name=$2 chunks=$3
work=$(mktemp -d /tmp/xd-dkimcheck-XXXXXX)
trap 'rm -rf "$work"' EXIT
# smtp-sink adds its own trace headers (unsigned) and stores LF line ends:
# restore the CRLF form that was signed and sent.
sed -e '/^X-Client-Addr:/d;/^X-Client-Proto:/d;/^X-Helo-Args:/d;/^X-Mail-Args:/d' \
    -e '/^X-Rcpt-Args:/d' -e 's/\r$//' -e 's/$/\r/' "$msg" >"$work/msg.eml"
{
  printf 'no-resolv\nno-hosts\nlisten-address=127.0.0.1\nbind-interfaces\nport=53\n'
  printf 'txt-record=%s' "$name"
  while IFS= read -r c; do printf ',"%s"' "$c"; done <"$chunks"
  printf '\n'
} >"$work/dnsmasq.conf"
printf 'nameserver 127.0.0.1\noptions timeout:2 attempts:2\n' >"$work/resolv.conf"
timeout 60 unshare --net --mount -- /bin/sh -c '
  work=$1
  ip link set lo up || exit 3
  mount --bind "$work/resolv.conf" /etc/resolv.conf || exit 3
  /usr/sbin/dnsmasq --conf-file="$work/dnsmasq.conf" --pid-file="$work/dnsmasq.pid" \
      --user=root --log-facility="$work/dnsmasq.log" || exit 3
  rc=0
  out=$(/usr/bin/python3 /usr/bin/dkimverify <"$work/msg.eml" 2>&1); r=$?
  echo "dkimverify: exit $r: $out"
  [ $r -eq 0 ] || rc=1
  out=$(/usr/sbin/opendkim-testmsg <"$work/msg.eml" 2>&1); r=$?
  echo "opendkim-testmsg: exit $r: ${out:-signature verified}"
  [ $r -eq 0 ] || rc=1
  kill "$(cat "$work/dnsmasq.pid")" 2>/dev/null
  exit $rc
' sh "$work"
exit $?
