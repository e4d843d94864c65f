// Prints the SIMD flags for our own element-wise loops. oneDNN picks its ISA at run time by itself,
// so these only matter for the hand-written loops.
//   node cpu-flags.js          this CPU's flags: the addon built at install runs where it was built
//   node cpu-flags.js TIER     a fixed tier for the prebuilt addons (scripts/pack-native.js), each loaded
//                              only on a CPU that has it (src/kernels/native.ts): x64 (baseline x86-64),
//                              avx2 (AVX2 + FMA), avx512 (AVX2 + FMA + AVX-512 F/DQ/BW/VL)
'use strict';
const fs = require('fs');

const TIERS = {
  x64: [],
  avx2: ['-mavx2', '-mfma'],
  // 32 vector registers hold a whole kernel row of accumulators in conv1ch.cc
  avx512: ['-mavx2', '-mfma', '-mavx512f', '-mavx512dq', '-mavx512bw', '-mavx512vl'],
};

/** The best tier this CPU runs, from /proc/cpuinfo's flags (x64 where they cannot be read). */
function cpuTier(cpuinfo) {
  const flags = new Set((cpuinfo.match(/^flags\s*:(.*)$/m) || ['', ''])[1].trim().split(/\s+/));
  if (!flags.has('avx2') || !flags.has('fma')) return 'x64';
  return ['avx512f', 'avx512dq', 'avx512bw', 'avx512vl'].every((f) => flags.has(f)) ? 'avx512' : 'avx2';
}

if (require.main === module) {
  let tier = process.argv[2];
  if (tier === undefined || tier === 'native' || tier === '') {
    let info = '';
    try {
      info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      /* not Linux: stay generic */
    }
    tier = cpuTier(info);
  }
  if (!(tier in TIERS)) {
    process.stderr.write(`cpu-flags.js: unknown tier '${tier}' (x64, avx2, avx512 or native)\n`);
    process.exit(2);
  }
  process.stdout.write(TIERS[tier].join(' '));
}

module.exports = { TIERS, cpuTier };
