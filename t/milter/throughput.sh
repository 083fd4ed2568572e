#!/bin/bash
# Throughput of the milter under miltertest (one connection, messages back
# to back) and its peak memory after a large spilled message; prints
# "bench:" lines.  Asserts that every message is accepted and recorded.
. "$(dirname "$0")/lib.sh"
mt_setup
N=${N:-200}
mt_config tp '
smime_sign    "ours" { from = "*@example.com"  to = "*"  certificate = "*" }
smime_encrypt "any"  { from = "*"  to = "*"  certificate = "*" }
smime_verify  "all"  { from = "*"  to = "*"  verify = true }'
sed -i 's/memory_limit = 64K/memory_limit = 1M/; s/verbose = true/verbose = false/;
        s/message_transfer = true/message_transfer = false/; s/enabled = true  directory = "[^"]*\/hist"/enabled = false  directory = "\/nonexistent"/' \
    "$MT_DIR/tp.conf"
mt_start tp

rate() {	# NAME COUNT then the lua environment
    local name=$1 n=$2; shift 2
    local start end
    start=$(date +%s%N)
    mt_lua one.lua COUNT="$n" "$@" >/dev/null || fail "$name"
    end=$(date +%s%N)
    echo "bench: milter_${name} = $(( n * 1000000000 / (end - start) )) msg/s"
}
rate inbound_plain_rate "$N" QID=TPIN
rate outbound_sign_encrypt_rate "$N" QID=TPOUT DAEMON=ORIGINATING FROM=alice@example.com TO=bob@example.com

# 8 MB outbound: spilled (memory_limit 1M), signed and encrypted
start=$(date +%s%N)
mt_lua one.lua QID=TPBIG DAEMON=ORIGINATING FROM=alice@example.com TO=bob@example.com BODYKB=8192 >/dev/null \
    || fail "8 MB message"
echo "bench: milter_8mb_sign_encrypt_time = $(( ($(date +%s%N) - start) / 1000000 )) ms"
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$MT_PID/status")
echo "bench: milter_peak_rss_after_8mb = $(( hwm / 1024 )) MB"
mt_stop
n=$(cat "$MT_DIR"/stats/SR*.CSV | grep -c ",TP")
[ "$n" = $(( 2 * N + 1 )) ] || fail "$n statistics rows, expected $(( 2 * N + 1 ))"
echo "throughput: ok"
