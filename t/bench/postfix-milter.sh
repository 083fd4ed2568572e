#!/bin/bash
# Throughput of a real Postfix with and without cryptofilter-milter, in one
# run on one instance: smtp-source pushes N messages of 4 KB (10 sessions)
# into an smtpd without milter, then N into the ORIGINATING smtpd whose
# milter signs and encrypts each one (alice@example.com -> dave@partner.com);
# the clock stops when the sink holds them all.  N = 1000, BENCH_QUICK=1: 100.
#   bench: postfix_alone = N msg/s
#   bench: postfix_with_milter = N msg/s
#   bench: milter_vs_postfix = R ratio        (target >= 0.6)
set -u
. "${CF_SRCDIR:-.}/t/lib/postfix.sh"
command -v smtp-source >/dev/null || { echo "# no smtp-source: skipped"; exit 0; }
N=${BENCH_MESSAGES:-1000}
[ "${BENCH_QUICK:-0}" = 1 ] && N=${BENCH_MESSAGES:-100}
SIZE=4096
fail() { echo "# FAIL: $*" >&2; exit 1; }

pf_setup
pf_cf_conf "$PF_DIR/cf.conf" <<'CONF'
smime_sign    "ours" { from = "*@example.com"  to = "*"  certificate = "*" }
smime_encrypt "any"  { from = "*"  to = "*"  certificate = "*" }
CONF
# Measure the milter, not the disk: no verbose logging, no statistics.
sed -i 's/verbose = true/verbose = false/; s/^statistics .*/statistics { enabled = false }/' "$PF_DIR/cf.conf"
pf_gateway "$PF_DIR/cf.conf"
PLAIN_PORT=$(free_port)
pf_master "127.0.0.1:$PLAIN_PORT inet n - n - - smtpd" "  -o smtpd_milters="
pf_main "in_flow_delay = 0" "smtp_tls_loglevel = 0"
sink_start
pf_milter_start "$PF_DIR/cf.conf" || fail "milter did not start"
pf_start
pf_wait_port "$PLAIN_PORT" 5 || fail "port $PLAIN_PORT"

now() { date +%s.%N; }
# run PORT TOTAL: send N messages to PORT, wait until the sink holds TOTAL;
# prints the rate in msg/s.
run() {
    local port=$1 total=$2 t0 t1
    t0=$(now)
    smtp-source -s 10 -m "$N" -l "$SIZE" -f alice@example.com -t dave@partner.com \
	-S "bench" "127.0.0.1:$port" >"$PF_DIR/log/source.$port" 2>&1 \
	|| { cat "$PF_DIR/log/source.$port" >&2; fail "smtp-source to $port failed"; }
    sink_wait "$total" 300 || fail "sink holds $(sink_count), want $total"
    t1=$(now)
    awk -v n="$N" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", n / (b - a) }'
}

alone=$(run "$PLAIN_PORT" "$N") || exit 1
with=$(run "$PF_OUT_PORT" $((2 * N))) || exit 1
# The milter really worked: the second batch is encrypted.
enc=$(grep -li '^Content-Type: application/\(x-\)\?pkcs7-mime' "$PF_SINK_DIR"/*.eml | wc -l)
[ "$enc" = "$N" ] || fail "$enc encrypted messages at the sink, want $N"
echo "bench: postfix_alone = $alone msg/s"
echo "bench: postfix_with_milter = $with msg/s"
awk -v a="$alone" -v w="$with" 'BEGIN { printf "bench: milter_vs_postfix = %.2f ratio\n", w / a }'
