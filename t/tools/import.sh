#!/bin/bash
# cryptofilter import: a PKCS#12 key becomes priv/ADDR.pem (0600, key +
# certificate + chain) and pub/ADDR.pem; --alt stores an old key under
# priv/alt/; wrong passwords, foreign addresses and unsafe addresses are
# refused and write nothing; the imported key really signs and decrypts.
set -u
top=${CF_SRCDIR:-$(pwd)}
. "$top/t/lib/pki.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; echo "$out"; fail=1; fi; }
pki_make "$tmp/pki" >/dev/null 2>&1 || { echo "pki_make failed"; exit 1; }
cd "$tmp"
mkdir -p cert/pub cert/priv/alt && cp pki/ca.pem cert/ca.pem
cat > q.conf <<CONF
smime { cert_dir = "$tmp/cert" }
smime_sign "ours" { from = "*@example.com" certificate = "*" }
smime_decrypt "all" { certificate = "*" }
smime_verify "all" { }
CONF
cf() { "$top/build/cryptofilter" "$@"; }
echo "s3cret" > pass
pki_p12 pki alice@example.com s3cret alice.p12 >/dev/null 2>&1
pki_p12 pki bob-old s3cret bob-old.p12 >/dev/null 2>&1
pki_p12 pki dave@partner.com s3cret dave-legacy.p12 legacy >/dev/null 2>&1

out=$(cf import -c q.conf --password-file pass alice.p12 Alice@Example.com 2>&1); rc=$?
check "import succeeds" '[ $rc -eq 0 ]'
check "private file is 0600" '[ "$(stat -c %a cert/priv/alice@example.com.pem)" = 600 ]'
check "private file has key, certificate and CA" \
    '[ "$(grep -c "BEGIN CERTIFICATE" cert/priv/alice@example.com.pem)" -ge 2 ] && grep -q "PRIVATE KEY" cert/priv/alice@example.com.pem'
check "public file has the certificate only" \
    '! grep -q "PRIVATE KEY" cert/pub/alice@example.com.pem && openssl x509 -in cert/pub/alice@example.com.pem -noout -ext subjectAltName | grep -q alice@example.com'
check "the same key as in the PKCS#12" \
    '[ "$(openssl pkey -in cert/priv/alice@example.com.pem -pubout)" = "$(openssl pkey -in pki/cert/priv/alice@example.com.pem -pubout)" ]'

printf 'From: alice@example.com\nTo: dave@partner.com\nSubject: t\n\nhello\n' > m.eml
cf process -c q.conf --direction out --from alice@example.com --to dave@partner.com < m.eml > signed.eml 2>/dev/null
check "the imported key signs, and openssl verifies" \
    'openssl cms -verify -CAfile pki/ca.pem -in signed.eml -out /dev/null 2>/dev/null'

out=$(cf import -c q.conf --alt --password-file pass bob-old.p12 bob@example.com 2>&1); rc=$?
check "--alt goes to priv/alt" '[ $rc -eq 0 ] && ls cert/priv/alt/bob@example.com-*.pem >/dev/null 2>&1 && [ ! -e cert/priv/bob@example.com.pem ]'
check "alt file is 0600" '[ "$(stat -c %a cert/priv/alt/bob@example.com-*.pem)" = 600 ]'
openssl cms -encrypt -aes-256-cbc -in m.eml -out old.eml pki/special/bob-old.pem 2>/dev/null
# openssl cms writes the MIME headers of a whole message.
out=$(cf process -c q.conf --direction in --from dave@partner.com --to bob@example.com < old.eml 2>&1 >dec.eml)
check "the old key decrypts old mail" 'grep -q "X-CryptoFilter-SMIME-Decrypt-Status: decrypted" dec.eml && grep -q hello dec.eml'

out=$(cf import -c q.conf --password-file pass dave-legacy.p12 dave@partner.com 2>&1); rc=$?
check "legacy (3DES/SHA-1) PKCS#12 imports" '[ $rc -eq 0 ] && [ -s cert/priv/dave@partner.com.pem ]'

echo wrong > badpass
out=$(cf import -c q.conf --password-file badpass alice.p12 carol@example.com 2>&1); rc=$?
check "wrong password refused, nothing written" '[ $rc -ne 0 ] && [ ! -e cert/priv/carol@example.com.pem ]'
out=$(cf import -c q.conf --password-file pass alice.p12 carol@example.com 2>&1); rc=$?
check "certificate without the address refused" '[ $rc -ne 0 ] && [ ! -e cert/priv/carol@example.com.pem ] && echo "$out" | grep -qi "carol@example.com"'
out=$(cf import -c q.conf --force --password-file pass alice.p12 carol@example.com 2>&1); rc=$?
check "--force imports it anyway" '[ $rc -eq 0 ] && [ -e cert/priv/carol@example.com.pem ]'
for evil in '../../etc/x@example.com' 'a/b@example.com' '.alice@example.com' 'alice@example.com/..'; do
    before=$(find "$tmp" | sort | md5sum)
    out=$(cf import -c q.conf --force --password-file pass alice.p12 "$evil" 2>&1); rc=$?
    check "unsafe address $evil refused, nothing written" '[ $rc -ne 0 ] && [ "$(find "$tmp" | sort | md5sum)" = "$before" ]'
done
cf import -c q.conf alice.p12 >/dev/null 2>&1; rc=$?
check "missing address is a usage error" '[ $rc -eq 64 ]'
check "no temporary files left" '[ -z "$(find cert -name "*.tmp*" -o -name ".*" -type f)" ]'
exit $fail
