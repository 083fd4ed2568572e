#!/bin/bash
# cryptofilter check and the daemons' -t: the shipped sample passes (with a
# cert_dir that exists), a broken file prints every error as FILE:LINE and
# exits 78, a missing file exits 78.
set -u
top=${CF_SRCDIR:-$(pwd)}
bin=$top/build
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }

mkdir -p "$tmp/cert"
sed "s|/etc/cryptofilter/cert|$tmp/cert|" "$top/etc/cryptofilter.conf" > "$tmp/sample.conf"

out=$("$bin/cryptofilter" check -c "$tmp/sample.conf" 2>"$tmp/err"); rc=$?
check "sample config passes check" '[ $rc -eq 0 ] && [ "$out" = "configuration OK" ]'
line=$(grep -n '^ *ca_file' "$top/etc/cryptofilter.conf" | cut -d: -f1)
check "unreadable ca_file is a warning with its line" \
    'grep -q "sample.conf:$line: warning: smime: ca_file" "$tmp/err"'
touch "$tmp/cert/ca.pem"
out=$("$bin/cryptofilter" check -c "$tmp/sample.conf" 2>&1); rc=$?
check "with a CA file: no warning at all" '[ $rc -eq 0 ] && [ "$out" = "configuration OK" ]'
for d in cryptofilter-milter cryptofilter-policyd; do
    out=$("$bin/$d" -t -c "$tmp/sample.conf" 2>&1); rc=$?
    check "$d -t accepts the sample" '[ $rc -eq 0 ] && echo "$out" | grep -q "configuration OK"'
done

# The sample as shipped names /etc/cryptofilter/cert: on a machine without
# it, check must say so with the line of cert_dir.
if [ ! -d /etc/cryptofilter/cert ]; then
    out=$("$bin/cryptofilter" check -c "$top/etc/cryptofilter.conf" 2>&1); rc=$?
    line=$(grep -n '^ *cert_dir' "$top/etc/cryptofilter.conf" | cut -d: -f1)
    check "missing cert_dir reported at its line" \
        '[ $rc -eq 78 ] && echo "$out" | grep -q "cryptofilter.conf:$line: smime: cert_dir"'
fi

cd "$top"
out=$("$bin/cryptofilter" check -c t/unit/data/bad.conf 2>/dev/null); rc=$?
err=$("$bin/cryptofilter" check -c t/unit/data/bad.conf 2>&1 >/dev/null)
check "bad config exits 78" '[ $rc -eq 78 ]'
check "bad config prints nothing on stdout" '[ -z "$out" ]'
check "every error of bad.conf, as in the golden file" \
    '[ "$(echo "$err" | grep -v "errors$")" = "$(cat t/unit/data/bad.conf.ref)" ]'
for d in cryptofilter-milter cryptofilter-policyd; do
    "$bin/$d" -t -c t/unit/data/bad.conf >/dev/null 2>&1; rc=$?
    check "$d -t rejects bad.conf with 78" '[ $rc -eq 78 ]'
done

"$bin/cryptofilter" check -c /nonexistent.conf >/dev/null 2>&1; rc=$?
check "missing file exits 78" '[ $rc -eq 78 ]'
"$bin/cryptofilter" check -c "$tmp/sample.conf" extra >/dev/null 2>&1; rc=$?
"$bin/cryptofilter" frobnicate >/dev/null 2>&1; rc2=$?
check "unknown command is a usage error" '[ $rc2 -eq 64 ]'
exit $fail
