import { test, describe, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import * as zlib from 'zlib';
import { AddressInfo } from 'net';
import { download, MNIST_FILE_NAMES, MNIST_MD5, md5Hex } from '../src/data/download';
import { loadDataset } from '../src/data/mnist';
import { expectDigitsErrorAsync, tempDir } from './helpers/datafixtures';
import { SHARED_MNIST } from './helpers/paths';

type Handler = (file: string, req: http.IncomingMessage, res: http.ServerResponse) => void;

interface TestServer {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

async function startServer(handler: Handler): Promise<TestServer> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const file = decodeURIComponent((req.url ?? '/').split('?')[0]).replace(/^.*\//, '');
    requests.push(req.url ?? '');
    handler(file, req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const gzFiles = new Map<string, Buffer>();

function serveFrom(files: Map<string, Buffer>): Handler {
  return (file, _req, res) => {
    const body = files.get(file);
    if (body === undefined) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': body.length }).end(body);
  };
}

function entries(dir: string, prefix: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.startsWith(prefix));
}

describe('download', () => {
  let root: string;
  let good: TestServer;
  const servers: TestServer[] = [];
  let n = 0;
  const freshDir = (): string => path.join(root, `d${n++}`); // download must create it

  before(async () => {
    for (const name of MNIST_FILE_NAMES) gzFiles.set(`${name}.gz`, fs.readFileSync(path.join(SHARED_MNIST, `${name}.gz`)));
    root = tempDir('digits-dl-');
    good = await startServer(serveFrom(gzFiles));
    servers.push(good);
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  const serve = async (h: Handler): Promise<TestServer> => {
    const s = await startServer(h);
    servers.push(s);
    return s;
  };

  test('md5 constants match the shared MD5SUMS', () => {
    const sums = fs
      .readFileSync(path.join(SHARED_MNIST, 'MD5SUMS'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/));
    assert.equal(sums.length, 4);
    for (const [md5, name] of sums) assert.equal(MNIST_MD5[name as keyof typeof MNIST_MD5], md5, name);
  });

  test('end to end from a local mirror, then a second run skips everything', async () => {
    const dir = freshDir();
    const logs: string[] = [];
    const r = await download(dir, { mirrors: [good.url], log: (s) => logs.push(s) });
    assert.deepEqual(r.fetched, [...MNIST_FILE_NAMES]);
    for (const name of MNIST_FILE_NAMES) assert.ok(fs.existsSync(path.join(dir, `${name}.gz`)), name);
    assert.equal(fs.readdirSync(dir).length, 4, 'no temp files left');
    const ds = loadDataset(dir);
    assert.equal(ds.train.count, 60000);
    assert.equal(ds.test.count, 10000);
    assert.equal(ds.classes, 10);
    assert.ok(logs.some((l) => /md5 ok/.test(l)));

    const before = good.requests.length;
    const again = await download(dir, { mirrors: [good.url] });
    assert.deepEqual(again.skipped, [...MNIST_FILE_NAMES]);
    assert.equal(good.requests.length, before, 'no refetch of verified files');
  });

  test('a 404 mirror and a redirecting mirror fall through to the good one', async () => {
    const missing = await serve(serveFrom(new Map()));
    // the redirect mirror sends /hop/x -> good mirror for labels, loops forever for images
    const hop = await serve((file, req, res) => {
      if (req.url?.startsWith('/hop/') && file.includes('labels')) res.writeHead(301, { location: good.url + file }).end();
      else res.writeHead(307, { location: `/hop/${file}` }).end();
    });
    const dir = freshDir();
    const r = await download(dir, { mirrors: [missing.url, hop.url, good.url] });
    assert.equal(r.fetched.length, 4);
    assert.equal(missing.requests.length, 4);
    // labels were served through two redirects by the hop mirror, images fell through to the good one
    assert.ok(hop.requests.some((u) => u === '/hop/train-labels-idx1-ubyte.gz'));
    assert.equal(fs.readdirSync(dir).length, 4);
  });

  test('a wrong file (valid gzip, other payload) is rejected and nothing is left for it', async () => {
    const swapped = new Map(gzFiles);
    swapped.set('train-labels-idx1-ubyte.gz', gzFiles.get('t10k-labels-idx1-ubyte.gz')!);
    const bad = await serve(serveFrom(swapped));
    const dir = freshDir();
    await expectDigitsErrorAsync(
      () => download(dir, { mirrors: [bad.url] }),
      /train-labels-idx1-ubyte\.gz/,
      /md5 of uncompressed data is 27ae3e4e09519cfbb04c329615203637, expected a25bea736e30d166cdddb491f175f624/,
    );
    assert.deepEqual(entries(dir, 'train-labels'), []);
    assert.deepEqual(entries(dir, 'train-images'), ['train-images-idx3-ubyte.gz'], 'files verified before the failure stay');
    assert.equal(fs.readdirSync(dir).filter((f) => f.includes('.tmp-')).length, 0);
  });

  test('flipped bytes are rejected with every mirror listed, and nothing is left', async () => {
    const flipped = new Map(gzFiles);
    const buf = Buffer.from(gzFiles.get('train-images-idx3-ubyte.gz')!);
    for (let i = 1000; i < buf.length - 1000; i += 4096) buf[i] ^= 0xff;
    flipped.set('train-images-idx3-ubyte.gz', buf);
    const bad = await serve(serveFrom(flipped));
    const broken = await serve((_f, _req, res) => {
      res.writeHead(500).end();
    });
    const dir = freshDir();
    const e = await expectDigitsErrorAsync(
      () => download(dir, { mirrors: [broken.url, bad.url] }),
      /download of train-images-idx3-ubyte\.gz failed from every mirror/,
      /HTTP 500/,
      new RegExp(`${bad.url}train-images-idx3-ubyte\\.gz: (corrupt gzip data|md5 of uncompressed data)`),
    );
    assert.ok(e.message.indexOf(broken.url) < e.message.indexOf(bad.url), 'mirrors reported in order');
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  test('a stalled mirror times out; a cut-off response is reported', async () => {
    const stalled = await serve(() => {
      /* never answers */
    });
    const cut = await serve((_file, _req, res) => {
      res.writeHead(200, { 'content-length': 100_000 });
      res.write(Buffer.alloc(1000));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const dir = freshDir();
    const t0 = Date.now();
    await expectDigitsErrorAsync(
      () => download(dir, { mirrors: [stalled.url, cut.url], fetchTimeoutMs: 200 }),
      /timed out after 200 ms/,
      /(truncated|closed|aborted|socket hang up|ECONNRESET)/i,
    );
    assert.ok(Date.now() - t0 < 5000);
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  test('an oversized response is cut off at the byte limit', async () => {
    const dir = freshDir();
    await expectDigitsErrorAsync(() => download(dir, { mirrors: [good.url], maxDownloadBytes: 4096 }), /exceeds the limit of 4096/);
  });

  test('a corrupt file already present is replaced; a stale temp from a dead process is removed', async () => {
    const dir = freshDir();
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte.gz'), zlib.gzipSync(Buffer.from('garbage')));
    fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte.gz.tmp-999999999'), 'partial');
    // a raw file with the right contents counts as present
    const raw = zlib.gunzipSync(gzFiles.get('t10k-images-idx3-ubyte.gz')!);
    fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), raw);
    const r = await download(dir, { mirrors: [good.url] });
    assert.deepEqual(r.skipped, ['t10k-images-idx3-ubyte']);
    assert.deepEqual(r.fetched, ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-labels-idx1-ubyte']);
    assert.equal(
      md5Hex(zlib.gunzipSync(fs.readFileSync(path.join(dir, 't10k-labels-idx1-ubyte.gz')))),
      MNIST_MD5['t10k-labels-idx1-ubyte'],
    );
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.includes('.tmp-')),
      [],
    );
    assert.equal(loadDataset(dir).test.count, 10000);
  });

  test('an unreachable mirror gives a one-line error', async () => {
    const gone = await startServer(() => undefined);
    const url = gone.url;
    await gone.close();
    await expectDigitsErrorAsync(() => download(freshDir(), { mirrors: [url] }), /ECONNREFUSED/);
  });
});
