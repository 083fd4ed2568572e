#!/bin/bash
# demo.sh - "make run": a complete cryptofilter gateway on 127.0.0.1, for a
# first look.  Everything lives under build/demo/ and stops with Ctrl-C.
#
#   build/demo/pki/          a demo CA and S/MIME certificates (t/lib/pki.sh):
#                            alice, bob, carol @example.com (ours),
#                            dave, erin @partner.com (a partner)
#   build/demo/cryptofilter.conf   the gateway's configuration
#   build/demo/postfix/      a private Postfix: etc/main.cf, etc/master.cf,
#                            log/postfix.log
#   build/demo/mail/         what the gateway delivered: one N.eml per message
#                            (stands in for the Internet and the internal server)
#   build/demo/log/          cryptofilter's own log (MBYYMMDD.LOG)
#   build/demo/stats/        statistics (SRYYMMDD.CSV: one row per message)
#   build/demo/history/      a copy of every message as received
#
# Port 2525 plays "the Internet" (inbound: decrypt, verify, policy);
# port 2587 is the submission port of internal users (outbound: sign,
# encrypt, TLS class).  Busy ports are replaced by free ones (printed);
# DEMO_IN_PORT / DEMO_OUT_PORT choose others, DEMO_DIR another directory.
#
# DEMO_SELFTEST=1 sends the three demo messages itself, checks what arrived
# and exits 0 (all good) or 1; t/e2e/milter-demo.sh runs it.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$SRC/build}
DEMO=${DEMO_DIR:-$BUILD/demo}
export CF_SRCDIR=$SRC PF_BUILD=$BUILD

say() { printf '%s\n' "$*"; }
die() { say "demo: $*" >&2; exit 1; }

for b in cryptofilter cryptofilter-milter cryptofilter-policyd; do
    [ -x "$BUILD/$b" ] || die "$BUILD/$b is missing: run make first"
done
[ "$(id -u)" = 0 ] || die "the demo starts a private Postfix and must run as root"
command -v postfix >/dev/null || die "Postfix is not installed (make deps)"

# port_or_free PORT: PORT if nobody listens there, else a free one.
port_or_free() {
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then free_port; else echo "$1"; fi
}

. "$SRC/t/lib/postfix.sh"
. "$SRC/t/lib/pki.sh"

rm -rf "$DEMO"
mkdir -p "$DEMO/mail" "$DEMO/log" "$DEMO/stats" "$DEMO/history" "$DEMO/spool"
chmod 0700 "$DEMO/spool"
say "demo: making the demo CA and certificates in $DEMO/pki ..."
pki_make "$DEMO/pki" >"$DEMO/pki.log" 2>&1 || { cat "$DEMO/pki.log" >&2; die "pki_make failed"; }

# The private Postfix, its sink, ports.  KEEP=1: the results stay after exit.
export KEEP=1
PF_SETUP_DIR=$DEMO/postfix PF_SETUP_SINK_DIR=$DEMO/mail
PF_SETUP_PORT=$(port_or_free "${DEMO_IN_PORT:-2525}")
PF_SETUP_OUT_PORT=$(port_or_free "${DEMO_OUT_PORT:-2587}")
pf_setup
PF_PKI=$DEMO/pki

cat >"$DEMO/cryptofilter.conf" <<EOF
# The demo gateway (postfix-example/demo.sh).  See etc/cryptofilter.conf
# for every option.
postmaster        = "postmaster@example.com"
local_domains     = {"example.com"}
# 127.0.0.1 is not internal here: the port tells the direction (2587 is
# the submission port, its smtpd has milter_macro_daemon_name ORIGINATING).
internal_networks = {"192.0.2.0/24"}
outbound_daemons  = {"ORIGINATING"}

