import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CHUNK_SIZE, FrameType, encodeFrame } from '../../src/protocol/frames.js';
import { encodeError } from '../../src/protocol/messages.js';
import { FileStore, setMtime } from '../../src/transfer/store.js';
import { pseudoRandomBytes, tempDir } from '../helpers.js';
import { client, inboxState, sendPaths, startServer, tree, until, type Running } from './harness.js';

let running: Running | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE + 1];

/** A source tree with every boundary size, a multi-MB file and an empty directory; returns its files' hashes. */
function makeTree(src: string): Record<string, string> {
  const root = join(src, 'tree');
  mkdirSync(join(root, 'deep/er'), { recursive: true });
  mkdirSync(join(root, 'empty'));
  const expected: Record<string, string> = {};
  for (const size of [...SIZES, 5 * 1024 * 1024 + 7]) {
    const data = pseudoRandomBytes(size, size + 1);
    const path = size % 2 === 0 ? `tree/s${size}` : `tree/deep/er/s${size}`;
    writeFileSync(join(src, path), data);
    expected[path] = sha(data);
  }
  return expected;
}

describe('transfer over loopback TCP, both directions', () => {
  for (const suite of ['aes-256-gcm', 'chacha20-poly1305'] as const) {
    it(`${suite}: boundary sizes, a multi-MB file, an empty directory arrive identical by send and by get`, async () => {
      running = await startServer();
      const src = tempDir();
      const expected = makeTree(src);
      const sent = await sendPaths(running.port, [join(src, 'tree')], { suites: [suite] });
      expect(sent.suite).toBe(suite);
      const files = sent.delivered.filter((d) => d.kind === 'file');
      expect(files.map((f) => f.storedPath).sort()).toEqual(Object.keys(expected).sort());
      for (const d of files) expect(d.sha256).toBe(expected[d.path]);
      expect(tree(running.inbox)).toEqual(expected);
      expect(statSync(join(running.inbox, 'tree/empty')).isDirectory()).toBe(true);

      const down = tempDir();
      const got = await client(running.port, { suites: [suite] }).get(['tree'], { dir: down });
      expect(got.stored.filter((s) => s.kind === 'file').length).toBe(Object.keys(expected).length);
      expect(tree(down)).toEqual(expected);
      expect(statSync(join(down, 'tree/empty')).isDirectory()).toBe(true);
    });
  }

  it('the default suite is AES-256-GCM and a single named file arrives under its base name', async () => {
    running = await startServer();
    const src = tempDir();
    writeFileSync(join(src, 'one.txt'), 'x');
    const result = await sendPaths(running.port, [join(src, 'one.txt')]);
    expect(result.suite).toBe('aes-256-gcm');
    expect(readFileSync(join(running.inbox, 'one.txt'), 'utf8')).toBe('x');
  });

  it('a receiving directory is made as mkdir -p makes it: missing parents, `..` after a missing or symlinked part', async () => {
    const root = tempDir();
    mkdirSync(join(root, 'elsewhere/sub'), { recursive: true });
    symlinkSync(join(root, 'elsewhere/sub'), join(root, 'link'));
    for (const [dir, made] of [['n/e/w', 'n/e/w'], ['a/../b', 'b'], ['link/../x', 'elsewhere/x']]) {
      const store = new FileStore(`${root}/${dir as string}`); // not join(), which would resolve the `..` as text
      await store.init(60_000, false);
      expect(store.root).toBe(join(root, made as string));
    }
    expect(statSync(join(root, 'a')).isDirectory()).toBe(true);
    expect(existsSync(join(root, 'x'))).toBe(false);
  });

  it('the partial folder, removed by hand while the server runs, is made again for the next file', async () => {
    running = await startServer();
    const src = tempDir();
    writeFileSync(join(src, 'one.txt'), 'one');
    writeFileSync(join(src, 'two.txt'), 'two');
    await sendPaths(running.port, [join(src, 'one.txt')]);
    rmSync(join(running.inbox, '.sft-partial'), { recursive: true, force: true });
    const result = await sendPaths(running.port, [join(src, 'two.txt')]);
    expect(result.delivered.map((d) => d.storedPath)).toEqual(['two.txt']);
    expect(readFileSync(join(running.inbox, 'two.txt'), 'utf8')).toBe('two');
  });

  it('never overwrites silently; a file sent again is recognised under its renamed name; --overwrite replaces', async () => {
    running = await startServer();
    const src = tempDir();
    writeFileSync(join(src, 'report.pdf'), 'v1');
    await sendPaths(running.port, [join(src, 'report.pdf')]);
    writeFileSync(join(src, 'report.pdf'), 'v2');
    const second = await sendPaths(running.port, [join(src, 'report.pdf')]);
    expect(second.delivered[0]?.storedPath).toBe('report (1).pdf');
    // Reruns do not pile up copies: the same v2 is recognised as "report (1).pdf" and not sent again.
    for (let i = 0; i < 3; i++) {
      const again = await sendPaths(running.port, [join(src, 'report.pdf')]);
      expect(again.delivered[0]).toMatchObject({ storedPath: 'report (1).pdf', skipped: true });
      expect(again.sentBytes).toBe(0);
    }
    expect(inboxState(running.inbox).received).toEqual(['report (1).pdf', 'report.pdf']);
    expect(readFileSync(join(running.inbox, 'report.pdf'), 'utf8')).toBe('v1');
    await running.close();
    running = await startServer({ dir: running.inbox, overwrite: true });
    writeFileSync(join(src, 'report.pdf'), 'v3');
    const third = await sendPaths(running.port, [join(src, 'report.pdf')]);
    expect(third.delivered[0]?.storedPath).toBe('report.pdf');
    expect(readFileSync(join(running.inbox, 'report.pdf'), 'utf8')).toBe('v3');
  });

  it('alternative names stay within 255 bytes: a second version of a 255-byte name is stored', async () => {
    running = await startServer();
    const src = tempDir();
    const name = `${'n'.repeat(251)}.txt`;
    writeFileSync(join(src, name), 'v1');
    await sendPaths(running.port, [join(src, name)]);
    writeFileSync(join(src, name), 'v2');
    const second = await sendPaths(running.port, [join(src, name)]);
    const stored = second.delivered[0]?.storedPath ?? '';
    expect(Buffer.byteLength(stored)).toBeLessThanOrEqual(255);
    expect(stored.endsWith(' (1).txt')).toBe(true);
    expect(readFileSync(join(running.inbox, stored), 'utf8')).toBe('v2');
  });

  it('a wrong password fails on both sides as authentication failed, and nothing is stored', async () => {
    running = await startServer();
    const src = tempDir();
    writeFileSync(join(src, 'f'), 'secret');
    await expect(sendPaths(running.port, [join(src, 'f')], { password: 'wrong' })).rejects.toMatchObject({ code: 'AUTH_FAILED', exitCode: 3 });
    await until(() => running?.errors.length === 1);
    expect(running.errors[0]).toMatchObject({ code: 'AUTH_FAILED' });
    expect(inboxState(running.inbox)).toEqual({ received: [], partial: [] });
  });

  it('a file over the size limit is refused alone, the rest delivered; too many entries end the session', async () => {
    running = await startServer({ maxFileSize: 1000, maxFiles: 3 });
    const src = tempDir();
    writeFileSync(join(src, 'big'), Buffer.alloc(1001));
    for (const n of ['a', 'b', 'c']) writeFileSync(join(src, n), n);
    const result = await sendPaths(running.port, ['big', 'a'].map((n) => join(src, n)));
    expect(result.refused).toEqual([expect.objectContaining({ path: 'big', code: 'REFUSED' })]);
    expect(result.delivered.map((d) => d.path)).toEqual(['a']);
    await expect(sendPaths(running.port, ['a', 'b', 'c', 'big'].map((n) => join(src, n)))).rejects.toMatchObject({ code: 'REFUSED' });
    expect(inboxState(running.inbox).partial).toEqual([]);
  });

  it('a name the server refuses (CON) is skipped with its reason; the rest of the tree is delivered', async () => {
    running = await startServer();
    const src = tempDir();
    mkdirSync(join(src, 'mixed'));
    writeFileSync(join(src, 'mixed/CON'), 'x');
    writeFileSync(join(src, 'mixed/ok.txt'), 'fine');
    const result = await sendPaths(running.port, [join(src, 'mixed')]);
    expect(result.refused).toEqual([expect.objectContaining({ path: 'mixed/CON', code: 'REFUSED', message: expect.stringMatching(/Windows device name/) })]);
    expect(readFileSync(join(running.inbox, 'mixed/ok.txt'), 'utf8')).toBe('fine');
  });

  it('--into sends under a remote directory; modification times arrive to the microsecond, small and large files', async () => {
    running = await startServer();
    const src = tempDir();
    // 'big' is written through the file worker thread (4 MiB and more), 'f' from the main thread.
    const files = { f: Buffer.from('x'), big: pseudoRandomBytes(5 * 1024 * 1024, 9) };
    for (const [name, data] of Object.entries(files)) {
      writeFileSync(join(src, name), data);
      const fd = openSync(join(src, name), 'r+');
      setMtime(fd, 1_700_000_000_001_000_000n);
      closeSync(fd);
    }
    const result = await sendPaths(running.port, [join(src, 'f'), join(src, 'big')], {}, 'a/b');
    expect(result.delivered.map((d) => d.storedPath)).toEqual(['f', 'big']);
    // Node sets times from a double of seconds (~240 ns apart at this epoch): Node 20 keeps whole microseconds,
    // Node 24 the nanoseconds of that double; the microsecond is the same on both.
    const micros = (path: string) => statSync(path, { bigint: true }).mtimeNs / 1000n;
    for (const name of Object.keys(files)) {
      expect(micros(join(running.inbox, 'a/b', name))).toBe(micros(join(src, name)));
      expect(micros(join(running.inbox, 'a/b', name))).toBe(1_700_000_000_001_000n);
    }
  });

  it('get: a missing path is a notice, the rest arrives; ls lists; rm is refused in shared-password mode', async () => {
    running = await startServer();
    const src = tempDir();
    writeFileSync(join(src, 'here.txt'), 'here');
    await sendPaths(running.port, [join(src, 'here.txt')]);
    const down = tempDir();
    const got = await client(running.port).get(['here.txt', 'missing.txt'], { dir: down });
    expect(got.stored.map((s) => s.path)).toEqual(['here.txt']);
    expect(got.notices).toEqual([expect.objectContaining({ code: 'NOT_FOUND', path: 'missing.txt' })]);
    expect(await client(running.port).list('')).toEqual([expect.objectContaining({ name: 'here.txt', type: 'file', size: 4 })]);
    await expect(client(running.port).remove(['here.txt'])).rejects.toMatchObject({ code: 'REFUSED' });
    expect(existsSync(join(running.inbox, 'here.txt'))).toBe(true);
  });

  it('get and ls are refused without --allow-get', async () => {
    running = await startServer({ allowGet: false });
    await expect(client(running.port).list('')).rejects.toMatchObject({ code: 'REFUSED', message: expect.stringMatching(/allow-get/) });
    await expect(client(running.port).get(['x'], { dir: tempDir() })).rejects.toMatchObject({ code: 'REFUSED' });
  });

  it('16 concurrent clients, every file verified', async () => {
    // All 16 handshakes can be under way at once (collect() lists a file synchronously): above the default of 8
    // unauthenticated connections per address, which admission.test.ts covers.
    running = await startServer({ maxUnauthenticatedPerSource: 16 });
    const port = running.port;
    const src = tempDir();
    const jobs = Array.from({ length: 16 }, (_, i) => {
      const data = pseudoRandomBytes(300_000 + i * 1000, i + 100);
      writeFileSync(join(src, `c${i}.bin`), data);
      return { name: `c${i}.bin`, sha: sha(data) };
    });
    const results = await Promise.all(jobs.map((j) => sendPaths(port, [join(src, j.name)])));
    for (const [i, r] of results.entries()) expect(r.delivered[0]?.sha256).toBe(jobs[i]?.sha);
    expect(tree(running.inbox)).toEqual(Object.fromEntries(jobs.map((j) => [j.name, j.sha])));
  });

  it('stalled connections do not hold up another client; the handshake timeout drops them', async () => {
    running = await startServer({ handshakeTimeout: 1500 });
    const port = running.port;
    const stalled = await Promise.all(Array.from({ length: 5 }, () => new Promise<Socket>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
      s.on('error', () => undefined);
    })));
    stalled[0]?.write(Buffer.from([0, 0, 0, 50, 2, 1, 2])); // half a client hello, then nothing
    const src = tempDir();
    writeFileSync(join(src, 'f'), pseudoRandomBytes(2_000_000, 8));
    const result = await sendPaths(port, [join(src, 'f')], { localAddress: '127.0.0.2' });
    expect(result.delivered).toHaveLength(1);
    await until(() => (running?.errors.filter((e) => e.code === 'TIMEOUT').length ?? 0) === 5, 5000);
    for (const s of stalled) s.destroy();
  });

  it('close() stops accepting but lets a running transfer finish', async () => {
    running = await startServer();
    const src = tempDir();
    writeFileSync(join(src, 'big'), pseudoRandomBytes(30_000_000, 9));
    let closing: Promise<void> | undefined;
    const server = running;
    const result = await sendPaths(running.port, [join(src, 'big')], {
      onProgress: (p) => {
        if (closing === undefined && p.done > 5_000_000) closing = server.server.close(20_000);
      },
    });
    expect(result.delivered[0]?.size).toBe(30_000_000);
    expect(closing).toBeDefined();
    await closing;
    await expect(sendPaths(server.port, [join(src, 'big')])).rejects.toMatchObject({ code: 'NETWORK' });
    running = undefined;
  });

  it('a connection refused is a network error (exit 5) that says so', async () => {
    running = await startServer();
    const port = running.port;
    await running.close();
    running = undefined;
    const src = tempDir();
    writeFileSync(join(src, 'f'), 'x');
    await expect(sendPaths(port, [join(src, 'f')])).rejects.toMatchObject({ code: 'NETWORK', exitCode: 5, message: expect.stringMatching(/refused/) });
  });

  it('a peer that does not speak sft is recognised at once: an HTTP server, a silent server', async () => {
    const http = createServer((s) => s.once('data', () => s.end('HTTP/1.1 400 Bad Request\r\n\r\n')));
    const silent = createServer(() => undefined);
    const ports = await Promise.all([http, silent].map((server) => new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)))));
    try {
      const started = Date.now();
      // A server that waits for a request (HTTP) or says nothing: no greeting, named as such after the default 3 s.
      for (const port of ports) {
        await expect(client(port).list('')).rejects.toMatchObject({ code: 'TIMEOUT', message: expect.stringMatching(/no sft greeting .* within 3 s/) });
      }
      expect(Date.now() - started).toBeLessThan(10_000);
      // An HTTP server that speaks first.
      const banner = createServer((s) => s.end('HTTP/1.0 200 OK\r\n\r\n'));
      const port = await new Promise<number>((r) => banner.listen(0, '127.0.0.1', () => r((banner.address() as { port: number }).port)));
      await expect(client(port).list('')).rejects.toMatchObject({ message: expect.stringMatching(/an HTTP server, not an sft server/) });
      banner.close();
    } finally {
      http.close();
      silent.close();
    }
  });

  it('an Error frame before authentication is a network error in the client\'s words: a forged AUTH_FAILED does not say "wrong password"', async () => {
    const forger = createServer((s) => s.end(encodeFrame(FrameType.Error, encodeError({ code: 'AUTH_FAILED', message: 'wrong password \u001b[2J received payroll.xlsx' }))));
    const port = await new Promise<number>((r) => forger.listen(0, '127.0.0.1', () => r((forger.address() as { port: number }).port)));
    try {
      const failure = await client(port).list('').then(() => undefined, (e: unknown) => e as Error & { code: string; exitCode: number });
      expect(failure).toMatchObject({ code: 'NETWORK', exitCode: 5 });
      expect(failure?.message).not.toMatch(/wrong password|payroll/);
      expect(failure?.message).not.toContain('\u001b');
    } finally {
      forger.close();
    }
  });

  it('no cipher suite in common: the client says so (unauthenticated, so in its own words)', async () => {
    running = await startServer({ suites: ['chacha20-poly1305'] });
    await expect(client(running.port, { suites: ['aes-256-gcm'] }).list('')).rejects.toMatchObject({ code: 'NETWORK', message: expect.stringMatching(/does not support .* cipher suites/) });
  });

  it('IPv6: a server on ::1 is reached as [::1]', async () => {
    running = await startServer({ host: '::1' });
    const src = tempDir();
    writeFileSync(join(src, 'v6'), 'six');
    const result = await client(running.port, { host: '::1' }).send([{ source: join(src, 'v6'), path: 'v6', kind: 'file', size: 3, mode: 0o644, mtimeNs: 0n }]);
    expect(result.delivered).toHaveLength(1);
  });
});

