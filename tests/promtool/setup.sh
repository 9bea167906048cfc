#!/usr/bin/env bash
# promtool for tests/metrics.rs (`promtool check metrics`): Debian's
# prometheus package, pinned. Installs nothing when promtool is already on
# PATH. The package's service is not started: a policy-rc.d refusing
# service starts is in place for the install.
set -euo pipefail

PINNED="2.42.0+ds-5+b6"

if command -v promtool >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "promtool: not found and no apt-get here; install Prometheus' promtool" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    made_policy=1
fi
trap '[ "$made_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update
if ! apt-get install -y --no-install-recommends "prometheus=$PINNED"; then
    # A rebuild of the same release replaces the pinned one in the archive.
    echo "promtool: prometheus=$PINNED is gone from the archive; installing the candidate" >&2
    apt-get install -y --no-install-recommends prometheus
fi
promtool --version
