# pki.sh - a throwaway S/MIME test PKI, made with openssl at test time.
# Source it from a bash test script:   . "$CF_SRCDIR/t/lib/pki.sh"
#
# pki_make DIR   creates (in about half a second; the RSA keys are generated
#                in parallel, one key per identity):
#
#   DIR/ca.pem, DIR/ca.key          demo CA "cryptofilter test CA" (RSA 2048)
#   DIR/cert/ca.pem                 the same CA certificate: smime.ca_file
#   DIR/cert/priv/<addr>.pem        mode 0600: private key (PKCS#8, no
#                                   password) + certificate + CA certificate
#   DIR/cert/pub/<addr>.pem         certificate only
#        for  alice@example.com  bob@example.com     RSA 2048
#             carol@example.com                      EC P-256 (prime256v1)
#             dave@partner.com   erin@partner.com    RSA 2048
#        S/MIME-proper: subjectAltName email:<addr> (and emailAddress in the
#        subject), keyUsage digitalSignature,keyEncipherment (EC:
#        digitalSignature,keyAgreement), extendedKeyUsage emailProtection,
#        valid from now for 366 days.
#   DIR/cert/priv/alt/bob@example.com-old.pem   mode 0600: bob's OLD key +
#                                   its certificate + CA (for old mail)
#   DIR/special/bob-old.pem         bob's old certificate + key (encrypt to it
#                                   with openssl cms to make "old mail")
#   DIR/special/expired@example.com.pem  key + certificate + CA; RSA, signed
#                                   by the CA, valid 2020-01-01..2021-01-01
#   DIR/special/mallory@evil.com.pem     key + self-signed certificate for
#                                   mallory@evil.com (EC P-256, not under
#                                   the CA)
#   DIR/special/frank@example.com.pem    key + certificate + CA; EC P-256,
#                                   signed by the CA, but the certificate
#                                   names frank.other@example.com (signer
#                                   address vs From)
#   DIR/special/*.pem               are mode 0600 as well.
#
#   PKI_USERS    the five normal addresses, space separated
#
# pki_p12 DIR ADDR PASSWORD OUT.p12 [legacy]
#                PKCS#12 of ADDR's key + certificate + CA.  ADDR is looked up
#                as DIR/cert/priv/ADDR.pem, then DIR/special/ADDR.pem (so
#                "bob-old" works too).  With "legacy", 3DES/SHA-1 PBE instead
#                of OpenSSL 3's default AES-256/PBKDF2 (for old importers).
#
# Every function returns non-zero (and prints why) on failure; none of them
# changes the caller's shell options.

PKI_USERS="alice@example.com bob@example.com carol@example.com dave@partner.com erin@partner.com"

# _pki_rsa_key OUT: RSA 2048 private key, PKCS#8 PEM.
_pki_rsa_key() {
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
        -out "$1" 2>/dev/null
}

_pki_ec_key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 \
        -out "$1" 2>/dev/null
}

# _pki_ext FILE ADDR KEYUSAGE: the end-entity extensions for openssl x509/ca.
_pki_ext() {
    cat >"$1" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, $3
extendedKeyUsage = emailProtection
subjectAltName = email:$2
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
}

# _pki_issue DIR KEY ADDR CN SERIAL KEYUSAGE OUTCERT: a CA-signed S/MIME
# certificate for KEY naming ADDR, valid from now for 366 days.
_pki_issue() {
    local dir=$1 key=$2 addr=$3 cn=$4 serial=$5 ku=$6 out=$7
    local w="$dir/.work"
    _pki_ext "$w/ext.$serial" "$addr" "$ku"
    openssl req -new -key "$key" -subj "/O=cryptofilter test/CN=$cn/emailAddress=$addr" \
        -out "$w/req.$serial" 2>"$w/err" &&
    openssl x509 -req -in "$w/req.$serial" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -set_serial "$serial" -days 366 -sha256 -extfile "$w/ext.$serial" \
        -out "$out" 2>>"$w/err" || { cat "$w/err" >&2; return 1; }
}

# _pki_bundle OUT KEY CERT [CA]: key + cert (+ CA) in one 0600 PEM.
_pki_bundle() {
    local out=$1; shift
    (umask 077; cat "$@" >"$out") && chmod 600 "$out"
}