function canChattr(dir: string): boolean {
  try {
    execFileSync('chattr', ['+i', dir], { stdio: 'ignore' });
    execFileSync('chattr', ['-i', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('a verified file that cannot be placed', () => {
  it('a path too long for the receiving directory is refused on its header, at once', async () => {
    // The inbox's own path is ~280 bytes, so a 3,822-byte relative path fits the sender's file system, not the inbox.
    running = await startServer({ dir: join(tempDir(), 'i'.repeat(255)) });
    const src = tempDir();
    const deep = join(src, 'x');
    let path = deep;
    for (let i = 0; i < 19; i++) path = join(path, 'd'.repeat(200));
    mkdirSync(path, { recursive: true });
    writeFileSync(join(path, 'f'), 'x');
    writeFileSync(join(deep, 'ok'), 'ok');
    const result = await sendPaths(running.port, [deep]);
    // The deepest directory and the file in it are refused on their headers; the rest is delivered.
    expect(result.refused.length).toBeGreaterThan(0);
    for (const r of result.refused) expect(r.message).toMatch(/too long for the receiving directory/);
    expect(result.refused.map((r) => r.path)).toContain(`x/${Array(19).fill('d'.repeat(200)).join('/')}/f`);
    expect(result.delivered.map((d) => d.path)).toContain('x/ok');
  });

  const probe = tempDir();
  it.skipIf(!canChattr(probe))('an immutable directory: a failed receipt at once on both sides, later files still stored', async () => {
    running = await startServer();
    const inbox = running.inbox;
    mkdirSync(join(inbox, 'locked'));
    execFileSync('chattr', ['+i', join(inbox, 'locked')]);
    try {
      const src = tempDir();
      mkdirSync(join(src, 'locked'));
      writeFileSync(join(src, 'locked/a'), 'a');
      writeFileSync(join(src, 'later'), 'later');
      const result = await sendPaths(running.port, [join(src, 'locked'), join(src, 'later')]);
      expect(result.failed).toEqual([expect.objectContaining({ path: 'locked/a', code: 'IO', message: expect.stringMatching(/cannot store locked\/a/) })]);
      expect(readFileSync(join(inbox, 'later'), 'utf8')).toBe('later');
      expect(inboxState(inbox).partial).toEqual([]);
    } finally {
      execFileSync('chattr', ['-i', join(inbox, 'locked')]);
    }
  });
});
