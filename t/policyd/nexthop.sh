#!/bin/sh
# next_hop.refuse_when_down: the background probe notices the next hop
# going down and coming back; meanwhile inbound recipients get 451 4.4.1
# and outbound ones pass.
exec python3 - "$(dirname "$0")" <<'PY'
import socket, sys, time
sys.path.insert(0, sys.argv[1])
import pdlib

from pdlib import check, finish

DOWN = "451 4.4.1 Next hop unreachable, try again later"

def config(port, refuse="true", host="127.0.0.1"):
    return '''
local_domains = {"example.com"}
internal_networks = {"192.0.2.0/24"}
policyd { user = "root" }
log { file = false }
statistics { directory = "@DIR@/stats" }
next_hop { host = "%s"  port = %d  refuse_when_down = %s  check_interval = 1 }
''' % (host, port, refuse)

def until(c, over, want, secs=5):
    end = time.time() + secs
    t0 = time.time()
    while time.time() < end:
        if c.ask(over) == want:
            return time.time() - t0
        time.sleep(0.1)
    return None

hop = socket.socket()
hop.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
hop.bind(("127.0.0.1", 0))
hop.listen(16)
port = hop.getsockname()[1]

d = pdlib.Daemon(config(port))
c = d.connect()
time.sleep(1.2)
check(c.ask({"instance": "n1"}) == "OK", "next hop up: inbound OK")
hop.close()
dt = until(c, {"instance": "n2"}, DOWN)
check(dt is not None, "next hop down: inbound gets 451 4.4.1 (after %s s)"
      % (dt if dt is None else "%.1f" % dt))
check(c.ask({"client_address": "192.0.2.9", "instance": "n3"}) == "OK",
      "next hop down: outbound (internal client) still OK")
check(c.ask({"sasl_username": "alice", "recipient": "x@partner.com", "instance": "n4"}) == "OK",
      "next hop down: SASL user relaying still OK")
check(c.ask({"recipient": "x@partner.com"}) == "554 5.7.1 Relay access denied",
      "next hop down: relay denial comes first")
check(c.ask({"protocol_state": "END-OF-MESSAGE", "instance": "n2"}) == "DUNNO",
      "next hop down: END-OF-MESSAGE not refused")
hop = socket.socket()
hop.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
hop.bind(("127.0.0.1", port))
hop.listen(16)
dt = until(c, {"instance": "n5"}, "OK")
check(dt is not None, "next hop back: inbound OK again")
log = d.log()
check("is unreachable" in log and "reachable again" in log, "state changes logged")
stats = open([d.stats + "/" + f for f in __import__("os").listdir(d.stats)][0]).read()
check("next hop down,451 4.4.1" in stats, "SP row for the 451")
d.stop()
hop.close()

# refuse_when_down = false: a dead next hop changes nothing
d = pdlib.Daemon(config(port, refuse="false"))
c = d.connect()
time.sleep(1.5)
check(c.ask({"instance": "m1"}) == "OK", "refuse_when_down=false: OK while next hop is down")
d.stop()

# a host name that does not resolve counts as down
d = pdlib.Daemon(config(25, host="no-such-host.invalid"))
c = d.connect()
dt = until(c, {"instance": "u1"}, DOWN, secs=4)
check(dt is not None, "unresolvable next hop: 451")
d.stop()

finish()
PY
