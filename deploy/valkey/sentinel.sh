#!/bin/sh
# One of the three sentinels watching the Valkey primary `valkey` (named `fuze`). A sentinel
# rewrites its own configuration as it learns the replicas and follows a failover, so the file
# lives in the sentinel's volume and is written only on the first start: a restarted sentinel
# keeps the primary it last knew rather than going back to `valkey`.
set -eu
conf=/data/sentinel.conf
if [ ! -s "$conf" ]; then
    cat > "$conf" <<CONF
port 26379
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip ${SENTINEL_HOST}
sentinel monitor fuze valkey 6379 2
sentinel down-after-milliseconds fuze ${DOWN_AFTER_MS:-5000}
sentinel failover-timeout fuze 60000
sentinel parallel-syncs fuze 1
CONF
fi
exec valkey-sentinel "$conf"
