# lib.sh - shared by the t/interop/*.sh tests (sourced, not run: it is not
# executable).  Each test: a temp dir $T, a PKI made at test time ($PKI),
# configs written by it_conf, "cryptofilter process" wrapped by cf_run,
# ok/not_ok checks and a summary: exit 0 pass, 1 fail, 77 skip.

set -u
CF_SRCDIR=${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$CF_SRCDIR/t/lib/pki.sh"
CF=${CF_BIN:-$CF_SRCDIR/build/cryptofilter}
MT="python3 $CF_SRCDIR/t/interop/msgtool.py"
IT_PASS=0
IT_FAIL=0
IT_CLEANUP=""
T=$(mktemp -d /tmp/cf-interop.XXXXXX) || exit 1

it_cleanup() {
    local c
    for c in $IT_CLEANUP; do "$c"; done
    [ -n "${KEEP:-}" ] && { echo "# kept $T"; return; }
    rm -rf "$T"
}
trap it_cleanup EXIT

it_skip() { echo "SKIP: $*"; exit 77; }
ok() { IT_PASS=$((IT_PASS + 1)); echo "ok - $*"; }
IT_FAILED=""
not_ok() { IT_FAIL=$((IT_FAIL + 1)); IT_FAILED="$IT_FAILED
#   $*"; echo "not ok - $*"; }

# check DESC CMD ARGS...: ok when the command succeeds.
check() {
    local d=$1; shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}

not() { ! "$@"; }

it_finish() {
    [ "$IT_FAIL" -eq 0 ] || echo "# failed:$IT_FAILED"
    echo "# $IT_PASS passed, $IT_FAIL failed"
    [ "$IT_FAIL" -eq 0 ] || exit 1
    exit 0
}

it_need_cf() {
    [ -x "$CF" ] || it_skip "no $CF (run make)"
}

# it_pki: one PKI per test run in $PKI.
it_pki() {
    PKI=$T/pki
    pki_make "$PKI" || { echo "pki_make failed"; exit 1; }
}

# it_conf FILE CERT_DIR [SMIME-KEY=VALUE ...] < rules
# A config for offline runs: logs, statistics and spool under $T, the
# given smime options (e.g. cipher=aes-128-gcm), then the rule sections
# read from stdin.
it_conf() {
    local out=$1 certdir=$2 kv extra=""; shift 2
    for kv in "$@"; do extra="$extra  ${kv%%=*} = ${kv#*=}"; done
    mkdir -p "$T/run/log" "$T/run/stats" "$T/run/hist" "$T/run/spool"
    chmod 700 "$T/run/spool"
    {
        cat <<EOF
postmaster = "postmaster@example.com"
local_domains = {"example.com"}
milter { spool_dir = "$T/run/spool"  memory_limit = ${IT_MEMLIMIT:-1M}  on_error = tempfail }
log { file = true  directory = "$T/run/log"  verbose = true }
statistics { enabled = false  directory = "$T/run/stats" }
history { enabled = false  directory = "$T/run/hist" }
smime { cert_dir = "$certdir"  ca_file = "ca.pem" $extra }
EOF
        cat
    } >"$out"
}

# The usual rule sets.
RULES_OUT='smime_sign "ours" { from = "*@example.com"  to = "*"  certificate = "*" }
smime_encrypt "any" { from = "*"  to = "*"  certificate = "*" }'
RULES_SIGN='smime_sign "ours" { from = "*"  to = "*"  certificate = "*" }'
RULES_ENC='smime_encrypt "any" { from = "*"  to = "*"  certificate = "*" }'
RULES_IN='smime_verify "all" { from = "*"  to = "*"  verify = true }
smime_decrypt "all" { from = "*"  to = "*"  certificate = "*" }'

# cf_run CONF DIRECTION IN OUT FROM TO...: run "cryptofilter process";
# exit status in $CF_RC, stderr in $OUT.err.  Returns 0.
cf_run() {
    local conf=$1 dir=$2 in=$3 out=$4 from=$5 a; shift 5
    local -a to=()
    for a in "$@"; do to+=(--to "$a"); done
    "$CF" process -c "$conf" --direction "$dir" --from "$from" "${to[@]}" \
        <"$in" >"$out" 2>"$out.err"
    CF_RC=$?
    if [ "$CF_RC" -ge 128 ]; then
        echo "# CRASH: cryptofilter process exited $CF_RC on $in"
        tail -n 20 "$out.err" | sed 's/^/#   /'
    fi
    return 0
}

# hdr_is FILE NAME PREFIX: the (single) header NAME starts with PREFIX.
hdr_is() {
    local v n
    v=$($MT hdr "$1" "$2") || { echo "#   no $2 in $1"; return 1; }
    n=$(printf '%s\n' "$v" | wc -l)
    [ "$n" -eq 1 ] || { echo "#   $n $2 fields in $1"; return 1; }
    case "$v" in
    "$3"*) return 0;;
    esac
    echo "#   $2: $v (wanted $3...)"
    return 1
}

# same_text A B: the decoded text of the two messages/entities is equal.
same_text() {
    $MT text "$1" >"$T/.a" 2>/dev/null || { echo "#   no text in $1"; return 1; }
    $MT text "$2" >"$T/.b" 2>/dev/null || { echo "#   no text in $2"; return 1; }
    cmp -s "$T/.a" "$T/.b" && return 0
    echo "#   text differs: $1 vs $2"; diff "$T/.a" "$T/.b" | head -n 5 | sed 's/^/#   /'
    return 1
}

# same_entity MSG ENTITY: ENTITY (decrypted or signed content) is MSG's
# MIME entity (its Content-* fields and body), byte for byte after
# canonicalisation (CRLF, no trailing empty lines).
same_entity() {
    $MT entity "$1" >"$T/.e1" && $MT canon "$T/.e1" >"$T/.a" && $MT canon "$2" >"$T/.b" ||
        { echo "#   cannot read $1 or $2"; return 1; }
    cmp -s "$T/.a" "$T/.b" && return 0
    echo "#   entity differs: $1 vs $2"; diff "$T/.a" "$T/.b" | head -n 5 | sed 's/^/#   /'
    return 1
}

rc_is() {
    [ "$CF_RC" -eq "$1" ] && return 0
    echo "#   exit status $CF_RC, wanted $1"; sed 's/^/#   /' "$2.err" 2>/dev/null | tail -n 5
    return 1
}

# A plain text message with the usual traps for signatures: trailing white
# space, a line starting with "From ", one starting with "-", a dot line.
it_message() {
    local out=$1 from=${2:-alice@example.com} to=${3:-bob@example.com}
    printf '%s\n' "From: <$from>" "To: <$to>" "Subject: interop test $(basename "$out")" \
        "Date: Thu, 03 Dec 2026 17:00:00 +0000" "Message-ID: <$(basename "$out").$$@example.com>" \
        "MIME-Version: 1.0" "Content-Type: text/plain; charset=us-ascii" "" \
        "Hello Bob," "" "trailing space here " "From the start of a line" \
        "-- not a boundary" "." "last line" >"$out"
}

# The MIME entity of it_message's message (what gets signed / encrypted).
it_entity() {
    $MT entity "$1" >"$2"
}
