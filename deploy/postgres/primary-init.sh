#!/bin/sh
# Runs once, when the primary's data folder is first created (docker-entrypoint-initdb.d):
# let the standby stream from it, and keep the WAL the standby has not received yet.
set -eu
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" \
    -c "SELECT pg_create_physical_replication_slot('fuze_replica_1')"
