#!/bin/sh
# Create (or bring up to date) one centre's PostgreSQL database and roles: deploy/postgres/setup.sql.
#
#   deploy/postgres/setup.sh CENTRE [PSQL-CONNINFO]
#
# CENTRE: the 15-digit centre code. PSQL-CONNINFO: a superuser connection (default: psql's
# environment, e.g. PGHOST/PGUSER, or "postgres://postgres@127.0.0.1:5432/postgres").
# Run it before the node's first start, again once the node has started (it hands the
# tables the node created to the owner role and applies the grants), and after every
# upgrade. Passwords, when set, come from HFX_OWNER_PASSWORD, HFX_APP_PASSWORD and
# HFX_AUDIT_PASSWORD (never on the command line: it shows in `ps`).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 CENTRE [PSQL-CONNINFO]" >&2
    exit 2
fi
centre=$1
case $centre in
    *[!0-9]*|'') echo "$0: CENTRE must be 15 digits" >&2; exit 2 ;;
esac
if [ ${#centre} -ne 15 ]; then
    echo "$0: CENTRE must be 15 digits" >&2
    exit 2
fi
command -v psql >/dev/null || { echo "$0: psql not found (apt-get install postgresql-client)" >&2; exit 1; }
set -- ${2:+"$2"}
psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 -v centre="$centre" -f "$here/setup.sql" "$@"
echo "store URL for node.toml: postgres://hfx_${centre}_app@<host>:5432/hfx_${centre}"
echo "password, if any: in PGPASSFILE (host:5432:hfx_${centre}:hfx_${centre}_app:<password>)"
