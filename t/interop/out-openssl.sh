#!/bin/bash
# What "cryptofilter process --direction out" signs and encrypts is read by
# openssl cms: signatures (detached, opaque, RSA, EC, SHA-256/512) verify
# against the test CA, envelopes (AES-CBC, AES-GCM, RSA PKCS#1 and OAEP,
# ECDH for EC) decrypt, and the text is byte-for-byte the original's after
# canonicalisation.
. "$(dirname "$0")/lib.sh"
it_need_cf
it_pki
CA=$PKI/ca.pem
it_message "$T/m.eml"

# --- signatures -----------------------------------------------------------
sign_case() {	# NAME SIGNER DIGEST SIGNATURE MICALG
    local name=$1 signer=$2 digest=$3 sig=$4 micalg=$5 o=$T/$1
    it_message "$o.in" "$signer" bob@example.com
    it_conf "$o.conf" "$PKI/cert" digest="$digest" signature="$sig" <<<"$RULES_SIGN"
    cf_run "$o.conf" out "$o.in" "$o.out" "$signer" bob@example.com
    check "$name: exit 0" rc_is 0 "$o.out"
    if [ "$sig" = detached ]; then
        check "$name: multipart/signed" hdr_is "$o.out" Content-Type "multipart/signed"
        check "$name: micalg=$micalg" grep -qi "micalg=\"\?$micalg" "$o.out"
    else
        check "$name: opaque signed-data" grep -qi "smime-type=signed-data" "$o.out"
    fi
    check "$name: From/To/Subject kept" \
        bash -c "grep -q '^From: <$signer>' '$o.out' && grep -q '^Subject: interop test' '$o.out'"
    check "$name: openssl cms -verify" \
        openssl cms -verify -CAfile "$CA" -purpose smimesign -in "$o.out" -out "$o.content" -signer "$o.signer"
    check "$name: signed text = original text" same_text "$o.in" "$o.content"
    check "$name: signed entity = original entity, byte for byte" same_entity "$o.in" "$o.content"
    check "$name: signer certificate names $signer" \
        bash -c "openssl x509 -in '$o.signer' -noout -ext subjectAltName | grep -q 'email:$signer'"
    check "$name: CMS digest $digest" \
        bash -c "openssl cms -cmsout -print -in '$o.out' | grep -A1 digestAlgorithms | grep -qi '$digest'"
}
sign_case sign-rsa-detached-sha256 alice@example.com sha256 detached sha-256
sign_case sign-rsa-detached-sha512 alice@example.com sha512 detached sha-512
sign_case sign-rsa-opaque-sha384   alice@example.com sha384 opaque sha-384
sign_case sign-ec-detached-sha256  carol@example.com sha256 detached sha-256
sign_case sign-ec-opaque-sha512    carol@example.com sha512 opaque sha-512

# --- envelopes ------------------------------------------------------------
enc_case() {	# NAME CIPHER KEY_TRANSPORT OID-NAME-IN-PRINT
    local name=$1 cipher=$2 kt=$3 algo=$4 o=$T/$1 r
    it_conf "$o.conf" "$PKI/cert" cipher="$cipher" key_transport="$kt" <<<"$RULES_ENC"
    cf_run "$o.conf" out "$T/m.eml" "$o.out" dave@partner.com bob@example.com carol@example.com
    check "$name: exit 0" rc_is 0 "$o.out"
    check "$name: application/pkcs7-mime" hdr_is "$o.out" Content-Type "application/pkcs7-mime"
    case $cipher in
    *gcm) check "$name: smime-type=authEnveloped-data" grep -qi "smime-type=authEnveloped-data" "$o.out";;
    *)    check "$name: smime-type=enveloped-data" grep -qi "smime-type=enveloped-data" "$o.out";;
    esac
    openssl cms -cmsout -print -in "$o.out" >"$o.print" 2>&1
    check "$name: content cipher $algo" grep -q "algorithm: $algo " "$o.print"
    [ "$kt" = oaep ] && check "$name: key transport RSA-OAEP" grep -q "rsaesOaep" "$o.print"
    [ "$kt" = pkcs1 ] && check "$name: key transport PKCS#1 v1.5 for RSA" grep -q "algorithm: rsaEncryption" "$o.print"
    check "$name: no plaintext in the envelope" bash -c "! grep -q 'trailing space here' '$o.out'"
    for r in bob@example.com carol@example.com; do
        check "$name: openssl cms -decrypt as $r" \
            openssl cms -decrypt -recip "$PKI/cert/priv/$r.pem" -in "$o.out" -out "$o.$r.dec"
        check "$name: decrypted text = original ($r)" same_text "$T/m.eml" "$o.$r.dec"
        check "$name: decrypted entity = original, byte for byte ($r)" same_entity "$T/m.eml" "$o.$r.dec"
        check "$name: decrypted entity is text/plain ($r)" \
            bash -c "$MT ctype '$o.$r.dec' | grep -qx text/plain"
    done
    check "$name: alice (not a recipient) cannot decrypt" \
        bash -c "! openssl cms -decrypt -recip '$PKI/cert/priv/alice@example.com.pem' -in '$o.out' -out /dev/null 2>/dev/null"
}
enc_case enc-aes256cbc-pkcs1 aes-256-cbc pkcs1 aes-256-cbc
enc_case enc-aes128cbc-pkcs1 aes-128-cbc pkcs1 aes-128-cbc
enc_case enc-aes128gcm-pkcs1 aes-128-gcm pkcs1 aes-128-gcm
enc_case enc-aes256gcm-oaep  aes-256-gcm oaep  aes-256-gcm
enc_case enc-aes256cbc-oaep  aes-256-cbc oaep  aes-256-cbc

# --- sign, then encrypt ---------------------------------------------------
o=$T/sign-encrypt
it_conf "$o.conf" "$PKI/cert" <<<"$RULES_OUT"
cf_run "$o.conf" out "$T/m.eml" "$o.out" alice@example.com bob@example.com
check "sign+encrypt: exit 0" rc_is 0 "$o.out"
check "sign+encrypt: outer is enveloped-data" grep -qi "smime-type=enveloped-data" "$o.out"
check "sign+encrypt: bob decrypts" openssl cms -decrypt -recip "$PKI/cert/priv/bob@example.com.pem" -in "$o.out" -out "$o.dec"
check "sign+encrypt: inner is multipart/signed" bash -c "$MT ctype '$o.dec' | grep -qx multipart/signed"
check "sign+encrypt: inner signature verifies" openssl cms -verify -CAfile "$CA" -in "$o.dec" -out "$o.content"
check "sign+encrypt: text = original" same_text "$T/m.eml" "$o.content"
check "sign+encrypt: signed entity = original entity" same_entity "$T/m.eml" "$o.content"
check "sign+encrypt: summary says sign,encrypt" grep -q "actions=sign,encrypt" "$o.out.err"

it_finish
