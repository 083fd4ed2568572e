#!/bin/bash
# "cryptofilter postconf": the printed fragments are accepted by a scratch
# Postfix instance (postfix check), define the services and parameters we
# expect, and follow the config (sockets, TLS classes, mode).
set -u
. "${CF_SRCDIR:-.}/t/lib/postfix.sh"
TOOL=${CF_TOOL:-$PF_BUILD/cryptofilter}
[ -x "$TOOL" ] || { echo "no $TOOL"; exit 77; }
command -v postfix >/dev/null || { echo "no postfix"; exit 77; }

fail() { echo "FAIL: $*" >&2; exit 1; }
# has FILE REGEX: FILE has a line matching REGEX (grep -E)
has() { grep -qE -- "$2" "$1" || { echo "--- $1:" >&2; cat "$1" >&2; fail "no line /$2/ in $(basename "$1")"; }; }
hasnt() { ! grep -qE -- "$2" "$1" || fail "unexpected line /$2/ in $(basename "$1")"; }

T=$(mktemp -d)
# pf_setup and pf_cleanup reset the EXIT trap: put ours back after each.
at_exit() { trap 'pf_cleanup; rm -rf "$T"' EXIT; }
at_exit
mkdir -p "$T/cert"

# conf NAME MILTER_SOCKET POLICY_LISTEN [rules...]: write $T/NAME.conf
conf() {
    local name=$1 ms=$2 pl=$3; shift 3
    {
	echo "milter  { socket = \"$ms\"  user = \"root\" }"
	echo "policyd { listen = \"$pl\"  user = \"root\" }"
	echo "log { file = false }"
	echo "statistics { enabled = false }"
	echo "smime { cert_dir = \"$T/cert\" }"
	printf '%s\n' "$@"
    } >"$T/$name.conf"
}

conf all "unix:/var/spool/postfix/cryptofilter/milter.sock" \
    "unix:/var/spool/postfix/cryptofilter/policy.sock" \
    'tls_outbound "n" { to = "*@none.example" type = none }' \
    'tls_outbound "m" { to = "*@may.example" type = may }' \
    'tls_outbound "e" { to = "*@enc.example" type = mandatory reject = {weak-cipher} }' \
    'tls_outbound "v" { to = "*@ver.example" type = mandatory reject = {self-signed, no-pfs} }' \
    'tls_outbound "s" { to = "*@sec.example" type = mandatory reject = {untrusted, cn-mismatch} }'
conf plain "unix:/run/cryptofilter/milter.sock" "inet:127.0.0.1:10040"
conf inet "inet:10025@127.0.0.1" "unix:/var/spool/postfix/private/cf-policy"

# ---- split mode, every TLS class: the whole fragment set in a scratch instance
pf_setup; at_exit
O=$T/out-split
"$TOOL" postconf -c "$T/all.conf" --mode split --postfix-dir "$PF_ETC" \
    --submission "127.0.0.1:$(free_port)" --reinject "127.0.0.1:$(free_port)" >"$O" 2>"$T/err" \
    || { cat "$T/err" >&2; fail "postconf --mode split exited $?"; }
# Split into the four parts by their "# ==== NAME ====" lines.
awk -v d="$T" '/^# ==== .* ====$/ { f = d "/part." $3; next } f { print > f }' "$O"
for p in main.cf master.cf milter_header_checks smtp_header_checks; do
    [ -s "$T/part.$p" ] || fail "part $p missing from the output"
done
cat "$T/part.main.cf" >>"$PF_ETC/main.cf"
cat "$T/part.master.cf" >>"$PF_ETC/master.cf"
cp "$T/part.milter_header_checks" "$PF_ETC/cryptofilter_milter_header_checks"
cp "$T/part.smtp_header_checks" "$PF_ETC/cryptofilter_smtp_header_checks"
pf_backdate
postfix -c "$PF_ETC" check >"$T/check" 2>&1 || { cat "$T/check" >&2; fail "postfix check rejects the split fragments"; }
postconf -c "$PF_ETC" -n >"$T/n" 2>"$T/warn"
[ -s "$T/warn" ] && { cat "$T/warn" >&2; fail "postconf warns about the fragments"; }
postconf -c "$PF_ETC" -M >"$T/M" 2>>"$T/warn"
postconf -c "$PF_ETC" -P >"$T/P" 2>>"$T/warn"
[ -s "$T/warn" ] && { cat "$T/warn" >&2; fail "postconf -M/-P warns"; }

has "$T/n" '^smtpd_milters = unix:cryptofilter/milter\.sock$'
has "$T/n" '^milter_default_action = tempfail$'
has "$T/n" '^disable_mime_output_conversion = yes$'
has "$T/n" '^cryptofilter-split_destination_recipient_limit = 1$'
has "$T/n" '^smtpd_relay_restrictions = check_policy_service \{ unix:cryptofilter/policy.sock, timeout=10s, default_action=DEFER \}, reject$'
has "$T/n" "^milter_header_checks = regexp:$PF_ETC/cryptofilter_milter_header_checks\$"
for c in none may encrypt verify secure; do
    has "$T/M" "^cf-tls-$c +unix .* smtp( |\$)"
    has "$T/P" "^cf-tls-$c/unix/smtp_tls_security_level = $c\$"
    has "$T/P" "^cf-tls-$c/unix/smtp_header_checks = regexp:$PF_ETC/cryptofilter_smtp_header_checks\$"
