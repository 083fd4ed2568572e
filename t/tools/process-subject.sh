#!/bin/bash
# cryptofilter process --subject: the subject the rules see (tls_outbound
# subject patterns) instead of the message's Subject: header, which stays
# as it is.
set -u
top=${CF_SRCDIR:-$(pwd)}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; echo "$out"; fail=1; fi; }
cat > "$tmp/c.conf" <<CONF
log { file = false }
statistics { enabled = false }
tls_outbound "secret" { to = "*@partner.com"  subject = "*secret*"  type = verify }
tls_outbound "rest"   { to = "*"  type = may }
CONF
printf 'From: alice@example.com\nTo: dave@partner.com\nSubject: lunch\n\nhi\n' > "$tmp/m.eml"
p() { "$top/build/cryptofilter" process -c "$tmp/c.conf" --direction out \
        --from alice@example.com --to dave@partner.com "$@" < "$tmp/m.eml" 2>/dev/null; }
out=$(p)
check "the Subject: header decides by default" 'echo "$out" | grep -q "^X-CryptoFilter-TLS: may"'
out=$(p --subject "top secret plan")
check "--subject decides when given" 'echo "$out" | grep -q "^X-CryptoFilter-TLS: verify"'
check "the header itself is unchanged" 'echo "$out" | grep -q "^Subject: lunch"'
exit $fail
