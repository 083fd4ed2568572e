#!/bin/bash
# milter.on_error = tempfail / reject / accept when spooling fails (see
# errors.lua); the statistics record the failure.
. "$(dirname "$0")/lib.sh"
mt_setup
for mode in tempfail reject accept; do
    mt_config "$mode" "
smime_sign \"ours\" { from = \"*@example.com\"  to = \"*\"  certificate = \"*\" }"
    sed -i "s|spool_dir = \"[^\"]*\"|spool_dir = \"$MT_DIR/no-such-dir\"|;
            s|memory_limit = 64K|memory_limit = 1K|; s|on_error = tempfail|on_error = $mode|" \
        "$MT_DIR/$mode.conf"
    mt_start "$mode"
    mt_lua errors.lua MODE="$mode" || fail "errors.lua $mode"
    mt_stop
    grep ",BIGERR1," "$MT_DIR"/stats/SR*.CSV | grep -q "$mode (error)" \
        || fail "SR row of BIGERR1 ($mode): $(grep BIGERR1 "$MT_DIR"/stats/SR*.CSV)"
    grep -q "BIGERR1: cannot process message: cannot spool the message body" "$MT_DIR"/log/MB*.LOG \
        || fail "no log line for the spool failure"
    rm -f "$MT_DIR"/stats/SR*.CSV
done
grep -q "BIGSIGN1: on_error accept refused: a sign or encrypt rule applies" "$MT_DIR"/log/MB*.LOG \
    || fail "no log line for the refused accept"
echo "errors: ok"
