#!/usr/bin/env bash
# tests/deploy/test_nginx.py runs deploy/nginx/concierge.conf with Debian's nginx. Install it
# when missing and we may (without starting the system's own nginx); otherwise the test says why.
if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo ">> Installing Debian's nginx-light for the load-balancer test..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq nginx-light) >/dev/null \
    || echo ">> Could not install nginx; the load-balancer test will report it."
else
  echo ">> nginx is missing (install Debian's 'nginx-light'); the load-balancer test will report it."
fi
