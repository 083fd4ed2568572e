#!/bin/bash
# The daemon: -t, -p, socket permissions, background start, SIGTERM (at
# once, and with a message in flight), SIGHUP reload (good and broken
# config), concurrent connections.
. "$(dirname "$0")/lib.sh"
mt_setup
mt_config a ''
sr_count() { cat "$1"/SR*.CSV 2>/dev/null | grep -c ",$2,"; }

# -t
out=$("$MILTER" -t -c "$MT_DIR/a.conf" 2>&1) || fail "-t on a good config: $out"
[ "$out" = "configuration OK" ] || fail "-t printed: $out"
printf 'milter {\n  memory_limit = lots\n}\nno_such_key = 1\n' >"$MT_DIR/bad.conf"
out=$("$MILTER" -t -c "$MT_DIR/bad.conf" 2>&1); rc=$?
[ "$rc" -eq 78 ] || fail "-t on a bad config: exit $rc"
echo "$out" | grep -q "bad.conf:2:" || fail "no file:line error for line 2: $out"
echo "$out" | grep -q "bad.conf:4:" || fail "no file:line error for line 4: $out"
out=$("$MILTER" -t -c "$MT_DIR/a.conf" -p "tcp:25" 2>&1); rc=$?
[ "$rc" -eq 78 ] || fail "-t with a bad -p socket: exit $rc ($out)"

# -p overrides milter.socket; the socket is 0660, group postfix when it exists
real_sock=$MT_SOCK
MT_SOCK=$MT_DIR/other.sock
sed "s|unix:$real_sock|unix:$MT_DIR/unused.sock|" "$MT_DIR/a.conf" >"$MT_DIR/p.conf"
rm -f "$MT_SOCK"
CF_MILTER_BODY_CHUNK=900 "$MILTER" -f -c "$MT_DIR/p.conf" -p "unix:$MT_SOCK" >>"$MT_DIR/milter.out" 2>&1 &
MT_PID=$!
for i in $(seq 1 100); do [ -S "$MT_SOCK" ] && break; sleep 0.05; done
[ -S "$MT_SOCK" ] || fail "no socket at the -p path"
[ -e "$MT_DIR/unused.sock" ] && fail "socket created at milter.socket despite -p"
[ "$(stat -c %a "$MT_SOCK")" = 660 ] || fail "socket mode $(stat -c %a "$MT_SOCK")"
if [ "$(id -u)" = 0 ] && getent group postfix >/dev/null; then
    [ "$(stat -c %G "$MT_SOCK")" = postfix ] || fail "socket group $(stat -c %G "$MT_SOCK")"
fi
mt_lua one.lua QID=PSOCK1 || fail "message over the -p socket"

# SIGTERM with nothing in flight: gone at once
start=$(date +%s%N)
mt_stop
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "bench: milter_sigterm_stop = $ms ms"
[ "$ms" -lt 1000 ] || fail "SIGTERM took $ms ms"
[ -S "$MT_SOCK" ] && [ "$(id -u)" != 0 ] && fail "socket left behind"
MT_SOCK=$real_sock

# SIGTERM with a message in flight: the message still finishes
mt_start a
mt_lua one.lua QID=INFLIGHT1 SLEEP=1.5 >"$MT_DIR/inflight.out" 2>&1 &
lua_pid=$!
sleep 0.7
kill -TERM "$MT_PID"
sleep 0.2
kill -0 "$MT_PID" 2>/dev/null || fail "milter exited with a message in flight"
mt_lua refused.lua || fail "a new message was not deferred while stopping"
wait "$lua_pid" || { cat "$MT_DIR/inflight.out"; fail "message in flight not finished"; }
for i in $(seq 1 60); do kill -0 "$MT_PID" 2>/dev/null || break; sleep 0.05; done
kill -0 "$MT_PID" 2>/dev/null && fail "milter still running after the message in flight"
wait "$MT_PID"; MT_PID=
[ "$(sr_count "$MT_DIR/stats" INFLIGHT1)" = 1 ] || fail "no SR row for INFLIGHT1"

