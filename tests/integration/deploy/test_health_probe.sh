#!/usr/bin/env bash
# The image's entry point and health probe against a real xd-sender on loopback, run from
# the build tree exactly as the container runs them (XD_BIN_DIR points at the binaries):
# `serve sender` starts it with data_dir = $XD_DATA_ROOT, `health sender` answers 0 and
# names the service, `backup` copies its SQLite file online (integrity ok), a probe for
# another service name fails, a TLS listener is probed with its CA and name, SIGTERM
# stops it with
# exit 0, and the probe of a stopped service fails quickly with UNAVAILABLE.
# Usage: test_health_probe.sh XD_HEALTH XD_SENDER
set -uo pipefail
HEALTH=$1
SENDER=$2
ENTRY=${XD_SOURCE_DIR:?}/deploy/container/entrypoint
tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  [ -f "$tmp/sender.log" ] && sed 's/^/  sender: /' "$tmp/sender.log" | tail -n 20
  exit 1
}

mkdir -p "$tmp/bin"
ln -s "$HEALTH" "$tmp/bin/xd-health"
ln -s "$SENDER" "$tmp/bin/xd-sender"
export XD_BIN_DIR=$tmp/bin XD_DATA_ROOT=$tmp/data

# A free loopback port: ask the kernel for one.
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export XD_SENDER_LISTEN=tcp://127.0.0.1:$port
mkdir -p "$XD_DATA_ROOT"

# Unknown service and unknown command: clear error, exit 2.
out=$("$ENTRY" serve nosuch 2>&1)
[ $? -eq 2 ] && grep -q "unknown service 'nosuch'" <<<"$out" || fail "serve nosuch: $out"
out=$("$ENTRY" frobnicate 2>&1)
[ $? -eq 2 ] && grep -q "unknown command" <<<"$out" || fail "unknown command: $out"

# Nothing listens yet: the probe fails (exit 1) with UNAVAILABLE, and fast.
start=$(date +%s%N)
out=$("$ENTRY" health sender 2>&1)
rc=$?
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
[ $rc -eq 1 ] && grep -q UNAVAILABLE <<<"$out" || fail "probe of nothing: rc=$rc $out"
[ $elapsed_ms -lt 10000 ] || fail "probe of nothing took ${elapsed_ms} ms"

"$ENTRY" serve sender >"$tmp/sender.log" 2>&1 &
pid=$!
ok=
for _ in $(seq 1 100); do
  if out=$("$ENTRY" health sender 2>&1); then
    ok=1
    break
  fi
  kill -0 "$pid" 2>/dev/null || fail "xd-sender exited during start-up"
  sleep 0.1
done
[ -n "$ok" ] || fail "sender never answered Health: $out"
grep -q '^sender SERVING version=' <<<"$out" || fail "probe output: $out"
echo "probe: $out"

# data_dir defaulted to the volume: the SQLite file is there.
[ -s "$XD_DATA_ROOT/sender.db" ] || fail "no $XD_DATA_ROOT/sender.db (data_dir default not applied)"

# Online backup while it serves: a consistent copy with the same tables, integrity ok.
out=$("$ENTRY" backup "$tmp/backup" 2>&1) || fail "backup: $out"
copy=$(ls "$tmp"/backup/sender-*.db 2>/dev/null | head -n 1)
[ -n "$copy" ] && grep -q 'integrity ok' <<<"$out" || fail "backup output: $out"
want=$(sqlite3 "$XD_DATA_ROOT/sender.db" "SELECT name FROM sqlite_master ORDER BY name")
got=$(sqlite3 "$copy" "SELECT name FROM sqlite_master ORDER BY name")
[ -n "$want" ] && [ "$want" = "$got" ] || fail "backup tables differ: '$want' vs '$got'"
out=$("$ENTRY" backup "$tmp/it's" 2>&1)
[ $? -eq 2 ] || fail "backup accepted a quote in its path: $out"

# The probe checks the service's identity, not just the port.
out=$("$HEALTH" "$XD_SENDER_LISTEN" ratelimit 2>&1)
[ $? -eq 1 ] && grep -q "answers as 'sender', expected 'ratelimit'" <<<"$out" ||
  fail "wrong-service probe: $out"
# Bad usage is exit 2.
"$HEALTH" --timeout nope "$XD_SENDER_LISTEN" >/dev/null 2>&1
[ $? -eq 2 ] || fail "bad --timeout accepted"

# SIGTERM: clean exit 0, then the probe reports it down.
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ $rc -eq 0 ] || fail "xd-sender exit status $rc after SIGTERM"
out=$("$ENTRY" health sender 2>&1)
[ $? -eq 1 ] || fail "probe after stop: $out"
# TLS listener (as the Kubernetes gateway runs): the probe verifies the certificate
# with XD_HEALTH_CA and XD_HEALTH_SERVER_NAME; a wrong name or no CA fails.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj /CN=xd-probe.test -addext subjectAltName=DNS:xd-probe.test \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1 || fail "openssl req"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Separate certificate and key files, as the Kubernetes Secret mounts them.
export XD_SENDER_LISTEN=tls+tcp://127.0.0.1:$port XD_SENDER_TLS_CERT=$tmp/cert.pem \
  XD_SENDER_TLS_KEY=$tmp/key.pem
"$ENTRY" serve sender >"$tmp/sender.log" 2>&1 &
pid=$!
ok=
for _ in $(seq 1 100); do
  if out=$(XD_HEALTH_CA=$tmp/cert.pem XD_HEALTH_SERVER_NAME=xd-probe.test "$ENTRY" health sender 2>&1); then
    ok=1
    break
  fi
  kill -0 "$pid" 2>/dev/null || fail "xd-sender (TLS) exited during start-up"
  sleep 0.1
done
[ -n "$ok" ] && grep -q '^sender SERVING' <<<"$out" || fail "TLS probe: $out"
out=$(XD_HEALTH_CA=$tmp/cert.pem XD_HEALTH_SERVER_NAME=other.test "$ENTRY" health sender 2>&1)
[ $? -eq 1 ] || fail "TLS probe accepted a certificate for another name: $out"
out=$("$ENTRY" health sender 2>&1)
[ $? -eq 1 ] || fail "TLS probe without a CA succeeded: $out"
kill -TERM "$pid"
wait "$pid" || fail "xd-sender (TLS) exit status $? after SIGTERM"
pid=

echo "PASS: entry point + health probe (serve, identity, volume default, backup, SIGTERM, down, TLS)"
