/**
 * Person to person through a relay (issue 10): files and trees arrive identical; a wrong code fails both sides with
 * exit 3 and stores nothing; a byte flipped between a peer and the relay fails with exit 4 and places nothing;
 * the relay never sees a file name or content; 50 rooms at once; a cut transfer resumes from what the receiver kept.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { SecureClient } from '../../src/index.js';
import { makeCode } from '../../src/relay/code.js';
import { receiveThroughRelay, sendThroughRelay } from '../../src/transfer/relayed.js';
import { pseudoRandomBytes, tempDir } from '../helpers.js';
import { inboxState, tree } from '../transfer/harness.js';
import { startRelay, type Running } from './harness.js';

const sft = new URL('../../dist/cli/main.js', import.meta.url).pathname;
let relay: Running | undefined;
let tap: Server | undefined;
afterEach(async () => {
  tap?.close();
  await relay?.close();
  relay = undefined;
  tap = undefined;
});

/** A byte-level proxy in front of the relay: records both directions, and can flip one byte or cut. */
async function tapRelay(port: number, options: { flipAt?: number; cutAt?: number } = {}) {
  const seen: Buffer[] = [];
  tap = createServer((down: Socket) => {
    const up = connect({ host: '127.0.0.1', port });
    let upstream = 0;
    down.on('data', (data: Buffer) => {
      const chunk = Buffer.from(data);
      if (options.flipAt !== undefined && upstream <= options.flipAt && options.flipAt < upstream + chunk.length) chunk[options.flipAt - upstream] = (chunk[options.flipAt - upstream] as number) ^ 1;
      upstream += chunk.length;
      seen.push(chunk);
      if (options.cutAt !== undefined && upstream > options.cutAt) {
        up.destroy();
        down.destroy();
        return;
      }
      up.write(chunk);
    });
    up.on('data', (data: Buffer) => {
      seen.push(Buffer.from(data));
      down.write(data);
    });
    for (const s of [up, down]) s.on('error', () => (up.destroy(), down.destroy()));
    up.on('end', () => down.end());
    down.on('end', () => up.end());
  });
  await new Promise<void>((r) => tap?.listen(0, '127.0.0.1', r));
  return { port: (tap.address() as { port: number }).port, seen };
}

async function both(src: string[], dir: string, relayPort: { sender: number; receiver: number }) {
  let resolveCode: (code: string) => void = () => undefined;
  const code = new Promise<string>((r) => (resolveCode = r));
  const entries = await SecureClient.collect(src);
  const sending = sendThroughRelay(entries, { relay: { host: '127.0.0.1', port: relayPort.sender }, waitMs: 20_000, onCode: resolveCode });
  // A sender refused by the relay never gets a code: the receiver then has nothing to join.
  const receiving = Promise.race([code, sending.then(() => undefined, () => undefined)]).then((c) =>
    c === undefined ? Promise.reject(new Error('no code')) : receiveThroughRelay(c, { relay: { host: '127.0.0.1', port: relayPort.receiver }, dir, waitMs: 20_000 }),
  );
  return Promise.allSettled([sending, receiving]);
}

