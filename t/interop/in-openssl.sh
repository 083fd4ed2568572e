#!/bin/bash
# Messages signed and encrypted by openssl cms are decrypted and verified by
# "cryptofilter process --direction in": RSA and EC keys, AES-CBC, AES-GCM,
# 3DES, RSA-OAEP, SHA-256/512, detached and opaque, sign-then-encrypt,
# triple-wrapped, the ALT key for old mail, remove_signature; expired,
# self-signed and mismatched signers get their status.  Each case asserts
# the status headers, the exit status and the plaintext.
. "$(dirname "$0")/lib.sh"
it_need_cf
it_pki
P=$PKI/cert/priv
it_message "$T/m.eml"
it_entity "$T/m.eml" "$T/m.ent"
HDRS=("From: <alice@example.com>" "To: <bob@example.com>" "Subject: from openssl")
it_conf "$T/in.conf" "$PKI/cert" <<<"$RULES_IN"

# inbound NAME MSG VERIFY DECRYPT [SIGNER] [CONF]: run, then assert.
inbound() {
    local name=$1 msg=$2 v=$3 d=$4 signer=${5:-} conf=${6:-$T/in.conf} o=$T/$1.out
    cf_run "$conf" in "$msg" "$o" "${signer:-alice@example.com}" bob@example.com
    check "$name: exit 0" rc_is 0 "$o"
    check "$name: verify status $v" hdr_is "$o" X-CryptoFilter-SMIME-Verify-Status "$v"
    [ -n "$signer" ] && check "$name: signer=$signer" \
        bash -c "$MT hdr '$o' X-CryptoFilter-SMIME-Verify-Status | grep -q 'signer=$signer'"
    check "$name: decrypt status $d" hdr_is "$o" X-CryptoFilter-SMIME-Decrypt-Status "$d"
    check "$name: plaintext = original" same_text "$T/m.eml" "$(opened "$o")"
}

# opened MSG: MSG, or its content when it is still opaque signed-data.
opened() {
    if $MT ctype "$1" | grep -q pkcs7-mime; then
        openssl cms -verify -noverify -in "$1" -out "$1.opened" 2>/dev/null
        echo "$1.opened"
    else
        echo "$1"
    fi
}

# smime_sign OUT SIGNER [openssl cms options...]: a signed message, From
# the signer's address.
smime_sign() {
    local out=$1 signer=$2 from; shift 2
    from=$(basename "$signer" .pem)
    openssl cms -sign -signer "$signer" -in "$T/m.ent" -out "$out.p" "$@" &&
        $MT prepend "$out.p" "From: <$from>" "${HDRS[@]:1}" >"$out"
}

# smime_enc OUT IN [openssl cms options and certificates...]
smime_enc() {
    local out=$1 in=$2; shift 2
    openssl cms -encrypt -in "$in" -out "$out.p" "$@" &&
        $MT prepend "$out.p" "From: <${ENC_FROM:-alice@example.com}>" "${HDRS[@]:1}" >"$out"
}

# --- signatures -----------------------------------------------------------
smime_sign "$T/s1.eml" "$P/alice@example.com.pem" -md sha256
inbound rsa-detached-sha256 "$T/s1.eml" valid not-encrypted alice@example.com
smime_sign "$T/s2.eml" "$P/alice@example.com.pem" -md sha512 -nodetach
inbound rsa-opaque-sha512 "$T/s2.eml" valid not-encrypted alice@example.com
smime_sign "$T/s3.eml" "$P/carol@example.com.pem" -md sha256
inbound ec-detached-sha256 "$T/s3.eml" valid not-encrypted carol@example.com
smime_sign "$T/s4.eml" "$P/carol@example.com.pem" -md sha512 -nodetach
inbound ec-opaque-sha512 "$T/s4.eml" valid not-encrypted carol@example.com
# The signer's certificate is not in the message: it must be found... or
# not: then the status is an error or invalid, never valid.
smime_sign "$T/s5.eml" "$P/alice@example.com.pem" -nocerts
cf_run "$T/in.conf" in "$T/s5.eml" "$T/s5.out" alice@example.com bob@example.com
check "signature without certificates: exit 0" rc_is 0 "$T/s5.out"
check "signature without certificates: not valid unless alice's cert is known" \
    bash -c "$MT hdr '$T/s5.out' X-CryptoFilter-SMIME-Verify-Status | grep -Eq '^(valid; signer=alice@example.com|error|invalid|untrusted)'"

# --- envelopes ------------------------------------------------------------
smime_enc "$T/e1.eml" "$T/m.ent" -aes-256-cbc "$PKI/cert/pub/bob@example.com.pem"
inbound aes256cbc-rsa "$T/e1.eml" not-signed decrypted
smime_enc "$T/e2.eml" "$T/m.ent" -aes-128-cbc "$PKI/cert/pub/bob@example.com.pem"
inbound aes128cbc-rsa "$T/e2.eml" not-signed decrypted
smime_enc "$T/e3.eml" "$T/m.ent" -aes-128-gcm "$PKI/cert/pub/bob@example.com.pem"
inbound aes128gcm-rsa "$T/e3.eml" not-signed decrypted
smime_enc "$T/e4.eml" "$T/m.ent" -aes-256-gcm -recip "$PKI/cert/pub/bob@example.com.pem" \
    -keyopt rsa_padding_mode:oaep
check "openssl made an OAEP envelope" bash -c "openssl cms -cmsout -print -in '$T/e4.eml.p' | grep -q rsaesOaep"
inbound aes256gcm-oaep "$T/e4.eml" not-signed decrypted
smime_enc "$T/e5.eml" "$T/m.ent" -aes-256-cbc -recip "$PKI/cert/pub/bob@example.com.pem" \
    -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256
