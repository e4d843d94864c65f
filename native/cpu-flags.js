// Prints the SIMD flags for our own element-wise loops. oneDNN picks its ISA at run time by itself,
// so these only matter for the hand-written loops; they are added only when this CPU has them
// because the addon is always built on the machine that runs it.
'use strict';
const fs = require('fs');

let info = '';
try { info = fs.readFileSync('/proc/cpuinfo', 'utf8'); } catch { /* not Linux: stay generic */ }
const flags = new Set((info.match(/^flags\s*:(.*)$/m) || ['', ''])[1].trim().split(/\s+/));
const out = [];
if (flags.has('avx2') && flags.has('fma')) out.push('-mavx2', '-mfma');
// 32 vector registers hold a whole kernel row of accumulators in conv1ch.cc
if (['avx512f', 'avx512dq', 'avx512bw', 'avx512vl'].every((f) => flags.has(f))) out.push('-mavx512f', '-mavx512dq', '-mavx512bw', '-mavx512vl');
process.stdout.write(out.join(' '));
