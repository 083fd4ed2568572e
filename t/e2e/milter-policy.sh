#!/bin/bash
# Every S/MIME policy action, seen from outside a real Postfix: unsigned
# inbound mail to one recipient per action.
#   mark-subject            the sink's copy has the tag in Subject
#   hold                    in the hold queue (postqueue -j), not delivered
#   reject / ndr            5xx to the client, nothing queued
#   tempfail                4xx to the client
#   discard                 250 to the client, nothing delivered
#   forward-postmaster      delivered to the postmaster instead
#   encapsulate-postmaster  a new message to the postmaster with the original
#   encapsulate-recipient   the same, to the recipient
#   encapsulate-recipient-stripped   to the recipient, the original's
#                           attachment removed
# A signed message matching the same rules passes untouched (no tag).
set -u
. "${CF_SRCDIR:-.}/t/lib/postfix.sh"
command -v swaks >/dev/null || { echo "no swaks"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

pf_setup
pf_cf_conf "$PF_DIR/cf.conf" <<'CONF'
smime_verify "all" { from = "*"  to = "*"  verify = true }
smime_inbound_policy "h" { to = "hold@example.com"    when = {not-signed}  action = hold }
smime_inbound_policy "r" { to = "reject@example.com"  when = {not-signed}  action = reject }
smime_inbound_policy "n" { to = "ndr@example.com"     when = {not-signed}  action = ndr }
smime_inbound_policy "t" { to = "temp@example.com"    when = {not-signed}  action = tempfail }
smime_inbound_policy "d" { to = "drop@example.com"    when = {not-signed}  action = discard }
smime_inbound_policy "f" { to = "fwd@example.com"     when = {not-signed}  action = forward-postmaster }
smime_inbound_policy "e" { to = "encap@example.com"   when = {not-signed}  action = encapsulate-postmaster }
smime_inbound_policy "er" { to = "encr@example.com"   when = {not-signed}  action = encapsulate-recipient }
smime_inbound_policy "es" { to = "encs@example.com"   when = {not-signed}  action = encapsulate-recipient-stripped }
smime_inbound_policy "m" { to = "*"  when = {not-signed, bad-signature}  action = mark-subject  subject_tag = "[unsigned]" }
CONF
pf_gateway "$PF_DIR/cf.conf"
sink_start
pf_milter_start "$PF_DIR/cf.conf" || fail "milter did not start"
pf_start

send() {	# send RCPT SUBJECT [swaks options]
    local rcpt=$1 subj=$2; shift 2
    pf_send "$PF_PORT" someone@outside.org "$rcpt" --header "Subject: $subj" \
	--body "policy test body for $rcpt" "$@"
}
code() {	# the reply code swaks got for the end of DATA
    grep -E '^ *<[*-]* [0-9]{3}' "$PF_DIR/log/swaks.last" | tail -n 2 | head -n 1 | grep -oE '[0-9]{3}' | head -1
}

# mark-subject
send bob@example.com "mark me" || fail "mark-subject: swaks failed"
# hold
send hold@example.com "hold me" || fail "hold: swaks failed"
# reject, ndr: 5xx
send reject@example.com "reject me" && fail "reject: the client got no error"
grep -qE '<\*\* 5[0-9][0-9] 5\.7\.[0-9]' "$PF_DIR/log/swaks.last" || { cat "$PF_DIR/log/swaks.last" >&2; fail "reject: not a 5.7.x reply"; }
send ndr@example.com "ndr me" && fail "ndr: the client got no error"
grep -qE '<\*\* 5[0-9][0-9] 5\.7\.[0-9]' "$PF_DIR/log/swaks.last" || { cat "$PF_DIR/log/swaks.last" >&2; fail "ndr: not a 5.7.x reply"; }
# tempfail: 4xx
send temp@example.com "temp me" && fail "tempfail: the client got no error"
grep -qE '<\*\* 4[0-9][0-9] 4\.[0-9]\.[0-9]' "$PF_DIR/log/swaks.last" || { cat "$PF_DIR/log/swaks.last" >&2; fail "tempfail: not a 4.x.x reply"; }
# discard: accepted
send drop@example.com "drop me" || fail "discard: swaks failed"
grep -qE '^<- +250 ' "$PF_DIR/log/swaks.last" || fail "discard: not accepted with 250"
# forward-postmaster, encapsulate-postmaster
send fwd@example.com "forward me" || fail "forward-postmaster: swaks failed"
send encap@example.com "encapsulate me" || fail "encapsulate-postmaster: swaks failed"
# encapsulate-recipient(-stripped), each with an attachment
printf 'ATTACHMENT-PAYLOAD-%s\n' $(seq 20) >"$PF_DIR/payload.txt"
send encr@example.com "encapsulate for you" --attach "$PF_DIR/payload.txt" \
    || fail "encapsulate-recipient: swaks failed"
send encs@example.com "encapsulate stripped" --attach "$PF_DIR/payload.txt" \
    || fail "encapsulate-recipient-stripped: swaks failed"

pf_wait_queue_empty 15 || fail "queue not empty"
sink_wait 5 5 || fail "expected 5 deliveries (bob, forward, 3 encapsulations)"
sleep 0.3
n=$(sink_count)
[ "$n" = 5 ] || { grep -h '^X-Sink-Rcpt-To' "$PF_SINK_DIR"/*.eml >&2; fail "$n deliveries, want 5"; }

# mark-subject
f=$(sink_find_rcpt bob@example.com)
[ -n "$f" ] || fail "mark-subject: bob got nothing"
grep -q '^Subject: .*mark me' "$f" || fail "mark-subject: subject lost"
grep -q '^Subject: .*\[unsigned\]' "$f" || { grep '^Subject' "$f" >&2; fail "mark-subject: no [unsigned] tag"; }
# hold
[ "$(pf_queue_count hold)" = 1 ] || { pf_queue_json >&2; fail "hold: $(pf_queue_count hold) messages on hold, want 1"; }
pf_queue_json | grep '"queue_name": *"hold"' | grep -q 'hold@example.com' || fail "hold: the held message is not hold@'s"
[ -z "$(sink_find_rcpt hold@example.com)" ] || fail "hold: delivered anyway"
# reject / ndr / tempfail / discard: nothing delivered
for r in reject ndr temp drop; do
    [ -z "$(sink_find_rcpt $r@example.com)" ] || fail "$r@example.com got a copy"
done
grep -q 'drop me' "$PF_SINK_DIR"/*.eml && fail "discard: the message was delivered somewhere"
# forward-postmaster: the original, to the postmaster only
f=$(grep -l '^Subject: forward me' "$PF_SINK_DIR"/*.eml)
[ -n "$f" ] || fail "forward-postmaster: not delivered"
grep -qi '^X-Sink-Rcpt-To: postmaster@example.com' "$f" || { head -3 "$f" >&2; fail "forward-postmaster: not to the postmaster"; }
[ -z "$(sink_find_rcpt fwd@example.com)" ] || fail "forward-postmaster: the recipient got it too"
# encapsulate-postmaster: a new message to the postmaster with the original inside
f=$(grep -L '^Subject: forward me' $(sink_find_rcpt postmaster@example.com) | head -1)
[ -n "$f" ] || fail "encapsulate-postmaster: nothing to the postmaster"
# (the outer headers may stay the original's: the milter can only edit)
sed -n '/^\r\?$/,$p' "$f" >"$PF_DIR/encap.body"
grep -qi '^Content-Type: multipart/mixed' "$f" || { head -30 "$f" >&2; fail "encapsulate-postmaster: not multipart/mixed"; }
grep -qi '^Content-Type: message/rfc822' "$PF_DIR/encap.body" || fail "encapsulate-postmaster: no message/rfc822 part"
grep -q '^Subject: encapsulate me' "$PF_DIR/encap.body" || fail "encapsulate-postmaster: the original headers are not inside"
grep -q 'policy test body for encap@example.com' "$PF_DIR/encap.body" || fail "encapsulate-postmaster: the original body is not inside"
# encapsulate-recipient: to the recipient, original (with attachment) inside
f=$(sink_find_rcpt encr@example.com)
[ -n "$f" ] || fail "encapsulate-recipient: nothing to the recipient"
grep -qi '^Content-Type: multipart/mixed' "$f" || fail "encapsulate-recipient: not multipart/mixed"
grep -qi '^Content-Type: message/rfc822' "$f" || fail "encapsulate-recipient: no message/rfc822 part"
grep -q 'policy test body for encr@example.com' "$f" || fail "encapsulate-recipient: the original body is not inside"
grep -q 'payload.txt' "$f" || fail "encapsulate-recipient: the original's attachment is gone"
# encapsulate-recipient-stripped: the same without the attachment
f=$(sink_find_rcpt encs@example.com)
[ -n "$f" ] || fail "encapsulate-recipient-stripped: nothing to the recipient"
grep -qi '^Content-Type: message/rfc822' "$f" || fail "encapsulate-recipient-stripped: no message/rfc822 part"
grep -q 'policy test body for encs@example.com' "$f" || fail "encapsulate-recipient-stripped: the original body is not inside"
# The attachment is base64 (swaks): neither its name's content nor the
# encoded payload may survive.
b64=$(base64 -w0 "$PF_DIR/payload.txt" | cut -c1-40)
grep -qF "$b64" "$f" && fail "encapsulate-recipient-stripped: the attachment is still there"
grep -qF "$(base64 -w0 "$PF_DIR/payload.txt" | cut -c1-40)" "$(sink_find_rcpt encr@example.com)" \
    || fail "encapsulate-recipient: attachment payload not found (test assumption)"

# A signed message to the mark-subject recipient: no tag.
printf 'Content-Type: text/plain\r\n\r\nsigned policy test\r\n' >"$PF_DIR/inner"
openssl cms -sign -in "$PF_DIR/inner" -signer "$PF_PKI/cert/priv/dave@partner.com.pem" \
    -out "$PF_DIR/signed" 2>/dev/null || fail "openssl cms -sign"
{ printf 'From: dave@partner.com\r\nTo: carol@example.com\r\nSubject: signed one\r\n'; sed 's/$/\r/' "$PF_DIR/signed"; } >"$PF_DIR/s.eml"
pf_send "$PF_PORT" dave@partner.com carol@example.com --data - <"$PF_DIR/s.eml" || fail "swaks (signed) failed"
pf_wait_queue_empty 10 || fail "queue not empty (signed)"
sink_wait 4 5 || fail "signed message not delivered"
f=$(sink_find_rcpt carol@example.com)
grep -qE "^Subject: signed one$(printf '\r')?$" "$f" || { grep '^Subject' "$f" >&2; fail "a validly signed message got tagged"; }
echo "policy OK"
