#!/usr/bin/env bash
# A 6-node Trellis testnet of local processes on 127.0.0.1, no Docker: the same flow as
# form-group.sh (flow.sh), runnable on any Linux or macOS machine with the binaries built.
#
#   cargo build -p trellis-daemon -p trellis-cli
#   deploy/testnet/local-testnet.sh            # exits 0 when all 6 nodes list the advisory
#
# Each node gets a temporary home and a free port (--listen /ip4/127.0.0.1/tcp/0); nodes 2..6
# bootstrap to the address node1 prints when it is ready. node1 creates a sector group,
# invites every other node by its contact card, each joins with its token, node1 publishes a
# TLP:GREEN advisory and the script waits until every node lists it.
#
# Environment: NODES (default 6), BIN_DIR (default <repo>/target/debug), WAIT_SECS (default
# 60, per wait), KEEP=1 keeps the homes and logs. The nodes' logs are printed on failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN_DIR=${BIN_DIR:-$here/../../target/debug}
NODES=${NODES:-6}
# shellcheck source=deploy/testnet/flow.sh
source "$here/flow.sh"

for b in trellisd trellis; do
    [ -x "$BIN_DIR/$b" ] || { echo "no $BIN_DIR/$b: run cargo build -p trellis-daemon -p trellis-cli (or set BIN_DIR)" >&2; exit 2; }
done
command -v jq >/dev/null || { echo "jq is required (apt-get install jq)" >&2; exit 2; }
# Settings come from flags only: ignore any TRELLIS_* of the caller's shell.
unset TRELLIS_HOME TRELLIS_LISTEN TRELLIS_BOOTSTRAP TRELLIS_MDNS TRELLIS_DISCOVERY TRELLIS_NAME

BASE=$(mktemp -d "${TMPDIR:-/tmp}/trellis-testnet.XXXXXX")
pids=()
ok=0

cleanup() {
    local status=$? pid i
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "$ok" != 1 ]; then
        for i in $(seq 1 "$NODES"); do
            [ -f "$BASE/node$i.log" ] || continue
            echo "----- node$i log (last 40 lines) -----" >&2
            tail -n 40 "$BASE/node$i.log" >&2
        done
    fi
    if [ "${KEEP:-0}" = 1 ]; then
        say "kept homes and logs in $BASE"
    else
        rm -rf "$BASE"
    fi
    say "stopped ${#pids[@]} trellisd processes"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cli() { # N ARGS... : trellis --json ARGS... against node N
    local n=$1
    shift
    "$BIN_DIR/trellis" --home "$BASE/node$n" --json "$@"
}

start_node() { # N [BOOTSTRAP]; sets READY_LINE to the node's "trellisd ready ..." line
    local n=$1 boot=${2:-} deadline=$((SECONDS + WAIT_SECS))
    local args=(--home "$BASE/node$n" --listen /ip4/127.0.0.1/tcp/0 --name "Testnet Org $n")
    [ -n "$boot" ] && args+=(--bootstrap "$boot")
    : >"$BASE/node$n.out" # exists before the poll below reads it
    "$BIN_DIR/trellisd" "${args[@]}" >"$BASE/node$n.out" 2>"$BASE/node$n.log" &
    pids+=($!)
    until READY_LINE=$(grep -m1 '^trellisd ready' "$BASE/node$n.out"); do
        kill -0 "${pids[-1]}" 2>/dev/null || { fail "trellisd node$n exited during start"; return 1; }
        ((SECONDS < deadline)) || { fail "node$n not ready after ${WAIT_SECS}s"; return 1; }
        sleep 0.2
    done
}

say "homes in $BASE, binaries from $BIN_DIR"
start_node 1
node1_addr=$(sed -E 's/.* listen=([^ ,]+).*/\1/' <<<"$READY_LINE")
[[ $node1_addr == /ip4/* ]] || { fail "cannot read node1's listen address from: $READY_LINE"; exit 1; }
say "node1 ready, listening on $node1_addr"
for i in $(seq 2 "$NODES"); do
    start_node "$i" "$node1_addr"
    say "node$i ready ($(sed -E 's/.* peer=([^ ]+).*/\1/' <<<"$READY_LINE")), bootstrapped to node1"
done

form_group
ok=1
