#!/bin/sh
# What the test suite needs beyond Python packages, installed before pytest runs
# (`make test` calls this; CI calls `make test`): headless Chromium and a CJK font for the
# tests that look at the rendered status page (tests/browser.py). Without a CJK font
# Chromium draws the Chinese names as empty boxes.
#
# Debian, as root: installed with apt-get, and a failed install fails the run (the browser
# could be had, so its tests must not quietly skip). Elsewhere nothing is installed and the
# browser tests skip, saying why.
# A lock keeps two test runs from installing at once; apt's own lock would make one fail.
set -eu

packages=""
[ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1 || packages="chromium"
fc-list :lang=zh 2>/dev/null | grep -q . || packages="$packages fonts-noto-cjk"
if [ -z "$packages" ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "test-setup: not installing$packages (needs root and apt-get);" \
        "the tests that need it will skip" >&2
    exit 0
fi

exec 9>/var/lock/fednode-test-setup.lock
flock 9

export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -q
# shellcheck disable=SC2086  # the package list is meant to split
apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends $packages
