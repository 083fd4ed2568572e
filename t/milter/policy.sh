#!/bin/bash
# Each smime_inbound_policy action through the milter (see policy.lua),
# with the final action in the statistics.
. "$(dirname "$0")/lib.sh"
mt_setup
WHY=${WHY:-the message is not signed}
for action in reject ndr tempfail discard hold forward-postmaster \
              encapsulate-postmaster encapsulate-recipient; do
    mt_config "$action" "
smime_verify \"all\" { from = \"*\"  to = \"*\"  verify = true }
smime_inbound_policy \"q\" { from = \"*\"  to = \"*\"  when = {not-signed}  action = $action }"
    mt_start "$action"
    mt_lua policy.lua ACTION="$action" WHY="$WHY" || fail "policy.lua $action"
    mt_stop
    q=POL${action//-/}
    grep ",in,$q," "$MT_DIR"/stats/SR*.CSV | grep -q ",$action\$" \
        || fail "SR row of $q: $(grep ",$q," "$MT_DIR"/stats/SR*.CSV)"
done
# A '%' in the reply text is doubled, or libmilter would drop the text
mt_config pct "
smime_verify \"all\" { from = \"*\"  to = \"*\"  verify = true }
smime_inbound_policy \"q 100%\" { from = \"*\"  to = \"*\"  when = {not-signed}  action = reject }"
mt_start pct
mt_lua policy.lua ACTION=reject WHY="$WHY" RULE='q 100%%' || fail "policy.lua with a % in the text"
mt_stop

# Only messages handed on count as sent; inbound ones never do.
[ ! -e "$(ls "$MT_DIR"/stats/SS*.CSV 2>/dev/null | head -1)" ] || fail "SS row for inbound mail"
echo "policy: ok"
