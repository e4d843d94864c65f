#!/usr/bin/env bash
# Everything a fresh Debian machine lacks: oneDNN (native core) from apt, then npm ci, which builds
# the addon (scripts/build-native.js) and compiles the TypeScript and the web page (prepare).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
# chromium: the headless browser test of the draw-a-digit page (test/browser.test.ts); python3-h5py: scripts/keras_check.py,
# which loads the Keras files we write the way Keras' own loaders do (test/keras.test.ts); clang-16 + lld-16: wasm/build.js
# rebuilds the committed WebAssembly core (wasm/digits.wasm) from wasm/src, and the tests check the two agree
for pkg in libdnnl-dev g++ make python3 python3-h5py chromium clang-16 lld-16; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
npm ci --no-audit --no-fund
