#!/usr/bin/env bash
# Form a group on the Docker Compose testnet (deploy/docker-compose.yml) and check delivery:
# node1 creates a sector group, invites nodes 2..6 by their contact cards (`trellis id`), each
# joins with its token, node1 publishes a TLP:GREEN advisory, and the script waits until all
# 6 nodes list it. The same flow as local-testnet.sh (both use flow.sh), which runs without
# Docker.
#
#   deploy/testnet/form-group.sh            # brings the testnet up (build, wait healthy) first
#   DOWN=1 deploy/testnet/form-group.sh     # ... and removes it (and its volumes) at exit
#
# Needs docker with the compose plugin, and jq on the host. Each run uses a new group name
# (GROUP, default testnet-HHMMSS), so it can be rerun against the same nodes. WAIT_SECS
# (default 60) bounds every wait. Exits non-zero, printing the nodes' logs, on failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
compose=(docker compose -f "$here/../docker-compose.yml")
NODES=6
GROUP=${GROUP:-testnet-$(date +%H%M%S)}
# shellcheck source=deploy/testnet/flow.sh
source "$here/flow.sh"

command -v jq >/dev/null || { echo "jq is required on the host (apt-get install jq)" >&2; exit 2; }
"${compose[@]}" version >/dev/null 2>&1 ||
    { echo "docker compose is required (the Docker Compose plugin and a running engine)" >&2; exit 2; }

ok=0
finish() {
    local status=$?
    trap - EXIT
    if [ "$ok" != 1 ]; then
        "${compose[@]}" logs --no-color --tail 40 >&2 || true
    fi
    if [ "${DOWN:-0}" = 1 ]; then
        say "removing the testnet"
        "${compose[@]}" down -v || true
    else
        say "testnet left running; remove it with: docker compose -f deploy/docker-compose.yml down -v"
    fi
    exit "$status"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cli() { # N ARGS... : trellis --json ARGS... inside container nodeN
    local n=$1
    shift
    "${compose[@]}" exec -T "node$n" trellis --home /data --json "$@"
}

say "starting the testnet (docker compose up -d --build --wait)"
"${compose[@]}" up -d --build --wait
for i in $(seq 1 "$NODES"); do
    say "node$i: $(cli "$i" status | jq -c '{fingerprint, name, peer_id, peers}')"
done

form_group
ok=1
