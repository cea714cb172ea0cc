import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Backoff, Semaphore } from '../../src/transfer/admission.js';
import { pseudoRandomBytes, tempDir } from '../helpers.js';
import { announceFile, inboxState, sendPaths, startServer, tree, until, type Running } from './harness.js';

let running: Running | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

describe('admission', () => {
  it('Semaphore: at most n holders, FIFO hand-over, release is idempotent', async () => {
    const s = new Semaphore(2);
    const a = await s.acquire();
    const b = await s.acquire();
    let third = false;
    const c = s.acquire().then((release) => ((third = true), release));
    await new Promise((r) => setTimeout(r, 10));
    expect(third).toBe(false);
    a();
    a();
    const releaseC = await c;
    expect(third).toBe(true);
    b();
    releaseC();
    const d = await s.acquire();
    const e = await s.acquire();
    d();
    e();
  });

  it('Backoff: refuses after the threshold, doubling up to the cap; success clears', () => {
    let now = 0;
    const backoff = new Backoff(3, 4000, () => now);
    for (let i = 0; i < 2; i++) backoff.failed('a');
    expect(backoff.blocked('a')).toBe(false);
    backoff.failed('a');
    expect(backoff.blocked('a')).toBe(true);
    now = 999;
    expect(backoff.blocked('a')).toBe(true);
    now = 1000;
    expect(backoff.blocked('a')).toBe(false);
    backoff.failed('a');
    now = 2999;
    expect(backoff.blocked('a')).toBe(true);
    for (let i = 0; i < 10; i++) backoff.failed('a');
    now = 2999 + 4001;
    expect(backoff.blocked('a')).toBe(false);
    expect(backoff.blocked('b')).toBe(false);
    backoff.succeeded('a');
    backoff.failed('a');
    expect(backoff.blocked('a')).toBe(false);
  });

  it('an address with repeated failed handshakes is refused at accept; another address is served', async () => {
    running = await startServer({ failuresBeforeBackoff: 3 });
    const src = tempDir();
    writeFileSync(join(src, 'f'), 'x');
    for (let i = 0; i < 3; i++) await expect(sendPaths(running.port, [join(src, 'f')], { password: 'bad' })).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await until(() => running?.errors.length === 3);
    await expect(sendPaths(running.port, [join(src, 'f')])).rejects.toMatchObject({ code: 'REFUSED' });
    const ok = await sendPaths(running.port, [join(src, 'f')], { localAddress: '127.0.0.2' });
    expect(ok.files).toHaveLength(1);
  });

  it('a file larger than the free space is refused before any content', async () => {
    running = await startServer();
    const reply = await announceFile(running.port, 'huge.bin', 1e12);
    expect(reply).toMatchObject({ code: 'REFUSED' });
    expect(reply.message).toMatch(/free/);
    expect(inboxState(running.inbox)).toEqual({ received: [], partial: [] });
  });
});

function canMount(): boolean {
  const dir = tempDir('sft-mount-probe-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' });
    execFileSync('umount', [dir]);
    return true;
  } catch {
    return false;
  }
}

describe('disk full', () => {
  // Needs root (CI runs as root) to mount a small tmpfs as the inbox.
  it.skipIf(!canMount())('a transfer that runs out of space fails cleanly on both sides, nothing partial, the server keeps serving', async () => {
    const root = tempDir();
    const inbox = join(root, 'inbox');
    mkdirSync(inbox);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', inbox]);
    try {
      running = await startServer({ dir: inbox });
      const src = tempDir();
      writeFileSync(join(src, 'a'), pseudoRandomBytes(3 * 1024 * 1024, 1));
      writeFileSync(join(src, 'b'), pseudoRandomBytes(3 * 1024 * 1024, 2));
      const port = running.port;
      // Both pass the free-space check on their header (4 MiB free), then fill the disk together.
      const results = await Promise.allSettled([sendPaths(port, [join(src, 'a')]), sendPaths(port, [join(src, 'b')])]);
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(failed.length).toBeGreaterThan(0);
      for (const f of failed) {
        expect(f.reason).toMatchObject({ code: 'IO', exitCode: 1 });
        expect(String(f.reason.message)).toMatch(/no space left/);
      }
      await until(() => (running?.errors.length ?? 0) === failed.length);
      for (const e of running.errors) expect(e.message).toMatch(/no space left/);
      // Nothing partial: whatever was stored is complete.
      const stored = tree(running.inbox);
      expect(Object.keys(stored).filter((p) => p.startsWith('.sft-partial/'))).toEqual([]);
      for (const [name, digest] of Object.entries(stored)) expect(digest).toBe(tree(src)[name]);
      // With one 3 MiB file stored, another is larger than the space left: refused before any content.
      if (Object.keys(stored).length === 0) await sendPaths(port, [join(src, 'a')]);
      await expect(sendPaths(port, [join(src, 'b')])).rejects.toMatchObject({ code: 'REFUSED' });
      writeFileSync(join(src, 'small'), 'still serving');
      expect((await sendPaths(port, [join(src, 'small')])).files).toHaveLength(1);
    } finally {
      await running?.close();
      running = undefined;
      execFileSync('umount', [inbox]);
    }
  });
});
