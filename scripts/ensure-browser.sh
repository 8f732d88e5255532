#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
# Install it when missing and we may. Locally a Chromium still missing only makes the browser
# tests skip with the reason; under CI (CI=true, which .ci/run exports) it fails here.
set -u
CHROMIUM=${MODELREG_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then exit 0; fi
if [ "$CHROMIUM" = /usr/bin/chromium ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core) \
    >/tmp/modelreg-apt-chromium.log 2>&1 || echo "chromium install failed (see /tmp/modelreg-apt-chromium.log)"
fi
if [ -x "$CHROMIUM" ]; then exit 0; fi
case "${CI:-}" in
  1|true|TRUE|True|yes)
    echo "error: Chromium not found at $CHROMIUM (apt-get install chromium; required under CI=true)" >&2
    exit 1 ;;
esac
echo "note: Chromium not found at $CHROMIUM; the browser tests will skip"
exit 0
