#!/bin/bash
# next_hop.refuse_when_down through a real Postfix: the next hop is the
# sink (the "internal mail server").  While it is up, inbound mail is
# accepted; once it is down, inbound recipients get 451 4.4.1 while an
# internal client (127.0.0.2) can still send; when it is back, inbound mail
# is accepted again and everything queued is delivered.
SRC=${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/t/lib/postfix.sh"
command -v swaks >/dev/null || { echo "swaks not installed"; exit 77; }

. "$SRC/t/e2e/checks.sh"

pf_setup
CONF=$PF_DIR/cryptofilter.conf
mkdir -p "$PF_DIR/cf/log" "$PF_DIR/cf/stats"
cat >"$CONF" <<EOF
local_domains = {"example.com"}
internal_networks = {"127.0.0.2/32"}
policyd { user = "root" }
log { file = true  directory = "$PF_DIR/cf/log" }
statistics { directory = "$PF_DIR/cf/stats" }
relay { networks = {"127.0.0.2/32"} }
next_hop { host = "127.0.0.1"  port = $PF_SINK_PORT  refuse_when_down = true  check_interval = 1 }
EOF

sink_start
pf_policyd_start "$CONF" || exit 1
POLICY="check_policy_service { unix:$PF_POLICY_SOCK, timeout=10s, default_action=DEFER_IF_PERMIT }"
pf_main "smtpd_relay_restrictions = $POLICY, reject"
pf_start

# wait_log TEXT: until the policy daemon has logged TEXT (6 s at most),
# so each message below is sent once, after the probe saw the change.
wait_log() {
    local i
    for ((i = 0; i < 60; i++)); do
	grep -q "$1" "$PF_DIR/log/policyd.log" && return 0
	sleep 0.1
    done
    return 1
}

sleep 1.2			# the first probe has run
pf_send "$PF_PORT" someone@outside.org up@example.com \
    && ok "next hop up: inbound accepted" || bad "next hop up: inbound refused"
pf_wait_queue_empty 10 && sink_wait 1 5 || bad "first message not delivered"

sink_stop
wait_log "is unreachable" || bad "probe did not notice the next hop going down"
pf_send "$PF_PORT" someone@outside.org down@example.com
if [ $? -eq 24 ] && grep -qE '451 4\.4\.1 .*Next hop unreachable' "$PF_DIR/log/swaks.last"; then
    ok "next hop down: inbound gets 451 4.4.1"
else
    bad "next hop down: no 451 4.4.1"; tail -n 8 "$PF_DIR/log/swaks.last"
fi
pf_send "$PF_PORT" alice@example.com out@partner.com --local-interface 127.0.0.2
rc=$?
[ "$rc" -eq 0 ] && ok "next hop down: internal client still accepted" \
    || { bad "internal client refused (rc $rc)"; tail -n 8 "$PF_DIR/log/swaks.last"; }

sink_start
wait_log "reachable again" || bad "probe did not notice the next hop coming back"
pf_send "$PF_PORT" someone@outside.org back@example.com \
    && ok "next hop back: inbound accepted again" || bad "next hop back: still refused"
pf_wait_queue_empty 20 || bad "queue not empty"
sink_wait 3 10 || bad "sink has $(sink_count) messages, wanted 3"
for r in up@example.com out@partner.com back@example.com; do
    [ -n "$(sink_find_rcpt $r)" ] && ok "$r delivered" || bad "$r not delivered"
done
[ -z "$(sink_find_rcpt down@example.com)" ] && ok "refused message not delivered" || bad "down@example.com delivered"
grep -q "next hop down,451 4.4.1" "$PF_DIR"/cf/stats/SP*.CSV && ok "SP row for 451" || bad "no SP row for 451"
grep -q "is unreachable" "$PF_DIR/log/policyd.log" && grep -q "reachable again" "$PF_DIR/log/policyd.log" \
    && ok "state changes logged" || bad "state changes not logged"

echo "$fails failures"
[ "$fails" -eq 0 ]
