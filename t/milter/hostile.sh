#!/bin/bash
# Hostile input through the milter with every S/MIME rule on (see
# hostile.lua); nothing escapes cert_dir and the milter stays up.
. "$(dirname "$0")/lib.sh"
mt_setup
mt_config hostile '
smime_sign    "ours" { from = "*@example.com"  to = "*"  certificate = "*" }
smime_encrypt "any"  { from = "*"  to = "*"  certificate = "*" }
smime_verify  "all"  { from = "*"  to = "*"  verify = true }
smime_decrypt "all"  { from = "*"  to = "*"  certificate = "*" }
smime_inbound_policy "p" { from = "*"  to = "*"  when = {not-signed, bad-signature}  action = mark-subject }'
mt_start hostile
mt_lua hostile.lua || fail "hostile.lua"
kill -0 "$MT_PID" 2>/dev/null || fail "milter died"
mt_stop
n=$(grep -c ",H[1-6]" "$MT_DIR"/stats/SR*.CSV)
[ "$n" = 12 ] || fail "$n of 12 messages recorded"
[ -z "$(find "$MT_DIR/pki/cert" -newer "$MT_DIR/hostile.conf" -type f ! -name 'db-*')" ] \
    || fail "files written under cert_dir: $(find "$MT_DIR/pki/cert" -newer "$MT_DIR/hostile.conf" -type f)"
echo "hostile: ok"
