#!/usr/bin/env bash
# PostgreSQL server binaries for the tests that run the store on
# PostgreSQL (tests/support/postgres.rs starts a throwaway server on
# loopback from them): Debian's postgresql-15, pinned (tests/apt/install.sh;
# when a point release replaces the pin, the archive's 15.x: the major
# version is what the on-disk format and the schema depend on). Installs
# nothing when initdb and pg_ctl are already there. The package's own
# cluster is not started; the tests start their own servers.
set -euo pipefail

BIN="/usr/lib/postgresql/15/bin"
if [ ! -x "$BIN/initdb" ] || [ ! -x "$BIN/pg_ctl" ]; then
    bash "$(dirname "$0")/../apt/install.sh" postgresql-15 "15.18-0+deb12u1"
fi
"$BIN/postgres" --version
