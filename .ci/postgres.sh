#!/usr/bin/env bash
# Make sure the PostgreSQL server binaries are installed, for the tests that run the store
# on PostgreSQL (tests/pg_server.py starts a private server in a temporary folder, as an
# unprivileged account, and stops it at the end). Installs Debian's packages when they are
# missing; the server the packages would start for themselves is not wanted, so no
# cluster is created by the install.
set -euo pipefail

have_postgres() {
  command -v pg_ctl >/dev/null 2>&1 && return 0
  compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null 2>&1
}

have_postgres && exit 0
echo "installing PostgreSQL for the tests that run the store on it"
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }
if ! [ -e /etc/postgresql-common/createcluster.conf ]; then
  as_root mkdir -p /etc/postgresql-common
  echo "create_main_cluster = false" | as_root tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
if ! (as_root apt-get update -qq && \
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null 2>&1; then
  echo "could not install PostgreSQL (apt-get install postgresql); the store's PostgreSQL tests" \
       "skip without it, and fail in CI" >&2
  [ -z "${CI:-}" ] || exit 1
  exit 0
fi
have_postgres
