#!/usr/bin/env bash
# promtool for tests/metrics.rs (`promtool check metrics`): Debian's
# prometheus package, pinned, its service not started (tests/apt/install.sh).
# Installs nothing when promtool is already on PATH.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
    exit 0
fi
bash "$(dirname "$0")/../apt/install.sh" prometheus "2.42.0+ds-5+deb12u1"
promtool --version
