#!/bin/sh
# npm run setup:bench: what `npm run bench` runs, from Debian's packages (as root):
# wrk, and the peers' servers, which the benchmark starts itself on loopback
# with data directories of its own. Idempotent: nothing is fetched when all are there.
set -eu

have() {
  command -v wrk >/dev/null &&
    command -v redis-server >/dev/null &&
    test -x /usr/lib/rabbitmq/bin/rabbitmq-server &&
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}
have && exit 0

# The packages' own services (on their default ports, RabbitMQ's on every
# interface) are not what the benchmark runs: a policy-rc.d that answers 101
# keeps invoke-rc.d from starting them during the install
# (/usr/share/doc/init-system-helpers/README.policy-rc.d.gz). One already in
# place is left as it is.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y wrk rabbitmq-server redis-server postgresql
have
