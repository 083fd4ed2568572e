#!/bin/bash
# Engine benchmark.  Prints "bench: NAME = VALUE UNIT" lines:
#   engine_sign_encrypt_4k   4 KB messages signed (RSA 2048, SHA-256) and
#                            encrypted (AES-256-CBC to one RSA 2048
#                            recipient) per second, in process, one core
#                            (t/bench/engine_bench.c: parse, engine_run,
#                            render, free, in a loop)
#   rsa2048_sign_limit       openssl speed rsa2048 sign/s: the ceiling,
#                            since each message costs one RSA signature
#   engine_vs_rsa_limit      the two above divided (target >= 0.7); both
#                            rates are the best of 3 alternating runs
#   engine_cpu_4k            CPU time (user + system) per 4 KB message in
#                            the run above: unlike msg/s, hardly changed
#                            by other load on the machine
#   rsa2048_sign_time        openssl speed's time per RSA 2048 signature
#   openssl_cli_pipeline_4k  the same work as one "openssl cms -sign |
#                            openssl cms -encrypt" process pair per message
#   engine_vs_cli            engine / CLI pipeline (target >= 10)
#   engine_25mb              MB/s signing+encrypting a 25 MB message in
#                            process, spooling past 1 MB (target >= 100)
#   peak_rss_100mb           peak RSS of "cryptofilter process" signing and
#                            encrypting a 100 MB message with memory_limit
#                            1M (target < 64 MB)
# BENCH_QUICK=1: about ten seconds (1 s runs, 5 MB instead of 25/100 MB;
# the names stay the same, a "#" line says what was measured).
set -u
CF_SRCDIR=${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$CF_SRCDIR/t/lib/pki.sh"
CF=$CF_SRCDIR/build/cryptofilter
LIB=$CF_SRCDIR/build/libcryptofilter.a
[ -x "$CF" ] && [ -f "$LIB" ] || { echo "engine.sh: build first (make)" >&2; exit 1; }
T=$(mktemp -d /tmp/cf-bench.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT

if [ -n "${BENCH_QUICK:-}" ]; then
    SECS=1 SPEED_SECS=1 ROUNDS=3 CLI_N=5 BIG_MB=5 HUGE_MB=5 BIG_N=1
    echo "# BENCH_QUICK: engine_25mb and peak_rss_100mb measured on 5 MB messages"
else
    SECS=3 SPEED_SECS=3 ROUNDS=3 CLI_N=30 BIG_MB=25 HUGE_MB=100 BIG_N=3
fi

fail() { echo "engine.sh: $*" >&2; exit 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "0" }'; }

cc -O2 -g -std=gnu11 -D_GNU_SOURCE -I"$CF_SRCDIR/common" -o "$T/engine_bench" \
    "$CF_SRCDIR/t/bench/engine_bench.c" "$LIB" -lconfuse -lssl -lcrypto ||
    fail "cannot build engine_bench"
pki_make "$T/pki" || fail "pki_make failed"
mkdir -p "$T/spool" "$T/log" && chmod 700 "$T/spool"
conf() {	# FILE MEMORY_LIMIT
    cat >"$1" <<EOF
postmaster = "postmaster@example.com"
local_domains = {"example.com"}
milter { spool_dir = "$T/spool"  memory_limit = $2 }
log { file = false  directory = "$T/log" }
statistics { enabled = false  directory = "$T/log" }
history { enabled = false  directory = "$T/log" }
smime { cert_dir = "$T/pki/cert"  ca_file = "ca.pem"  collect_sender_certs = false
        cipher = aes-256-cbc  digest = sha256 }
smime_sign "ours" { from = "*@example.com"  to = "*"  certificate = "*" }
smime_encrypt "any" { from = "*"  to = "*"  certificate = "*" }
EOF
}
conf "$T/cf.conf" 1M

# message FILE BYTES: a text/plain message of about BYTES.
message() {
    {
        printf '%s\n' "From: <alice@example.com>" "To: <bob@example.com>" "Subject: bench" \
            "Date: Thu, 03 Dec 2026 17:00:00 +0000" "Message-ID: <bench.$2@example.com>" \
            "MIME-Version: 1.0" "Content-Type: text/plain; charset=us-ascii" ""
        yes "The quick brown fox jumps over the lazy dog, 0123456789 times over again." |
            head -c "$2"
    } >"$1"
}
message "$T/m4k.eml" 3700		# 4 KB with the header

# 1 and 2. In process, 4 KB, and the RSA ceiling.  Both are wall-clock
# rates on a machine other work may share, so they are measured in turns
# ROUNDS times and the best of each is kept (the least disturbed run).
best_engine=0 best_cpu=0 best_rsa=0 best_time=0
for ((round = 0; round < ROUNDS; round++)); do
    read -r n secs _ _ actions cpu < <("$T/engine_bench" "$T/cf.conf" "$T/m4k.eml" out \
        alice@example.com bob@example.com "$SECS" 20) || fail "engine_bench failed"
    [ "$actions" = "sign,encrypt" ] || fail "engine_bench did $actions, not sign,encrypt"
    engine=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
    if [ "$engine" -gt "$best_engine" ]; then
        best_engine=$engine
        best_cpu=$(awk -v n="$n" -v c="$cpu" 'BEGIN { printf "%.1f", c * 1e6 / n }')
    fi
    speed=$(openssl speed -seconds "$SPEED_SECS" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/')
    rsa=$(echo "$speed" | awk '{ printf "%.0f", $6 }')
    [ -n "$rsa" ] || fail "openssl speed rsa2048 gave nothing"
    if [ "$rsa" -gt "$best_rsa" ]; then
        best_rsa=$rsa
        best_time=$(echo "$speed" | awk '{ sub(/s$/, "", $4); printf "%.1f", $4 * 1e6 }')
    fi
done
engine=$best_engine rsa=$best_rsa
echo "bench: engine_sign_encrypt_4k = $engine msg/s"
echo "bench: engine_cpu_4k = $best_cpu us/msg"
echo "bench: rsa2048_sign_limit = $rsa sign/s"
echo "bench: rsa2048_sign_time = $best_time us"
echo "bench: engine_vs_rsa_limit = $(ratio "$engine" "$rsa") ratio"

# 3. One openssl process pair per message.
P=$T/pki/cert
$CF_SRCDIR/t/interop/msgtool.py entity "$T/m4k.eml" >"$T/m4k.ent" 2>/dev/null ||
    sed '1,/^$/d' "$T/m4k.eml" >"$T/m4k.ent"
start=$(date +%s.%N)
for ((i = 0; i < CLI_N; i++)); do
    openssl cms -sign -signer "$P/priv/alice@example.com.pem" -in "$T/m4k.ent" |
        openssl cms -encrypt -aes-256-cbc "$P/pub/bob@example.com.pem" >"$T/cli.out" ||
        fail "openssl pipeline failed"
done
end=$(date +%s.%N)
cli=$(awk -v n="$CLI_N" -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", n / (b - a) }')
echo "bench: openssl_cli_pipeline_4k = $cli msg/s"
echo "bench: engine_vs_cli = $(ratio "$engine" "$cli") ratio"

# 4. Throughput on a big message (spools to a file past memory_limit).
message "$T/big.eml" $((BIG_MB * 1024 * 1024))
read -r n secs bytes _ _ < <("$T/engine_bench" "$T/cf.conf" "$T/big.eml" out \
    alice@example.com bob@example.com 0 "$BIG_N") || fail "engine_bench (big) failed"
echo "bench: engine_25mb = $(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.1f", b / 1048576 / s }') MB/s"

# 5. Peak RSS of the offline command on a huge message, memory_limit 1M.
[ "$HUGE_MB" = "$BIG_MB" ] || message "$T/huge.eml" $((HUGE_MB * 1024 * 1024))
[ "$HUGE_MB" = "$BIG_MB" ] && ln -sf "$T/big.eml" "$T/huge.eml"
if [ -x /usr/bin/time ]; then
    /usr/bin/time -v -o "$T/time.txt" "$CF" process -c "$T/cf.conf" --direction out \
        --from alice@example.com --to bob@example.com <"$T/huge.eml" >"$T/huge.out" 2>"$T/huge.err" ||
        fail "cryptofilter process failed on the ${HUGE_MB} MB message: $(tail -n 3 "$T/huge.err")"
    kb=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$T/time.txt")
else
    "$CF" process -c "$T/cf.conf" --direction out --from alice@example.com \
        --to bob@example.com <"$T/huge.eml" >"$T/huge.out" 2>"$T/huge.err" &
    pid=$! kb=0
    while kill -0 "$pid" 2>/dev/null; do
        v=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
        [ -n "$v" ] && kb=$v
        sleep 0.05
    done
    wait "$pid" || fail "cryptofilter process failed on the ${HUGE_MB} MB message"
fi
grep -q 'smime-type=enveloped-data' "$T/huge.out" || fail "the ${HUGE_MB} MB message was not encrypted"
echo "bench: peak_rss_100mb = $(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }') MB"
