# postfix.sh - a private Postfix instance on 127.0.0.1 for tests (bash, sourced).
#
#   . "$CF_SRCDIR/t/lib/postfix.sh"
#   pf_setup                      # $PF_DIR, $PF_PORT, $PF_SINK_PORT, cleanup on EXIT
#   pf_main 'smtpd_milters = unix:$PF_DIR/milter.sock'   # main.cf parameters
#   pf_master '2526 inet n - n - - smtpd' '  -o milter_macro_daemon_name=ORIGINATING'
#   sink_start; pf_milter_start my.conf; pf_start
#   swaks --server 127.0.0.1:$PF_PORT ...
#   pf_wait_queue_empty 10 && sink_wait 1 && grep ... "$PF_SINK_DIR/1.eml"
#
# Layout under $PF_DIR (mktemp -d, mode 0755 so user postfix can reach the
# sockets): etc/ (main.cf, master.cf), queue/, data/, log/postfix.log,
# sink/ ($PF_SINK_DIR, one <n>.eml per delivered message), milter.sock,
# policy.sock, *.log of the daemons we start.
#
# Everything started here is stopped by PID in pf_cleanup (trap EXIT; INT and
# TERM exit so EXIT runs).  KEEP=1 leaves $PF_DIR for a post-mortem.  A test
# with its own EXIT trap must call pf_cleanup from it; or add a command to
# PF_CLEANUP_HOOKS (run first, once: pf_cleanup empties the list).
#
# Facts this relies on: /work/shared/POSTFIX-TESTING.md.