milter  { socket = "unix:$PF_DIR/milter.sock"  user = "root"  spool_dir = "$DEMO/spool" }
policyd { listen = "unix:$PF_DIR/policy.sock"  user = "root" }
log        { file = true  directory = "$DEMO/log"  message_transfer = true }
history    { enabled = true  directory = "$DEMO/history" }
statistics { enabled = true  directory = "$DEMO/stats" }
# The demo's clients are all on 127.0.0.1: let them relay.
relay      { networks = {"127.0.0.0/8"} }
smime      { cert_dir = "$DEMO/pki/cert"  ca_file = "ca.pem" }

# Outbound: sign what our users send, encrypt to whoever has a certificate.
smime_sign    "ours" { from = "*@example.com"  to = "*"  certificate = "*" }
smime_encrypt "any"  { from = "*"  to = "*"  certificate = "*" }
# Inbound: decrypt with the recipient's key, verify every signature.
smime_decrypt "all"  { from = "*"  to = "*"  certificate = "*" }
smime_verify  "all"  { from = "*"  to = "*"  verify = true }
# Inbound mail without a good signature gets a tag in the Subject.
smime_inbound_policy "unsigned" {
    from = "*"  to = "*@example.com"
    when = {not-signed, bad-signature, untrusted-signature}
    action = mark-subject  subject_tag = "[unsigned]"
}
# Mail to the partner must use TLS when offered (class "may").
tls_outbound "partner" { to = "*@partner.com"  type = may }
EOF

pf_gateway "$DEMO/cryptofilter.conf"
pf_main "smtpd_relay_restrictions = check_policy_service { unix:$PF_DIR/policy.sock, timeout=10s, default_action=DEFER }, reject" \
    "smtpd_end_of_data_restrictions = check_policy_service { unix:$PF_DIR/policy.sock, timeout=10s, default_action=DEFER }"
sink_start
pf_policyd_start "$DEMO/cryptofilter.conf" || die "cryptofilter-policyd did not start (see $PF_DIR/log/policyd.log)"
pf_milter_start "$DEMO/cryptofilter.conf" || die "cryptofilter-milter did not start (see $PF_DIR/log/milter.log)"
pf_start

