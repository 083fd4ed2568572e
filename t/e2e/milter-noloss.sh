#!/bin/bash
# Never lose mail: 200 outbound messages (smtp-source, 10 at a time, one
# message per client so every reply is counted) while the milter is killed
# with SIGKILL and restarted a second later.  Every message must be either
# accepted (250) and then delivered signed and encrypted, or refused with a
# 4xx so the client retries: nothing accepted and dropped, nothing passed
# through unencrypted, no 5xx.
set -u
. "${CF_SRCDIR:-.}/t/lib/postfix.sh"
command -v smtp-source >/dev/null || { echo "no smtp-source"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
N=${NOLOSS_MESSAGES:-200}

pf_setup
pf_cf_conf "$PF_DIR/cf.conf" <<'CONF'
smime_sign    "ours" { from = "*@example.com"  to = "*"  certificate = "*" }
smime_encrypt "any"  { from = "*"  to = "*"  certificate = "*" }
CONF
pf_gateway "$PF_DIR/cf.conf"
pf_main "in_flow_delay = 0"
sink_start
pf_milter_start "$PF_DIR/cf.conf" || fail "milter did not start"
pf_start

R=$PF_DIR/replies
mkdir -p "$R"
export R PF_OUT_PORT
seq "$N" | xargs -P 10 -I{} sh -c \
    'smtp-source -m 1 -l 1024 -f alice@example.com -t dave@partner.com -S "noloss {}" \
	127.0.0.1:$PF_OUT_PORT >"$R/{}.out" 2>&1; echo $? >"$R/{}.rc"' &
sender=$!
pf_bg_track "$sender"

done_count() { ls "$R" | grep -c '\.rc$'; }
# Kill the milter once a third of the messages are through.
for _ in $(seq 300); do
    [ "$(done_count)" -ge $((N / 3)) ] && break
    sleep 0.02
done
killed_at=$(done_count)
kill -KILL "$PF_MILTER_PID" || fail "could not kill the milter"
wait "$PF_MILTER_PID" 2>/dev/null
sleep 1
pf_milter_start "$PF_DIR/cf.conf" || fail "milter did not restart"
wait "$sender"
[ "$(done_count)" = "$N" ] || fail "only $(done_count) of $N clients finished"

accepted=0 refused=0 other=0
for i in $(seq "$N"); do
    if [ "$(cat "$R/$i.rc")" = 0 ]; then
	accepted=$((accepted + 1))
    elif grep -qE '(^| )4[0-9][0-9][ -]' "$R/$i.out"; then
	refused=$((refused + 1))
    else
	other=$((other + 1))
	echo "message $i: $(cat "$R/$i.out")" >&2
    fi
done
echo "killed after $killed_at; accepted $accepted, refused 4xx $refused, other $other"
[ "$other" = 0 ] || fail "$other messages got neither 250 nor 4xx"
[ $((accepted + refused)) = "$N" ] || fail "accepted + refused != $N"
[ "$refused" -ge 1 ] || fail "no message was refused: the milter was not down while mail came in"
[ "$accepted" -ge $((N / 3)) ] || fail "only $accepted accepted"

pf_wait_queue_empty 60 || fail "queue not empty"
sink_wait "$accepted" 10 || fail "accepted $accepted, delivered $(sink_count)"
sleep 0.5
[ "$(sink_count)" = "$accepted" ] || fail "accepted $accepted, delivered $(sink_count)"
[ "$(pf_queue_count hold)" = 0 ] || fail "messages on hold"
plain=$(grep -Li '^Content-Type: application/\(x-\)\?pkcs7-mime' "$PF_SINK_DIR"/*.eml | wc -l)
[ "$plain" = 0 ] || fail "$plain delivered messages are not encrypted"
# Each accepted message arrived once: their subjects are distinct.
n=$(grep -h '^Subject: noloss' "$PF_SINK_DIR"/*.eml | sort -u | wc -l)
[ "$n" = "$accepted" ] || fail "$n distinct subjects among $accepted deliveries"
echo "noloss OK"
