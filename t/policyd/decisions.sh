#!/bin/sh
# Table-driven protocol test: every row of decisions.table is sent to the
# running daemon and the exact action is compared.
exec python3 - "$(dirname "$0")" <<'PY'
import os, sys
sys.path.insert(0, sys.argv[1])
import pdlib

CONFIG = '''
local_domains = {"example.com", "Example.ORG"}
internal_networks = {"192.0.2.0/24", "2001:db8:1::/48"}
policyd { user = "root" }
log { file = true  directory = "@DIR@/log" }
statistics { directory = "@DIR@/stats" }
limits { max_recipients = 3  inbound_size = 10M  outbound_size = 20M }
relay { allow_all = false  allow_reserved = true  hosts = {"dataenter.com"}
        networks = {"198.51.100.0/24", "2001:db8:2::/48"}  allow_authenticated = true }
tls_inbound "boss"   { from = "boss@secure.com"  type = none }
tls_inbound "secure" { from = "*@secure.com"  type = mandatory  reject = {weak-cipher, no-pfs} }
tls_inbound "weak"   { from = "*@weak.com"  type = mandatory  reject = {weak-cipher} }
tls_inbound "pfs"    { from = "*@pfs.com"  type = mandatory  reject = {no-pfs} }
tls_inbound "may"    { from = "*@may.com"  type = may  reject = {weak-cipher} }
'''

d = pdlib.Daemon(CONFIG)
c = d.connect()
bad = 0
rows = pdlib.parse_table(os.path.join(sys.argv[1], "decisions.table"))
for line, expect, over in rows:
    got = c.ask(over)
    if got != expect:
        bad += 1
        print("decisions.table:%d: expected %r, got %r" % (line, expect, got))
# The same answers over a second, concurrent connection.
c2 = d.connect()
if c2.ask({"recipient": "dave@partner.com"}) != "554 5.7.1 Relay access denied":
    bad += 1
    print("second connection: wrong answer")
rc = d.stop()
if rc != 0:
    bad += 1
    print("daemon exit status %d" % rc)
print("%d rows, %d failures" % (len(rows), bad))
if bad:
    print(d.log()[-3000:])
sys.exit(1 if bad else 0)
PY
