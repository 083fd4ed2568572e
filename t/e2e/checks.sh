# checks.sh - counting checks for the policyd end-to-end scripts (sourced;
# not a test itself, so not executable).
#   ok MSG / bad MSG          count a check; bad prints FAIL and counts it
#   expect WHAT RC WANTRC [PATTERN]
#                             swaks' exit status RC must be WANTRC and, when
#                             given, PATTERN must be in its transcript
#                             ($PF_DIR/log/swaks.last)
# A script ends with  [ "$fails" -eq 0 ]  so any bad check fails it.
fails=0
ok()   { echo "ok   $*"; }
bad()  { echo "FAIL $*"; fails=$((fails + 1)); }
expect() {
    local what=$1 rc=$2 want=$3 pat=${4:-}
    if [ "$rc" -ne "$want" ]; then
	bad "$what: swaks exit $rc, wanted $want"
	tail -n 15 "$PF_DIR/log/swaks.last" | sed 's/^/    /'
    elif [ -n "$pat" ] && ! grep -qE "$pat" "$PF_DIR/log/swaks.last"; then
	bad "$what: no /$pat/ in the transcript"
	tail -n 15 "$PF_DIR/log/swaks.last" | sed 's/^/    /'
    else
	ok "$what"
    fi
}
