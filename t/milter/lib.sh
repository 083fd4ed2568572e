# lib.sh - helpers for the miltertest suites (bash, sourced by t/milter/*.sh).
#
#   mt_setup              temp dir $MT_DIR (removed on EXIT, with every milter
#                         we started stopped by PID), test PKI in $MT_DIR/pki
#   mt_config NAME TEXT   write $MT_DIR/NAME.conf: the base config below + TEXT
#   mt_start NAME         start the milter (-f) on $MT_SOCK with NAME.conf
#   mt_stop               SIGTERM it and wait; fails if it takes > 3 s
#   mt_lua SCRIPT         run miltertest on t/milter/SCRIPT (MT_SOCKET, MT_LIB
#                         and every MT_* variable passed in the environment)
#   fail MSG              print MSG (and the milter log) and exit 1
#
# Skips (exit 77) when miltertest or the milter binary is missing.

SRC=${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
MILTER=${MILTER:-$SRC/build/cryptofilter-milter}
MT_PID=
MT_LIB=$SRC/t/milter/common.lua
export MT_LIB

command -v miltertest >/dev/null || { echo "miltertest not installed"; exit 77; }
[ -x "$MILTER" ] || { echo "no $MILTER (run make)"; exit 77; }

fail() {
    echo "FAIL: $*"
    if [ -n "$MT_DIR" ] && [ -f "$MT_DIR/milter.out" ]; then
        echo "--- milter output:"; tail -n 40 "$MT_DIR/milter.out"
    fi
    exit 1
}

_mt_cleanup() {
    if [ -n "$MT_PID" ]; then kill "$MT_PID" 2>/dev/null; wait "$MT_PID" 2>/dev/null; fi
    [ -n "$MT_DIR" ] && rm -rf "$MT_DIR"
}

mt_setup() {
    MT_DIR=$(mktemp -d /tmp/cf-milter.XXXXXX) || exit 1
    trap _mt_cleanup EXIT
    MT_SOCK=$MT_DIR/milter.sock
    mkdir -p "$MT_DIR/spool" "$MT_DIR/log" "$MT_DIR/hist" "$MT_DIR/stats"
    chmod 700 "$MT_DIR/spool"
    . "$SRC/t/lib/pki.sh"
    pki_make "$MT_DIR/pki" >/dev/null || fail "pki_make"
}

mt_config() {
    local name=$1; shift
    cat >"$MT_DIR/$name.conf" <<CONF
postmaster        = "postmaster@example.com"
local_domains     = {"example.com"}
internal_networks = {"10.99.0.0/16"}
outbound_daemons  = {"ORIGINATING"}
milter { socket = "unix:$MT_SOCK"  user = "$(id -un)"  spool_dir = "$MT_DIR/spool"
         memory_limit = 64K  on_error = tempfail }
log { file = true  directory = "$MT_DIR/log"  verbose = true  message_transfer = true }
history { enabled = true  directory = "$MT_DIR/hist" }
statistics { enabled = true  directory = "$MT_DIR/stats" }
smime { cert_dir = "$MT_DIR/pki/cert"  ca_file = "ca.pem" }
$*
CONF
}

mt_start() {
    local i
    rm -f "$MT_SOCK"
    # miltertest overflows a 1 KB buffer on bigger end-of-message packets
    CF_MILTER_BODY_CHUNK=900 "$MILTER" -f -c "$MT_DIR/$1.conf" >>"$MT_DIR/milter.out" 2>&1 &
    MT_PID=$!
    for i in $(seq 1 100); do
        [ -S "$MT_SOCK" ] && return 0
        kill -0 "$MT_PID" 2>/dev/null || { MT_PID=; fail "milter did not start"; }
        sleep 0.05
    done
    fail "milter socket did not appear"
}

mt_stop() {
    local i pid=$MT_PID
    [ -n "$pid" ] || return 0
    kill -TERM "$pid"
    for i in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$pid" 2>/dev/null && fail "milter still running 3 s after SIGTERM"
    wait "$pid"; local rc=$?
    MT_PID=
    [ "$rc" -eq 0 ] || fail "milter exited with status $rc"
}

mt_lua() {
    local script=$1; shift
    env MT_SOCKET="unix:$MT_SOCK" "$@" miltertest -s "$SRC/t/milter/$script" \
        >"$MT_DIR/mt.out" 2>&1
    local rc=$?
    cat "$MT_DIR/mt.out"
    return $rc
}
