#!/bin/bash
# Hostile input through "cryptofilter process --direction in" (verify and
# decrypt rules, collection on).  Every case has a defined outcome: exit 0
# (no policy is configured, so nothing may be rejected, dropped or
# tempfailed), never a crash (exit >= 128), exactly one status header of
# each kind with an allowed value, and the message kept.  Also: forged
# status headers are replaced, an untrusted signer's certificate is never
# collected while a trusted one is, and addresses that try to leave
# cert_dir read and write nothing outside it.
# Runs against build/cryptofilter, then against build/asan/cryptofilter
# when that exists (an ASan/UBSan build; any sanitizer report fails).
. "$(dirname "$0")/lib.sh"
it_need_cf
it_pki
P=$PKI/cert/priv
it_message "$T/m.eml"
it_entity "$T/m.eml" "$T/m.ent"
H=("From: <alice@example.com>" "To: <bob@example.com>" "Subject: hostile")

# --- the inputs -------------------------------------------------------------
mk() { mkdir -p "$T/in"; cat >"$T/in/$1.eml"; }
openssl cms -encrypt -aes-256-cbc -in "$T/m.ent" -out "$T/enc.p" "$PKI/cert/pub/bob@example.com.pem"
$MT prepend "$T/enc.p" "${H[@]}" >"$T/enc.eml"
openssl cms -sign -signer "$P/alice@example.com.pem" -in "$T/m.ent" -out "$T/sig.p"
$MT prepend "$T/sig.p" "${H[@]}" >"$T/sig.eml"

