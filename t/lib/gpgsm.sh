# gpgsm.sh - a throwaway gpgsm (GnuPG S/MIME) keyring for interop tests.
# Source it after pki.sh:   . "$CF_SRCDIR/t/lib/pki.sh"; . "$CF_SRCDIR/t/lib/gpgsm.sh"
#
#   gs_init PKIDIR          new GNUPGHOME (exported; under mktemp -d) that
#                           trusts PKIDIR/ca.pem, no network, no CRLs
#   gs_import PKIDIR ADDR   import ADDR's key + certificate (via pki_p12)
#   gs_sign ADDR IN OUT [detached|opaque] [DIGEST]
#                           DER CMS signed-data over IN (IN used as is:
#                           give it canonical CRLF text); DIGEST e.g. SHA512
#   gs_verify SIG [CONTENT] 0 only for a good signature from a trusted
#                           chain (GOODSIG + VALIDSIG + TRUST_FULLY)
#   gs_verify_out SIG OUT   opaque: verify and write the signed content
#   gs_encrypt IN OUT ADDR...  DER CMS enveloped-data, AES-256-CBC
#   gs_decrypt IN OUT       decrypt DER enveloped-data
#   gs_done                 stop the agent, remove GNUPGHOME (call it from
#                           the test's EXIT trap)
#   gs_usable               0 when gpgsm and gpgconf exist
# Every function leaves gpgsm's messages in $GS_LOG (shown on failure).
#
# What was found out about gpgsm 2.2.40 (Debian 12) here:
# * Trust: trustlist.txt holds the CA's SHA-1 fingerprint, colon-separated,
#   then " S relax"; the CA certificate itself must be imported too.
#   gpgsm.conf gets disable-crl-checks, disable-dirmngr (no dirmngr, no
#   network) and disable-policy-checks.
# * PKCS#12 import: OpenSSL 3's default PKCS#12 (PBES2/AES-256) fails to
#   parse ("encryptedData error at pkcs5PBES2-params"), and so does
#   -certpbe PBE-SHA1-3DES.  What works: key bag PBE-SHA1-3DES, certificate
#   bag unencrypted, SHA-1 MAC (pki_p12 ... legacy).  The passphrase comes
#   through --pinentry-mode loopback --passphrase-fd (agent with
#   allow-loopback-pinentry); the key then stays protected with that
#   passphrase in the agent, so signing and decrypting pass it again.
# * EC keys: importing an EC P-256 PKCS#12 SEGFAULTS gpgsm 2.2.40, and it
#   refuses to encrypt to an EC certificate ("Wrong key usage": no ECDH).
#   It does verify ECDSA signatures.  So gpgsm signs/decrypts with RSA keys
#   only, encrypts to RSA certificates only, and verifies both.
# * No AES-GCM (authEnveloped-data) and no RSA-OAEP in 2.2: tests must give
#   gpgsm AES-CBC with PKCS#1 v1.5 key transport only.
# * Defaults: sign SHA-256, encrypt AES-128-CBC (we pass --cipher-algo
#   AES256).  gpgsm writes DER CMS, no MIME: the caller wraps it.

GS_PASS=gs-test-pass

gs_usable() {
    command -v gpgsm >/dev/null 2>&1 && command -v gpgconf >/dev/null 2>&1
}

gs_init() {
    local pki=$1 fp
    GS_HOME=$(mktemp -d /tmp/cf-gpgsm.XXXXXX) || return 1
    GNUPGHOME=$GS_HOME; export GNUPGHOME GS_HOME
    GS_LOG=$GS_HOME/log; export GS_LOG
    chmod 700 "$GS_HOME"
    printf '%s\n' disable-crl-checks disable-dirmngr disable-policy-checks \
        >"$GS_HOME/gpgsm.conf"
    printf '%s\n' allow-loopback-pinentry allow-mark-trusted >"$GS_HOME/gpg-agent.conf"
    printf '%s\n' "$GS_PASS" >"$GS_HOME/pass"
    fp=$(openssl x509 -in "$pki/ca.pem" -noout -fingerprint -sha1 | cut -d= -f2) || return 1
    echo "$fp S relax" >"$GS_HOME/trustlist.txt"
    gpgsm --batch --import "$pki/ca.pem" >>"$GS_LOG" 2>&1 || { cat "$GS_LOG" >&2; return 1; }
}

