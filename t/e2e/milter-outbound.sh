#!/bin/bash
# Outbound, before-queue: a message from an internal client (the
# ORIGINATING smtpd) leaves signed and encrypted.  The sink's copy decrypts
# with dave's key (openssl cms -decrypt), the result verifies against the
# test CA (openssl cms -verify) and carries the original text; the TLS
# marker never reaches the sink; the statistics file has the message.
set -u
. "${CF_SRCDIR:-.}/t/lib/postfix.sh"
command -v swaks >/dev/null || { echo "no swaks"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

pf_setup
pf_cf_conf "$PF_DIR/cf.conf" <<'CONF'
smime_sign    "ours" { from = "*@example.com"  to = "*"  certificate = "*" }
smime_encrypt "any"  { from = "*"  to = "*"  certificate = "*" }
CONF
pf_gateway "$PF_DIR/cf.conf"
sink_start
pf_milter_start "$PF_DIR/cf.conf" || fail "milter did not start"
pf_start

body="Outbound test $$: the quarterly numbers, strictly confidential."
pf_send "$PF_OUT_PORT" alice@example.com dave@partner.com \
    --header "Subject: numbers $$" --body "$body" \
    || { cat "$PF_DIR/log/swaks.last" >&2; fail "swaks to the outbound port failed"; }
pf_wait_queue_empty 15 || fail "queue not empty"
sink_wait 1 5 || fail "nothing delivered"
f=$(sink_find_rcpt dave@partner.com)
[ -n "$f" ] || fail "no copy for dave@partner.com"

# Outer headers stay readable; the body is an S/MIME envelope.
grep -qi '^Subject: numbers' "$f" || fail "Subject lost"
grep -qi '^Content-Type: application/\(x-\)\?pkcs7-mime' "$f" || { head -30 "$f" >&2; fail "not encrypted (no application/pkcs7-mime)"; }
grep -qi 'enveloped-data' "$f" || fail "smime-type is not enveloped-data"
grep -q "quarterly numbers" "$f" && fail "the plain text is visible in the sink's copy"
grep -qi '^X-CryptoFilter-TLS:' "$f" && fail "the TLS marker reached the sink"

# Strip the sink's envelope lines, decrypt as dave, verify against the CA.
sed '1,2d' "$f" >"$PF_DIR/out.eml"
openssl cms -decrypt -in "$PF_DIR/out.eml" -recip "$PF_PKI/cert/priv/dave@partner.com.pem" \
    -out "$PF_DIR/dec.eml" 2>"$PF_DIR/dec.err" || { cat "$PF_DIR/dec.err" >&2; fail "openssl cms -decrypt failed"; }
grep -qi 'multipart/signed\|application/\(x-\)\?pkcs7-mime' "$PF_DIR/dec.eml" || { head -20 "$PF_DIR/dec.eml" >&2; fail "decrypted content is not signed"; }
# erin cannot read dave's copy.
openssl cms -decrypt -in "$PF_DIR/out.eml" -recip "$PF_PKI/cert/priv/erin@partner.com.pem" \
    -out /dev/null 2>/dev/null && fail "erin's key decrypts dave's message"
openssl cms -verify -in "$PF_DIR/dec.eml" -CAfile "$PF_PKI/ca.pem" -out "$PF_DIR/content.txt" \
    2>"$PF_DIR/ver.err" || { cat "$PF_DIR/ver.err" >&2; fail "openssl cms -verify failed"; }
grep -q 'Verification successful' "$PF_DIR/ver.err" || fail "no 'Verification successful'"
grep -q "quarterly numbers" "$PF_DIR/content.txt" || fail "signed content lost the body text"
openssl cms -verify -in "$PF_DIR/dec.eml" -CAfile "$PF_PKI/ca.pem" -signer "$PF_DIR/signer.pem" \
    -out /dev/null 2>/dev/null
openssl x509 -in "$PF_DIR/signer.pem" -noout -ext subjectAltName 2>/dev/null | grep -qi 'alice@example.com' \
    || fail "signer is not alice@example.com"

# gpgsm (another implementation) verifies the signature too, when there.
if [ -f "$PF_SRCDIR/t/lib/gpgsm.sh" ] && [ -f "$PF_SRCDIR/t/interop/msgtool.py" ]; then
    . "$PF_SRCDIR/t/lib/gpgsm.sh"
    if gs_usable; then
	PF_CLEANUP_HOOKS+=("gs_done")
	gs_init "$PF_PKI" || fail "gs_init"
	/usr/bin/python3 "$PF_SRCDIR/t/interop/msgtool.py" signed-parts "$PF_DIR/dec.eml" \
	    "$PF_DIR/signed.ent" "$PF_DIR/signed.sig" || fail "cannot split the multipart/signed"
	gs_verify "$PF_DIR/signed.sig" "$PF_DIR/signed.ent" \
	    || { cat "$GS_LOG" >&2; fail "gpgsm does not verify the signature"; }
	echo "gpgsm: signature verified"
    fi
fi

# The statistics: one SR row for the message with the sender in it.
sr=$(ls "$PF_CF_STATS"/SR*.CSV 2>/dev/null | head -1)
[ -n "$sr" ] || fail "no SR*.CSV statistics file in $PF_CF_STATS"
grep -qi 'alice@example.com' "$sr" || { cat "$sr" >&2; fail "the statistics row does not name the sender"; }
echo "outbound OK"