done
# PFS where a rule of the class rejects no-pfs (v), not elsewhere.
has "$T/P" '^cf-tls-verify/unix/smtp_tls_mandatory_exclude_ciphers = aNULL:kRSA$'
has "$T/P" '^cf-tls-verify/unix/smtp_tls_exclude_ciphers = aNULL:kRSA$'
hasnt "$T/P" '^cf-tls-encrypt/unix/smtp_tls_exclude_ciphers'
has "$T/P" '^cf-tls-encrypt/unix/smtp_tls_mandatory_ciphers = high$'
has "$T/P" '^cf-tls-encrypt/unix/smtp_tls_mandatory_protocols = >=TLSv1\.2$'
hasnt "$T/P" '^cf-tls-may/unix/smtp_tls_mandatory_ciphers'
# The split services.
has "$T/M" "^cryptofilter-split +unix .* smtp( |\$)"
has "$T/P" '/inet/content_filter = cryptofilter-split:\[127\.0\.0\.1\]:[0-9]+$'
has "$T/P" '/inet/smtpd_milters = *$'
has "$T/P" '/inet/milter_macro_daemon_name = ORIGINATING$'
has "$T/P" '/inet/content_filter = *$'
has "$T/P" '/inet/smtpd_client_restrictions = permit_mynetworks,reject$'
# The tables do what they say (postmap -q with the instance's regexp map).
q() { postmap -c "$PF_ETC" -q "$1" "regexp:$2"; }
[ "$(q 'X-CryptoFilter-TLS: verify' "$PF_ETC/cryptofilter_milter_header_checks")" = "FILTER cf-tls-verify:" ] \
    || fail "milter_header_checks: verify does not map to FILTER cf-tls-verify:"
[ "$(q 'X-CryptoFilter-TLS: none' "$PF_ETC/cryptofilter_milter_header_checks")" = "FILTER cf-tls-none:" ] \
    || fail "milter_header_checks: none"
case $(q 'X-CryptoFilter-TLS: bogus' "$PF_ETC/cryptofilter_milter_header_checks") in
    HOLD*) ;; *) fail "an unknown class is not held";;
esac
[ "$(q 'X-CryptoFilter-TLS: secure' "$PF_ETC/cryptofilter_smtp_header_checks")" = "IGNORE" ] \
    || fail "smtp_header_checks does not drop the marker"
pf_cleanup; at_exit

# ---- before-queue mode, no tls_outbound rules: only none and may; sockets
# outside the queue directory stay absolute; inet policy unchanged.
pf_setup; at_exit
O=$T/out-bq
"$TOOL" postconf -c "$T/plain.conf" --postfix-dir "$PF_ETC" >"$O" 2>"$T/err" \
    || { cat "$T/err" >&2; fail "postconf (before-queue) exited $?"; }
awk -v d="$T" '/^# ==== .* ====$/ { f = d "/bq." $3; next } f { print > f }' "$O"
cat "$T/bq.main.cf" >>"$PF_ETC/main.cf"
cat "$T/bq.master.cf" >>"$PF_ETC/master.cf"
pf_backdate
postfix -c "$PF_ETC" check >"$T/check" 2>&1 || { cat "$T/check" >&2; fail "postfix check rejects the before-queue fragments"; }
postconf -c "$PF_ETC" -n >"$T/n" 2>"$T/warn"; postconf -c "$PF_ETC" -M >"$T/M" 2>>"$T/warn"
[ -s "$T/warn" ] && { cat "$T/warn" >&2; fail "postconf warns (before-queue)"; }
has "$T/n" '^smtpd_milters = unix:/run/cryptofilter/milter\.sock$'
has "$T/n" 'check_policy_service \{ inet:127\.0\.0\.1:10040,'
has "$T/M" '^cf-tls-none '
has "$T/M" '^cf-tls-may '
hasnt "$T/M" '^cf-tls-(encrypt|verify|secure) '
hasnt "$T/M" '^cryptofilter-split '
hasnt "$T/n" 'cryptofilter-split'
has "$T/bq.milter_header_checks" '^/\^X-CryptoFilter-TLS: \(none\|may\)\$/ FILTER cf-tls-\$1:$'
pf_cleanup; at_exit

# ---- --part prints one part without the separator; libmilter inet syntax.
"$TOOL" postconf -c "$T/inet.conf" --part main >"$T/p" || fail "--part main"
hasnt "$T/p" '^# ===='
has "$T/p" '^smtpd_milters = inet:127\.0\.0\.1:10025$'
has "$T/p" 'check_policy_service \{ unix:private/cf-policy,'
hasnt "$T/p" '^cf-tls-'
"$TOOL" postconf -c "$T/inet.conf" --part smtp_header_checks >"$T/p" || fail "--part smtp_header_checks"
[ "$(grep -vc '^#' "$T/p")" = 1 ] || fail "--part smtp_header_checks prints more than the table"

# ---- usage and config errors
"$TOOL" postconf -c "$T/all.conf" --mode sideways >/dev/null 2>&1
[ $? = 64 ] || fail "a bad --mode does not exit 64"
echo 'milter { socket = }' >"$T/bad.conf"
"$TOOL" postconf -c "$T/bad.conf" >/dev/null 2>&1
[ $? = 78 ] || fail "a broken config does not exit 78"
echo "postconf OK"
