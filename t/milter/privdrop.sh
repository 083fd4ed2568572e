#!/bin/bash
# Secrets first, privileges after: started as root, the milter loads the
# private keys, then runs as an unprivileged user who cannot read them; it
# must still sign with them, and keep them across
# a SIGHUP reload.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "needs root to drop privileges"; exit 77; }
id nobody >/dev/null 2>&1 || { echo "no user nobody"; exit 77; }
mt_setup
mt_config privdrop '
smime_sign    "ours" { from = "*@example.com"  to = "*"  certificate = "*" }
smime_decrypt "all"  { from = "*"  to = "*"  certificate = "*" }'
sed -i 's/^\(milter { .*\)user = "[^"]*"/\1user = "nobody"/' "$MT_DIR/privdrop.conf"
grep -q 'user = "nobody"' "$MT_DIR/privdrop.conf" || fail "could not set milter.user"
# nobody may reach the socket, spool, log and statistics, but not priv/.
chmod 711 "$MT_DIR" "$MT_DIR/pki" "$MT_DIR/pki/cert"
chown nobody "$MT_DIR/spool" "$MT_DIR/log" "$MT_DIR/stats" "$MT_DIR/hist"
chmod 700 "$MT_DIR/pki/cert/priv" "$MT_DIR/pki/cert/priv/alt"
chmod -R a+rX "$MT_DIR/pki/cert/pub" && chmod a+r "$MT_DIR/pki/cert/ca.pem"
su nobody -s /bin/sh -c "cat '$MT_DIR/pki/cert/priv/alice@example.com.pem'" >/dev/null 2>&1 &&
    fail "test set-up: nobody can read the key"

mt_start privdrop
[ "$(stat -c %U /proc/$MT_PID)" = nobody ] || fail "milter does not run as nobody"
grep -q "private keys loaded from" "$MT_DIR/milter.out" || fail "no preload log line"
mt_lua one.lua QID=PRIV1 DAEMON=ORIGINATING FROM=alice@example.com TO=dave@partner.com ||
    fail "message from alice"
kill -HUP "$MT_PID"; sleep 0.3
mt_lua one.lua QID=PRIV2 DAEMON=ORIGINATING FROM=alice@example.com TO=dave@partner.com ||
    fail "message after SIGHUP"
mt_stop
for q in PRIV1 PRIV2; do
    grep ",out,$q," "$MT_DIR"/stats/SR*.CSV | grep -q ",sign," ||
        fail "$q was not signed: $(grep "$q" "$MT_DIR"/stats/SR*.CSV)"
done
grep -q "no signing key" "$MT_DIR/milter.out" "$MT_DIR"/log/MB*.LOG && fail "a key went missing"
echo "privdrop: ok"
