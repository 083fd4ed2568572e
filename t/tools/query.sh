#!/bin/bash
# cryptofilter query: first-match rule per table with FILE:LINE, the file
# the engine would use and whether it is usable, void rules, hostile
# addresses, the client's direction.
set -u
top=${CF_SRCDIR:-$(pwd)}
. "$top/t/lib/pki.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; echo "$out"; fail=1; fi; }
pki_make "$tmp/pki" >/dev/null 2>&1 || { echo "pki_make failed"; exit 1; }
conf=$tmp/q.conf
cat > "$conf" <<CONF
local_domains = {"example.com"}
internal_networks = {"10.0.0.0/8", "2001:db8::/32"}
smime { cert_dir = "$tmp/pki/cert" }
tls_outbound "secret" { to = "*@partner.com" subject = "*secret*" type = verify }
tls_outbound "partners" { to = "*@partner.com" type = mandatory }
smime_verify "all" { }
smime_decrypt "all" { certificate = "*" }
smime_sign "fax" { to = "*@fax.example.com" certificate = "!!void-certificate!!" }
smime_sign "ours" { from = "*@example.com" certificate = "*" }
smime_encrypt "any" { certificate = "*" }
smime_outbound_policy "q" { to = "*@partner.com" when = {not-encrypted} action = ndr }
CONF
q() { "$top/build/cryptofilter" query -c "$conf" "$@" 2>&1; }
lineof() { grep -n "\"$1\"" "$conf" | head -1 | cut -d: -f1; }

out=$(q --from alice@example.com --to dave@partner.com --subject "top secret plan")
check "tls_outbound picks the subject rule" 'echo "$out" | grep -q "^tls_outbound *\"secret\" $conf:$(lineof secret)"'
check "smime_sign finds alice's key" 'echo "$out" | grep -q "key: $tmp/pki/cert/priv/alice@example.com.pem (usable)"'
check "smime_encrypt finds dave's certificate" 'echo "$out" | grep -q "certificate: $tmp/pki/cert/pub/dave@partner.com.pem (usable)"'
check "outbound policy matched" 'echo "$out" | grep -q "^smime_outbound_policy *\"q\" $conf:$(lineof q)"'
check "no tls_inbound rule" 'echo "$out" | grep -q "^tls_inbound *no rule"'
check "remote recipient" 'echo "$out" | grep -q "(remote recipient)"'

out=$(q --from dave@partner.com --to BOB@Example.COM --client 10.1.2.3)
check "bob's key and old key for decrypt" 'echo "$out" | grep -q "key: $tmp/pki/cert/priv/bob@example.com.pem" && echo "$out" | grep -q "old key: $tmp/pki/cert/priv/alt/bob@example.com-old.pem"'
check "dave may not sign as ours" 'echo "$out" | grep -q "^smime_sign *no rule"'
check "client direction" 'echo "$out" | grep -q "client 10.1.2.3: internal"'
check "local recipient" 'echo "$out" | grep -q "(local recipient)"'
out=$(q --from x@y.org --to a@example.com --client 192.0.2.1)
check "external client" 'echo "$out" | grep -q "client 192.0.2.1: external"'

out=$(q --from alice@example.com --to fax@fax.example.com)
check "void rule stops the search" 'echo "$out" | grep -q "^smime_sign *\"fax\"" && echo "$out" | grep -q "do nothing"'

out=$(q --from alice@example.com --to nobody@partner.com)
check "missing certificate shown" 'echo "$out" | grep -q "certificate: none usable"'

chmod 0644 "$tmp/pki/cert/priv/alice@example.com.pem"
out=$(q --from alice@example.com --to dave@partner.com)
check "world-readable key refused, with its name" 'echo "$out" | grep -q "key: none usable" && echo "$out" | grep -q "alice@example.com.pem"'
chmod 0600 "$tmp/pki/cert/priv/alice@example.com.pem"

for evil in '../../etc/passwd@example.com' 'a/b@example.com' '.hidden@example.com' 'x@..' 'bob@example.com/../../x'; do
    out=$(q --from alice@example.com --to "$evil")
    check "hostile recipient $evil names no file" 'echo "$out" | grep -A1 "^smime_encrypt" | grep -q "cannot name a file" && echo "$out" | grep -A1 "^smime_decrypt" | grep -q "cannot name a file" && ! echo "$out" | grep -q "passwd.*pem"'
done

"$top/build/cryptofilter" query -c "$conf" --from a@b >/dev/null 2>&1; rc=$?
check "missing --to is a usage error" '[ $rc -eq 64 ]'
exit $fail
