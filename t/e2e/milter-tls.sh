#!/bin/bash
# Outbound TLS classes: the milter's X-CryptoFilter-TLS marker makes Postfix
# deliver through the right cf-tls-<class> transport (seen in the Postfix log
# under syslog_name postfix/cf-tls-<class>), each with its TLS level, and the
# marker never reaches the far end.  A message with recipients of two
# classes goes out with the stricter one.  The sink offers STARTTLS with a
# certificate made here; smtp_tls_CAfile trusts it for the verify class.
set -u
. "${CF_SRCDIR:-.}/t/lib/postfix.sh"
command -v swaks >/dev/null || { echo "no swaks"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

pf_setup
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=127.0.0.1 -addext 'subjectAltName=IP:127.0.0.1,DNS:127.0.0.1' \
    -keyout "$PF_DIR/sink.key" -out "$PF_DIR/sink.crt" 2>/dev/null || fail "openssl req"
pf_cf_conf "$PF_DIR/cf.conf" <<'CONF'
tls_outbound "n" { to = "*@none.example"  type = none }
tls_outbound "m" { to = "*@may.example"   type = may }
tls_outbound "e" { to = "*@enc.example"   type = mandatory  reject = {weak-cipher, no-pfs} }
tls_outbound "v" { to = "*@ver.example"   type = mandatory  reject = {untrusted} }
CONF
pf_gateway "$PF_DIR/cf.conf"
pf_main "smtp_tls_CAfile = $PF_DIR/sink.crt"
sink_start --tls-cert "$PF_DIR/sink.crt" --tls-key "$PF_DIR/sink.key"
pf_milter_start "$PF_DIR/cf.conf" || fail "milter did not start"
pf_start

for d in none may enc ver plain; do
    pf_send "$PF_OUT_PORT" alice@example.com "x@$d.example" --header "Subject: tls $d" \
	|| { cat "$PF_DIR/log/swaks.last" >&2; fail "swaks x@$d.example failed"; }
done
# Before-queue, two recipients: the stricter class wins for both.
pf_send "$PF_OUT_PORT" alice@example.com "y@may.example,y@enc.example" --header "Subject: tls mixed" \
    || fail "swaks (mixed) failed"
pf_wait_queue_empty 20 || fail "queue not empty"
sink_wait 6 5 || fail "not all 6 deliveries arrived (the mixed message is one)"

log=$(pf_log)
# delivered_by RCPT: the syslog name of the smtp process that sent RCPT.
delivered_by() {
    grep -E "status=sent" "$log" | grep -F "to=<$1>" | sed -E 's/.* (postfix[^[]*)\[[0-9]+\]: .*/\1/' | head -1
}
for c in none may enc ver; do
    case $c in enc) cls=encrypt;; ver) cls=verify;; *) cls=$c;; esac
    by=$(delivered_by "x@$c.example")
    [ "$by" = "postfix/cf-tls-$cls/smtp" ] || { grep -F "x@$c.example" "$log" >&2; fail "x@$c.example went by '$by', not cf-tls-$cls"; }
done
by=$(delivered_by x@plain.example)
[ "$by" = "postfix/smtp" ] || fail "x@plain.example (no rule) went by '$by', not the default smtp"
for r in y@may.example y@enc.example; do
    by=$(delivered_by $r)
    [ "$by" = "postfix/cf-tls-encrypt/smtp" ] || fail "$r of a mixed message went by '$by', not cf-tls-encrypt"
done
# TLS where the class asks for it, none where it forbids it.
grep -q 'postfix/cf-tls-may/smtp\[.*TLS connection established' "$log" || fail "cf-tls-may did not use TLS"
grep -q 'postfix/cf-tls-encrypt/smtp\[.*TLS connection established' "$log" || fail "cf-tls-encrypt did not use TLS"
grep -q 'postfix/cf-tls-verify/smtp\[.*\(Verified\|Trusted\) TLS connection established' "$log" \
    || { grep 'cf-tls-verify' "$log" >&2; fail "cf-tls-verify did not make a verified TLS connection"; }
grep -q 'postfix/cf-tls-none/smtp\[.*TLS connection established' "$log" && fail "cf-tls-none used TLS"
# The marker: on the milter side (cleanup logged the FILTER), never at the sink.
grep -q "filter: header X-CryptoFilter-TLS: encrypt" "$log" || fail "cleanup never saw the marker"
grep -il '^X-CryptoFilter-TLS:' "$PF_SINK_DIR"/*.eml && fail "the TLS marker reached the sink"

# The encrypt class is enforced: the same rule, a sink without STARTTLS.
sink_stop
sink_start
pf_send "$PF_OUT_PORT" alice@example.com z@enc.example --header "Subject: no tls" || fail "swaks z@enc"
for _ in $(seq 50); do
    grep -q 'to=<z@enc.example>.*status=deferred' "$log" && break
    sleep 0.1
done
grep -q 'postfix/cf-tls-encrypt/smtp\[.*to=<z@enc.example>.*status=deferred.*TLS is required' "$log" \
    || { grep 'z@enc' "$log" >&2; fail "cf-tls-encrypt delivered without TLS"; }
[ -z "$(sink_find_rcpt z@enc.example)" ] || fail "z@enc.example was delivered in plain text"
echo "tls OK"
