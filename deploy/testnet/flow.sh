# shellcheck shell=bash
# The testnet flow shared by form-group.sh (Docker Compose) and local-testnet.sh (local
# processes), so that the one runnable here checks the same steps the Compose one performs.
#
# The caller defines `cli N ARGS...`, which runs `trellis --json ARGS...` against node N and
# prints its stdout, and sets NODES (the node count). Needs jq. Every wait has a deadline
# (WAIT_SECS, default 60) and the flow returns non-zero with a message when one passes.

GROUP=${GROUP:-testnet}
WAIT_SECS=${WAIT_SECS:-60}

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
fail() { say "FAILED: $*" >&2; return 1; }

# wait_for DESCRIPTION COMMAND...: run COMMAND every half second until it succeeds.
wait_for() {
    local what=$1 deadline=$((SECONDS + WAIT_SECS))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || { fail "timed out after ${WAIT_SECS}s waiting for $what"; return 1; }
        sleep 0.5
    done
}

group_members() { # N -> member count of $GROUP as node N sees it (0 if not in it)
    cli "$1" group list | jq -r --arg g "$GROUP" '[.[] | select(.name == $g) | .members][0] // 0'
}
has_members() { [ "$(group_members "$1")" -ge "$2" ]; }
has_advisory() { cli "$1" advisory list | jq -e --arg id "$2" 'any(.[]; .id == $id)'; }
has_peers() { [ "$(cli "$1" status | jq -r .peers)" -ge 1 ]; }

form_group() {
    local i card token id out
    say "waiting until nodes 2..$NODES are connected to a peer"
    for i in $(seq 2 "$NODES"); do
        wait_for "node$i to connect" has_peers "$i" || return 1
    done

    out=$(cli 1 group create "$GROUP" --kind sector) || { fail "group create on node1"; return 1; }
    say "node1 created sector group '$GROUP' ($(jq -r .id <<<"$out"))"

    for i in $(seq 2 "$NODES"); do
        card=$(cli "$i" id | jq -er .card) || { fail "trellis id on node$i"; return 1; }
        token=$(cli 1 group invite "$GROUP" "$card" | jq -er .token) ||
            { fail "node1 inviting node$i"; return 1; }
        out=$(cli "$i" group join "$token") || { fail "node$i joining with its token"; return 1; }
        say "node$i ($(jq -r .fingerprint <<<"$(cli "$i" id)")) invited and joined: $(jq -c '{name, kind, role}' <<<"$out")"
    done

    say "waiting until all $NODES nodes see $NODES members"
    for i in $(seq 1 "$NODES"); do
        wait_for "node$i to see $NODES members (it sees $(group_members "$i"))" has_members "$i" "$NODES" ||
            return 1
    done

    id=$(cli 1 advisory publish "$GROUP" --tlp green --title "Testnet advisory" \
        --summary "Published by node1 at $(date -u +%FT%TZ) to check delivery to every member" |
        jq -er .id) || { fail "publishing the advisory on node1"; return 1; }
    say "node1 published TLP:GREEN advisory $id"

    for i in $(seq 1 "$NODES"); do
        wait_for "node$i to list advisory $id" has_advisory "$i" "$id" || return 1
        say "node$i lists it: $(cli "$i" advisory list | jq -c --arg id "$id" \
            '.[] | select(.id == $id) | {title, tlp, publisher_fingerprint, group_name}')"
    done
    say "OK: all $NODES nodes are in '$GROUP' and list advisory $id"
}
