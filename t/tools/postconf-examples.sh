#!/bin/bash
# postfix-example/: both main.cf/master.cf pairs are accepted by a scratch
# Postfix (postfix check, no postconf warnings), define what the README
# promises, and the two header_checks tables map what they should.
set -u
. "${CF_SRCDIR:-.}/t/lib/postfix.sh"
command -v postfix >/dev/null || { echo "no postfix"; exit 77; }
EX=$PF_SRCDIR/postfix-example
fail() { echo "FAIL: $*" >&2; exit 1; }

for mode in before-queue split; do
    pf_setup
    cat "$EX/main.cf.$mode" >>"$PF_ETC/main.cf"
    cat "$EX/master.cf.$mode" >>"$PF_ETC/master.cf"
    pf_backdate
    postfix -c "$PF_ETC" check >"$PF_DIR/check" 2>&1 \
	|| { cat "$PF_DIR/check" >&2; fail "$mode: postfix check fails"; }
    postconf -c "$PF_ETC" -n >"$PF_DIR/n" 2>"$PF_DIR/warn"
    postconf -c "$PF_ETC" -P >"$PF_DIR/P" 2>>"$PF_DIR/warn"
    [ -s "$PF_DIR/warn" ] && { cat "$PF_DIR/warn" >&2; fail "$mode: postconf warns"; }
    grep -q '^milter_default_action = tempfail$' "$PF_DIR/n" || fail "$mode: milter_default_action"
    grep -q '^disable_mime_output_conversion = yes$' "$PF_DIR/n" || fail "$mode: disable_mime_output_conversion"
    grep -q '^smtpd_milters = unix:cryptofilter/milter.sock$' "$PF_DIR/n" || fail "$mode: smtpd_milters"
    grep -q 'check_policy_service { unix:cryptofilter/policy.sock' "$PF_DIR/n" || fail "$mode: policy service"
    for c in none may encrypt verify secure; do
	grep -q "^cf-tls-$c/unix/smtp_tls_security_level = $c\$" "$PF_DIR/P" || fail "$mode: cf-tls-$c"
	grep -q "^cf-tls-$c/unix/smtp_header_checks = regexp:" "$PF_DIR/P" || fail "$mode: cf-tls-$c header checks"
    done
    grep -q '^cf-tls-encrypt/unix/smtp_tls_mandatory_exclude_ciphers = aNULL:kRSA$' "$PF_DIR/P" \
	|| fail "$mode: no PFS exclusion on cf-tls-encrypt"
    if [ "$mode" = split ]; then
	grep -q '^cryptofilter-split_destination_recipient_limit = 1$' "$PF_DIR/n" || fail "split: recipient limit"
	grep -q '^submission/inet/content_filter = cryptofilter-split:\[127.0.0.1\]:10026$' "$PF_DIR/P" || fail "split: submission content_filter"
	grep -q '^submission/inet/smtpd_milters = *$' "$PF_DIR/P" || fail "split: submission still has the milter"
	grep -q '^127.0.0.1:10026/inet/milter_macro_daemon_name = ORIGINATING$' "$PF_DIR/P" || fail "split: reinjection daemon name"
	grep -q '^127.0.0.1:10026/inet/content_filter = *$' "$PF_DIR/P" || fail "split: reinjection content_filter"
	grep -q '^127.0.0.1:10026/inet/smtpd_client_restrictions = permit_mynetworks,reject$' "$PF_DIR/P" || fail "split: reinjection open"
    fi
    q() { postmap -c "$PF_ETC" -q "$1" "regexp:$2"; }
    [ "$(q 'X-CryptoFilter-TLS: encrypt' "$EX/milter_header_checks")" = "FILTER cf-tls-encrypt:" ] \
	|| fail "milter_header_checks: encrypt"
    [ "$(q 'X-CryptoFilter-TLS: may' "$EX/milter_header_checks")" = "FILTER cf-tls-may:" ] \
	|| fail "milter_header_checks: may"
    case $(q 'X-CryptoFilter-TLS: encrypt2' "$EX/milter_header_checks") in
	HOLD*) ;; *) fail "milter_header_checks: an unknown class is not held";;
    esac
    [ -z "$(q 'X-Other: encrypt' "$EX/milter_header_checks")" ] || fail "milter_header_checks matches other headers"
    [ "$(q 'X-CryptoFilter-TLS: verify' "$EX/smtp_header_checks")" = IGNORE ] || fail "smtp_header_checks"
    pf_cleanup
done
echo "examples OK"
