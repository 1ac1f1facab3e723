#!/usr/bin/env bash
# SBOM size benchmark: one trellisd, the fixture OSV record published, then `trellis sbom add`
# of a generated N-component CycloneDX SBOM, RUNS times (each run adds the SBOM under a fresh
# home, so nothing is cached), and `trellis affected` right after it (all stored advisories
# matched against the stored SBOM). Prints each run's wall times and the medians and spread.
#
# Usage: tests/bench/sbom_bench.sh BIN_DIR [N] [RUNS]    (e.g. target/release 200000 5)
set -euo pipefail
bin=$(cd "$1" && pwd); n=${2:-200000}; runs=${3:-5}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d); trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
python3 "$root/tests/bench/big_sbom.py" "$work/bom.json" "$n"
echo "SBOM: $n components, $(stat -c %s "$work/bom.json") bytes"
times=(); atimes=()
for r in $(seq 1 "$runs"); do
  home="$work/home$r"
  "$bin/trellis" --home "$home" init --name "Bench $r" >/dev/null
  "$bin/trellisd" --home "$home" --listen /ip4/127.0.0.1/tcp/0 >/dev/null 2>"$work/d$r.log" & pid=$!
  for _ in $(seq 1 100); do "$bin/trellis" --home "$home" status >/dev/null 2>&1 && break; sleep 0.1; done
  "$bin/trellis" --home "$home" group create bench --kind sector >/dev/null
  "$bin/trellis" --home "$home" advisory publish bench --tlp clear \
    --file "$root/proto/tests/fixtures/osv-synthetic-npm.json" >/dev/null
  start=$(date +%s.%N)
  out=$("$bin/trellis" --home "$home" --json sbom add "$work/bom.json")
  end=$(date +%s.%N)
  matches=$(printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sorted(m["component"] for m in d["matches"] if not m["suppressed"]))')
  t=$(python3 -c "print(f'{$end - $start:.2f}')")
  start=$(date +%s.%N)
  n_aff=$("$bin/trellis" --home "$home" --json affected | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
  end=$(date +%s.%N)
  a=$(python3 -c "print(f'{$end - $start:.2f}')")
  echo "run $r: sbom add ${t} s (standing matches: $matches); affected ${a} s ($n_aff rows)"
  times+=("$t"); atimes+=("$a")
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
for what in "sbom add" "affected"; do
  if [ "$what" = "sbom add" ]; then set -- "${times[@]}"; else set -- "${atimes[@]}"; fi
  python3 - "$what" "$@" <<'PY'
import statistics, sys
t = sorted(float(x) for x in sys.argv[2:])
print(f"{sys.argv[1]}: median {statistics.median(t):.2f} s, min {t[0]:.2f} s, max {t[-1]:.2f} s over {len(t)} runs")
PY
done
