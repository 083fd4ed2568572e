#!/usr/bin/python3
"""sink - the SMTP server at the far end of a test Postfix.

Stores every message it accepts as DIR/<n>.eml (n = 1, 2, ...), written to a
temporary file and renamed into place so a test never reads half a message.
Two lines are prepended: "X-Sink-Mail-From: <sender>" and
"X-Sink-Rcpt-To: <rcpt>, <rcpt>".  The greeting host name defaults to
"sink.invalid": it must differ from Postfix's $myhostname or Postfix reports
"mail loops back to myself".

Usage: sink.py --port PORT --dir DIR [--host 127.0.0.1] [--ready FILE]
               [--name sink.invalid] [--reject-rcpt PATTERN]
               [--tls-cert CERT.pem --tls-key KEY.pem]

--ready FILE is written (with our PID) once the socket listens.
--reject-rcpt makes RCPT TO answer 550 for recipients containing PATTERN,
so a test can see a bounce from the far end.
--tls-cert/--tls-key offer STARTTLS (not required), so a Postfix smtp client
with smtp_tls_security_level encrypt/verify can deliver here.

Runs with /usr/bin/python3 and Debian's python3-aiosmtpd.
"""

import argparse
import asyncio
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP


class Store:
    def __init__(self, directory, reject_rcpt):
        self.directory = directory
        self.reject_rcpt = reject_rcpt
        self.count = 0
        # Continue numbering after files left by an earlier sink in DIR.
        for name in os.listdir(directory):
            if name.endswith(".eml") and name[:-4].isdigit():
                self.count = max(self.count, int(name[:-4]))

    async def handle_RCPT(self, server, session, envelope, address, options):
        if self.reject_rcpt and self.reject_rcpt in address:
            return "550 5.1.1 sink: recipient rejected for the test"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        n = self.count
        tmp = os.path.join(self.directory, ".tmp.%d" % n)
        final = os.path.join(self.directory, "%d.eml" % n)
        head = "X-Sink-Mail-From: %s\r\nX-Sink-Rcpt-To: %s\r\n" % (
            envelope.mail_from, ", ".join(envelope.rcpt_tos))
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        with open(tmp, "wb") as fp:
            fp.write(head.encode("utf-8", "surrogateescape"))
            fp.write(data)
        os.rename(tmp, final)
        return "250 2.0.0 Ok: stored as %d.eml" % n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--ready")
    ap.add_argument("--name", default="sink.invalid")
    ap.add_argument("--reject-rcpt")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    args = ap.parse_args()

    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)

    store = Store(args.dir, args.reject_rcpt)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def factory():
        return SMTP(store, hostname=args.name, decode_data=False,
                    enable_SMTPUTF8=True, data_size_limit=256 * 1024 * 1024,
                    tls_context=tls, require_starttls=False)

    server = loop.run_until_complete(
        loop.create_server(factory, host=args.host, port=args.port,
                           reuse_address=True))
    if args.ready:
        with open(args.ready + ".tmp", "w") as fp:
            fp.write("%d\n" % os.getpid())
        os.rename(args.ready + ".tmp", args.ready)
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.add_signal_handler(signal.SIGINT, loop.stop)
    try:
        loop.run_forever()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