gs_import() {
    local pki=$1 addr=$2
    pki_p12 "$pki" "$addr" "$GS_PASS" "$GS_HOME/$addr.p12" legacy >>"$GS_LOG" 2>&1 &&
    gpgsm --batch --pinentry-mode loopback --passphrase-fd 3 \
        --import "$GS_HOME/$addr.p12" 3<"$GS_HOME/pass" >>"$GS_LOG" 2>&1 ||
        { echo "gs_import $addr failed:" >&2; tail -n 20 "$GS_LOG" >&2; return 1; }
}

gs_sign() {
    local addr=$1 in=$2 out=$3 mode=${4:-detached} digest=${5:-SHA256}
    local -a how=(--detach-sign)
    [ "$mode" = opaque ] && how=(--sign)
    rm -f "$out"
    gpgsm --batch --pinentry-mode loopback --passphrase-fd 3 --digest-algo "$digest" \
        --include-certs -1 -u "$addr" "${how[@]}" -o "$out" "$in" 3<"$GS_HOME/pass" \
        >>"$GS_LOG" 2>&1 || { echo "gs_sign failed:" >&2; tail -n 20 "$GS_LOG" >&2; return 1; }
}

# Status lines decide, not the exit code alone: gpgsm exits 0 for some
# signatures it could not fully check.
_gs_good() {
    grep -q '^\[GNUPG:\] GOODSIG' "$1" && grep -q '^\[GNUPG:\] VALIDSIG' "$1" &&
        grep -q '^\[GNUPG:\] TRUST_FULLY' "$1"
}

gs_verify() {
    local sig=$1 content=${2:-} st=$GS_HOME/status.$$ rc
    if [ -n "$content" ]; then
        gpgsm --batch --status-fd 3 --verify "$sig" "$content" 3>"$st" >>"$GS_LOG" 2>&1
    else
        gpgsm --batch --status-fd 3 --verify -o /dev/null "$sig" 3>"$st" >>"$GS_LOG" 2>&1
    fi
    rc=$?
    cat "$st" >>"$GS_LOG"
    [ $rc -eq 0 ] && _gs_good "$st"
}

gs_verify_out() {
    local sig=$1 out=$2 st=$GS_HOME/status.$$ rc
    rm -f "$out"
    gpgsm --batch --status-fd 3 --verify -o "$out" "$sig" 3>"$st" >>"$GS_LOG" 2>&1
    rc=$?
    cat "$st" >>"$GS_LOG"
    [ $rc -eq 0 ] && _gs_good "$st"
}

gs_encrypt() {
    local in=$1 out=$2 a; shift 2
    local -a rcpt=()
    for a in "$@"; do rcpt+=(-r "$a"); done
    rm -f "$out"
    gpgsm --batch --cipher-algo AES256 "${rcpt[@]}" --encrypt -o "$out" "$in" \
        >>"$GS_LOG" 2>&1 || { echo "gs_encrypt failed:" >&2; tail -n 20 "$GS_LOG" >&2; return 1; }
}

gs_decrypt() {
    local in=$1 out=$2
    rm -f "$out"
    gpgsm --batch --pinentry-mode loopback --passphrase-fd 3 --decrypt -o "$out" "$in" \
        3<"$GS_HOME/pass" >>"$GS_LOG" 2>&1
}

gs_done() {
    [ -n "${GS_HOME:-}" ] && [ -d "$GS_HOME" ] || return 0
    GNUPGHOME=$GS_HOME gpgconf --kill gpg-agent >/dev/null 2>&1
    rm -rf "$GS_HOME"
    GS_HOME=
}
