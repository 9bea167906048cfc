#!/usr/bin/env bash
# Installs one Debian package for the tests, pinned: `install.sh PACKAGE
# VERSION`. When the archive no longer has VERSION (a rebuild or point
# release replaced it), installs the archive's candidate of PACKAGE and
# says so. The package's services are not started: a policy-rc.d refusing
# service starts is in place for the install.
set -euo pipefail

package="$1"
pinned="$2"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "$package: not installed and no apt-get here; install $package" >&2
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
if ! apt-get install -y --no-install-recommends "$package=$pinned"; then
    echo "$package: $package=$pinned is gone from the archive; installing the candidate" >&2
    apt-get install -y --no-install-recommends "$package"
fi
