#!/bin/sh
# Certificate store with 10,000 certificates: time of one cached lookup
# (one stat() and a hash lookup), measured by the certstore unit test.
top=${CF_SRCDIR:-$(pwd)}
bin=$top/build/unit/test_certstore
[ -x "$bin" ] || make -s -C "$top" build/unit/test_certstore >/dev/null || exit 1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
us=$(cd "$top" && CF_SRCDIR=$top CF_TMPDIR=$tmp "$bin" 2>/dev/null |
     sed -n 's/^certstore: \([0-9.]*\) us per cached lookup among 10000 certificates$/\1/p')
[ -n "$us" ] || { echo "certstore bench: no figure" >&2; exit 1; }
echo "bench: certstore_lookup_10k = $us us"
