#!/bin/sh
# Install the Debian packages that building, testing and "make run" need,
# when any is missing.  Postfix is preseeded to "No configuration" so that
# nothing is configured or started system-wide.
PKGS="build-essential clang libclang-rt-14-dev pkg-config libssl-dev openssl
      libconfuse-dev libmilter-dev libcmocka-dev miltertest postfix swaks
      libnet-ssleay-perl python3-aiosmtpd gpgsm postfwd procps"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
    echo "missing packages:$missing" >&2
    echo "run as root:" >&2
    echo "  echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections" >&2
    echo "  DEBIAN_FRONTEND=noninteractive apt-get update && DEBIAN_FRONTEND=noninteractive $cmd" >&2
    exit 1
fi
echo "installing:$missing"
echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || exit 1
# No daemon may start system-wide during the install.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
$cmd -qq
