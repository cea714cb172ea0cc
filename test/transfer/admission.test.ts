import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Admission, Semaphore, sourceOf } from '../../src/transfer/admission.js';
import { connect, type Socket } from 'node:net';
import { pseudoRandomBytes, tempDir } from '../helpers.js';
import { announceFile, client, inboxState, sendPaths, startServer, tree, until, type Running } from './harness.js';

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

  it('counts unauthenticated connections per source and penalises those that end without authenticating', () => {
    let now = 0;
    const admission = new Admission({ maxConnections: 100, maxUnauthenticatedPerSource: 2, failuresBeforeBackoff: 3, maxBackoff: 4000 }, () => now);
    const admit = (address: string) => {
      const d = admission.admit(address);
      if (!d.admitted) throw new Error(d.reason);
      return d.ticket;
    };
    const a = admit('10.0.0.1');
    const b = admit('10.0.0.1');
    expect(admission.admit('10.0.0.1')).toMatchObject({ admitted: false, reason: expect.stringMatching(/unauthenticated/) });
    expect(admission.admit('10.0.0.2').admitted).toBe(true);
    a.authenticated();
    const c = admit('10.0.0.1');
    for (const t of [b, c]) t.closed();
    expect(admission.admit('10.0.0.1').admitted).toBe(true);
    a.closed();
    a.closed();
    // Three connections that end unauthenticated: refused for 1 s, then 2 s after a fourth; success clears.
    for (let i = 0; i < 3; i++) admit('10.0.0.3').closed();
    const refused = admission.admit('10.0.0.3');
    expect(refused).toMatchObject({ admitted: false, reason: expect.stringMatching(/failed attempts/) });
    now = 999;
    expect(admission.admit('10.0.0.3').admitted).toBe(false);
    now = 1000;
    const fourth = admit('10.0.0.3');
    fourth.closed();
    now = 2999;
    expect(admission.admit('10.0.0.3').admitted).toBe(false);
    now = 3000;
    const ok = admit('10.0.0.3');
    ok.authenticated();
    ok.closed();
    admit('10.0.0.3').closed();
    expect(admission.admit('10.0.0.3').admitted).toBe(true);
  });

  it('a dropped connection (the server ended it: a failed hand-over, a dead worker) gives its place back without a penalty', () => {
    const admission = new Admission({ maxConnections: 3, maxUnauthenticatedPerSource: 1, failuresBeforeBackoff: 1, maxBackoff: 4000 }, () => 0);
    for (let i = 0; i < 5; i++) {
      const decision = admission.admit('10.0.0.4');
      expect(decision.admitted, `attempt ${i}`).toBe(true);
      if (decision.admitted) {
        decision.ticket.dropped();
        decision.ticket.dropped();
        decision.ticket.closed();
      }
    }
    expect(admission.connections).toBe(0);
    const closed = admission.admit('10.0.0.4');
    if (closed.admitted) closed.ticket.closed();
    expect(admission.admit('10.0.0.4')).toMatchObject({ admitted: false, reason: expect.stringMatching(/failed attempts/) });
  });

  it('groups IPv6 sources by /64 and IPv4-mapped addresses by their IPv4', () => {
    expect(sourceOf('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(sourceOf('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(sourceOf('2001:db8::9')).toBe('2001:db8:0:0::/64');
    expect(sourceOf('::1')).toBe('0:0:0:0::/64');
    expect(sourceOf('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(sourceOf('192.0.2.7')).toBe('192.0.2.7');
    const admission = new Admission({ maxUnauthenticatedPerSource: 1 });
    expect(admission.admit('2001:db8:1:2::1').admitted).toBe(true);
    expect(admission.admit('2001:db8:1:2::ffff').admitted).toBe(false);
    expect(admission.admit('2001:db8:1:3::1').admitted).toBe(true);
  });

  it('caps connections in all', () => {
    const admission = new Admission({ maxConnections: 2 });
    expect(admission.admit('10.0.0.1').admitted).toBe(true);
    expect(admission.admit('10.0.0.2').admitted).toBe(true);
    expect(admission.admit('10.0.0.3')).toMatchObject({ admitted: false, reason: expect.stringMatching(/connection limit/) });
  });

  it('an address with repeated failed handshakes is refused at accept (without its text shown); another address is served', async () => {
    running = await startServer({ failuresBeforeBackoff: 3 });
    const src = tempDir();
    writeFileSync(join(src, 'f'), 'x');
    for (let i = 0; i < 3; i++) await expect(sendPaths(running.port, [join(src, 'f')], { password: 'bad' })).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await until(() => running?.errors.length === 3);
    await until(() => running?.server.connections === 0);
    await expect(sendPaths(running.port, [join(src, 'f')])).rejects.toMatchObject({ code: 'NETWORK', message: expect.stringMatching(/refused the connection/) });
    const ok = await sendPaths(running.port, [join(src, 'f')], { localAddress: '127.0.0.2' });
    expect(ok.delivered).toHaveLength(1);
  });

  it('more unauthenticated connections from one address than allowed are refused at accept', async () => {
    running = await startServer({ maxUnauthenticatedPerSource: 3 });
    const port = running.port;
    const idle = await Promise.all(Array.from({ length: 3 }, () => new Promise<Socket>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
      s.on('error', () => undefined);
    })));
    await until(() => running?.server.connections === 3);
    await expect(client(port).list('')).rejects.toMatchObject({ code: 'NETWORK', message: expect.stringMatching(/refused/) });
    expect((await client(port, { localAddress: '127.0.0.2' }).list(''))).toEqual([]);
    for (const s of idle) s.destroy();
  });

  it('a file larger than the free space is refused before any content', async () => {
    running = await startServer();
    const reply = await announceFile(running.port, 'huge.bin', 1e12);
    expect(reply).toMatchObject({ code: 'REFUSED', message: expect.stringMatching(/free/) });
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
      const refused = await sendPaths(port, [join(src, 'b')]);
      expect(refused.refused).toEqual([expect.objectContaining({ path: 'b', code: 'REFUSED', message: expect.stringMatching(/free/) })]);
      writeFileSync(join(src, 'small'), 'still serving');
      expect((await sendPaths(port, [join(src, 'small')])).delivered).toHaveLength(1);
    } finally {
      await running?.close();
      running = undefined;
      execFileSync('umount', [inbox]);
    }
  });
});