# Without -f: goes to the background, the parent exits 0
rm -f "$MT_SOCK"
"$MILTER" -c "$MT_DIR/a.conf" >"$MT_DIR/bg.out" 2>&1 || fail "background start: exit $?"
for i in $(seq 1 100); do [ -S "$MT_SOCK" ] && break; sleep 0.05; done
[ -S "$MT_SOCK" ] || fail "background milter has no socket"
MT_PID=$(pgrep -f -- "-c $MT_DIR/a.conf\$") || fail "background milter not found"
[ "$(ps -o sid= -p "$MT_PID" | tr -d ' ')" = "$MT_PID" ] || fail "background milter is no session leader"
mt_lua one.lua QID=BG1 || fail "message to the background milter"
kill -TERM "$MT_PID"
for i in $(seq 1 60); do kill -0 "$MT_PID" 2>/dev/null || break; sleep 0.05; done
kill -0 "$MT_PID" 2>/dev/null && fail "background milter ignores SIGTERM"
MT_PID=

# SIGHUP: a good new config is taken by the next message ...
mt_start a
mt_lua one.lua QID=HUP1 || fail "HUP1"
[ "$(sr_count "$MT_DIR/stats" HUP1)" = 1 ] || fail "HUP1 not in the first stats directory"
mkdir -p "$MT_DIR/stats2"
sed -i "s|directory = \"$MT_DIR/stats\"|directory = \"$MT_DIR/stats2\"|" "$MT_DIR/a.conf"
kill -HUP "$MT_PID"
sleep 0.2
kill -0 "$MT_PID" 2>/dev/null || fail "SIGHUP stopped the milter"
mt_lua one.lua QID=HUP2 || fail "HUP2"
[ "$(sr_count "$MT_DIR/stats2" HUP2)" = 1 ] || fail "HUP2 not in the new stats directory"
[ "$(sr_count "$MT_DIR/stats" HUP2)" = 0 ] || fail "HUP2 still in the old stats directory"
grep -q "reload: configuration $MT_DIR/a.conf loaded" "$MT_DIR/milter.out" || fail "no reload log line"

# ... a broken one is refused, logged line by line, and the old one stays
cp "$MT_DIR/a.conf" "$MT_DIR/a.good"
printf 'milter {\n  on_error = maybe\n}\n' >>"$MT_DIR/a.conf"
sed -i "s|directory = \"$MT_DIR/stats2\"|directory = \"$MT_DIR/stats\"|" "$MT_DIR/a.conf"
kill -HUP "$MT_PID"
sleep 0.2
mt_lua one.lua QID=HUP3 || fail "HUP3"
kill -0 "$MT_PID" 2>/dev/null || fail "a broken config stopped the milter"
[ "$(sr_count "$MT_DIR/stats2" HUP3)" = 1 ] || fail "HUP3 not under the old config"
grep -q "reload: $MT_DIR/a.conf:[0-9]*: " "$MT_DIR/milter.out" || fail "reload errors not logged with file:line"
grep -q "keeping the old configuration" "$MT_DIR/milter.out" || fail "no 'keeping the old configuration'"

# A burst of SIGHUPs: libmilter's own signal thread (which stops on
# SIGHUP) must never get one
for i in $(seq 1 300); do kill -HUP "$MT_PID"; done
sleep 0.3
kill -0 "$MT_PID" 2>/dev/null || fail "a burst of SIGHUPs stopped the milter"
mt_lua one.lua QID=HUPBURST || fail "message after a burst of SIGHUPs"

# Concurrent connections, 4 x 25 messages
cp "$MT_DIR/a.good" "$MT_DIR/a.conf"
pids=
for c in 1 2 3 4; do
    mt_lua one.lua QID=PAR$c COUNT=25 >"$MT_DIR/par$c.out" 2>&1 &
    pids="$pids $!"
done
for p in $pids; do wait "$p" || fail "a concurrent connection failed"; done
n=$(cat "$MT_DIR"/stats2/SR*.CSV | grep -c ",PAR[1-4]")
[ "$n" = 100 ] || fail "$n of 100 concurrent messages recorded"
mt_stop
echo "daemon: ok"
