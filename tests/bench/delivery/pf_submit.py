#!/usr/bin/python3
"""Submits MSGS messages of RCPTS recipients each to an SMTP server (the
throwaway Postfix) from THREADS connections, like bench_submit does to xd-sender."""
import smtplib
import sys
import threading

host, port, msgs, rcpts, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
BODY = ("From: news@bench.xd.test\r\nSubject: Benchmark message\r\n"
        "Message-ID: <%d@bench.xd.test>\r\n\r\n"
        "A short benchmark body, about the size of a notice.\r\n"
        "Second line of the message with some more words in it.\r\n")


def run(tid):
    s = smtplib.SMTP(host, port)
    for i in range(tid, msgs, threads):
        s.sendmail("news@bench.xd.test", ["user%d.%d@dest.test" % (i, k) for k in range(rcpts)],
                   BODY % i)
    s.quit()


ts = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
