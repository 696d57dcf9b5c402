#!/bin/sh
# A streaming standby of the `postgres` service. On the first start its data folder is empty:
# copy the primary with pg_basebackup -R (which writes standby.signal and primary_conninfo),
# streaming through the replication slot that primary-init.sh created. Later starts resume
# streaming from where the standby stopped.
set -eu
: "${PGDATA:=/var/lib/postgresql/18/docker}"
: "${PRIMARY_HOST:=postgres}"
: "${REPLICATION_SLOT:=fuze_replica_1}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_isready -q -h "$PRIMARY_HOST" -U "$POSTGRES_USER"; do sleep 1; done
    mkdir -p "$PGDATA"
    chmod 700 "$PGDATA"
    PGPASSWORD="$POSTGRES_PASSWORD" pg_basebackup -h "$PRIMARY_HOST" -U "$POSTGRES_USER" \
        -D "$PGDATA" -R -X stream -S "$REPLICATION_SLOT" --checkpoint=fast
fi
# hot_standby_feedback: the primary keeps the rows a standby's running query still reads, so
# searches on the standby are not cancelled by the primary's vacuum.
exec postgres -D "$PGDATA" -c hot_standby=on -c hot_standby_feedback=on "$@"
