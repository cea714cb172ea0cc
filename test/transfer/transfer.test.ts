import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SecureClient } from '../../src/index.js';
import { pseudoRandomBytes, SIZES, tempDir } from '../helpers.js';
import { client, inboxState, sendPaths, startServer, tree, until, type Running } from './harness.js';

let running: Running | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('transfer over loopback TCP', () => {
  for (const suite of ['aes-256-gcm', 'chacha20-poly1305', 'fernet'] as const) {
    it(`${suite}: boundary sizes, a multi-MB file and a directory tree arrive identical, with matching receipts`, async () => {
      running = await startServer();
      const src = tempDir();
      const root = join(src, 'tree');
      mkdirSync(join(root, 'deep/er'), { recursive: true });
      const expected: Record<string, string> = {};
      for (const size of [...SIZES, 5 * 1024 * 1024 + 7]) {
        const data = pseudoRandomBytes(size, size + 1);
        const path = size % 2 === 0 ? `tree/s${size}` : `tree/deep/er/s${size}`;
        writeFileSync(join(src, path), data);
        expected[path] = sha(data);
      }
      const result = await sendPaths(running.port, [root], { suites: [suite] });
      expect(result.suite).toBe(suite);
      expect(result.files.map((f) => f.storedPath).sort()).toEqual(Object.keys(expected).sort());
      for (const d of result.files) expect(d.sha256).toBe(expected[d.path]);
      expect(tree(running.inbox)).toEqual(expected);
    });
  }

  it('the default suite is ChaCha20-Poly1305 and a single named file arrives under its base name', async () => {
    running = await startServer();
    const src = tempDir();
    writeFileSync(join(src, 'one.txt'), 'x');
    const result = await sendPaths(running.port, [join(src, 'one.txt')]);
    expect(result.suite).toBe('chacha20-poly1305');
    expect(readFileSync(join(running.inbox, 'one.txt'), 'utf8')).toBe('x');
  });

  it('never overwrites silently: a taken name gets a unique one, reported in the receipt; --overwrite replaces', async () => {
    running = await startServer();
    const src = tempDir();
    writeFileSync(join(src, 'report.pdf'), 'v1');
    await sendPaths(running.port, [join(src, 'report.pdf')]);
    writeFileSync(join(src, 'report.pdf'), 'v2');
    const second = await sendPaths(running.port, [join(src, 'report.pdf')]);
    expect(second.files[0]?.storedPath).toBe('report (1).pdf');
    expect(readFileSync(join(running.inbox, 'report.pdf'), 'utf8')).toBe('v1');
    expect(readFileSync(join(running.inbox, 'report (1).pdf'), 'utf8')).toBe('v2');
    await running.close();
    running = await startServer({ dir: running.inbox, overwrite: true });
    const third = await sendPaths(running.port, [join(src, 'report.pdf')]);
    expect(third.files[0]?.storedPath).toBe('report.pdf');
    expect(readFileSync(join(running.inbox, 'report.pdf'), 'utf8')).toBe('v2');
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

  it('refuses iteration counts outside its bounds', async () => {
    running = await startServer({ minIterations: 5000, maxIterations: 10_000 });
    const src = tempDir();
    writeFileSync(join(src, 'f'), 'x');
    await expect(sendPaths(running.port, [join(src, 'f')], { iterations: 1000 })).rejects.toMatchObject({ code: 'REFUSED' });
    await expect(sendPaths(running.port, [join(src, 'f')], { iterations: 20_000 })).rejects.toMatchObject({ code: 'REFUSED' });
    await sendPaths(running.port, [join(src, 'f')], { iterations: 5000 });
  });

  it('enforces the file size and file count limits', async () => {
    running = await startServer({ maxFileSize: 1000, maxFiles: 2 });
    const src = tempDir();
    writeFileSync(join(src, 'big'), Buffer.alloc(1001));
    for (const n of ['a', 'b', 'c']) writeFileSync(join(src, n), n);
    await expect(sendPaths(running.port, [join(src, 'big')])).rejects.toMatchObject({ code: 'REFUSED' });
    await expect(sendPaths(running.port, ['a', 'b', 'c'].map((n) => join(src, n)))).rejects.toMatchObject({ code: 'REFUSED' });
    expect(inboxState(running.inbox).partial).toEqual([]);
  });

  it('16 concurrent clients, every file verified', async () => {
    running = await startServer();
    const port = running.port;
    const src = tempDir();
    const jobs = Array.from({ length: 16 }, (_, i) => {
      const data = pseudoRandomBytes(300_000 + i * 1000, i + 100);
      writeFileSync(join(src, `c${i}.bin`), data);
      return { name: `c${i}.bin`, sha: sha(data) };
    });
    const results = await Promise.all(jobs.map((j) => sendPaths(port, [join(src, j.name)])));
    for (const [i, r] of results.entries()) expect(r.files[0]?.sha256).toBe(jobs[i]?.sha);
    expect(tree(running.inbox)).toEqual(Object.fromEntries(jobs.map((j) => [j.name, j.sha])));
  });

  it('stalled and slow connections do not hold up another client; the handshake timeout drops them', async () => {
    running = await startServer({ handshakeTimeout: 1500 });
    const port = running.port;
    const stalled = await Promise.all(Array.from({ length: 5 }, () => new Promise<Socket>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
      s.on('error', () => undefined);
    })));
    stalled[0]?.write(Buffer.from([0, 0, 0, 50, 1, 1, 2])); // half a client hello, then nothing
    const src = tempDir();
    writeFileSync(join(src, 'f'), pseudoRandomBytes(2_000_000, 8));
    const result = await sendPaths(port, [join(src, 'f')]);
    expect(result.files).toHaveLength(1);
    await until(() => (running?.errors.filter((e) => e.code === 'TIMEOUT').length ?? 0) === 5, 5000);
    for (const s of stalled) s.destroy();
  });

  it('close() stops accepting but lets a running transfer finish', async () => {
    running = await startServer();
    const src = tempDir();
    writeFileSync(join(src, 'big'), pseudoRandomBytes(30_000_000, 9));
    let closing: Promise<void> | undefined;
    const server = running;
    const sending = sendPaths(running.port, [join(src, 'big')], {
      onProgress: (p) => {
        if (closing === undefined && p.done > 5_000_000) closing = server.server.close(20_000);
      },
    });
    const result = await sending;
    expect(result.files[0]?.size).toBe(30_000_000);
    expect(closing).toBeDefined();
    await closing;
    await expect(sendPaths(server.port, [join(src, 'big')])).rejects.toMatchObject({ code: 'NETWORK' });
    running = undefined;
  });

  it('a connection refused or a server gone is a network error (exit 5)', async () => {
    running = await startServer();
    const port = running.port;
    await running.close();
    running = undefined;
    const src = tempDir();
    writeFileSync(join(src, 'f'), 'x');
    await expect(sendPaths(port, [join(src, 'f')])).rejects.toMatchObject({ code: 'NETWORK', exitCode: 5 });
  });

  it('collect refuses names the server would refuse, before connecting', async () => {
    const src = tempDir();
    writeFileSync(join(src, 'CON'), 'x');
    await expect(SecureClient.collect([join(src, 'CON')])).rejects.toMatchObject({ code: 'REFUSED' });
    expect(client).toBeDefined();
  });
});
