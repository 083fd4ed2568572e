#!/bin/bash
# Inbound, before-queue: a message signed by dave@partner.com and encrypted
# to bob@example.com arrives at the sink decrypted, with
# X-CryptoFilter-SMIME-Verify-Status: valid; the X-CryptoFilter-* headers a
# sender forged are gone.  A message from a signer outside the CA is
# marked untrusted, never valid.
set -u
. "${CF_SRCDIR:-.}/t/lib/postfix.sh"
command -v swaks >/dev/null || { echo "no swaks"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

pf_setup
pf_cf_conf "$PF_DIR/cf.conf" <<'CONF'
smime_verify  "all" { from = "*"  to = "*"  verify = true }
smime_decrypt "all" { from = "*"  to = "*"  certificate = "*" }
CONF
pf_gateway "$PF_DIR/cf.conf"
sink_start
pf_milter_start "$PF_DIR/cf.conf" || fail "milter did not start"
pf_start

# make_msg SIGNER_PEM SUBJECT OUT: signed by SIGNER, encrypted to bob, with
# forged status headers on the outside.
make_msg() {
    local signer=$1 subject=$2 out=$3 from=$4
    printf 'Content-Type: text/plain; charset=us-ascii\r\n\r\nThe secret inbound text (%s).\r\n' "$subject" >"$PF_DIR/inner"
    openssl cms -sign -in "$PF_DIR/inner" -signer "$signer" -inkey "$signer" \
	-md sha256 -out "$PF_DIR/signed" 2>"$PF_DIR/ssl.err" || { cat "$PF_DIR/ssl.err" >&2; fail "openssl cms -sign"; }
    openssl cms -encrypt -in "$PF_DIR/signed" -aes256 -out "$PF_DIR/enc" \
	"$PF_PKI/cert/pub/bob@example.com.pem" 2>"$PF_DIR/ssl.err" || { cat "$PF_DIR/ssl.err" >&2; fail "openssl cms -encrypt"; }
    {
	printf 'From: %s\r\nTo: bob@example.com\r\nSubject: %s\r\n' "$from" "$subject"
	printf 'Date: %s\r\nMessage-ID: <%s.%s@partner.com>\r\n' "$(date -R)" "$subject" "$$"
	printf 'X-CryptoFilter-SMIME-Verify-Status: valid; signer=forged-by-mallory\r\n'
	printf 'X-CryptoFilter-TLS: none\r\n'
	sed 's/$/\r/' "$PF_DIR/enc"
    } >"$out"
}

make_msg "$PF_PKI/cert/priv/dave@partner.com.pem" good "$PF_DIR/good.eml" dave@partner.com
pf_send "$PF_PORT" dave@partner.com bob@example.com --data - <"$PF_DIR/good.eml" \
    || { cat "$PF_DIR/log/swaks.last" >&2; fail "swaks (good) failed"; }
pf_wait_queue_empty 15 || fail "queue not empty"
sink_wait 1 5 || fail "nothing delivered"
f=$PF_SINK_DIR/1.eml
grep -q 'The secret inbound text (good)' "$f" || { head -40 "$f" >&2; fail "not decrypted"; }
grep -qi '^Content-Type: application/\(x-\)\?pkcs7-mime' "$f" && fail "still an S/MIME envelope"
grep -qi '^X-CryptoFilter-SMIME-Verify-Status: valid' "$f" || { grep -i '^X-CryptoFilter' "$f" >&2; fail "no Verify-Status: valid"; }
grep -qi '^X-CryptoFilter-SMIME-Verify-Status:.*dave@partner.com' "$f" || fail "Verify-Status does not name the signer"
grep -q 'forged-by-mallory' "$f" && fail "the forged status header survived"
[ "$(grep -ci '^X-CryptoFilter-SMIME-Verify-Status:' "$f")" = 1 ] || fail "more than one Verify-Status header"
grep -qi '^X-CryptoFilter-TLS:' "$f" && fail "a forged TLS marker survived"
grep -qi '^X-CryptoFilter-SMIME-Decrypt-Status:' "$f" || fail "no Decrypt-Status header"

# A self-signed signer (mallory, not under the CA): decrypted, untrusted.
make_msg "$PF_PKI/special/mallory@evil.com.pem" mallory "$PF_DIR/evil.eml" mallory@evil.com
pf_send "$PF_PORT" mallory@evil.com bob@example.com --data - <"$PF_DIR/evil.eml" \
    || { cat "$PF_DIR/log/swaks.last" >&2; fail "swaks (mallory) failed"; }
pf_wait_queue_empty 15 || fail "queue not empty (mallory)"
sink_wait 2 5 || fail "mallory's message not delivered"
f=$PF_SINK_DIR/2.eml
grep -q 'The secret inbound text (mallory)' "$f" || fail "mallory's message not decrypted"
grep -qi '^X-CryptoFilter-SMIME-Verify-Status: untrusted' "$f" \
    || { grep -i '^X-CryptoFilter' "$f" >&2; fail "self-signed signer not 'untrusted'"; }
grep -q 'forged-by-mallory' "$f" && fail "the forged status header survived (mallory)"
# An untrusted signer's certificate is never collected.
ls "$PF_PKI/cert/pub/" | grep -qi 'mallory' && fail "mallory's certificate was collected"
echo "inbound OK"
