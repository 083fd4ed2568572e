#!/bin/bash
# S/MIME through the milter with the real engine (see smime.lua), then the
# statistics and log lines it leaves.
. "$(dirname "$0")/lib.sh"
mt_setup
mt_config smime '
internal_networks = {"10.99.0.0/16", "fd99::/16"}
smime_sign    "ours" { from = "*@example.com"  to = "*"  certificate = "*" }
smime_encrypt "any"  { from = "*"  to = "*"  certificate = "*" }
smime_verify  "all"  { from = "*"  to = "*"  verify = true }
smime_decrypt "all"  { from = "*"  to = "*"  certificate = "*" }
smime_inbound_policy "p" { from = "*"  to = "*"  when = {not-signed}  action = mark-subject }'
sed -i 's/^internal_networks = {"10.99.0.0\/16"}$//' "$MT_DIR/smime.conf"
mt_start smime
mt_lua smime.lua || fail "smime.lua"
mt_stop

sr=$(cat "$MT_DIR"/stats/SR*.CSV) || fail "no SR file"
echo "$sr" | grep ",out,OUTDAEMON1," | grep -q "sign,encrypt" || fail "SR row of OUTDAEMON1: $(echo "$sr" | grep OUTDAEMON1)"
echo "$sr" | grep ",in,INFORGED1," | grep -q "not-signed" || fail "SR row of INFORGED1: $(echo "$sr" | grep INFORGED1)"
ss=$(cat "$MT_DIR"/stats/SS*.CSV) || fail "no SS file"
for q in OUTDAEMON1 OUTSIGN1 OUTAUTH1 OUTNET1 OUTNET6; do
    echo "$ss" | grep -q ",$q," || fail "no SS row for $q"
done
echo "$ss" | grep -q "INFORGED1" && fail "SS row for a message not handed on"
ls "$MT_DIR"/hist/HIST-OUT/*OUTDAEMON1*.eml >/dev/null || fail "no HIST-OUT copy"
ls "$MT_DIR"/hist/HIST-IN/*INFORGED1*.eml >/dev/null || fail "no HIST-IN copy"
grep -q "OUTDAEMON1: outbound .*action=accept" "$MT_DIR"/log/MB*.LOG || fail "no log line for OUTDAEMON1"
echo "smime: ok"
