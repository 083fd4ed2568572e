#!/bin/bash
# make install with PREFIX and DESTDIR puts binaries, man pages, the sample
# configuration and systemd units where they belong.
set -u
top=${CF_SRCDIR:-$(pwd)}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
make -s -C "$top" install PREFIX=/opt/cf DESTDIR="$tmp" UNITDIR=/lib/systemd/system >"$tmp/log" 2>&1 ||
    { cat "$tmp/log"; echo "FAIL: make install"; exit 1; }
for f in opt/cf/sbin/cryptofilter-milter opt/cf/sbin/cryptofilter-policyd opt/cf/sbin/cryptofilter \
         opt/cf/share/man/man8/cryptofilter-milter.8 opt/cf/share/man/man8/cryptofilter-policyd.8 \
         opt/cf/share/man/man8/cryptofilter.8 opt/cf/share/man/man5/cryptofilter.conf.5 \
         etc/cryptofilter.conf.sample lib/systemd/system/cryptofilter-milter.service \
         lib/systemd/system/cryptofilter-policyd.service; do
    if [ -s "$tmp/$f" ]; then echo "ok: $f"; else echo "FAIL: $f missing"; fail=1; fi
done
[ -x "$tmp/opt/cf/sbin/cryptofilter" ] || { echo "FAIL: not executable"; fail=1; }
for u in "$tmp"/lib/systemd/system/*.service; do
    grep -q '^Type=simple$' "$u" && grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$u" &&
        grep -q '^User=cryptofilter$' "$u" || { echo "FAIL: $u lacks Type/ExecReload/User"; fail=1; }
done
for m in "$tmp"/opt/cf/share/man/man*/*; do
    w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$m" 2>&1 >/dev/null)
    [ -z "$w" ] || { echo "FAIL: man warnings in $m: $w"; fail=1; }
done
[ $fail -eq 0 ] && echo "install layout OK"
exit $fail
