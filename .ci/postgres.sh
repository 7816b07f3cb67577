#!/usr/bin/env bash
# Install (Debian package) and start a PostgreSQL server on 127.0.0.1:5432 with a `recsys` role
# and an empty `recsys_test` database. Safe to run again: it reuses what is already there.
set -euo pipefail

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
fi

version="$(ls /usr/lib/postgresql | sort -V | tail -1)"
if ! pg_lsclusters -h | grep -q "^${version} main"; then
    pg_createcluster "${version}" main >/dev/null
fi
if ! pg_lsclusters -h | grep -q "^${version} main .* online"; then
    pg_ctlcluster "${version}" main start
fi

for _ in $(seq 1 60); do
    if su postgres -c "pg_isready -q -h 127.0.0.1 -p 5432"; then break; fi
    sleep 1   # waiting for an external server process, not synchronising our own code
done

su postgres -c "psql -q -p 5432 -tc \"SELECT 1 FROM pg_roles WHERE rolname='recsys'\"" | grep -q 1 \
    || su postgres -c "psql -q -p 5432 -c \"CREATE ROLE recsys LOGIN PASSWORD 'recsys' CREATEDB\""
su postgres -c "psql -q -p 5432 -tc \"SELECT 1 FROM pg_database WHERE datname='recsys_test'\"" | grep -q 1 \
    || su postgres -c "psql -q -p 5432 -c \"CREATE DATABASE recsys_test OWNER recsys\""
echo "PostgreSQL ${version} ready on 127.0.0.1:5432"