# Envelope damage.
python3 - "$T/enc.eml" <<'EOF' | mk truncated-base64
import sys; d=open(sys.argv[1],'rb').read(); h,b=d.split(b"\r\n\r\n",1)
sys.stdout.buffer.write(h+b"\r\n\r\n"+b[:len(b)//2]+b"\r\n")
EOF
python3 - "$T/enc.eml" <<'EOF' | mk garbage-base64
import sys; d=open(sys.argv[1],'rb').read(); h,b=d.split(b"\r\n\r\n",1)
sys.stdout.buffer.write(h+b"\r\n\r\n"+b[:200]+b"!!**%%$$##@@~~\r\n\xff\xfe\x00\x01 not base64 at all\r\n"+b[200:])
EOF
{ printf '%s\r\n' "${H[@]}" "MIME-Version: 1.0" \
    "Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m" \
    "Content-Transfer-Encoding: base64" ""
  head -c 3000 /dev/urandom | base64; } | mk garbage-cms
# A DER header that promises 2 GB.
{ printf '%s\r\n' "${H[@]}" "MIME-Version: 1.0" \
    "Content-Type: application/pkcs7-mime; smime-type=enveloped-data" \
    "Content-Transfer-Encoding: base64" ""
  printf '\x30\x84\x7f\xff\xff\xff\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x03\xa0\x84\x7f\xff\xff\xf0' | base64; } | mk huge-der-length
openssl cms -encrypt -aes-256-cbc -in "$T/m.ent" -out "$T/dave.p" "$PKI/cert/pub/dave@partner.com.pem"
$MT prepend "$T/dave.p" "${H[@]}" | mk other-recipient
# Signature damage.
sed 's/last line/LAST LINE, changed in transit/' "$T/sig.eml" | mk changed-content
python3 - "$T/sig.eml" <<'EOF' | mk truncated-signature
import sys,re; d=open(sys.argv[1],'rb').read()
i=d.index(b"application/pkcs7-signature", d.index(b"\r\n\r\n")); j=d.index(b"\r\n\r\n", i)+4
sys.stdout.buffer.write(d[:j]+d[j:j+300]+b"\r\n"+d[d.rindex(b"\r\n--"):])
EOF
python3 - "$T/sig.eml" <<'EOF' | mk garbage-signature
import sys,base64,os; d=open(sys.argv[1],'rb').read()
i=d.index(b"application/pkcs7-signature", d.index(b"\r\n\r\n")); j=d.index(b"\r\n\r\n", i)+4
sys.stdout.buffer.write(d[:j]+base64.encodebytes(os.urandom(900)).replace(b"\n",b"\r\n")+d[d.rindex(b"\r\n--"):])
EOF
# MIME structure damage.
sed 's/; boundary="[^"]*"//; s/boundary=[^;]*//' "$T/sig.eml" | mk signed-no-boundary
python3 - "$T/sig.eml" <<'EOF' | mk signed-no-closing-boundary
import sys; d=open(sys.argv[1],'rb').read(); sys.stdout.buffer.write(d[:d.rindex(b"\r\n--")]+b"\r\n")
EOF
python3 - "$T/sig.eml" <<'EOF' | mk signed-duplicate-boundary
import sys,re; d=open(sys.argv[1],'rb').read()
sys.stdout.buffer.write(re.sub(rb'(boundary="[^"]*")', rb'\1; boundary="other-boundary"', d, count=1))
EOF
python3 - <<'EOF' | mk long-boundary
import sys; b=b"b"*20000
sys.stdout.buffer.write(b"From: <alice@example.com>\r\nTo: <bob@example.com>\r\nSubject: long\r\nMIME-Version: 1.0\r\n"
 b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="'+b+b'"\r\n\r\n'
 b"--"+b+b"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--"+b+b"\r\nContent-Type: application/pkcs7-signature\r\n\r\nAAAA\r\n--"+b+b"--\r\n")
EOF
python3 - <<'EOF' | mk nested-1000
import sys; n=1000
out=[b"From: <alice@example.com>\r\nTo: <bob@example.com>\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"]
for i in range(n):
    out.append(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i))
out.append(b"Content-Type: text/plain\r\n\r\ndeep inside\r\n")
for i in reversed(range(n)):
    out.append(b"--b%d--\r\n" % i)
sys.stdout.buffer.write(b"".join(out))
EOF
python3 - <<'EOF' | mk nested-signed-1000
import sys; n=1000
out=[b"From: <alice@example.com>\r\nTo: <bob@example.com>\r\nSubject: deep signed\r\nMIME-Version: 1.0\r\n"]
for i in range(n):
    out.append(b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="s%d"\r\n\r\n--s%d\r\n' % (i, i))
out.append(b"Content-Type: text/plain\r\n\r\ndeep inside\r\n")
for i in reversed(range(n)):
    out.append(b"--s%d\r\nContent-Type: application/pkcs7-signature\r\n\r\nMIIB\r\n--s%d--\r\n" % (i, i))
sys.stdout.buffer.write(b"".join(out))
EOF
python3 - <<'EOF' | mk header-100k
import sys
sys.stdout.buffer.write(b"From: <alice@example.com>\r\nTo: <bob@example.com>\r\nX-Long: "+b"y"*102400+
 b"\r\nSubject: long header\r\nContent-Type: text/plain; name=\""+b"z"*102400+b"\"\r\n\r\nbody after a long header\r\n")
EOF
python3 - <<'EOF' | mk many-headers
import sys
sys.stdout.buffer.write(b"From: <alice@example.com>\r\nTo: <bob@example.com>\r\n"+
 b"".join(b"X-H%d: v\r\n" % i for i in range(5000))+b"Subject: many\r\n\r\nbody after many headers\r\n")
EOF
printf 'From: <alice@example.com>\r\nTo: <bob@example.com>\r\nSubject: nul\0inside\r\nX-Nul: a\0b\r\nContent-Type: text/plain\r\n\r\nbody with a NUL \0 here\r\nand more\0\0\r\n' | mk nul-bytes
printf 'From: <alice@example.com>\r\nTo: <bob@example.com>\r\nSubject: no body\r\n' | mk no-body
printf '' | mk empty
head -c 20000 /dev/urandom | mk random-bytes
{ printf '%s\r\n' "${H[@]}" "MIME-Version: 1.0" \
    'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary="x"' ""
  printf -- '--x\r\nContent-Type: text/plain\r\n\r\nonly one part\r\n--x--\r\n'; } | mk signed-one-part
{ printf '%s\r\n' "${H[@]}" "MIME-Version: 1.0" \
    'Content-Type: application/pkcs7-mime; smime-type=signed-data' "Content-Transfer-Encoding: quoted-printable" ""
  printf '=FF=00=3\r\n=\r\n'; } | mk p7m-bad-qp

# Forged status headers on an unsigned message.
{ printf '%s\r\n' "${H[@]}" \
    "X-CryptoFilter-SMIME-Verify-Status: valid; signer=alice@example.com; forged" \
    "X-CryptoFilter-SMIME-Decrypt-Status: decrypted" \
    "x-cryptofilter-smime-verify-status: valid; lower case, forged too" \
    "X-CryptoFilter-TLS: none" "X-CryptoFilter-Other: forged" \
    "Content-Type: text/plain" "" "not signed at all"; } | mk forged-status

# --- the checks ---------------------------------------------------------------
VERIFY_OK='^(error|invalid|not-signed|untrusted)'
# When the envelope cannot be opened the engine adds no verify status
# (engine.c: nothing could be verified); error or not-signed is fine too.
UNOPENED="ABSENT|^(error|not-signed)"
DECRYPT_OK='^(failed|no-key|not-encrypted|decrypted)'

# one BIN NAME VERIFY-ERE DECRYPT-ERE [MARKER]
one() {
    local bin=$1 name=$2 vre=$3 dre=$4 marker=${5:-} v
    local o=$T/out/$(basename "$(dirname "$bin")").$name
    mkdir -p "$T/out"
    CF=$bin cf_run "$T/in.conf" in "$T/in/$name.eml" "$o" alice@example.com bob@example.com
    check "$name: exit 0 (no crash, no reject)" rc_is 0 "$o"
    if grep -q 'Sanitizer' "$o.err"; then
        not_ok "$name: sanitizer report"; grep -A8 Sanitizer "$o.err" | head -n 20 | sed 's/^/#   /'
    fi
    v=$($MT hdr "$o" X-CryptoFilter-SMIME-Verify-Status 2>/dev/null)
    if [ -z "$v" ] && [ "${vre#ABSENT|}" != "$vre" ]; then
        ok "$name: no verify status (nothing could be verified)"
    else
        vre=${vre#ABSENT|}
        check "$name: one verify status matching $vre (got: ${v:0:80})" \
            bash -c '[ "$(printf "%s\n" "$1" | grep -c .)" -eq 1 ] && printf "%s\n" "$1" | grep -Eq "$2"' _ "$v" "$vre"
    fi
    v=$($MT hdr "$o" X-CryptoFilter-SMIME-Decrypt-Status 2>/dev/null)
    check "$name: one decrypt status matching $dre (got: ${v:0:80})" \
        bash -c '[ "$(printf "%s\n" "$1" | grep -c .)" -eq 1 ] && printf "%s\n" "$1" | grep -Eq "$2"' _ "$v" "$dre"
    [ -n "$marker" ] && check "$name: message kept (\"$marker\" still there)" grep -qa -- "$marker" "$o"
}

suite() {
    local bin=$1
    echo "# --- $bin"
    one "$bin" truncated-base64 "$UNOPENED" '^(failed)' "Subject: hostile"
    one "$bin" garbage-base64 "$UNOPENED" '^(failed)' "Subject: hostile"
    one "$bin" garbage-cms "$UNOPENED" '^(failed)' "Subject: hostile"
    one "$bin" huge-der-length "$UNOPENED" '^(failed)' "Subject: hostile"
    one "$bin" other-recipient "$UNOPENED" '^(no-key|failed)' "Subject: hostile"
    check "other-recipient: envelope kept" grep -q "application/pkcs7-mime" "$T/out/$(basename "$(dirname "$bin")").other-recipient"
    one "$bin" changed-content '^invalid' "$DECRYPT_OK" "changed in transit"
    one "$bin" truncated-signature '^(error|invalid)' "$DECRYPT_OK" "last line"
    one "$bin" garbage-signature '^(error|invalid)' "$DECRYPT_OK" "last line"
    one "$bin" signed-no-boundary "$VERIFY_OK" "$DECRYPT_OK" "last line"
    one "$bin" signed-no-closing-boundary "$VERIFY_OK" "$DECRYPT_OK" "last line"
    one "$bin" signed-duplicate-boundary "^(valid|$VERIFY_OK)" "$DECRYPT_OK" "last line"
    one "$bin" long-boundary "$VERIFY_OK" "$DECRYPT_OK" "hello"
    one "$bin" nested-1000 "^not-signed" "^not-encrypted" "deep inside"
    one "$bin" nested-signed-1000 '^(error|invalid)' "$DECRYPT_OK" "deep inside"
    one "$bin" header-100k "^not-signed" "^not-encrypted" "body after a long header"
    one "$bin" many-headers "^not-signed" "^not-encrypted" "body after many headers"
    one "$bin" nul-bytes "^(not-signed|error)" "^(not-encrypted|failed)" "and more"
    one "$bin" no-body "^(not-signed|error)" "^(not-encrypted|failed)" "Subject: no body"
    one "$bin" empty "^(not-signed|error)" "^(not-encrypted|failed)"
    one "$bin" random-bytes "^(not-signed|error)" "^(not-encrypted|failed)"
    one "$bin" signed-one-part '^(error|invalid|not-signed)' "$DECRYPT_OK" "only one part"
    one "$bin" p7m-bad-qp '^(error|invalid|not-signed)' "$DECRYPT_OK"
    one "$bin" forged-status '^not-signed' '^not-encrypted' "not signed at all"
    local f=$T/out/$(basename "$(dirname "$bin")").forged-status
    check "forged-status: no forged value left" not grep -qi 'forged' "$f"
    check "forged-status: no X-CryptoFilter-TLS on inbound mail" not grep -qi '^X-CryptoFilter-TLS:' "$f"
    check "forged-status: X-CryptoFilter-Other removed" not grep -qi '^X-CryptoFilter-Other' "$f"
}

it_conf "$T/in.conf" "$PKI/cert" collect_sender_certs=true <<<"$RULES_IN"
BINS=("$CF")
if [ -x "$CF_SRCDIR/build/asan/cryptofilter" ]; then
    BINS+=("$CF_SRCDIR/build/asan/cryptofilter")
else
    echo "# no build/asan/cryptofilter: the ASan pass is skipped"
fi
for b in "${BINS[@]}"; do suite "$b"; done

# --- collection -----------------------------------------------------------------
# A fresh cert_dir: only what the engine writes shows up in pub/.
C=$T/coll/cert
mkdir -p "$C/pub" "$C/priv/alt" && cp "$PKI/ca.pem" "$C/ca.pem"
cp "$P/bob@example.com.pem" "$C/priv/" && chmod 600 "$C/priv/bob@example.com.pem"
it_conf "$T/coll.conf" "$C" collect_sender_certs=true <<<"$RULES_IN"
openssl cms -sign -signer "$PKI/special/mallory@evil.com.pem" -in "$T/m.ent" -out "$T/mal.p"
$MT prepend "$T/mal.p" "From: <mallory@evil.com>" "To: <bob@example.com>" "Subject: trust me" >"$T/mal.eml"
cf_run "$T/coll.conf" in "$T/mal.eml" "$T/mal.out" mallory@evil.com bob@example.com
check "untrusted signer: exit 0" rc_is 0 "$T/mal.out"
check "untrusted signer: status untrusted" hdr_is "$T/mal.out" X-CryptoFilter-SMIME-Verify-Status untrusted
check "untrusted signer: NOT collected" \
    bash -c "[ -z \"\$(find '$C/pub' -name '*mallory*' -o -name 'db-*' | head -n 1)\" ]"
openssl cms -sign -signer "$PKI/special/expired@example.com.pem" -in "$T/m.ent" -out "$T/exp.p"
$MT prepend "$T/exp.p" "From: <expired@example.com>" "To: <bob@example.com>" "Subject: old" >"$T/exp.eml"
cf_run "$T/coll.conf" in "$T/exp.eml" "$T/exp.out" expired@example.com bob@example.com
check "expired signer: status expired" hdr_is "$T/exp.out" X-CryptoFilter-SMIME-Verify-Status expired
check "expired signer: NOT collected" not test -e "$C/pub/db-expired@example.com.pem"
openssl cms -sign -signer "$PKI/special/frank@example.com.pem" -in "$T/m.ent" -out "$T/fr.p"
$MT prepend "$T/fr.p" "From: <frank@example.com>" "To: <bob@example.com>" "Subject: frank" >"$T/fr.eml"
cf_run "$T/coll.conf" in "$T/fr.eml" "$T/fr.out" frank@example.com bob@example.com
check "mismatched signer: NOT collected under From" not test -e "$C/pub/db-frank@example.com.pem"
check "mismatched signer: NOT collected under its own name either" not test -e "$C/pub/db-frank.other@example.com.pem"
cf_run "$T/coll.conf" in "$T/sig.eml" "$T/good.out" alice@example.com bob@example.com
check "trusted signer: status valid" hdr_is "$T/good.out" X-CryptoFilter-SMIME-Verify-Status "valid; signer=alice@example.com"
check "trusted signer: collected as pub/db-alice@example.com.pem" test -s "$C/pub/db-alice@example.com.pem"
check "trusted signer: the collected file is alice's certificate" \
    bash -c "[ \"\$(openssl x509 -in '$C/pub/db-alice@example.com.pem' -noout -fingerprint)\" = \"\$(openssl x509 -in '$PKI/cert/pub/alice@example.com.pem' -noout -fingerprint)\" ]"
check "trusted signer: no private key in the collected file" not grep -q 'PRIVATE KEY' "$C/pub/db-alice@example.com.pem"
check "collection wrote nothing else" \
    bash -c "[ \"\$(find '$C/pub' -type f | wc -l)\" -eq 1 ]"

# Never replace a newer collected certificate with an older one.  An older
# certificate for alice (same CA, valid 2025-01-01 .. 2028-12-31):
mkdir -p "$T/oca" && : >"$T/oca/index.txt" && echo 2A00 >"$T/oca/serial"
cat >"$T/oca/ca.cnf" <<EOF
[ ca ]
default_ca = t
[ t ]
database = $T/oca/index.txt
serial = $T/oca/serial
new_certs_dir = $T/oca
certificate = $PKI/ca.pem
private_key = $PKI/ca.key
default_md = sha256
policy = p
unique_subject = no
[ p ]
commonName = supplied
emailAddress = optional
EOF
printf 'subjectAltName = email:alice@example.com\nextendedKeyUsage = emailProtection\nkeyUsage = digitalSignature, keyEncipherment\nbasicConstraints = CA:FALSE\n' >"$T/oca/ext"
openssl req -new -key "$P/alice@example.com.pem" -subj "/CN=alice old/emailAddress=alice@example.com" \
    -out "$T/oca/req" 2>/dev/null &&
openssl ca -batch -config "$T/oca/ca.cnf" -in "$T/oca/req" -notext -startdate 20250101000000Z \
    -enddate 20281231000000Z -extfile "$T/oca/ext" -out "$T/oca/old.crt" >/dev/null 2>&1
check "older alice certificate made" openssl verify -CAfile "$PKI/ca.pem" "$T/oca/old.crt"
openssl cms -sign -signer "$T/oca/old.crt" -inkey "$P/alice@example.com.pem" -certfile "$PKI/ca.pem" \
    -in "$T/m.ent" -out "$T/old.p"
$MT prepend "$T/old.p" "${H[@]}" >"$T/old.eml"
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 2>/dev/null; }
cf_run "$T/coll.conf" in "$T/old.eml" "$T/old.out" alice@example.com bob@example.com
check "older certificate: signature valid" hdr_is "$T/old.out" X-CryptoFilter-SMIME-Verify-Status "valid; signer=alice@example.com"
check "older certificate: does not replace the newer collected one" \
    test "$(fp "$C/pub/db-alice@example.com.pem")" = "$(fp "$PKI/cert/pub/alice@example.com.pem")"
C2=$T/coll2/cert
mkdir -p "$C2/pub" "$C2/priv/alt" && cp "$PKI/ca.pem" "$C2/ca.pem"
it_conf "$T/coll2.conf" "$C2" collect_sender_certs=true <<<"$RULES_IN"
cf_run "$T/coll2.conf" in "$T/old.eml" "$T/old2.out" alice@example.com bob@example.com
check "older certificate first: collected" test "$(fp "$C2/pub/db-alice@example.com.pem")" = "$(fp "$T/oca/old.crt")"
cf_run "$T/coll2.conf" in "$T/sig.eml" "$T/new2.out" alice@example.com bob@example.com
check "then a newer one: replaces it" \
    test "$(fp "$C2/pub/db-alice@example.com.pem")" = "$(fp "$PKI/cert/pub/alice@example.com.pem")"
C3=$T/coll3/cert
mkdir -p "$C3/pub" "$C3/priv/alt" && cp "$PKI/ca.pem" "$C3/ca.pem"
it_conf "$T/coll3.conf" "$C3" collect_sender_certs=false <<<"$RULES_IN"
cf_run "$T/coll3.conf" in "$T/sig.eml" "$T/nocoll.out" alice@example.com bob@example.com
check "collect_sender_certs = false: valid, nothing collected" \
    bash -c "grep -q '^X-CryptoFilter-SMIME-Verify-Status: valid' '$T/nocoll.out' && [ -z \"\$(ls '$C3/pub')\" ]"

# A private key readable by others is refused (and said so), mail kept.
K=$T/loose/cert
mkdir -p "$K/pub" "$K/priv/alt" && cp "$PKI/ca.pem" "$K/ca.pem"
cp "$P/bob@example.com.pem" "$K/priv/" && chmod 644 "$K/priv/bob@example.com.pem"
it_conf "$T/loose.conf" "$K" <<<"$RULES_IN"
cf_run "$T/loose.conf" in "$T/enc.eml" "$T/loose.out" alice@example.com bob@example.com
check "0644 key: exit 0" rc_is 0 "$T/loose.out"
check "0644 key: not used (no-key or failed)" \
    bash -c "$MT hdr '$T/loose.out' X-CryptoFilter-SMIME-Decrypt-Status | grep -Eq '^(no-key|failed)'"
check "0644 key: envelope kept" grep -q 'application/pkcs7-mime' "$T/loose.out"
check "0644 key: a log line says why" \
    bash -c "grep -rqi 'refus.*bob@example.com.pem\|bob@example.com.pem.*\(group\|others\|mode\)' '$T/loose.out.err' '$T/run/log'"

# --- addresses that try to leave cert_dir ------------------------------------------
E=$T/esc
mkdir -p "$E/cert/pub" "$E/cert/priv/alt" "$E/run" && cp "$PKI/ca.pem" "$E/cert/ca.pem"
# Bait: if "priv/../../<addr>.pem" were ever opened, this key would sign.
for a in planted@x pwn@example.com; do
    cp "$P/alice@example.com.pem" "$E/$a.pem"; chmod 600 "$E/$a.pem"
    cp "$PKI/cert/pub/alice@example.com.pem" "$E/cert/$a.pem"
done
it_conf "$E/out.conf" "$E/cert" collect_sender_certs=true <<EOF
smime_sign "all" { from = "*"  to = "*"  certificate = "*" }
smime_encrypt "all" { from = "*"  to = "*"  certificate = "*" }
EOF
it_conf "$E/in.conf" "$E/cert" collect_sender_certs=true <<<"$RULES_IN"
# A certificate from our CA whose address is itself a path.
EVIL='../../../planted@x'
openssl req -new -key "$P/dave@partner.com.pem" -subj "/CN=evil" -out "$E/evil.req" 2>/dev/null
printf 'subjectAltName = email:%s\nextendedKeyUsage = emailProtection\nkeyUsage = digitalSignature, keyEncipherment\n' "$EVIL" >"$E/evil.ext"
openssl x509 -req -in "$E/evil.req" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" -set_serial 4242 -days 30 \
    -extfile "$E/evil.ext" -out "$E/evil.crt" 2>/dev/null
cat "$P/dave@partner.com.pem" >"$E/evil.key"
openssl cms -sign -signer "$E/evil.crt" -inkey "$E/evil.key" -certfile "$PKI/ca.pem" -in "$T/m.ent" -out "$E/evil.p"
$MT prepend "$E/evil.p" "From: <$EVIL>" "To: <bob@example.com>" "Subject: path" >"$E/evil.eml"
touch "$E/stamp"; sleep 1
STRACE=()
if strace -f -o /dev/null true 2>/dev/null; then
    STRACE=(strace -f -qq -e trace=open,openat,creat,rename,renameat,renameat2,link,linkat,unlink,unlinkat,mkdir,stat,newfstatat,access -o)
fi
n=0
for from in '../../planted@x' '../../../../../../etc/passwd@x' '/etc/passwd' 'a/../../pwn@example.com' \
            '.hidden@example.com' 'x@..' 'pwn@example.com/../../..' 'back\slash@example.com' "$EVIL"; do
    n=$((n + 1))
    printf '%s\r\n' "From: <$from>" "To: <$from>" "Subject: escape $n" "" "escape attempt $n" >"$E/m$n.eml"
    for dir in out in; do
        msg=$E/m$n.eml; [ "$dir" = in ] && [ "$from" = "$EVIL" ] && msg=$E/evil.eml
        if [ ${#STRACE[@]} -gt 0 ]; then
            "${STRACE[@]}" "$E/trace.$dir.$n" "$CF" process -c "$E/$dir.conf" --direction "$dir" \
                --from "$from" --to "$from" --to bob@example.com <"$msg" >"$E/o.$dir.$n" 2>"$E/o.$dir.$n.err"
            CF_RC=$?
        else
            cf_run "$E/$dir.conf" "$dir" "$msg" "$E/o.$dir.$n" "$from" "$from" bob@example.com
        fi
        check "escape $dir '$from': no crash (exit $CF_RC)" test "$CF_RC" -lt 128
        check "escape $dir '$from': exit 0 or tempfail" bash -c "[ $CF_RC -eq 0 ] || [ $CF_RC -eq 11 ]"
        if [ "$CF_RC" -eq 0 ] && [ "$dir" = out ]; then
            check "escape out '$from': not signed with the bait key" not grep -q 'pkcs7' "$E/o.$dir.$n"
        fi
        if [ -f "$E/trace.$dir.$n" ]; then
            check "escape $dir '$from': no file opened outside cert_dir (strace)" \
                not grep -E "\"$E/cert/[^\"]*\.\./|\"$E/[a-z]+@|\"/etc/passwd|planted|pwn@" "$E/trace.$dir.$n"
        fi
    done
done
[ -f "$E/trace.out.1" ] && check "escape: strace saw the normal lookup of bob's certificate (control)" \
    grep -q "\"$E/cert/pub/bob@example.com.pem\"" "$E/trace.out.1"
# Where an escape would land: $E, $T, /tmp (cert_dir/priv/../../..), /etc.
check "escape: no file made outside cert_dir" \
    bash -c "[ -z \"\$(find '$T' /tmp /etc -maxdepth 4 -newer '$E/stamp' \\( -name '*planted*' -o -name '*pwn*' \
        -o -name '*passwd*' -o -name '*hidden*' -o -name '*evil*' -o -name 'db-*' \\) 2>/dev/null | head -n 3)\" ]"
check "escape: cert_dir/pub holds no collected file" bash -c "[ -z \"\$(ls '$E/cert/pub')\" ]"
check "escape: the bait files are untouched" cmp -s "$E/planted@x.pem" "$P/alice@example.com.pem"

it_finish
