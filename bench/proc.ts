// What a server process costs, read from /proc: `digits serve` runs itself again as a child (with
// MALLOC_ARENA_MAX set, src/cli/serve.ts), so its cost is that of the process and its descendants.
import * as fs from 'node:fs';

/** A process's thread ids (none once it has ended). */
function tidsOf(pid: number): string[] {
  try {
    return fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
}

/** A process and its descendants, parents first. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    for (const tid of tidsOf(out[i])) {
      try {
        const kids = fs.readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim();
        if (kids) out.push(...kids.split(/\s+/).map(Number));
      } catch {
        // a thread that ended between the listing and the read
      }
    }
  }
  return out;
}

/** CPU milliseconds (user + system) of each thread of the processes, by thread id (empty where there is none). */
export function threadCpuMs(pids: number[]): Map<number, number> {
  const out = new Map<number, number>();
  const tick = 1000 / 100; // USER_HZ is 100 on Linux
  for (const pid of pids) {
    for (const tid of tidsOf(pid)) {
      try {
        // the fields after the command's closing parenthesis: utime and stime are the 12th and 13th
        const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        out.set(Number(tid), (Number(f[11]) + Number(f[12])) * tick);
      } catch {
        // a thread that ended between the listing and the read
      }
    }
  }
  return out;
}

/** Resident memory of the processes together, bytes (NaN when none can be read). */
export function rssBytes(pids: number[]): number {
  let sum = 0,
    read = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) [sum, read] = [sum + Number(m[1]) * 1024, read + 1];
    } catch {
      // gone
    }
  }
  return read > 0 ? sum : NaN;
}