PF_SRCDIR=${CF_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PF_BUILD=${PF_BUILD:-$PF_SRCDIR/build}
PF_PIDS=()			# processes to stop, "pid:unix-socket-or-empty"
PF_CLEANUP_HOOKS=()
PF_STARTED=0

# Print a TCP port that nobody listens on right now (the kernel picks it).
free_port() {
    /usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pf_die() {
    echo "postfix.sh: $*" >&2
    exit 1
}

# Make the instance (not started): directories, main.cf, master.cf, ports.
pf_setup() {
    PF_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cf-pf.XXXXXX") || pf_die "mktemp failed"
    chmod 0755 "$PF_DIR"
    PF_ETC=$PF_DIR/etc
    PF_SINK_DIR=$PF_DIR/sink
    mkdir -p "$PF_ETC" "$PF_DIR/queue" "$PF_DIR/log" "$PF_SINK_DIR"
    PF_PORT=$(free_port)
    PF_SINK_PORT=$(free_port)
    while [ "$PF_SINK_PORT" = "$PF_PORT" ]; do PF_SINK_PORT=$(free_port); done
    PF_MYHOSTNAME=pf-$$.cryptofilter.test
    export PF_DIR PF_ETC PF_SINK_DIR PF_PORT PF_SINK_PORT
    trap pf_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    cat >"$PF_ETC/main.cf" <<EOF
# Private test instance made by t/lib/postfix.sh
compatibility_level = 3.6
queue_directory = $PF_DIR/queue
data_directory = $PF_DIR/data
mail_owner = postfix
setgid_group = postdrop
myhostname = $PF_MYHOSTNAME
mydomain = cryptofilter.test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtp_dns_support_level = disabled
relayhost = [127.0.0.1]:$PF_SINK_PORT
maillog_file = $PF_DIR/log/postfix.log
maillog_file_prefixes = /var, /dev/stdout, $PF_DIR/log
biff = no
append_dot_mydomain = no
smtputf8_enable = no
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 4s
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
smtpd_banner = \$myhostname ESMTP test
smtpd_error_sleep_time = 0
smtp_connect_timeout = 5s
message_size_limit = 104857600
EOF
    cat >"$PF_ETC/master.cf" <<EOF
# Private test instance made by t/lib/postfix.sh: no chroot anywhere.
127.0.0.1:$PF_PORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    pf_backdate
}

# Postfix re-reads a config file whose mtime is under 1 s old: backdate.
pf_backdate() {
    touch -d '-10 seconds' "$PF_ETC/main.cf" "$PF_ETC/master.cf"
}

# pf_main 'key = value' ... : set main.cf parameters (postconf -e).
pf_main() {
    [ $# -gt 0 ] || return 0
    postconf -c "$PF_ETC" -e "$@" || pf_die "postconf -e $* failed"
    pf_backdate
}

# pf_master 'line' ... : append lines to master.cf (a "  -o x=y" line
# continues the service above it).
pf_master() {
    printf '%s\n' "$@" >>"$PF_ETC/master.cf"
    pf_backdate
}

pf_log() {
    echo "$PF_DIR/log/postfix.log"
}

pf_check() {
    postfix -c "$PF_ETC" check
}

pf_start() {
    pf_backdate
    postfix -c "$PF_ETC" start >"$PF_DIR/log/start.out" 2>&1 || {
	cat "$PF_DIR/log/start.out" >&2
	pf_die "postfix start failed"
    }
    PF_STARTED=1
    # master forks; wait until it accepts SMTP.
    pf_wait_port "$PF_PORT" 10 || { pf_tail_log >&2; pf_die "smtpd on $PF_PORT does not answer"; }
}

pf_reload() {
    pf_backdate
    postfix -c "$PF_ETC" reload >/dev/null 2>&1
}

pf_stop() {
    [ "$PF_STARTED" = 1 ] || return 0
    postfix -c "$PF_ETC" stop >/dev/null 2>&1
    local pid
    pid=$(pf_master_pid)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null
    fi
    PF_STARTED=0
}

pf_master_pid() {
    local f=$PF_DIR/queue/pid/master.pid
    [ -f "$f" ] && tr -d ' \n' <"$f"
}

# pf_wait_port PORT [SECONDS]: until something listens on 127.0.0.1:PORT.
pf_wait_port() {
    local port=$1 secs=${2:-10} i
    for ((i = 0; i < secs * 20; i++)); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
	sleep 0.05
    done
    return 1
}

# pf_queue_json: one JSON object per queued message (postqueue -j).
pf_queue_json() {
    postqueue -c "$PF_ETC" -j 2>/dev/null
}

# pf_queue_count [QUEUE]: messages in QUEUE (hold, deferred, active,
# incoming, maildrop), or in all queues.
pf_queue_count() {
    if [ -n "$1" ]; then
	pf_queue_json | grep -c "\"queue_name\": *\"$1\""
    else
	pf_queue_json | grep -c queue_name
    fi
}

# pf_wait_queue_empty [SECONDS]: until no message is waiting for delivery
# (the hold queue does not count: nothing moves there by itself).  1 on
# timeout, with the queue printed.
pf_wait_queue_empty() {
    local secs=${1:-20} i
    for ((i = 0; i < secs * 10; i++)); do
	if ! pf_queue_json | grep -v '"queue_name": *"hold"' | grep -q queue_name; then
	    return 0
	fi
	# Deferred mail waits for queue_run_delay; ask for it every 2 s.
	((i % 20 == 19)) && postqueue -c "$PF_ETC" -f >/dev/null 2>&1
	sleep 0.1
    done
    echo "postfix.sh: queue not empty after ${secs}s:" >&2
    pf_queue_json >&2
    return 1
}

pf_tail_log() {
    tail -n "${1:-40}" "$PF_DIR/log/postfix.log" 2>/dev/null
}

# ---- sink ------------------------------------------------------------------

# sink_start [sink.py options]: SMTP sink on $PF_SINK_PORT storing into
# $PF_SINK_DIR.
sink_start() {
    rm -f "$PF_DIR/sink.ready"
    /usr/bin/python3 "$PF_SRCDIR/t/lib/sink.py" --port "$PF_SINK_PORT" \
	--dir "$PF_SINK_DIR" --ready "$PF_DIR/sink.ready" "$@" \
	>>"$PF_DIR/log/sink.log" 2>&1 &
    PF_SINK_PID=$!
    PF_PIDS+=("$PF_SINK_PID:")
    local i
    for ((i = 0; i < 200; i++)); do
	[ -f "$PF_DIR/sink.ready" ] && return 0
	kill -0 "$PF_SINK_PID" 2>/dev/null || break
	sleep 0.025
    done
    cat "$PF_DIR/log/sink.log" >&2
    pf_die "sink did not start"
}

sink_stop() {
    [ -n "$PF_SINK_PID" ] || return 0
    pf_kill "$PF_SINK_PID" ""
    PF_SINK_PID=
}

sink_count() {
    local n=0 f
    for f in "$PF_SINK_DIR"/*.eml; do
	[ -e "$f" ] && n=$((n + 1))
    done
    echo "$n"
}

# sink_wait N [SECONDS]: until at least N messages are stored.
sink_wait() {
    local want=$1 secs=${2:-20} i
    for ((i = 0; i < secs * 20; i++)); do
	[ "$(sink_count)" -ge "$want" ] && return 0
	sleep 0.05
    done
    echo "postfix.sh: sink has $(sink_count) messages, wanted $want" >&2
    return 1
}

# sink_find_rcpt ADDR: the stored messages whose envelope recipient is ADDR.
sink_find_rcpt() {
    local want=${1,,} f line r
    for f in "$PF_SINK_DIR"/*.eml; do
	[ -e "$f" ] || continue
	line=$(grep -m1 '^X-Sink-Rcpt-To:' "$f")
	line=${line#X-Sink-Rcpt-To: }
	line=${line//$'\r'/}
	for r in ${line//,/ }; do
	    [ "${r,,}" = "$want" ] && { echo "$f"; break; }
	done
    done
}

# ---- our daemons -------------------------------------------------------------

# pf_kill PID SOCKET: stop one process we started.  libmilter notices
# SIGTERM only when its listener wakes: a dummy connect to SOCKET makes it
# exit at once.  SIGKILL after 5 s.
pf_kill() {
    local pid=$1 sock=$2 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    if [ -n "$sock" ] && [ -S "$sock" ]; then
	/usr/bin/python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
try: s.connect(sys.argv[1])
except OSError: pass' "$sock" 2>/dev/null
    fi
    for ((i = 0; i < 100; i++)); do
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# pf_wait_socket PATH PID [SECONDS]: until PATH is a socket; 1 if PID died.
pf_wait_socket() {
    local path=$1 pid=$2 secs=${3:-10} i
    for ((i = 0; i < secs * 40; i++)); do
	if [ -S "$path" ]; then
	    # user postfix must be able to connect.
	    chmod 0666 "$path" 2>/dev/null
	    return 0
	fi
	kill -0 "$pid" 2>/dev/null || return 1
	sleep 0.025
    done
    return 1
}

# pf_milter_start CONF [extra options]: build/cryptofilter-milter in the
# foreground on unix:$PF_MILTER_SOCK (= $PF_DIR/milter.sock).  Add
#   pf_main "smtpd_milters = unix:$PF_MILTER_SOCK"
# to use it.  Log in $PF_DIR/log/milter.log.
pf_milter_start() {
    local conf=$1; shift
    PF_MILTER_SOCK=$PF_DIR/milter.sock
    rm -f "$PF_MILTER_SOCK"
    [ -x "$PF_BUILD/cryptofilter-milter" ] || pf_die "no $PF_BUILD/cryptofilter-milter"
    "$PF_BUILD/cryptofilter-milter" -f -c "$conf" -p "unix:$PF_MILTER_SOCK" "$@" \
	>>"$PF_DIR/log/milter.log" 2>&1 &
    PF_MILTER_PID=$!
    PF_PIDS+=("$PF_MILTER_PID:$PF_MILTER_SOCK")
    export PF_MILTER_SOCK PF_MILTER_PID
    pf_wait_socket "$PF_MILTER_SOCK" "$PF_MILTER_PID" 10 || {
	tail -n 30 "$PF_DIR/log/milter.log" >&2
	echo "postfix.sh: cryptofilter-milter did not open $PF_MILTER_SOCK" >&2
	return 1
    }
}

pf_milter_stop() {
    [ -n "$PF_MILTER_PID" ] || return 0
    pf_kill "$PF_MILTER_PID" "$PF_MILTER_SOCK"
    PF_MILTER_PID=
}

# pf_policyd_start CONF [extra options]: build/cryptofilter-policyd on
# unix:$PF_POLICY_SOCK (= $PF_DIR/policy.sock).  Use it with
#   check_policy_service { unix:$PF_POLICY_SOCK, timeout=10s, default_action=DEFER_IF_PERMIT }
pf_policyd_start() {
    local conf=$1; shift
    PF_POLICY_SOCK=$PF_DIR/policy.sock
    rm -f "$PF_POLICY_SOCK"
    [ -x "$PF_BUILD/cryptofilter-policyd" ] || pf_die "no $PF_BUILD/cryptofilter-policyd"
    "$PF_BUILD/cryptofilter-policyd" -f -c "$conf" -l "unix:$PF_POLICY_SOCK" "$@" \
	>>"$PF_DIR/log/policyd.log" 2>&1 &
    PF_POLICYD_PID=$!
    PF_PIDS+=("$PF_POLICYD_PID:$PF_POLICY_SOCK")
    export PF_POLICY_SOCK PF_POLICYD_PID
    pf_wait_socket "$PF_POLICY_SOCK" "$PF_POLICYD_PID" 10 || {
	tail -n 30 "$PF_DIR/log/policyd.log" >&2
	echo "postfix.sh: cryptofilter-policyd did not open $PF_POLICY_SOCK" >&2
	return 1
    }
}

pf_policyd_stop() {
    [ -n "$PF_POLICYD_PID" ] || return 0
    pf_kill "$PF_POLICYD_PID" "$PF_POLICY_SOCK"
    PF_POLICYD_PID=
}

# pf_bg_track PID [SOCKET]: have pf_cleanup stop another process we started.
pf_bg_track() {
    PF_PIDS+=("$1:${2:-}")
}

# ---- cleanup -----------------------------------------------------------------

pf_cleanup() {
    local rc=$? h entry
    trap - EXIT INT TERM
    for h in "${PF_CLEANUP_HOOKS[@]}"; do eval "$h"; done
    PF_CLEANUP_HOOKS=()
    [ -n "$PF_DIR" ] || return "$rc"
    pf_stop
    for entry in "${PF_PIDS[@]}"; do
	pf_kill "${entry%%:*}" "${entry#*:}"
    done
    PF_PIDS=()
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -f "$PF_DIR/log/postfix.log" ]; then
	echo "--- last lines of $PF_DIR/log/postfix.log" >&2
	pf_tail_log 25 >&2
    fi
    if [ "${KEEP:-0}" = 1 ]; then
	echo "postfix.sh: kept $PF_DIR" >&2
    else
	rm -rf "$PF_DIR"
    fi
    PF_DIR=
    return "$rc"
}
