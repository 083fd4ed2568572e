#!/bin/bash
# t/lib/pki.sh keeps its promises (the other tests build on it): the files
# and modes of the cert_dir layout, S/MIME-proper extensions, the special
# cases (expired, self-signed, another address, bob's old key) and
# pki_p12 in both forms.
. "$(dirname "$0")/lib.sh"
start=$(date +%s%N)
it_pki
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "# pki_make took $ms ms"
check "pki_make under 10 s even on a loaded machine (about 1.5 s idle)" test "$ms" -lt 10000
CA=$PKI/ca.pem
check "cert/ca.pem is the CA" cmp -s "$CA" "$PKI/cert/ca.pem"
check "CA is a CA" bash -c "openssl x509 -in '$CA' -noout -ext basicConstraints | grep -q 'CA:TRUE'"
check "ca.key is 0600" test "$(stat -c %a "$PKI/ca.key")" = 600

for a in $PKI_USERS; do
    pub=$PKI/cert/pub/$a.pem priv=$PKI/cert/priv/$a.pem
    check "$a: pub has exactly one certificate and no key" \
        bash -c "[ \$(grep -c 'BEGIN CERTIFICATE' '$pub') -eq 1 ] && ! grep -q PRIVATE '$pub'"
    check "$a: priv is key + certificate + CA" \
        bash -c "[ \$(grep -c 'BEGIN PRIVATE KEY' '$priv') -eq 1 ] && [ \$(grep -c 'BEGIN CERTIFICATE' '$priv') -eq 2 ]"
    check "$a: priv is mode 0600" test "$(stat -c %a "$priv")" = 600
    check "$a: chains to the CA for S/MIME signing" openssl verify -purpose smimesign -CAfile "$CA" "$pub"
    # OpenSSL's smimeencrypt purpose wants keyEncipherment: not for EC (ECDH).
    [ "$a" != carol@example.com ] &&
        check "$a: chains to the CA for S/MIME encryption" openssl verify -purpose smimeencrypt -CAfile "$CA" "$pub"
    check "$a: subjectAltName email:$a" \
        bash -c "openssl x509 -in '$pub' -noout -ext subjectAltName | grep -qx '    email:$a'"
    check "$a: extendedKeyUsage emailProtection" \
        bash -c "openssl x509 -in '$pub' -noout -ext extendedKeyUsage | grep -q 'E-mail Protection'"
    check "$a: key matches certificate" \
        bash -c "[ \"\$(openssl x509 -in '$priv' -noout -pubkey)\" = \"\$(openssl pkey -in '$priv' -pubout)\" ]"
    check "$a: valid for about a year" \
        bash -c "openssl x509 -in '$pub' -noout -checkend 31000000 >/dev/null && ! openssl x509 -in '$pub' -noout -checkend 32000000 >/dev/null"
done
check "alice is RSA 2048" bash -c "openssl x509 -in '$PKI/cert/pub/alice@example.com.pem' -noout -text | grep -q 'Public-Key: (2048 bit)'"
check "carol is EC P-256" bash -c "openssl x509 -in '$PKI/cert/pub/carol@example.com.pem' -noout -text | grep -q 'NIST CURVE: P-256'"
check "carol's key usage has keyAgreement" \
    bash -c "openssl x509 -in '$PKI/cert/pub/carol@example.com.pem' -noout -ext keyUsage | grep -q 'Key Agreement'"
check "bob's key usage has keyEncipherment" \
    bash -c "openssl x509 -in '$PKI/cert/pub/bob@example.com.pem' -noout -ext keyUsage | grep -q 'Key Encipherment'"

S=$PKI/special
check "expired: chains to the CA but has expired" \
    bash -c "openssl verify -CAfile '$CA' '$S/expired@example.com.pem' 2>&1 | grep -q 'certificate has expired'"
check "mallory: self-signed, not under the CA" \
    bash -c "openssl verify -CAfile '$CA' '$S/mallory@evil.com.pem' 2>&1 | grep -q 'self-signed'"
check "frank: under the CA" openssl verify -CAfile "$CA" "$S/frank@example.com.pem"
check "frank: names another address" \
    bash -c "openssl x509 -in '$S/frank@example.com.pem' -noout -ext subjectAltName | grep -q 'email:frank.other@example.com'"
check "bob-old: under the CA, names bob" \
    bash -c "openssl verify -CAfile '$CA' '$S/bob-old.pem' && openssl x509 -in '$S/bob-old.pem' -noout -ext subjectAltName | grep -q 'email:bob@example.com'"
check "bob-old: a different key than bob's" \
    bash -c "[ \"\$(openssl pkey -in '$S/bob-old.pem' -pubout)\" != \"\$(openssl pkey -in '$PKI/cert/priv/bob@example.com.pem' -pubout)\" ]"
check "bob-old: priv/alt/bob@example.com-old.pem holds the same key, mode 0600" \
    bash -c "[ \"\$(openssl pkey -in '$S/bob-old.pem' -pubout)\" = \"\$(openssl pkey -in '$PKI/cert/priv/alt/bob@example.com-old.pem' -pubout)\" ] && [ \$(stat -c %a '$PKI/cert/priv/alt/bob@example.com-old.pem') = 600 ]"
check "special/*.pem are 0600" bash -c "[ -z \"\$(find '$S' -name '*.pem' ! -perm 600)\" ]"

pki_p12 "$PKI" carol@example.com pw "$T/c.p12"
check "pki_p12: default PKCS#12 opens with the password" \
    bash -c "openssl pkcs12 -in '$T/c.p12' -passin pass:pw -nodes 2>/dev/null | grep -q 'BEGIN PRIVATE KEY'"
pki_p12 "$PKI" bob-old pw "$T/b.p12" legacy
check "pki_p12 legacy: opens, holds key + certificate + CA" \
    bash -c "o=\$(openssl pkcs12 -in '$T/b.p12' -passin pass:pw -nodes 2>/dev/null); [ \$(grep -c 'BEGIN CERTIFICATE' <<<\"\$o\") -eq 2 ] && grep -q 'BEGIN PRIVATE KEY' <<<\"\$o\""
check "pki_p12 legacy: key bag is 3DES" \
    bash -c "openssl pkcs12 -in '$T/b.p12' -passin pass:pw -info -nokeys -nocerts 2>&1 | grep -q 'pbeWithSHA1And3-KeyTripleDES-CBC'"
check "pki_p12: wrong password refused" \
    not openssl pkcs12 -in "$T/c.p12" -passin pass:wrong -nodes -out /dev/null
check "pki_p12: unknown address fails" not pki_p12 "$PKI" nobody@nowhere "pw" "$T/n.p12"

it_finish
