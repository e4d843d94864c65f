// `digits download`: the four MNIST files from the public mirrors, md5-checked, into the cache.
import type { Command } from 'commander';
import { download } from '../data/download';
import { defaultCacheDir } from '../data/mnist';
import { mkdirp } from '../fsutil';
import type { Out } from './common';

export function registerDownload(program: Command, out: Out): void {
  program
    .command('download')
    .description('fetch the four MNIST files into the cache (md5-checked)')
    .option('--dir <dir>', 'target directory', defaultCacheDir())
    .action(async (o: { dir: string }) => {
      mkdirp(o.dir);
      const r = await download(o.dir, { log: (s) => out.stderr(s + '\n') });
      out.stdout(`MNIST ready in ${r.dir} (${r.fetched.length} fetched, ${r.skipped.length} already present)\n`);
    });
}
