#!/usr/bin/env bash
# A refactor must not change training: trains every preset for a short run (2 epochs on the first 4,000
# training images, seed 0) with the checkout given (default: this one) and prints each weights.bin's
# SHA-256. Run it before and after a change (e.g. on a `git worktree` of the old commit) and diff.
#   scripts/weights-fingerprint.sh [repo-dir] > fingerprints.txt
set -euo pipefail
repo="$(cd "${1:-$(dirname "$0")/..}" && pwd)"
data="${DIGITS_DATA:-$repo/../shared/mnist}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
presets=$(cd "$repo" && node -e 'console.log(require("./dist/src/zoo/presets").PRESETS.map((p) => p.name).join(" "))')
for p in $presets; do
  (cd "$repo" && node bin/digits.js train "$p" --epochs 2 --limit 4000 --seed 0 --data "$data" --out "$out/$p" > "$out/$p.log" 2>&1) \
    || { echo "$p: training failed (see below)"; tail -3 "$out/$p.log"; exit 1; }
  echo "$p $(sha256sum < "$out/$p/weights.bin" | cut -c1-64)"
done
