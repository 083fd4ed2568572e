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
# Functions (each documented where it is defined):
#   instance   pf_setup pf_main pf_master pf_start pf_stop pf_reload pf_check
#              pf_log pf_tail_log pf_wait_port pf_wait_queue_empty
#              pf_queue_json pf_queue_count [hold|deferred|...] pf_master_pid
#   sink       sink_start [--tls-cert C --tls-key K] [--reject-rcpt S]
#              sink_stop sink_count sink_wait N [SECS] sink_find_rcpt ADDR
#   daemons    pf_milter_start CONF / pf_milter_stop ($PF_MILTER_SOCK)
#              pf_policyd_start CONF / pf_policyd_stop ($PF_POLICY_SOCK)
#              pf_kill PID SOCKET, pf_bg_track PID
#   gateway    pf_pki (test PKI in $PF_PKI), pf_cf_conf FILE <rules,
#              pf_gateway CONF [split] ($PF_OUT_PORT, $PF_REINJECT_PORT),
#              pf_send PORT FROM TO [swaks options]
#   misc       free_port, pf_cleanup
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
# A caller that wants fixed places (the demo) presets PF_SETUP_DIR (an
# absolute, new or empty directory), PF_SETUP_PORT, PF_SETUP_SINK_DIR.
pf_setup() {
    if [ -n "${PF_SETUP_DIR:-}" ]; then
	PF_DIR=$PF_SETUP_DIR
	mkdir -p "$PF_DIR" || pf_die "cannot make $PF_DIR"
    else
	PF_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cf-pf.XXXXXX") || pf_die "mktemp failed"
    fi
    chmod 0755 "$PF_DIR"
    PF_ETC=$PF_DIR/etc
    PF_SINK_DIR=${PF_SETUP_SINK_DIR:-$PF_DIR/sink}
    mkdir -p "$PF_ETC" "$PF_DIR/queue" "$PF_DIR/log" "$PF_SINK_DIR"
    PF_PORT=${PF_SETUP_PORT:-$(free_port)}
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
    if [ -n "${1:-}" ]; then
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
    [ -n "${PF_SINK_PID:-}" ] || return 0
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

# _pf_daemon_start NAME OPTION SOCKET CONF [extra options]: start
# build/cryptofilter-NAME -f -c CONF OPTION unix:SOCKET in the background,
# logging to $PF_DIR/log/NAME.log, and wait for its socket; the PID is left
# in _pf_daemon_pid (also when the socket never appears).
_pf_daemon_start() {
    local name=$1 opt=$2 sock=$3 conf=$4 bin=$PF_BUILD/cryptofilter-$1
    shift 4
    rm -f "$sock"
    [ -x "$bin" ] || pf_die "no $bin"
    "$bin" -f -c "$conf" "$opt" "unix:$sock" "$@" >>"$PF_DIR/log/$name.log" 2>&1 &
    _pf_daemon_pid=$!
    PF_PIDS+=("$_pf_daemon_pid:$sock")
    pf_wait_socket "$sock" "$_pf_daemon_pid" 10 || {
	tail -n 30 "$PF_DIR/log/$name.log" >&2
	echo "postfix.sh: cryptofilter-$name did not open $sock" >&2
	return 1
    }
}

# pf_milter_start CONF [extra options]: build/cryptofilter-milter in the
# foreground on unix:$PF_MILTER_SOCK (= $PF_DIR/milter.sock).  Add
#   pf_main "smtpd_milters = unix:$PF_MILTER_SOCK"
# to use it.  Log in $PF_DIR/log/milter.log.
pf_milter_start() {
    local rc
    PF_MILTER_SOCK=$PF_DIR/milter.sock
    _pf_daemon_start milter -p "$PF_MILTER_SOCK" "$@"
    rc=$?
    PF_MILTER_PID=$_pf_daemon_pid
    export PF_MILTER_SOCK PF_MILTER_PID
    return $rc
}

pf_milter_stop() {
    [ -n "${PF_MILTER_PID:-}" ] || return 0
    pf_kill "$PF_MILTER_PID" "$PF_MILTER_SOCK"
    PF_MILTER_PID=
}

# pf_policyd_start CONF [extra options]: build/cryptofilter-policyd on
# unix:$PF_POLICY_SOCK (= $PF_DIR/policy.sock).  Use it with
#   check_policy_service { unix:$PF_POLICY_SOCK, timeout=10s, default_action=DEFER }
pf_policyd_start() {
    local rc
    PF_POLICY_SOCK=$PF_DIR/policy.sock
    _pf_daemon_start policyd -l "$PF_POLICY_SOCK" "$@"
    rc=$?
    PF_POLICYD_PID=$_pf_daemon_pid
    export PF_POLICY_SOCK PF_POLICYD_PID
    return $rc
}

pf_policyd_stop() {
    [ -n "${PF_POLICYD_PID:-}" ] || return 0
    pf_kill "$PF_POLICYD_PID" "$PF_POLICY_SOCK"
    PF_POLICYD_PID=
}

# pf_bg_track PID [SOCKET]: have pf_cleanup stop another process we started.
pf_bg_track() {
    PF_PIDS+=("$1:${2:-}")
}

# ---- a cryptofilter gateway ---------------------------------------------------

# pf_pki: the test PKI (t/lib/pki.sh) in $PF_PKI = $PF_DIR/pki:
# $PF_PKI/ca.pem, $PF_PKI/cert/{pub,priv}/<addr>.pem for alice, bob, carol
# @example.com, dave, erin @partner.com.
pf_pki() {
    PF_PKI=$PF_DIR/pki
    export PF_PKI
    [ -f "$PF_PKI/cert/ca.pem" ] && return 0
    . "$PF_SRCDIR/t/lib/pki.sh" || pf_die "cannot source pki.sh"
    pki_make "$PF_PKI" >"$PF_DIR/log/pki.log" 2>&1 || {
	cat "$PF_DIR/log/pki.log" >&2
	pf_die "pki_make failed"
    }
}

# pf_cf_conf FILE: write a cryptofilter.conf for this instance: the base
# below, then the rules read from stdin.  127.0.0.1 is NOT an internal
# network here: direction comes from the daemon name, so one client can
# send both ways (port $PF_PORT inbound, $PF_OUT_PORT outbound).  Logs in
# $PF_CF_LOG, statistics in $PF_CF_STATS, history in $PF_CF_HIST.
pf_cf_conf() {
    local out=$1
    [ -n "${PF_PKI:-}" ] || pf_pki
    PF_CF_LOG=$PF_DIR/cf/log PF_CF_STATS=$PF_DIR/cf/stats PF_CF_HIST=$PF_DIR/cf/history
    export PF_CF_LOG PF_CF_STATS PF_CF_HIST
    mkdir -p "$PF_CF_LOG" "$PF_CF_STATS" "$PF_CF_HIST" "$PF_DIR/cf/spool"
    chmod 0700 "$PF_DIR/cf/spool"
    cat >"$out" <<EOF
# made by t/lib/postfix.sh pf_cf_conf
postmaster        = "postmaster@example.com"
local_domains     = {"example.com"}
internal_networks = {"192.0.2.0/24"}
outbound_daemons  = {"ORIGINATING"}
milter  { socket = "unix:$PF_DIR/milter.sock"  user = "root"
          spool_dir = "$PF_DIR/cf/spool"  on_error = tempfail }
policyd { listen = "unix:$PF_DIR/policy.sock"  user = "root" }
log        { file = true  directory = "$PF_CF_LOG"  verbose = true }
history    { enabled = false  directory = "$PF_CF_HIST" }
statistics { enabled = true  directory = "$PF_CF_STATS" }
smime      { cert_dir = "$PF_PKI/cert"  ca_file = "ca.pem" }
EOF
    cat >>"$out"
}

# pf_gateway CONF [split]: make this instance a cryptofilter gateway for
# CONF, the way postfix-example/ and "cryptofilter postconf" describe it:
#   smtpd_milters = the milter on $PF_DIR/milter.sock (pf_milter_start CONF),
#   milter_default_action = tempfail, disable_mime_output_conversion,
#   the cf-tls-* transports and both header_checks tables printed by
#   "cryptofilter postconf" (their FILTER next hop is the sink),
#   smtp_tls_loglevel = 1.
# Before-queue (default): $PF_PORT is inbound; $PF_OUT_PORT is an smtpd
# with milter_macro_daemon_name=ORIGINATING (outbound).
# split: $PF_PORT is inbound (milter); $PF_OUT_PORT is the submission
# smtpd (no milter, content_filter to the reinjection smtpd on
# $PF_REINJECT_PORT, which runs the milter as ORIGINATING).
pf_gateway() {
    local conf=$1 mode=${2:-before-queue} tool=${CF_TOOL:-$PF_BUILD/cryptofilter}
    local -a opts=(-c "$conf" --postfix-dir "$PF_ETC")
    [ -x "$tool" ] || pf_die "no $tool"
    PF_OUT_PORT=${PF_SETUP_OUT_PORT:-$(free_port)}
    export PF_OUT_PORT
    if [ "$mode" = split ]; then
	PF_REINJECT_PORT=$(free_port)
	export PF_REINJECT_PORT
	opts+=(--mode split --submission "127.0.0.1:$PF_OUT_PORT"
	       --reinject "127.0.0.1:$PF_REINJECT_PORT")
    fi
    "$tool" postconf "${opts[@]}" --part master >>"$PF_ETC/master.cf" \
	&& "$tool" postconf "${opts[@]}" --part milter_header_checks \
	    >"$PF_ETC/cryptofilter_milter_header_checks" \
	&& "$tool" postconf "${opts[@]}" --part smtp_header_checks \
	    >"$PF_ETC/cryptofilter_smtp_header_checks" \
	|| pf_die "cryptofilter postconf failed"
    pf_main "smtpd_milters = unix:$PF_DIR/milter.sock" \
	"milter_default_action = tempfail" "milter_protocol = 6" \
	"disable_mime_output_conversion = yes" \
	"milter_header_checks = regexp:$PF_ETC/cryptofilter_milter_header_checks" \
	"default_filter_nexthop = [127.0.0.1]:$PF_SINK_PORT" \
	"smtp_tls_loglevel = 1"
    if [ "$mode" = split ]; then
	pf_main "cryptofilter-split_destination_recipient_limit = 1"
    else
	pf_master "127.0.0.1:$PF_OUT_PORT inet n - n - - smtpd" \
	    "  -o syslog_name=postfix/submission" \
	    "  -o milter_macro_daemon_name=ORIGINATING"
    fi
}

# pf_send PORT FROM TO[,TO...] [swaks options]: one message with swaks;
# its transcript in $PF_DIR/log/swaks.last (and appended to swaks.log);
# returns swaks's exit status.
pf_send() {
    local port=$1 from=$2 to=$3; shift 3
    swaks --server "127.0.0.1:$port" --from "$from" --to "$to" \
	--helo client.example "$@" >"$PF_DIR/log/swaks.last" 2>&1
    local rc=$?
    cat "$PF_DIR/log/swaks.last" >>"$PF_DIR/log/swaks.log"
    return $rc
}

# ---- cleanup -----------------------------------------------------------------

pf_cleanup() {
    local rc=$? h entry
    trap - EXIT INT TERM
    for h in "${PF_CLEANUP_HOOKS[@]}"; do eval "$h"; done
    PF_CLEANUP_HOOKS=()
    [ -n "${PF_DIR:-}" ] || return "$rc"
    pf_stop
    for entry in "${PF_PIDS[@]}"; do
	pf_kill "${entry%%:*}" "${entry#*:}"
    done
    PF_PIDS=()
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -f "$PF_DIR/log/postfix.log" ]; then
	echo "--- last lines of $PF_DIR/log/postfix.log" >&2
	pf_tail_log 25 >&2
	local f
	for f in "$PF_DIR"/log/milter.log "$PF_DIR"/log/policyd.log "$PF_DIR"/cf/log/*.LOG; do
	    [ -s "$f" ] || continue
	    echo "--- last lines of $f" >&2
	    tail -n 15 "$f" >&2
	done
    fi
    if [ "${KEEP:-0}" = 1 ]; then
	echo "postfix.sh: kept $PF_DIR" >&2
    else
	rm -rf "$PF_DIR"
    fi
    PF_DIR=
    return "$rc"
}
