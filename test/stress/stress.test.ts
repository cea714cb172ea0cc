/**
 * A server under attack keeps serving. At the same time: connections that send nothing (slowloris), connections
 * that send random bytes, clients with the wrong password, authenticated sessions announcing a 1 TB file, and
 * frames announcing 2^32 bytes, while a good client (from another loopback address) sends a file. The server runs
 * as its own process so its peak RSS is its own. `npm test` runs a small wave; `npm run stress` the full one
 * (200 / 200 / 50 / 10 / 10). Loopback only, bounded in count and time.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { SecureClient } from '../../src/index.js';
import { pseudoRandomBytes, tempDir } from '../helpers.js';
import { ITERATIONS, announceFile } from '../transfer/harness.js';

const full = process.env.SFT_STRESS === 'full';
const WAVE = full ? { slowloris: 200, random: 200, wrongPassword: 50, bigFile: 10, hugeFrame: 10 } : { slowloris: 20, random: 20, wrongPassword: 8, bigFile: 2, hugeFrame: 2 };
const sft = new URL('../../dist/cli/main.js', import.meta.url).pathname;

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves when the server closes the socket (or after `ms`, reporting false). */
function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.on('error', () => undefined);
    // Read (and drop) what the server sends: a paused socket never sees the end of the stream.
    socket.resume();
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

describe(`server under attack (${full ? 'full' : 'small'} wave)`, () => {
  it('stays up, bounds memory, refuses every attack, and the good client completes', async () => {
    const root = tempDir();
    const server = spawn(process.execPath, [sft, 'serve', '--port', '0', '--workers', '1', '--dir', join(root, 'inbox'), '--json', '--iterations', String(ITERATIONS), '--handshake-timeout', '4'], {
      env: { ...process.env, SFT_PASSWORD: 'pw' },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const lines = createInterface({ input: server.stdout })[Symbol.asyncIterator]();
    let listening: { event: string; port: number } | undefined;
    while (listening?.event !== 'listening') listening = JSON.parse((await lines.next()).value as string) as { event: string; port: number };
    const { port } = listening;
    const events: { event: string; code?: string }[] = [];
    void (async () => {
      for await (const line of { [Symbol.asyncIterator]: () => lines }) events.push(JSON.parse(line as string) as { event: string; code?: string });
    })();
    try {
      const started = Date.now();
      const slowloris = await Promise.all(Array.from({ length: WAVE.slowloris }, () => open(port)));
      const slowClosed = Promise.all(slowloris.map((s) => closedWithin(s, 15_000)));
      const random = Promise.all(Array.from({ length: WAVE.random }, async () => {
        const s = await open(port);
        s.write(randomBytes(1 + Math.floor(Math.random() * 4096)));
        return closedWithin(s, 15_000);
      }));
      const hugeFrames = Promise.all(Array.from({ length: WAVE.hugeFrame }, async () => {
        const s = await open(port);
        s.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x01]));
        return closedWithin(s, 15_000);
      }));
      const src = tempDir();
      writeFileSync(join(src, 'f'), 'x');
      const wrong = Promise.allSettled(Array.from({ length: WAVE.wrongPassword }, () =>
        new SecureClient({ password: 'wrong', host: '127.0.0.1', port }).send([{ source: join(src, 'f'), path: 'f', kind: 'file', size: 1, mode: 0o644, mtimeNs: 0n }]),
      ));
      const bigFiles = Promise.all(Array.from({ length: WAVE.bigFile }, () => announceFile(port, 'huge.bin', 1e12, { localAddress: '127.0.0.3' })));
      const good = pseudoRandomBytes(16 * 1024 * 1024, 42);
      writeFileSync(join(src, 'good.bin'), good);
      const goodClient = new SecureClient({ password: 'pw', host: '127.0.0.1', port, localAddress: '127.0.0.2' });
      const delivered = await goodClient.send(await SecureClient.collect([join(src, 'good.bin')]));
      const goodSeconds = (Date.now() - started) / 1000;

      expect(delivered.delivered[0]?.sha256).toBe(createHash('sha256').update(good).digest('hex'));
      expect(readFileSync(join(root, 'inbox/good.bin')).equals(good)).toBe(true);
      for (const result of await wrong) expect(result.status === 'rejected' && ['AUTH_FAILED', 'NETWORK'].includes((result.reason as { code: string }).code)).toBe(true);
      for (const reply of await bigFiles) expect(reply).toMatchObject({ code: 'REFUSED' });
      expect((await hugeFrames).every(Boolean)).toBe(true);
      expect((await random).every(Boolean)).toBe(true);
      expect((await slowClosed).every(Boolean)).toBe(true);
      expect(server.exitCode).toBeNull();

      const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
      const peakMiB = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]) / 1024;
      const codes = events.filter((e) => e.event === 'session-error').reduce<Record<string, number>>((n, e) => ({ ...n, [e.code ?? '?']: (n[e.code ?? '?'] ?? 0) + 1 }), {});
      console.log(`stress: good client done after ${goodSeconds.toFixed(1)} s; server peak RSS ${peakMiB.toFixed(0)} MiB; session errors ${JSON.stringify(codes)}`);
      expect(peakMiB).toBeLessThan(200);
    } finally {
      server.kill('SIGTERM');
      await new Promise((resolve) => server.once('exit', resolve));
    }
  }, 60_000);
});
