#!/bin/bash
# cryptofilter-policyd behind a real private Postfix, driven with swaks:
# relay denied, local delivery, relay allowed by CIDR (client 127.0.0.2)
# and after SASL AUTH (smtpd_sasl_type = dovecot against the fake auth
# server t/e2e/policyd-fake-auth.py), 452 on the recipient after the limit,
# 552 at END-OF-MESSAGE for an oversized message, SP statistics rows.
# The whole Postfix relay policy is "check_policy_service ..., reject".
SRC=${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/t/lib/postfix.sh"
command -v swaks >/dev/null || { echo "swaks not installed"; exit 77; }
command -v postfix >/dev/null || { echo "postfix not installed"; exit 77; }

. "$SRC/t/e2e/checks.sh"

pf_setup
CONF=$PF_DIR/cryptofilter.conf
mkdir -p "$PF_DIR/cf/log" "$PF_DIR/cf/stats"
cat >"$CONF" <<EOF
local_domains = {"example.com"}
internal_networks = {"192.0.2.0/24"}
policyd { user = "root" }
log { file = true  directory = "$PF_DIR/cf/log" }
statistics { directory = "$PF_DIR/cf/stats" }
limits { max_recipients = 2  inbound_size = 20K }
relay { networks = {"127.0.0.2/32"}  allow_authenticated = true }
EOF

sink_start
pf_policyd_start "$CONF" || exit 1
/usr/bin/python3 "$SRC/t/e2e/policyd-fake-auth.py" "$PF_DIR/auth" alice secret \
    >>"$PF_DIR/log/auth.log" 2>&1 &
pf_bg_track $!
POLICY="check_policy_service { unix:$PF_POLICY_SOCK, timeout=10s, default_action=DEFER_IF_PERMIT }"
pf_main "smtpd_relay_restrictions = $POLICY, reject" \
    "smtpd_end_of_data_restrictions = $POLICY" \
    "smtpd_sasl_auth_enable = yes" "smtpd_sasl_type = dovecot" \
    "smtpd_sasl_path = $PF_DIR/auth"
pf_start

pf_send "$PF_PORT" someone@outside.org dave@partner.com
expect "relay from an outside client denied" $? 24 '554 5\.7\.1 .*Relay access denied'

pf_send "$PF_PORT" someone@outside.org bob@example.com
expect "local recipient accepted" $? 0
pf_send "$PF_PORT" someone@outside.org dave@partner.com --local-interface 127.0.0.2
expect "relay allowed for relay.networks client 127.0.0.2" $? 0
pf_send "$PF_PORT" alice@example.com erin@partner.com \
    --auth PLAIN --auth-user alice --auth-password secret
expect "relay allowed after SASL AUTH" $? 0 '235 '
pf_send "$PF_PORT" alice@example.com carol@partner.com \
    --auth PLAIN --auth-user alice --auth-password wrong
rc=$?
grep -q '535' "$PF_DIR/log/swaks.last" && ok "bad SASL password refused by Postfix" \
    || bad "bad SASL password: no 535 (rc $rc)"

pf_send "$PF_PORT" someone@outside.org r1@example.com,r2@example.com,r3@example.com,r4@example.com
rc=$?
n452=$(grep -cE '452 4\.5\.3 .*Too many recipients' "$PF_DIR/log/swaks.last")
[ "$n452" -eq 2 ] && ok "third and fourth recipients got 452 4.5.3 (swaks rc $rc)" \
    || { bad "452 count $n452 (swaks rc $rc)"; tail -n 20 "$PF_DIR/log/swaks.last"; }

body=$(head -c 30000 /dev/zero | tr '\0' x | fold -w 76)
pf_send "$PF_PORT" someone@outside.org big@example.com --body "$body"
expect "30 KB message refused at END-OF-MESSAGE (inbound_size 20K)" $? 26 '552 5\.3\.4 .*Message size exceeds fixed limit'

pf_wait_queue_empty 20 || bad "queue not empty"
sink_wait 4 10 || bad "sink has $(sink_count) messages, wanted 4"
[ -n "$(sink_find_rcpt bob@example.com)" ] && ok "local message delivered" || bad "bob@example.com not delivered"
[ -n "$(sink_find_rcpt dave@partner.com)" ] && ok "CIDR relay delivered" || bad "dave@partner.com not delivered"
[ -n "$(sink_find_rcpt erin@partner.com)" ] && ok "SASL relay delivered" || bad "erin@partner.com not delivered"
[ -z "$(sink_find_rcpt carol@partner.com)" ] && ok "nothing relayed without auth" || bad "carol@partner.com delivered"
f=$(sink_find_rcpt r1@example.com)
if [ -n "$f" ] && [ -n "$(sink_find_rcpt r2@example.com)" ] && [ -z "$(sink_find_rcpt r3@example.com)" ]; then
    ok "limited message delivered to the first two recipients only"
else
    bad "limited message: r1=$f r2=$(sink_find_rcpt r2@example.com) r3=$(sink_find_rcpt r3@example.com)"
fi
[ -z "$(sink_find_rcpt big@example.com)" ] && ok "oversized message not delivered" || bad "big message delivered"

sp=$(cat "$PF_DIR"/cf/stats/SP*.CSV 2>/dev/null)
for reason in "relay access denied,554 5.7.1" "too many recipients,452 4.5.3" \
	      "message size over limit,552 5.3.4"; do
    grep -qF "$reason" <<<"$sp" && ok "SP row: $reason" || bad "no SP row: $reason"
done
grep -qF ',127.0.0.1,localhost,client.example,someone@outside.org,dave@partner.com,' <<<"$sp" \
    && ok "SP row carries client, helo, sender, recipient" || { bad "SP row columns"; echo "$sp"; }

echo "$fails failures"
[ "$fails" -eq 0 ]
