#!/bin/bash
# Every callback, abort, spill, caps, statistics and history on a config
# without S/MIME rules (see basic.lua).
. "$(dirname "$0")/lib.sh"
mt_setup
mt_config basic ''
sed -i 's/message_transfer = true/message_transfer = true  message_header = true/' "$MT_DIR/basic.conf"
mt_start basic
mt_lua basic.lua || fail "basic.lua"
mt_stop

# The big message spilled and nothing is left in spool_dir.
[ -z "$(ls -A "$MT_DIR/spool")" ] || fail "spool_dir not empty: $(ls -A "$MT_DIR/spool")"

# Statistics: one SR row per finished message, with direction and sender.
sr=$(cat "$MT_DIR"/stats/SR*.CSV 2>/dev/null) || fail "no SR file"
for q in BASIC1 AFTERABORT1 BIG1 MANYHDR1 AFTERFAIL1; do
    echo "$sr" | grep -q ",in,$q,192.0.2.1[01]," || fail "no SR row for $q"
done
echo "$sr" | grep -q "ABORTED1" && fail "an aborted message got a statistics row"
echo "$sr" | grep ",MANYHDR1," | grep -q "tempfail (error)" || fail "MANYHDR1 row lacks the final action"
echo "$sr" | grep ",BASIC1," | grep -q "dave@partner.com,bob@example.com" || fail "BASIC1 row lacks sender/recipient"

# History: the copy is the message exactly as received.
h=$(ls "$MT_DIR"/hist/HIST-IN/*BASIC1*.eml 2>/dev/null | head -1)
[ -n "$h" ] || fail "no history copy of BASIC1"
[ "$(stat -c %a "$h")" = 600 ] || fail "history copy mode $(stat -c %a "$h")"
printf 'From: <dave@partner.com>\r\nTo: <bob@example.com>\r\nSubject: test BASIC1\r\nDate: Thu, 03 Dec 2026 17:00:00 +0000\r\nMessage-ID: <BASIC1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nHello BASIC1.\r\nSecond line.\r\n' >"$MT_DIR/expect.eml"
cmp -s "$h" "$MT_DIR/expect.eml" || { diff <(od -c "$MT_DIR/expect.eml") <(od -c "$h") | head; fail "history copy differs"; }
big=$(ls "$MT_DIR"/hist/HIST-IN/*BIG1*.eml)
[ "$(stat -c %s "$big")" -gt 1081344 ] || fail "history copy of BIG1 too small"

# One log line per message, with queue id and final action.
grep -q "BIG1: inbound .*action=" "$MT_DIR"/log/MB*.LOG || fail "no log line for BIG1"
grep -q "BASIC1: from=<dave@partner.com> to=<bob@example.com> size=[0-9]* client=192.0.2.10 tls=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256" "$MT_DIR"/log/MB*.LOG \
    || fail "no message_transfer log line with the TLS macros"
# message_header: each header logged, control characters escaped
grep -q "AFTERABORT1: header Subject: test AFTERABORT1" "$MT_DIR"/log/MB*.LOG || fail "headers not logged"
grep -qF 'AFTERABORT1: header X-Evil: line\x0dinjected: yes' "$MT_DIR"/log/MB*.LOG \
    || fail "header with CR not logged escaped"
echo "basic: ok"