IN=$PF_PORT OUT=$PF_OUT_PORT
P=$DEMO/pki/cert
R=${DEMO#"$SRC"/}		# shorter paths in what we print
RP=${P#"$SRC"/}

cmd_out="swaks --server 127.0.0.1:$OUT --from alice@example.com --to dave@partner.com --header 'Subject: Outbound demo' --body 'Hello Dave, this leaves signed and encrypted.'"
cmd_in="printf 'Content-Type: text/plain\r\n\r\nHello Bob, signed by Dave and encrypted to you.\r\n' | openssl cms -sign -signer $RP/priv/dave@partner.com.pem | openssl cms -encrypt -aes256 -from dave@partner.com -to bob@example.com -subject 'Inbound encrypted demo' $RP/pub/bob@example.com.pem | swaks --server 127.0.0.1:$IN --from dave@partner.com --to bob@example.com --data -"
cmd_unsigned="swaks --server 127.0.0.1:$IN --from someone@internet.example --to carol@example.com --header 'Subject: Unsigned demo' --body 'Nobody signed this.'"

selftest() {
    local f ok=1
    check() { if eval "$2"; then say "  ok   $1"; else say "  FAIL $1"; ok=0; fi; }
    cd "$SRC" || return 1
    eval "$cmd_out" >"$DEMO/swaks.1" 2>&1 || say "  swaks (outbound) failed: $(tail -n 3 "$DEMO/swaks.1")"
    eval "$cmd_in" >"$DEMO/swaks.2" 2>&1 || say "  swaks (inbound encrypted) failed: $(tail -n 3 "$DEMO/swaks.2")"
    eval "$cmd_unsigned" >"$DEMO/swaks.3" 2>&1 || say "  swaks (unsigned) failed: $(tail -n 3 "$DEMO/swaks.3")"
    pf_wait_queue_empty 20 >/dev/null 2>&1
    sink_wait 3 10 2>/dev/null
    f=$(sink_find_rcpt dave@partner.com)
    check "outbound message delivered to dave@partner.com" '[ -n "$f" ]'
    check "... encrypted" '[ -n "$f" ] && grep -qi "^Content-Type: application/\(x-\)\?pkcs7-mime" "$f"'
    check "... dave can decrypt it and the signature verifies" \
	'[ -n "$f" ] && sed 1,2d "$f" | openssl cms -decrypt -recip "$P/priv/dave@partner.com.pem" 2>/dev/null | openssl cms -verify -CAfile "$DEMO/pki/ca.pem" 2>/dev/null | grep -q "Hello Dave"'
    f=$(sink_find_rcpt bob@example.com)
    check "inbound encrypted message delivered to bob@example.com" '[ -n "$f" ]'
    check "... decrypted" '[ -n "$f" ] && grep -q "Hello Bob, signed by Dave" "$f"'
    check "... with X-CryptoFilter-SMIME-Verify-Status: valid" \
	'[ -n "$f" ] && grep -qi "^X-CryptoFilter-SMIME-Verify-Status: valid" "$f"'
    f=$(sink_find_rcpt carol@example.com)
    check "unsigned inbound message delivered to carol@example.com" '[ -n "$f" ]'
    check "... with [unsigned] in the Subject" '[ -n "$f" ] && grep -q "^Subject: .*\[unsigned\]" "$f"'
    check "statistics written ($R/stats/SR*.CSV)" \
	'[ "$(cat "$DEMO"/stats/SR*.CSV 2>/dev/null | grep -c "@")" -ge 3 ]'
    check "cryptofilter log written ($R/log/MB*.LOG)" 'ls "$DEMO"/log/MB*.LOG >/dev/null 2>&1'
    [ "$ok" = 1 ]
}

if [ "${DEMO_SELFTEST:-0}" = 1 ]; then
    say "demo: self-test on ports $IN (inbound) and $OUT (outbound)"
    if selftest; then say "demo: self-test passed"; exit 0; fi
    say "demo: self-test FAILED; Postfix log:"; pf_tail_log 20
    exit 1
fi

cat <<EOF

cryptofilter demo gateway is running (Postfix $(postconf -h -d mail_version 2>/dev/null)).
  inbound  ("the Internet")     127.0.0.1:$IN
  outbound (internal users)     127.0.0.1:$OUT
  milter $PF_MILTER_SOCK, policy service $PF_POLICY_SOCK

Try these from $SRC (copy and paste):

1. Outbound: Alice writes to Dave at the partner; it leaves signed and encrypted.
   $cmd_out

2. Inbound: Dave's signed message, encrypted to Bob; Bob gets it decrypted,
   with X-CryptoFilter-SMIME-Verify-Status: valid.
   $cmd_in

3. Inbound, unsigned: caught by the policy, Subject tagged [unsigned].
   $cmd_unsigned

Where the results appear:
  $R/mail/N.eml             each delivered message (first lines: envelope)
  $R/log/MB*.LOG            cryptofilter's log
  $R/postfix/log/postfix.log    Postfix's log
  $R/stats/SR*.CSV          statistics, one row per message
  $R/history/HIST-IN, HIST-OUT  copies as received
  Decrypt the outbound copy as Dave:
   sed 1,2d $R/mail/1.eml | openssl cms -decrypt -recip $RP/priv/dave@partner.com.pem | openssl cms -verify -CAfile $R/pki/ca.pem
  The Postfix settings: $R/postfix/etc/main.cf, master.cf; for your own
  Postfix see postfix-example/README and "build/cryptofilter postconf".

Ctrl-C stops Postfix, the milter, the policy daemon and the sink.
EOF
# Sleep in the background and wait for it, so Ctrl-C is handled at once.
while :; do
    sleep 3600 &
    pf_bg_track $!
    wait $! 2>/dev/null
done
