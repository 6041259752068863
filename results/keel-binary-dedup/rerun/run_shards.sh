#!/usr/bin/env bash
# The correction of the reference sweep (issue 23): the cells in cells.txt, re-run shard by
# shard from a clean, committed checkout, each shard's export committed as soon as it completes.
#
#   results/keel-binary-dedup/rerun/run_shards.sh [FIRST_SHARD [LAST_SHARD]]
#
# Run it from a checkout whose tree is clean (it refuses otherwise): every cell records the
# commit it ran from. To keep working meanwhile, run it from a second worktree at the commit to
# publish (`git worktree add ../rerun HEAD`) and set EXPORT_TO to this checkout's
# results/keel-binary-dedup/rerun/export: each shard's export is merged there and committed
# (only that directory and shards.log) in the repository that holds it.
# Environment: RUNS (the local store; default runs/rerun), SHARDS (N, default 6).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
cd "$repo"
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "error: $repo has uncommitted changes; published cells run only from a commit" >&2
  exit 2
fi
runs="${RUNS:-runs/rerun}"
shards="${SHARDS:-6}"
out="${EXPORT_TO:-$here/export}"
first="${1:-1}"
last="${2:-$shards}"
mkdir -p "$out"
log="$(dirname "$out")/shards.log"
for k in $(seq "$first" "$last"); do
  start=$(date +%s)
  python -m bench -q run --config "$here/../sweep.yaml" --cells-from "$here/cells.txt" \
    --runs-dir "$runs" --shard "$k/$shards"
  wall=$(( $(date +%s) - start ))
  python -m bench export --runs-dir "$runs" --out "$out"
  echo "shard $k/$shards: ${wall} s wall, finished $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD)" >> "$log"
  for attempt in 1 2 3 4 5; do  # the index may be busy for a moment
    git -C "$out" add "$out" "$log" &&
      git -C "$out" commit -q -m "Reference sweep correction: shard $k/$shards exported (${wall} s wall)" -- \
        "$out" "$log" && break
    sleep 5
  done
done
