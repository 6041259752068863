#!/usr/bin/env bash
# The reference sweep, shard by shard: each shard's export is merged into export/ and committed
# as soon as the shard completes, so a sitting can stop at any time and lose at most one shard.
#
#   results/keel-binary-dedup/run_shards.sh [FIRST_SHARD [LAST_SHARD]]
#
# Environment: RUNS (the local store; default runs/reference), SHARDS (N, default 8).
# Shards may also run on other machines (same command, any store) and be exported into the
# same directory: `python -m bench export --runs-dir DIR --sweep NAME --out results/.../export`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"
runs="${RUNS:-runs/reference}"
shards="${SHARDS:-8}"
first="${1:-1}"
last="${2:-$shards}"
for k in $(seq "$first" "$last"); do
  start=$(date +%s)
  python -m bench -q run --config "$here/sweep.yaml" --runs-dir "$runs" --shard "$k/$shards"
  wall=$(( $(date +%s) - start ))
  python -m bench export --runs-dir "$runs" --out "$here/export"
  echo "shard $k/$shards: ${wall} s wall, finished $(date -u +%FT%TZ)" >> "$here/shards.log"
  for attempt in 1 2 3 4 5; do  # the index may be busy for a moment
    git add "$here/export" "$here/shards.log" &&
      git commit -q -m "Reference sweep: shard $k/$shards exported (${wall} s wall)" -- \
        "$here/export" "$here/shards.log" && break
    sleep 5
  done
done
