#!/bin/bash
# A signature made by cryptofilter survives the ways mail is carried: the
# message converted to LF line ends (a Unix mailbox) and back to CRLF, and
# passed through the gateway again unchanged (inbound verify without
# remove_signature, outbound with no rule that applies).  Each time both
# cryptofilter and openssl cms must still call it valid.  Also: an 8-bit
# body with a 1200-octet line is signed in a form that survives 7-bit
# transport and still decodes to the original text.
. "$(dirname "$0")/lib.sh"
it_need_cf
it_pki
CA=$PKI/ca.pem
it_conf "$T/sign.conf" "$PKI/cert" <<<"$RULES_SIGN"
it_conf "$T/opaque.conf" "$PKI/cert" signature=opaque <<<"$RULES_SIGN"
it_conf "$T/in.conf" "$PKI/cert" <<<"$RULES_IN"
it_conf "$T/none.conf" "$PKI/cert" <<<'smime_sign "nobody" { from = "nobody@nowhere.invalid"  to = "*"  certificate = "*" }'

both_valid() {	# NAME MSG SIGNER
    local name=$1 msg=$2 signer=$3
    check "$name: openssl cms -verify" openssl cms -verify -CAfile "$CA" -in "$msg" -out /dev/null
    cf_run "$T/in.conf" in "$msg" "$msg.in" "$signer" bob@example.com
    check "$name: cryptofilter exit 0" rc_is 0 "$msg.in"
    check "$name: cryptofilter says valid" hdr_is "$msg.in" X-CryptoFilter-SMIME-Verify-Status "valid; signer=$signer"
}

for c in rsa:alice@example.com:sign ec:carol@example.com:sign rsa-opaque:alice@example.com:opaque; do
    IFS=: read -r name signer conf <<<"$c"
    it_message "$T/$name.eml" "$signer"
    cf_run "$T/$conf.conf" out "$T/$name.eml" "$T/$name.s" "$signer" bob@example.com
    check "$name: signed, exit 0" rc_is 0 "$T/$name.s"
    both_valid "$name as signed" "$T/$name.s" "$signer"
    # LF line ends, then CRLF again.
    tr -d '\r' <"$T/$name.s" >"$T/$name.lf"
    check "$name: the LF copy has no CR" not grep -q $'\r' "$T/$name.lf"
    both_valid "$name with LF line ends" "$T/$name.lf" "$signer"
    sed 's/$/\r/' "$T/$name.lf" >"$T/$name.crlf"
    both_valid "$name LF->CRLF" "$T/$name.crlf" "$signer"
    # Through the gateway again.
    both_valid "$name after inbound verify" "$T/$name.s.in" "$signer"
    cf_run "$T/none.conf" out "$T/$name.s" "$T/$name.pass" "$signer" bob@example.com
    check "$name: no rule, exit 0" rc_is 0 "$T/$name.pass"
    check "$name: no rule, body unchanged" \
        bash -c "diff <($MT canon '$T/$name.s' | sed '1,/^\r\$/d') <($MT canon '$T/$name.pass' | sed '1,/^\r\$/d') >/dev/null"
    both_valid "$name after outbound pass-through" "$T/$name.pass" "$signer"
done

# 8-bit text and a long line.
{
    printf '%s\n' "From: <alice@example.com>" "To: <bob@example.com>" "Subject: 8bit" \
        "MIME-Version: 1.0" "Content-Type: text/plain; charset=utf-8" \
        "Content-Transfer-Encoding: 8bit" "" "Grüße aus Köln, naïve café"
    head -c 1200 /dev/zero | tr '\0' 'x'; printf '\nend\n'
} >"$T/8bit.eml"
cf_run "$T/sign.conf" out "$T/8bit.eml" "$T/8bit.s" alice@example.com bob@example.com
check "8bit: signed, exit 0" rc_is 0 "$T/8bit.s"
check "8bit: signed message is 7-bit clean" not grep -qP '[^\x00-\x7f]' "$T/8bit.s"
check "8bit: no line longer than 998" not grep -qE '^.{999}' "$T/8bit.s"
both_valid "8bit" "$T/8bit.s" alice@example.com
check "8bit: decoded text = original" same_text "$T/8bit.eml" "$T/8bit.s"
tr -d '\r' <"$T/8bit.s" >"$T/8bit.lf"
both_valid "8bit with LF line ends" "$T/8bit.lf" alice@example.com

it_finish
