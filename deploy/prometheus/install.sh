#!/usr/bin/env bash
# Install Prometheus and promtool from Debian's `prometheus` package, unless they are already there.
# Needs root. Idempotent and silent when nothing is missing; used by .ci/run before the test suite
# and by hand before the observability tests (tests/integration/test_prometheus.py, the rule tests).
# The tests never use the package's own service (port 9090, if an init starts it): they start
# their own Prometheus on a free port with a scratch data directory.
set -euo pipefail

if [[ -x /usr/bin/prometheus && -x /usr/bin/promtool ]]; then
  exit 0
fi

install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
}

echo "Installing prometheus (prometheus, promtool)"
if ! install; then
  # Stale or missing package lists (fresh container): refresh them once and retry.
  apt-get update -qq
  install
fi

# Fail loudly if the package did not bring what the tests start.
test -x /usr/bin/prometheus && test -x /usr/bin/promtool
