#!/bin/sh
# Messages/s over ONE SMTP session into Postfix's smtp-sink: our client (with PIPELINING of
# RSET/MAIL/RCPT) next to Postfix's smtp-source -d (one session, no pipelining) in the same
# run. Not a ctest test. Usage: throughput.sh BUILD_DIR [MESSAGES] [RCPTS] [BODY_BYTES]
# (a Release build gives the meaningful figure). Prints:
#   BENCH smtp_session msgs=<n> rcpts=<r> body=<b> ours=<msg/s> smtp_source=<msg/s> ratio=<x>
set -eu
build=$1; n=${2:-20000}; r=${3:-1}; b=${4:-2000}
bin=$build/tests/integration/sender_smtp/smtp_throughput
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
user=""; [ "$(id -u)" -ne 0 ] || user="-u nobody"
/usr/sbin/smtp-sink $user 127.0.0.1:$port 64 &
sink=$!
trap 'kill $sink 2>/dev/null || true' EXIT
sleep 0.3
ours=$($bin 127.0.0.1 $port $n $r $b | awk '{print $3}')
t0=$(date +%s.%N)
/usr/sbin/smtp-source -d -m $n -r $r -l $b -f bounce@example.test -t rcpt@example.test 127.0.0.1:$port
t1=$(date +%s.%N)
src=$(echo "$n $t0 $t1" | awk '{printf "%.1f", $1/($3-$2)}')
ratio=$(echo "$ours $src" | awk '{printf "%.2f", $1/$2}')
echo "BENCH smtp_session msgs=$n rcpts=$r body=$b ours=$ours smtp_source=$src ratio=$ratio"
