#!/usr/bin/env bash
# The browser tests drive Debian's chromium through Playwright (Playwright's own browser download
# is not used). Install it when missing and we may; otherwise the browser tests say why they skip.
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo ">> Installing Debian's chromium for the browser tests..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null \
    || echo ">> Could not install chromium; the browser tests will report it."
else
  echo ">> /usr/bin/chromium is missing (install Debian's 'chromium' package); the browser tests will report it."
fi
