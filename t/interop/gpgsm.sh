#!/bin/bash
# Interop with GnuPG's gpgsm, both directions.  What cryptofilter signs
# verifies with gpgsm --verify (detached, opaque, RSA and EC signers); what
# it encrypts (AES-CBC, PKCS#1 v1.5: all gpgsm 2.2 reads) decrypts with
# gpgsm --decrypt, text byte-for-byte equal after canonicalisation.  What
# gpgsm signs (SHA-256, SHA-512, detached, opaque) and encrypts (AES-256 and
# 3DES) is verified / decrypted by cryptofilter.  gpgsm limits: see
# t/lib/gpgsm.sh (RSA keys only on gpgsm's side; no GCM, no OAEP).
. "$(dirname "$0")/lib.sh"
. "$CF_SRCDIR/t/lib/gpgsm.sh"
gs_usable || it_skip "gpgsm not installed"
it_need_cf
it_pki
gs_init "$PKI" || { echo "gs_init failed"; exit 1; }
IT_CLEANUP="gs_done"
gs_import "$PKI" alice@example.com && gs_import "$PKI" bob@example.com ||
    { echo "gpgsm import failed"; exit 1; }
it_message "$T/m.eml"
it_entity "$T/m.eml" "$T/m.ent"

# --- cryptofilter signs, gpgsm verifies ------------------------------------
out_sign() {	# NAME SIGNER SIGNATURE DIGEST
    local name=$1 signer=$2 sig=$3 digest=$4 o=$T/$1
    it_message "$o.in" "$signer"
    it_conf "$o.conf" "$PKI/cert" signature="$sig" digest="$digest" <<<"$RULES_SIGN"
    cf_run "$o.conf" out "$o.in" "$o.out" "$signer" bob@example.com
    check "$name: exit 0" rc_is 0 "$o.out"
    if [ "$sig" = detached ]; then
        check "$name: split multipart/signed" $MT signed-parts "$o.out" "$o.ent" "$o.sig"
        check "$name: gpgsm --verify (detached)" gs_verify "$o.sig" "$o.ent"
        check "$name: signed entity text = original" same_text "$o.in" "$o.ent"
        check "$name: signed entity = original, byte for byte" same_entity "$o.in" "$o.ent"
        # The same signature over other bytes must fail: the check can fail.
        sed 's/last line/LAST LINE/' "$o.ent" >"$o.ent2"
        check "$name: gpgsm rejects a changed entity" not gs_verify "$o.sig" "$o.ent2"
    else
        check "$name: opaque body decodes" $MT p7m "$o.out" "$o.p7"
        check "$name: gpgsm --verify (opaque)" gs_verify_out "$o.p7" "$o.content"
        check "$name: signed entity text = original" same_text "$o.in" "$o.content"
    fi
}
out_sign out-rsa-detached alice@example.com detached sha256
out_sign out-rsa-opaque   alice@example.com opaque sha512
out_sign out-ec-detached  carol@example.com detached sha256

# --- cryptofilter encrypts, gpgsm decrypts ---------------------------------
for cipher in aes-256-cbc aes-128-cbc; do
    o=$T/out-enc-$cipher
    it_conf "$o.conf" "$PKI/cert" cipher="$cipher" <<<"$RULES_ENC"
    cf_run "$o.conf" out "$T/m.eml" "$o.out" dave@partner.com bob@example.com
    check "encrypt $cipher: exit 0" rc_is 0 "$o.out"
    check "encrypt $cipher: p7m body decodes" $MT p7m "$o.out" "$o.p7"
    check "encrypt $cipher: gpgsm --decrypt" gs_decrypt "$o.p7" "$o.dec"
    check "encrypt $cipher: text = original" same_text "$T/m.eml" "$o.dec"
    check "encrypt $cipher: entity = original, byte for byte" same_entity "$T/m.eml" "$o.dec"