describe('person to person through a relay', () => {
  it('a file and a directory tree arrive identical', async () => {
    relay = await startRelay();
    const src = tempDir();
    mkdirSync(join(src, 'tree/sub/empty'), { recursive: true });
    writeFileSync(join(src, 'tree/a.txt'), 'alpha');
    writeFileSync(join(src, 'tree/sub/b.bin'), pseudoRandomBytes(3_000_000, 1));
    writeFileSync(join(src, 'single.bin'), pseudoRandomBytes(700_000, 2));
    const dir = tempDir();
    const [sent, received] = await both([join(src, 'tree'), join(src, 'single.bin')], dir, { sender: relay.port, receiver: relay.port });
    expect(sent.status).toBe('fulfilled');
    expect(received.status).toBe('fulfilled');
    expect(tree(dir)).toEqual(tree(src));
    expect(readFileSync(join(dir, 'tree/sub/b.bin')).equals(readFileSync(join(src, 'tree/sub/b.bin')))).toBe(true);
  });

  it('the relay forwards no file name and no content (a marker in both is never seen)', async () => {
    relay = await startRelay();
    const watched = await tapRelay(relay.port);
    const src = tempDir();
    const marker = 'MARKER-7f3a9c-in-the-name';
    const content = Buffer.concat([Buffer.from('CONTENT-MARKER-2b8e41'), pseudoRandomBytes(100_000, 3), Buffer.from('CONTENT-MARKER-2b8e41')]);
    writeFileSync(join(src, `${marker}.txt`), content);
    const dir = tempDir();
    const [sent, received] = await both([join(src, `${marker}.txt`)], dir, { sender: watched.port, receiver: watched.port });
    expect([sent.status, received.status]).toEqual(['fulfilled', 'fulfilled']);
    const captured = Buffer.concat(watched.seen);
    expect(captured.length).toBeGreaterThan(100_000);
    expect(captured.includes(Buffer.from('MARKER-7f3a9c'))).toBe(false);
    expect(captured.includes(Buffer.from('CONTENT-MARKER-2b8e41'))).toBe(false);
    expect(captured.includes(pseudoRandomBytes(100_000, 3).subarray(5000, 5064))).toBe(false);
  });

  it('a byte flipped between the sender and the relay: TAMPERED (exit 4) on both sides, nothing placed', async () => {
    relay = await startRelay();
    const flipped = await tapRelay(relay.port, { flipAt: 600_000 });
    const src = tempDir();
    writeFileSync(join(src, 'f.bin'), pseudoRandomBytes(2_000_000, 4));
    const dir = tempDir();
    const [sent, received] = await both([join(src, 'f.bin')], dir, { sender: flipped.port, receiver: relay.port });
    expect(sent).toMatchObject({ status: 'rejected', reason: { exitCode: 4 } });
    expect(received).toMatchObject({ status: 'rejected', reason: { code: 'TAMPERED', exitCode: 4 } });
    expect(inboxState(dir).received).toEqual([]);
  });

  it('a transfer cut in the middle resumes, with a new code, from what the receiver kept', async () => {
    relay = await startRelay();
    const cut = await tapRelay(relay.port, { cutAt: 3_000_000 });
    const src = tempDir();
    const data = pseudoRandomBytes(8_000_000, 5);
    writeFileSync(join(src, 'big.bin'), data);
    const dir = tempDir();
    const [first] = await both([join(src, 'big.bin')], dir, { sender: cut.port, receiver: relay.port });
    expect(first.status).toBe('rejected');
    const [again] = await both([join(src, 'big.bin')], dir, { sender: relay.port, receiver: relay.port });
    expect(again.status).toBe('fulfilled');
    const result = (again as PromiseFulfilledResult<{ resumedBytes: number; sentBytes: number }>).value;
    expect(result.resumedBytes).toBeGreaterThan(1_000_000);
    expect(result.sentBytes).toBe(data.length - result.resumedBytes);
    expect(readFileSync(join(dir, 'big.bin')).equals(data)).toBe(true);
  });

  it('50 rooms at once all complete', async () => {
    // 100 peers from one address: the relay's per-source cap (32) is raised for the test.
    relay = await startRelay({ maxPerSource: 200 });
    const src = tempDir();
    const files = Array.from({ length: 50 }, (_, i) => {
      const path = join(src, `f${i}.bin`);
      writeFileSync(path, pseudoRandomBytes(200_000 + i, 100 + i));
      return path;
    });
    const runs = await Promise.all(files.map((file) => both([file], tempDir(), { sender: (relay as Running).port, receiver: (relay as Running).port })));
    expect(runs.flat().filter((r) => r.status !== 'fulfilled')).toEqual([]);
  }, 120_000);
});

describe('the CLI, as two people would run it', () => {
  function run(args: string[], env: Record<string, string>) {
    const child = spawn(process.execPath, [sft, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    return { child, lines: createInterface({ input: child.stdout }), exit: new Promise<number>((r) => child.on('exit', (code) => r(code ?? -1))), stderr: () => stderr };
  }

  it('a wrong code ends the room for both: exit 3 on each side, a clear message, nothing stored', async () => {
    relay = await startRelay();
    const env = { SFT_RELAY: `127.0.0.1:${relay.port}`, SFT_PASSWORD: '' };
    const src = tempDir();
    writeFileSync(join(src, 'f.txt'), 'secret');
    const sender = run(['send', join(src, 'f.txt'), '--json'], env);
    const code = await new Promise<string>((resolve) => sender.lines.on('line', (l) => {
      const event = JSON.parse(l) as { event: string; code?: string };
      if (event.event === 'code' && event.code !== undefined) resolve(event.code);
    }));
    const nameplate = Number(code.split('-')[0]);
    let wrong = makeCode(nameplate);
    while (wrong === code) wrong = makeCode(nameplate);
    const dir = tempDir();
    const receiver = run(['receive', wrong, '-o', dir], env);
    expect(await receiver.exit).toBe(3);
    expect(await sender.exit).toBe(3);
    expect(receiver.stderr()).toMatch(/the code did not match/);
    expect(sender.stderr()).toMatch(/wrong password or authentication failed/);
    expect(inboxState(dir)).toEqual({ received: [], partial: [] });
  });
});

