#!/bin/sh
# nginx for the TLS end-to-end test (tests/e2e/test_nginx_tls.py), which runs it as an
# unprivileged process with its own config: installed with apt-get when missing and root.
# Never fails the build: without nginx that one test is skipped and says why.
set -u
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-nginx: not root or no apt-get; the nginx TLS test will be skipped" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q nginx >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1
    apt-get install -y -q nginx >/dev/null 2>&1 ||
        echo "install-nginx: apt-get could not install nginx; the nginx TLS test will be skipped" >&2
fi
exit 0
