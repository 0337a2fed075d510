#!/usr/bin/env bash
# Installs what the test suite needs beyond Java and Maven; called by `./chunkserve test`.
set -euo pipefail
# The browser test (service: BrowserPagesTest) drives Debian's Chromium through playwright-core
# (npm, pinned in client-examples/browser) and fails when either is missing: install them here.
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=
apt_install() {
  [ -n "$apt_updated" ] || { as_root apt-get update -q; apt_updated=1; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ] || ! command -v npm >/dev/null; then
  echo ".ci/run: Node.js >= 20 with npm is needed for the browser test (found ${node_major:-none})" >&2
  apt_install nodejs npm
fi

