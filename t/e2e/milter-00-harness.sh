#!/bin/bash
# The test harness itself (t/lib/postfix.sh + sink.py), no milter: a private
# Postfix relays to the sink, the stored copy carries the envelope lines, the
# hold queue and pf_wait_queue_empty behave, cleanup stops everything.
set -u
. "${CF_SRCDIR:-.}/t/lib/postfix.sh"
command -v swaks >/dev/null || { echo "no swaks"; exit 77; }

fail() { echo "FAIL: $*" >&2; exit 1; }

pf_setup
t0=$(date +%s.%N)
sink_start
pf_start
t1=$(date +%s.%N)
echo "start-up: $(echo "$t1 - $t0" | bc) s"

swaks --server "127.0.0.1:$PF_PORT" --from alice@example.com \
    --to bob@example.org,carol@example.net \
    --header 'Subject: harness test' --body 'hello sink' >/dev/null \
    || fail "swaks could not send"
pf_wait_queue_empty 10 || fail "queue did not empty"
sink_wait 1 5 || fail "nothing in the sink"
f=$PF_SINK_DIR/1.eml
grep -q '^X-Sink-Mail-From: alice@example.com' "$f" || fail "no X-Sink-Mail-From in $f"
grep -q '^X-Sink-Rcpt-To: .*bob@example.org' "$f" || fail "bob not in X-Sink-Rcpt-To"
grep -q '^X-Sink-Rcpt-To: .*carol@example.net' "$f" || fail "carol not in X-Sink-Rcpt-To"
grep -q '^Subject: harness test' "$f" || fail "subject lost"
grep -q 'hello sink' "$f" || fail "body lost"
[ -n "$(sink_find_rcpt bob@example.org)" ] || fail "sink_find_rcpt"

# The hold queue: a HOLD from header_checks stays, pf_wait_queue_empty
# still returns.
echo '/^Subject: please hold/ HOLD' >"$PF_DIR/etc/header_checks"
pf_main "header_checks = regexp:$PF_DIR/etc/header_checks"
pf_reload
sleep 0.5
swaks --server "127.0.0.1:$PF_PORT" --from a@example.com --to b@example.org \
    --header 'Subject: please hold' >/dev/null || fail "swaks (hold)"
pf_wait_queue_empty 10 || fail "queue (hold) did not settle"
[ "$(pf_queue_count hold)" = 1 ] || fail "hold queue has $(pf_queue_count hold), want 1"
[ "$(sink_count)" = 1 ] || fail "held message reached the sink"
grep -q 'message held' "$(pf_log)" 2>/dev/null || grep -q 'hold:' "$(pf_log)" || fail "no hold line in the log"

# Deferred then delivered: stop the sink, send, start it again.
sink_stop
swaks --server "127.0.0.1:$PF_PORT" --from a@example.com --to later@example.org \
    --header 'Subject: later' >/dev/null || fail "swaks (later)"
sleep 1
[ "$(sink_count)" = 1 ] || fail "delivered without a sink?"
sink_start
pf_wait_queue_empty 15 || fail "deferred mail not retried"
sink_wait 2 5 || fail "deferred message not delivered"

# Cleanup really stops Postfix: the master PID is gone afterwards.
mpid=$(pf_master_pid)
[ -n "$mpid" ] && kill -0 "$mpid" || fail "no master pid"
spid=$PF_SINK_PID
pf_cleanup
kill -0 "$mpid" 2>/dev/null && fail "master $mpid still running after pf_cleanup"
kill -0 "$spid" 2>/dev/null && fail "sink $spid still running after pf_cleanup"
echo "harness OK"
exit 0
