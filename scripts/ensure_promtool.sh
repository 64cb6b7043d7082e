#!/usr/bin/env bash
# The alerting rules (deploy/prometheus/alerts.yml) are checked by `promtool check rules` in the
# tests. promtool comes with Debian's `prometheus` package: install it when missing and we may;
# otherwise the test says why it skips (or fails, with REQUIRE_SERVICES=1).
if command -v promtool >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo ">> Installing Debian's prometheus (for promtool) for the alert-rule tests..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) >/dev/null \
    || echo ">> Could not install prometheus; the alert-rule test will report it."
else
  echo ">> promtool is missing (install Debian's 'prometheus' package); the alert-rule test will report it."
fi
