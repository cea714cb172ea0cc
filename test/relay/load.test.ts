/**
 * Many rooms at once through one relay: 50 pairs, each moving about 3 MiB each way at the same time, all
 * complete with the right bytes. Loopback only; bounded in count (50 rooms) and time (the test timeout).
 * Memory under this load is measured in bench/relay.js, against a relay in its own process.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { pair, startRelay, until, type Running } from './harness.js';

const ROOMS = 50;
/** An odd block, so socket reads never line up with its repeats. */
const BLOCK = 256 * 1024 + 17;
const REPEATS = 12;

let running: Running | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

/** Writes `block` REPEATS times with backpressure, then ends; resolves with the SHA-256 of what was written. */
async function send(socket: Socket, block: Buffer): Promise<string> {
  const hash = createHash('sha256');
  for (let i = 0; i < REPEATS; i++) {
    hash.update(block);
    if (!socket.write(block)) await new Promise((resolve) => socket.once('drain', resolve));
  }
  socket.end();
  return hash.digest('hex');
}

function receive(socket: Socket): Promise<{ sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let bytes = 0;
    socket.on('data', (d: Buffer) => {
      hash.update(d);
      bytes += d.length;
    });
    socket.once('end', () => resolve({ sha256: hash.digest('hex'), bytes }));
    socket.once('error', reject);
  });
}

describe('relay under load', () => {
  it(`${ROOMS} rooms at once, each moving ${((BLOCK * REPEATS) / 2 ** 20).toFixed(1)} MiB both ways, all intact`, async () => {
    running = await startRelay({ maxPerSource: 2 * ROOMS + 10 });
    const { port } = running;
    // Half-open sockets: a peer whose partner finished first still sends to its end (and sees 'drain').
    const pairs = await Promise.all(Array.from({ length: ROOMS }, () => pair(port, 30_000, true)));
    expect(new Set(pairs.map(([a]) => a.nameplate)).size).toBe(ROOMS);
    expect(running.relay.rooms).toBe(ROOMS);
    const results = await Promise.all(
      pairs.map(async ([a, b]) => {
        const up = randomBytes(BLOCK);
        const down = randomBytes(BLOCK);
        const [sentUp, sentDown, gotUp, gotDown] = await Promise.all([send(a.socket, up), send(b.socket, down), receive(b.socket), receive(a.socket)]);
        return { sentUp, sentDown, gotUp, gotDown };
      }),
    );
    for (const r of results) {
      expect(r.gotUp).toEqual({ sha256: r.sentUp, bytes: BLOCK * REPEATS });
      expect(r.gotDown).toEqual({ sha256: r.sentDown, bytes: BLOCK * REPEATS });
    }
    const closed = running.events['room-closed'];
    await until(() => closed.length === ROOMS);
    expect(closed.every((c) => c.reason === 'done' && c.fromFirst === BLOCK * REPEATS && c.fromSecond === BLOCK * REPEATS)).toBe(true);
  });
});