pki_make() {
    local dir=${1:-} a i pids="" serial=1000 w
    [ -n "$dir" ] || { echo "pki_make: no directory" >&2; return 1; }
    mkdir -p "$dir/cert/pub" "$dir/cert/priv/alt" "$dir/special" "$dir/.work" || return 1
    chmod 700 "$dir/cert/priv" "$dir/cert/priv/alt" "$dir/special" "$dir/.work"
    dir=$(cd "$dir" && pwd) || return 1
    w="$dir/.work"

    # All RSA keys at once: key generation is the only slow step.
    for a in ca alice@example.com bob@example.com dave@partner.com erin@partner.com \
             bob-old expired@example.com; do
        _pki_rsa_key "$w/$a.key" & pids="$pids $!"
    done
    for a in carol@example.com mallory@evil.com frank@example.com; do
        _pki_ec_key "$w/$a.key" || { echo "pki_make: EC key failed" >&2; return 1; }
    done
    for i in $pids; do
        wait "$i" || { echo "pki_make: RSA key generation failed" >&2; return 1; }
    done

    cat >"$w/req.cnf" <<EOF
[ req ]
distinguished_name = dn
[ dn ]
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_self ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = emailProtection
subjectAltName = email:mallory@evil.com
subjectKeyIdentifier = hash
EOF
    cp "$w/ca.key" "$dir/ca.key" && chmod 600 "$dir/ca.key"
    openssl req -new -x509 -config "$w/req.cnf" -extensions v3_ca -key "$dir/ca.key" \
        -subj "/O=cryptofilter test/CN=cryptofilter test CA" -days 3650 -sha256 \
        -set_serial 1 -out "$dir/ca.pem" 2>"$w/err" || { cat "$w/err" >&2; return 1; }
    cp "$dir/ca.pem" "$dir/cert/ca.pem"

    for a in $PKI_USERS; do
        serial=$((serial + 1))
        local ku="digitalSignature, keyEncipherment" cn=${a%%@*}
        [ "$a" = carol@example.com ] && ku="digitalSignature, keyAgreement"
        _pki_issue "$dir" "$w/$a.key" "$a" "$cn" "$serial" "$ku" "$dir/cert/pub/$a.pem" || return 1
        _pki_bundle "$dir/cert/priv/$a.pem" "$w/$a.key" "$dir/cert/pub/$a.pem" "$dir/ca.pem" || return 1
    done

    # Bob's previous key: in priv/alt for decryption, and as a plain pair so
    # a test can encrypt "old mail" to it.
    _pki_issue "$dir" "$w/bob-old.key" bob@example.com "bob (old)" 1900 \
        "digitalSignature, keyEncipherment" "$w/bob-old.crt" || return 1
    _pki_bundle "$dir/cert/priv/alt/bob@example.com-old.pem" "$w/bob-old.key" "$w/bob-old.crt" "$dir/ca.pem" || return 1
    _pki_bundle "$dir/special/bob-old.pem" "$w/bob-old.crt" "$w/bob-old.key" || return 1

    # Frank: a good certificate that names another address.
    _pki_issue "$dir" "$w/frank@example.com.key" frank.other@example.com "frank" 1901 \
        "digitalSignature, keyAgreement" "$w/frank.crt" || return 1
    _pki_bundle "$dir/special/frank@example.com.pem" "$w/frank@example.com.key" "$w/frank.crt" "$dir/ca.pem" || return 1

    # Mallory: self-signed, S/MIME extensions, not under our CA.
    openssl req -new -x509 -config "$w/req.cnf" -extensions v3_self \
        -key "$w/mallory@evil.com.key" -subj "/O=evil/CN=mallory/emailAddress=mallory@evil.com" \
        -days 366 -sha256 -set_serial 666 -out "$w/mallory.crt" 2>"$w/err" ||
        { cat "$w/err" >&2; return 1; }
    _pki_bundle "$dir/special/mallory@evil.com.pem" "$w/mallory@evil.com.key" "$w/mallory.crt" || return 1

    # Expired: "openssl ca" is the one tool here that takes explicit dates.
    _pki_ext "$w/exp.ext" expired@example.com "digitalSignature, keyEncipherment"
    mkdir -p "$w/ca" && : >"$w/ca/index.txt" && echo 1F00 >"$w/ca/serial"
    cat >"$w/ca.cnf" <<EOF
[ ca ]
default_ca = tca
[ tca ]
dir = $w/ca
database = $w/ca/index.txt
serial = $w/ca/serial
new_certs_dir = $w/ca
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
policy = any
unique_subject = no
email_in_dn = yes
[ any ]
commonName = supplied
organizationName = optional
emailAddress = optional
EOF
    openssl req -new -key "$w/expired@example.com.key" \
        -subj "/O=cryptofilter test/CN=expired/emailAddress=expired@example.com" \
        -out "$w/exp.req" 2>"$w/err" &&
    openssl ca -batch -config "$w/ca.cnf" -in "$w/exp.req" -notext -preserveDN \
        -startdate 20200101000000Z -enddate 20210101000000Z \
        -extfile "$w/exp.ext" -out "$w/exp.crt" >>"$w/err" 2>&1 ||
        { cat "$w/err" >&2; return 1; }
    _pki_bundle "$dir/special/expired@example.com.pem" "$w/expired@example.com.key" "$w/exp.crt" "$dir/ca.pem" || return 1

    rm -rf "$w"
}

pki_p12() {
    local dir=$1 addr=$2 pass=$3 out=$4 legacy=${5:-} src
    if [ -f "$dir/cert/priv/$addr.pem" ]; then src="$dir/cert/priv/$addr.pem"
    elif [ -f "$dir/special/$addr.pem" ]; then src="$dir/special/$addr.pem"
    else echo "pki_p12: no key for $addr under $dir" >&2; return 1; fi
    if [ "$legacy" = legacy ]; then
        openssl pkcs12 -export -in "$src" -inkey "$src" -certfile "$dir/ca.pem" \
            -name "$addr" -passout "pass:$pass" -out "$out" \
            -keypbe PBE-SHA1-3DES -certpbe NONE -macalg sha1
    else
        openssl pkcs12 -export -in "$src" -inkey "$src" -certfile "$dir/ca.pem" \
            -name "$addr" -passout "pass:$pass" -out "$out"
    fi
}
