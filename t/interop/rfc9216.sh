#!/bin/bash
# Real third-party S/MIME messages (RFC 9216 sample keys, LAMPS sample
# messages from Alice to Bob) read by "cryptofilter process --direction in".
# Expected results: the corpus README.  The plaintext is compared with what
# openssl cms (the reference) gets from the same file.  Skips when the
# corpus is absent (it is not part of the project's own tree).
. "$(dirname "$0")/lib.sh"
it_need_cf
C=""
for d in "$CF_SRCDIR/../shared/interop/rfc9216" /work/shared/interop/rfc9216; do
    [ -f "$d/ca.pem" ] && { C=$d; break; }
done
[ -n "$C" ] || it_skip "no interop corpus (../shared/interop/rfc9216)"

# A cert_dir of our own: git does not keep 0600 and the key must be.
mkdir -p "$T/cert/pub" "$T/cert/priv/alt"
cp "$C/ca.pem" "$T/cert/ca.pem"
cp "$C/bob@smime.example.pem" "$T/cert/priv/" && chmod 600 "$T/cert/priv/bob@smime.example.pem"
BOB=$T/cert/priv/bob@smime.example.pem
it_conf "$T/in.conf" "$T/cert" <<<"$RULES_IN"

opened() {
    if $MT ctype "$1" | grep -q pkcs7-mime; then
        openssl cms -verify -noverify -in "$1" -out "$1.opened" 2>/dev/null
        echo "$1.opened"
    else
        echo "$1"
    fi
}

# corpus NAME VERIFY DECRYPT: run FILE, check statuses, compare the text
# with $T/NAME.ref (made by openssl beforehand).
corpus() {
    local name=$1 o=$T/$1.out f=$C/$1.eml
    [ -f "$f" ] || { echo "# $name: not in the corpus, skipped"; return; }
    cf_run "$T/in.conf" in "$f" "$o" alice@smime.example bob@smime.example
    check "$name: exit 0" rc_is 0 "$o"
    check "$name: verify status $2" hdr_is "$o" X-CryptoFilter-SMIME-Verify-Status "$2"
    check "$name: decrypt status $3" hdr_is "$o" X-CryptoFilter-SMIME-Decrypt-Status "$3"
    if [ -s "$T/$name.ref" ]; then
        check "$name: plaintext = openssl's" same_text "$T/$name.ref" "$(opened "$o")"
    else
        not_ok "$name: openssl (reference) could not read it"
    fi
    check "$name: From kept" grep -q '^From: Alice Lovelace <alice@smime.example>' "$o"
}

ref_verify() { openssl cms -verify -CAfile "$C/ca.pem" -in "$1" -out "$2" 2>/dev/null; }

for n in signed-opaque signed-opaque-protected-headers signed-detached; do
    [ -f "$C/$n.eml" ] && ref_verify "$C/$n.eml" "$T/$n.ref"
    corpus "$n" "valid; signer=alice@smime.example" not-encrypted
done

[ -f "$C/encrypted.eml" ] &&
    openssl cms -decrypt -recip "$BOB" -in "$C/encrypted.eml" -out "$T/encrypted.ref" 2>/dev/null
corpus encrypted not-signed decrypted
check "encrypted: the corpus really is 3DES" \
    bash -c "openssl cms -cmsout -print -in '$C/encrypted.eml' | grep -q des-ede3-cbc"

for n in signed-then-encrypted signed-then-encrypted-legacy-display; do
    if [ -f "$C/$n.eml" ]; then
        openssl cms -decrypt -recip "$BOB" -in "$C/$n.eml" -out "$T/$n.inner" 2>/dev/null &&
            ref_verify "$T/$n.inner" "$T/$n.ref"
    fi
    corpus "$n" "valid; signer=alice@smime.example" decrypted
done

# Without Bob's key the envelope is "no-key" and the message is kept.
mkdir -p "$T/nokey/pub" "$T/nokey/priv/alt" && cp "$C/ca.pem" "$T/nokey/ca.pem"
it_conf "$T/nokey.conf" "$T/nokey" <<<"$RULES_IN"
cf_run "$T/nokey.conf" in "$C/encrypted.eml" "$T/nokey.out" alice@smime.example bob@smime.example
check "no key for bob: exit 0" rc_is 0 "$T/nokey.out"
check "no key for bob: decrypt status no-key" hdr_is "$T/nokey.out" X-CryptoFilter-SMIME-Decrypt-Status no-key
check "no key for bob: envelope kept" grep -q "application/pkcs7-mime" "$T/nokey.out"

it_finish
