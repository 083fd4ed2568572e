#!/bin/bash
# Before-queue mode with several recipients in one message:
#  - every recipient has a certificate: one delivery, encrypted to all of
#    them (dave and erin can each decrypt the same copy);
#  - one recipient has none: the outbound policy's "partial" condition
#    decides (here ndr: 5.7.x to the client, nothing delivered, nothing
#    queued);
#  - a recipient without a certificate, alone: "no-certificate" (here
#    tempfail: 4xx).
set -u
. "${CF_SRCDIR:-.}/t/lib/postfix.sh"
command -v swaks >/dev/null || { echo "no swaks"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

pf_setup
pf_cf_conf "$PF_DIR/cf.conf" <<'CONF'
smime_sign    "ours" { from = "*@example.com"  to = "*"  certificate = "*" }
smime_encrypt "any"  { from = "*"  to = "*"  certificate = "*" }
smime_outbound_policy "nocert"  { from = "carol@example.com"  when = {no-certificate}  action = tempfail }
smime_outbound_policy "partial" { from = "alice@example.com"  when = {partial}  action = ndr }
CONF
pf_gateway "$PF_DIR/cf.conf"
sink_start
pf_milter_start "$PF_DIR/cf.conf" || fail "milter did not start"
pf_start

pf_send "$PF_OUT_PORT" alice@example.com dave@partner.com,erin@partner.com \
    --header "Subject: to both" --body "multi recipient body $$" \
    || { cat "$PF_DIR/log/swaks.last" >&2; fail "swaks (both) failed"; }
pf_wait_queue_empty 15 || fail "queue not empty"
sink_wait 1 5 || fail "nothing delivered"
f=$PF_SINK_DIR/1.eml
grep -qi '^X-Sink-Rcpt-To: .*dave@partner.com' "$f" && grep -qi '^X-Sink-Rcpt-To: .*erin@partner.com' "$f" \
    || fail "the copy is not for both dave and erin"
grep -qi '^Content-Type: application/\(x-\)\?pkcs7-mime' "$f" || fail "not encrypted"
sed '1,2d' "$f" >"$PF_DIR/both.p7m"
for who in dave@partner.com erin@partner.com; do
    openssl cms -decrypt -in "$PF_DIR/both.p7m" -recip "$PF_PKI/cert/priv/$who.pem" 2>/dev/null \
	| openssl cms -verify -CAfile "$PF_PKI/ca.pem" 2>/dev/null | grep -q "multi recipient body" \
	|| fail "$who cannot decrypt and verify the shared copy"
done
openssl cms -decrypt -in "$PF_DIR/both.p7m" -recip "$PF_PKI/cert/priv/bob@example.com.pem" \
    -out /dev/null 2>/dev/null && fail "bob (not a recipient) can decrypt it"

# partial: dave has a certificate, nobody@other.org has none.
pf_send "$PF_OUT_PORT" alice@example.com dave@partner.com,nobody@other.org \
    --header "Subject: partial" && fail "partial: accepted"
grep -qE '<\*\* 5[0-9][0-9] 5\.7\.[0-9]' "$PF_DIR/log/swaks.last" \
    || { cat "$PF_DIR/log/swaks.last" >&2; fail "partial: not a 5.7.x reply"; }
# no-certificate, alone: frank@partner.com has no certificate.  (The first
# rule whose patterns match decides, so this one is told apart by sender.)
pf_send "$PF_OUT_PORT" carol@example.com frank@partner.com --header "Subject: nocert" \
    && fail "no-certificate: accepted"
grep -qE '<\*\* 4[0-9][0-9] 4\.[0-9]\.[0-9]' "$PF_DIR/log/swaks.last" \
    || { cat "$PF_DIR/log/swaks.last" >&2; fail "no-certificate: not a 4.x.x reply"; }
pf_wait_queue_empty 10 || fail "queue not empty"
sleep 0.3
[ "$(sink_count)" = 1 ] || fail "$(sink_count) deliveries, want 1 (refused mail was delivered)"
[ "$(pf_queue_count)" = 0 ] || { pf_queue_json >&2; fail "refused mail is queued"; }
echo "multi OK"
