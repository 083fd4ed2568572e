#!/bin/sh
# Every refusal is logged (values cleaned) and written to SPYYMMDD.CSV
# with RFC 4180 quoting and formula-injection protection; accepted
# requests write nothing; statistics.smtp_blocking = false writes no file.
exec python3 - "$(dirname "$0")" <<'PY'
import csv, glob, os, sys
sys.path.insert(0, sys.argv[1])
import pdlib

from pdlib import check, finish

CONFIG = '''
local_domains = {"example.com"}
internal_networks = {"192.0.2.0/24"}
policyd { user = "root" }
log { file = true  directory = "@DIR@/log" }
statistics { directory = "@DIR@/stats"  smtp_blocking = %s }
limits { max_recipients = 1  inbound_size = 1M }
tls_inbound "secure" { from = "*@secure.com"  type = mandatory  reject = {weak-cipher, no-pfs} }
'''

d = pdlib.Daemon(CONFIG % "true")
c = d.connect()
cases = [
    ({"recipient": "dave@partner.com", "sender": '=cmd"x,y@evil.org',
      "helo_name": "bad\x01helo", "client_name": "+evil.example"},
     "relay access denied", "554 5.7.1"),
    ({"instance": "i1"}, None, None),
    ({"instance": "i1", "recipient": "second@example.com"}, "too many recipients", "452 4.5.3"),
    ({"size": "2000000", "sender": "-big@outside.org"}, "message size (SIZE=) over limit", "552 5.3.4"),
    ({"protocol_state": "END-OF-MESSAGE", "size": "2000000", "sender": "@at@outside.org"},
     "message size over limit", "552 5.3.4"),
    ({"sender": "x@secure.com"}, "TLS required", "554 5.7.1"),
    ({"sender": "x@secure.com", "encryption_protocol": "TLSv1.2",
      "encryption_cipher": "DES-CBC3-SHA", "encryption_keysize": "112"},
     "weak TLS cipher", "554 5.7.1"),
    ({"sender": "x@secure.com", "encryption_protocol": "TLSv1.2",
      "encryption_cipher": "AES256-SHA", "encryption_keysize": "256"},
     "TLS without PFS", "554 5.7.1"),
]
for over, _, _ in cases:
    c.ask(over)
d.stop()

files = glob.glob(os.path.join(d.stats, "SP*.CSV"))
check(len(files) == 1, "one SP file: %s" % [os.path.basename(f) for f in files])
rows = list(csv.reader(open(files[0], newline="")))
check(rows[0] == ["date", "time", "client_address", "client_name", "helo",
                  "sender", "recipient", "reason", "reply_code"], "header row")
want = [(r, code) for _, r, code in cases if r]
got = [(row[7], row[8]) for row in rows[1:]]
check(got == want, "one row per refusal with reason and code:\n   %s" % got)
first = dict(zip(rows[0], rows[1]))
check(first["sender"] == "'=cmd\"x,y@evil.org", "formula and quote escaped: %r" % first["sender"])
check(first["client_name"] == "'+evil.example", "client name escaped: %r" % first["client_name"])
check(first["helo"] == "bad\\x01helo", "control character cleaned: %r" % first["helo"])
check(first["client_address"] == "203.0.113.5", "client address")
check(dict(zip(rows[0], rows[3]))["sender"] == "'-big@outside.org", "'-' prefixed")
check(len(rows[1][0]) == 10 and rows[1][0][4] == "-", "long date yyyy-mm-dd: %s" % rows[1][0])
raw = open(files[0], newline="").read()
check('"\'=cmd""x,y@evil.org"' in raw, "RFC 4180 quoting in the file")

logs = glob.glob(os.path.join(d.logdir, "MB*.LOG"))
text = open(logs[0], errors="replace").read() if logs else ""
check(text.count("blocked:") == len(want), "one log line per refusal")
check("helo=<bad\\x01helo>" in text and "\x01" not in text, "log value cleaned")

d2 = pdlib.Daemon(CONFIG % "false")
c = d2.connect()
check(c.ask({"recipient": "dave@partner.com"}) == "554 5.7.1 Relay access denied",
      "smtp_blocking=false still refuses")
d2.stop()
check(glob.glob(os.path.join(d2.stats, "SP*.CSV")) == [], "smtp_blocking=false: no SP file")

finish()
PY
