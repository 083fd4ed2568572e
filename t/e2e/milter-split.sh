#!/bin/bash
# After-queue split mode: one message from an internal client to three
# recipients (dave and erin have certificates, nobody@other.org has none)
# becomes three deliveries, one recipient each, each right for its
# recipient: dave's copy opens only with dave's key, erin's only with
# erin's, both verify; the third is signed, not encrypted, and handled by
# the no-certificate outbound policy (subject tag).  Each leaves with its
# own recipient's TLS class (dave none, erin may, nobody no rule).  The milter sees each
# message exactly once (not on submission, once per recipient on
# reinjection).
set -u
. "${CF_SRCDIR:-.}/t/lib/postfix.sh"
command -v swaks >/dev/null || { echo "no swaks"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

pf_setup
pf_cf_conf "$PF_DIR/cf.conf" <<'CONF'
smime_sign    "ours" { from = "*@example.com"  to = "*"  certificate = "*" }
smime_encrypt "any"  { from = "*"  to = "*"  certificate = "*" }
smime_outbound_policy "nocert" { to = "*"  when = {no-certificate, partial}  action = mark-subject  subject_tag = "[not encrypted]" }
tls_outbound "dave" { to = "dave@partner.com"  type = none }
tls_outbound "erin" { to = "erin@partner.com"  type = may }
CONF
pf_gateway "$PF_DIR/cf.conf" split
sink_start
pf_milter_start "$PF_DIR/cf.conf" || fail "milter did not start"
pf_start
pf_wait_port "$PF_OUT_PORT" 5 || fail "submission port $PF_OUT_PORT not listening"

pf_send "$PF_OUT_PORT" alice@example.com dave@partner.com,erin@partner.com,nobody@other.org \
    --header "Subject: split test" --body "split mode body text $$" \
    || { cat "$PF_DIR/log/swaks.last" >&2; fail "swaks to the submission port failed"; }
pf_wait_queue_empty 20 || fail "queue not empty"
sink_wait 3 5 || fail "want 3 deliveries"
sleep 0.3
[ "$(sink_count)" = 3 ] || fail "$(sink_count) deliveries, want 3"
for f in "$PF_SINK_DIR"/*.eml; do
    n=$(grep -m1 '^X-Sink-Rcpt-To:' "$f" | tr ',' '\n' | grep -c @)
    [ "$n" = 1 ] || fail "$(basename "$f") has $n recipients, want 1"
done

check_encrypted() {	# ADDR OTHER: encrypted to ADDR only, signed by alice
    local addr=$1 other=$2 f
    f=$(sink_find_rcpt "$addr")
    [ -n "$f" ] || fail "no copy for $addr"
    grep -qi '^Content-Type: application/\(x-\)\?pkcs7-mime' "$f" || fail "$addr's copy is not encrypted"
    grep -q "split mode body text" "$f" && fail "$addr's copy shows the plain text"
    sed '1,2d' "$f" >"$PF_DIR/$addr.p7m"
    openssl cms -decrypt -in "$PF_DIR/$addr.p7m" -recip "$PF_PKI/cert/priv/$addr.pem" \
	-out "$PF_DIR/$addr.dec" 2>/dev/null || fail "$addr's key does not open $addr's copy"
    openssl cms -decrypt -in "$PF_DIR/$addr.p7m" -recip "$PF_PKI/cert/priv/$other.pem" \
	-out /dev/null 2>/dev/null && fail "$other's key opens $addr's copy (not split?)"
    openssl cms -verify -in "$PF_DIR/$addr.dec" -CAfile "$PF_PKI/ca.pem" -out "$PF_DIR/$addr.txt" \
	2>/dev/null || fail "$addr's copy does not verify"
    grep -q "split mode body text" "$PF_DIR/$addr.txt" || fail "$addr's copy lost the text"
    grep -q '^Subject: .*\[not encrypted\]' "$f" && fail "$addr's copy got the no-certificate tag"
    return 0
}
check_encrypted dave@partner.com erin@partner.com
check_encrypted erin@partner.com dave@partner.com

f=$(sink_find_rcpt nobody@other.org)
[ -n "$f" ] || fail "no copy for nobody@other.org"
grep -qi '^Content-Type: application/\(x-\)\?pkcs7-mime.*enveloped' "$f" && fail "nobody's copy is encrypted (to whom?)"
grep -q '^Subject: .*\[not encrypted\]' "$f" || { grep '^Subject' "$f" >&2; fail "the no-certificate policy did not tag nobody's copy"; }
grep -qi '^Content-Type: multipart/signed' "$f" || fail "nobody's copy is not signed"
sed '1,2d' "$f" >"$PF_DIR/nobody.eml"
openssl cms -verify -in "$PF_DIR/nobody.eml" -CAfile "$PF_PKI/ca.pem" -out /dev/null 2>/dev/null \
    || fail "nobody's signed copy does not verify"

# The route: submission (no milter) -> cryptofilter-split, one delivery per
# recipient -> reinjection smtpd (milter) -> out.
log=$(pf_log)
n=$(grep -c 'postfix/cryptofilter-split/smtp\[.*status=sent' "$log")
[ "$n" = 3 ] || fail "$n deliveries through cryptofilter-split, want 3"
n=$(grep -c 'postfix/cryptofilter-reinject/smtpd\[.*client=' "$log")
[ "$n" = 3 ] || fail "$n messages through the reinjection smtpd, want 3"
n=$(grep -cE ': out from=<alice@example.com> nrcpt=1 ' "$PF_DIR/log/milter.log")
[ "$n" = 3 ] || fail "the milter processed $n one-recipient outbound messages, want 3"
grep -q 'nrcpt=3' "$PF_DIR/log/milter.log" && fail "the milter saw the 3-recipient message (on submission?)"
# Per-recipient TLS classes, exact in split mode.
for pair in dave@partner.com:postfix/cf-tls-none/smtp erin@partner.com:postfix/cf-tls-may/smtp \
	nobody@other.org:postfix/smtp; do
    r=${pair%%:*} want=${pair#*:}
    by=$(grep 'status=sent' "$log" | grep -F "to=<$r>" | grep -v cryptofilter-split \
	| sed -E 's/.* (postfix[^[]*)\[[0-9]+\]: .*/\1/' | head -1)
    [ "$by" = "$want" ] || { grep -F "$r" "$log" >&2; fail "$r left by '$by', want $want"; }
done
grep -il '^X-CryptoFilter-TLS:' "$PF_SINK_DIR"/*.eml && fail "the TLS marker reached the sink"
echo "split OK"