done
o=$T/out-sign-enc
it_conf "$o.conf" "$PKI/cert" <<<"$RULES_OUT"
cf_run "$o.conf" out "$T/m.eml" "$o.out" alice@example.com bob@example.com
check "sign+encrypt: exit 0" rc_is 0 "$o.out"
$MT p7m "$o.out" "$o.p7"
check "sign+encrypt: gpgsm --decrypt" gs_decrypt "$o.p7" "$o.dec"
check "sign+encrypt: inner multipart/signed splits" $MT signed-parts "$o.dec" "$o.ent" "$o.sig"
check "sign+encrypt: gpgsm verifies the inner signature" gs_verify "$o.sig" "$o.ent"
check "sign+encrypt: text = original" same_text "$T/m.eml" "$o.ent"

# --- gpgsm signs / encrypts, cryptofilter reads -----------------------------
it_conf "$T/in.conf" "$PKI/cert" <<<"$RULES_IN"
HDRS=("From: <alice@example.com>" "To: <bob@example.com>" "Subject: from gpgsm")
in_case() {	# NAME MSG VERIFY DECRYPT
    local name=$1 o=$T/$1.out
    cf_run "$T/in.conf" in "$2" "$o" alice@example.com bob@example.com
    check "$name: exit 0" rc_is 0 "$o"
    check "$name: verify $3" hdr_is "$o" X-CryptoFilter-SMIME-Verify-Status "$3"
    check "$name: decrypt $4" hdr_is "$o" X-CryptoFilter-SMIME-Decrypt-Status "$4"
    if $MT ctype "$o" | grep -q pkcs7-mime; then
        openssl cms -verify -noverify -in "$o" -out "$o.opened" 2>/dev/null; o=$o.opened
    fi
    check "$name: plaintext = original" same_text "$T/m.eml" "$o"
}
gs_sign alice@example.com "$T/m.ent" "$T/g1.sig" detached SHA256 &&
    $MT wrap-signed "$T/m.ent" "$T/g1.sig" sha-256 "${HDRS[@]}" >"$T/g1.eml"
in_case gpgsm-detached-sha256 "$T/g1.eml" "valid; signer=alice@example.com" not-encrypted
gs_sign alice@example.com "$T/m.ent" "$T/g2.sig" detached SHA512 &&
    $MT wrap-signed "$T/m.ent" "$T/g2.sig" sha-512 "${HDRS[@]}" >"$T/g2.eml"
in_case gpgsm-detached-sha512 "$T/g2.eml" "valid; signer=alice@example.com" not-encrypted
gs_sign alice@example.com "$T/m.ent" "$T/g3.p7" opaque SHA256 &&
    $MT wrap-p7m "$T/g3.p7" signed-data "${HDRS[@]}" >"$T/g3.eml"
in_case gpgsm-opaque "$T/g3.eml" "valid; signer=alice@example.com" not-encrypted
gs_encrypt "$T/m.ent" "$T/g4.p7" bob@example.com &&
    $MT wrap-p7m "$T/g4.p7" enveloped-data "${HDRS[@]}" >"$T/g4.eml"
in_case gpgsm-encrypt-aes256 "$T/g4.eml" not-signed decrypted
gpgsm --batch --cipher-algo 3DES -r bob@example.com --encrypt -o "$T/g5.p7" "$T/m.ent" >>"$GS_LOG" 2>&1 &&
    $MT wrap-p7m "$T/g5.p7" enveloped-data "${HDRS[@]}" >"$T/g5.eml"
in_case gpgsm-encrypt-3des "$T/g5.eml" not-signed decrypted
# gpgsm sign, then gpgsm encrypt the signed entity.
$MT wrap-signed "$T/m.ent" "$T/g1.sig" sha-256 >"$T/g6.ent"
gs_encrypt "$T/g6.ent" "$T/g6.p7" bob@example.com &&
    $MT wrap-p7m "$T/g6.p7" enveloped-data "${HDRS[@]}" >"$T/g6.eml"
in_case gpgsm-sign-then-encrypt "$T/g6.eml" "valid; signer=alice@example.com" decrypted

it_finish
