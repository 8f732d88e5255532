#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
# Install it when missing and we may; otherwise the browser tests skip with the reason.
set -u
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core) \
    >/tmp/modelreg-apt-chromium.log 2>&1 || echo "note: chromium install failed (see /tmp/modelreg-apt-chromium.log); browser tests will skip"
else
  echo "note: /usr/bin/chromium missing and cannot install it; browser tests will skip"
fi
exit 0
