#!/usr/bin/env bash
# Install the Kannel SMS gateway (bearerbox, smsbox) and its test tools (fakesmsc, in
# kannel-extras) from the Debian packages, unless they are already there. Needs root.
# Idempotent and silent when nothing is missing; used by .ci/run before the test suite.
set -euo pipefail

if [[ -x /usr/sbin/bearerbox && -x /usr/lib/kannel/test/fakesmsc ]]; then
  exit 0
fi

install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends kannel kannel-extras
}

echo "Installing kannel and kannel-extras"
if ! install; then
  # Stale or missing package lists (fresh container): refresh them once and retry.
  apt-get update
  install
fi

# Fail loudly if the packages did not bring what the tests start.
test -x /usr/sbin/bearerbox && test -x /usr/lib/kannel/test/fakesmsc