inbound aes256cbc-oaep-sha256 "$T/e5.eml" not-signed decrypted
smime_enc "$T/e6.eml" "$T/m.ent" -des3 "$PKI/cert/pub/bob@example.com.pem"
inbound 3des-input-accepted "$T/e6.eml" not-signed decrypted
# EC recipient (ECDH): the message is for carol.
smime_enc "$T/e7.eml" "$T/m.ent" -aes-256-cbc "$PKI/cert/pub/carol@example.com.pem"
cf_run "$T/in.conf" in "$T/e7.eml" "$T/e7.out" alice@example.com carol@example.com
check "ecdh-aes256cbc: exit 0" rc_is 0 "$T/e7.out"
check "ecdh-aes256cbc: decrypted" hdr_is "$T/e7.out" X-CryptoFilter-SMIME-Decrypt-Status decrypted
check "ecdh-aes256cbc: plaintext = original" same_text "$T/m.eml" "$T/e7.out"
# Several recipients in one envelope; bob's RecipientInfo is not the first.
smime_enc "$T/e8.eml" "$T/m.ent" -aes-256-cbc "$PKI/cert/pub/dave@partner.com.pem" \
    "$PKI/cert/pub/carol@example.com.pem" "$PKI/cert/pub/bob@example.com.pem"
inbound three-recipients "$T/e8.eml" not-signed decrypted
# Old mail: encrypted to bob's previous certificate, read with priv/alt.
smime_enc "$T/e9.eml" "$T/m.ent" -aes-256-cbc "$PKI/special/bob-old.pem"
inbound alt-key-old-mail "$T/e9.eml" not-signed decrypted

# --- sign, then encrypt; triple wrap --------------------------------------
openssl cms -sign -signer "$P/alice@example.com.pem" -in "$T/m.ent" -out "$T/se.signed"
smime_enc "$T/se.eml" "$T/se.signed" -aes-256-cbc "$PKI/cert/pub/bob@example.com.pem"
inbound sign-then-encrypt "$T/se.eml" valid decrypted alice@example.com
openssl cms -sign -signer "$P/carol@example.com.pem" -nodetach -in "$T/m.ent" -out "$T/se2.signed"
ENC_FROM=carol@example.com smime_enc "$T/se2.eml" "$T/se2.signed" -aes-128-gcm "$PKI/cert/pub/bob@example.com.pem"
inbound ec-opaque-then-gcm "$T/se2.eml" valid decrypted carol@example.com
# Triple wrap (RFC 2634): sign, encrypt, sign the envelope again.
openssl cms -encrypt -aes-256-cbc -in "$T/se.signed" -out "$T/tw.enc" "$PKI/cert/pub/bob@example.com.pem"
smime_sign "$T/tw.eml" "$P/alice@example.com.pem" -in "$T/tw.enc"
check "triple-wrapped: made (outer multipart/signed over an envelope)" \
    bash -c "grep -q 'application/pkcs7-mime' '$T/tw.eml' && grep -q 'multipart/signed' '$T/tw.eml'"
inbound triple-wrapped "$T/tw.eml" valid decrypted alice@example.com

# --- statuses other than valid --------------------------------------------
smime_sign "$T/x1.eml" "$PKI/special/expired@example.com.pem"
inbound expired-signer "$T/x1.eml" expired not-encrypted expired@example.com
smime_sign "$T/x2.eml" "$PKI/special/mallory@evil.com.pem"
inbound self-signed-signer "$T/x2.eml" untrusted not-encrypted mallory@evil.com
# Frank's certificate names frank.other@example.com; From says frank.
openssl cms -sign -signer "$PKI/special/frank@example.com.pem" -in "$T/m.ent" -out "$T/x3.p"
$MT prepend "$T/x3.p" "From: <frank@example.com>" "To: <bob@example.com>" "Subject: frank" >"$T/x3.eml"
cf_run "$T/in.conf" in "$T/x3.eml" "$T/x3.out" frank@example.com bob@example.com
check "signer address != From: exit 0" rc_is 0 "$T/x3.out"
check "signer address != From: status is not valid" \
    bash -c "$MT hdr '$T/x3.out' X-CryptoFilter-SMIME-Verify-Status | grep -Eq '^(invalid|untrusted|error)'"
check "signer address != From: text kept" same_text "$T/m.eml" "$T/x3.out"

# --- remove_signature -----------------------------------------------------
it_conf "$T/rm.conf" "$PKI/cert" <<EOF
smime_verify "all" { from = "*"  to = "*"  verify = true  remove_signature = true }
smime_decrypt "all" { from = "*"  to = "*"  certificate = "*" }
EOF
for c in s1 s2 se; do
    cf_run "$T/rm.conf" in "$T/$c.eml" "$T/$c.rm" alice@example.com bob@example.com
    check "remove_signature ($c): exit 0" rc_is 0 "$T/$c.rm"
    check "remove_signature ($c): status valid" hdr_is "$T/$c.rm" X-CryptoFilter-SMIME-Verify-Status valid
    check "remove_signature ($c): now text/plain" bash -c "$MT ctype '$T/$c.rm' | grep -qx text/plain"
    check "remove_signature ($c): no pkcs7 left" bash -c "! grep -qi 'pkcs7' '$T/$c.rm'"
    check "remove_signature ($c): plaintext = original" same_text "$T/m.eml" "$T/$c.rm"
    check "remove_signature ($c): From kept" grep -q '^From: <alice@example.com>' "$T/$c.rm"
done

it_finish
