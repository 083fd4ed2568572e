#!/bin/bash
# "make run" cannot rot: run postfix-example/demo.sh in its self-test mode
# (it sends the three demo messages and checks what arrives), in a scratch
# directory so a demo the user left in build/demo is not touched.
set -u
SRC=${CF_SRCDIR:-$(pwd)}
command -v swaks >/dev/null || { echo "no swaks"; exit 77; }
T=$(mktemp -d)
chmod 0755 "$T"	# user postfix must reach the instance below it
trap 'rm -rf "$T"' EXIT
out=$T/out
# Not 2525/2587: a user's demo or another test run may hold them.
fp() { /usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
DEMO_SELFTEST=1 DEMO_DIR=$T/demo DEMO_IN_PORT=$(fp) DEMO_OUT_PORT=$(fp) \
    "$SRC/postfix-example/demo.sh" >"$out" 2>&1
rc=$?
cat "$out"
[ $rc = 0 ] || { echo "FAIL: demo self-test exited $rc"; exit 1; }
grep -q 'demo: self-test passed' "$out" || { echo "FAIL: no 'self-test passed'"; exit 1; }
[ "$(grep -c '^  ok ' "$out")" -ge 10 ] || { echo "FAIL: fewer than 10 checks passed"; exit 1; }
grep -q '^  FAIL' "$out" && { echo "FAIL: a check failed"; exit 1; }
# Everything it started is gone.
pgrep -f "$T/demo" >/dev/null && { echo "FAIL: demo processes left running"; pgrep -af "$T/demo"; exit 1; }
echo "demo OK"
