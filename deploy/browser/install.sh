#!/usr/bin/env bash
# Install what the browser tests drive: Debian's chromium (no browser download: Playwright for
# Python is pointed at /usr/bin/chromium) and a font with Chinese glyphs (fonts-wqy-microhei), so
# the screenshots show the pages as a resident sees them. Needs root. Idempotent and silent when
# nothing is missing; used by .ci/run before the test suite.
set -euo pipefail

if [[ -x /usr/bin/chromium && -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]]; then
  exit 0
fi

install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-wqy-microhei
}

echo "Installing chromium and fonts-wqy-microhei"
if ! install; then
  # Stale or missing package lists (fresh container): refresh them once and retry.
  apt-get update
  install
fi

# Fail loudly if the packages did not bring what the tests start.
test -x /usr/bin/chromium
