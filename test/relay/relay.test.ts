import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NetworkError, SftError } from '../../src/errors.js';
import { encodeHello, encodePaired, encodeWaiting } from '../../src/relay/wire.js';
import { RawPeer, join, pair, readAll, startRelay, until, type Running } from './harness.js';

let running: Running | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function rejection(promise: Promise<unknown>): Promise<SftError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SftError);
  return error as SftError;
}

describe('relay: pairing', () => {
  it('joins two peers; random data crosses both ways intact, at the same time', async () => {
    running = await startRelay();
    const waited: number[] = [];
    const first = join({ host: '127.0.0.1', port: running.port, allocate: true, timeoutMs: 5000, onWaiting: (n) => waited.push(n) });
    await until(() => waited.length === 1);
    const nameplate = waited[0] as number;
    expect(nameplate).toBeGreaterThanOrEqual(1);
    expect(nameplate).toBeLessThanOrEqual(999);
    const second = await join({ host: 'localhost', port: running.port, nameplate, timeoutMs: 5000 });
    const a = await first;
    expect([a.nameplate, second.nameplate]).toEqual([nameplate, nameplate]);
    expect(a.limits).toEqual({ maxBytes: 64 * 1024 ** 3, rate: 0, lifetimeMs: 43_200_000, idleMs: 300_000, halfOpenGraceMs: 10_000 });
    const up = randomBytes(3 * 1024 * 1024 + 7);
    const down = randomBytes(2 * 1024 * 1024 + 11);
    const atSecond = readAll(second.socket);
    const atFirst = readAll(a.socket);
    a.socket.end(up);
    second.socket.end(down);
    expect((await atSecond).equals(up)).toBe(true);
    expect((await atFirst).equals(down)).toBe(true);
    await until(() => running?.events['room-closed'].length === 1);
    expect(running.events.paired).toEqual([{ nameplate }]);
    expect(running.events['room-closed'][0]).toMatchObject({ nameplate, reason: 'done', paired: true, fromFirst: up.length, fromSecond: down.length });
    expect(running.relay.rooms).toBe(0);
  });

  it('either side may come first when both claim a nameplate (a chosen code)', async () => {
    running = await startRelay();
    const port = running.port;
    const early = join({ host: '127.0.0.1', port, nameplate: 4242, timeoutMs: 5000 });
    await until(() => running?.relay.rooms === 1);
    const late = await join({ host: '127.0.0.1', port, nameplate: 4242, timeoutMs: 5000 });
    const first = await early;
    late.socket.end('hi');
    expect((await readAll(first.socket)).toString()).toBe('hi');
    first.socket.end();
  });

  it('refuses a third peer; the nameplate is free again only when both are gone', async () => {
    running = await startRelay();
    const port = running.port;
    let nameplate = 0;
    const first = join({ host: '127.0.0.1', port, allocate: true, timeoutMs: 5000, onWaiting: (n) => (nameplate = n) });
    await until(() => nameplate !== 0);
    const b = await join({ host: '127.0.0.1', port, nameplate, timeoutMs: 5000, allowHalfOpen: true });
    const a = await first;
    const third = await rejection(join({ host: '127.0.0.1', port, nameplate, timeoutMs: 5000 }));
    expect(third.code).toBe('REFUSED');
    expect(third.exitCode).toBe(1);
    expect(third.message).toBe(`room ${nameplate} already has two peers: the code was used already or someone else joined first; ask for a new code`);
    expect(running.events.refused).toMatchObject([{ code: 'ROOM_FULL', nameplate }]);
    a.socket.destroy();
    b.socket.resume();
    await until(() => b.socket.readableEnded);
    // One side gone, the other still open (in its half-open grace): the room still holds its nameplate.
    expect((await rejection(join({ host: '127.0.0.1', port, nameplate, timeoutMs: 5000 }))).code).toBe('REFUSED');
    b.socket.destroy();
    await until(() => running?.relay.rooms === 0);
    const again = join({ host: '127.0.0.1', port, nameplate, timeoutMs: 5000 });
    const partner = await join({ host: '127.0.0.1', port, nameplate, timeoutMs: 5000 });
    (await again).socket.destroy();
    partner.socket.destroy();
  });

  it('allocates distinct nameplates of three digits while rooms are few', async () => {
    running = await startRelay({ maxPerSource: 100 });
    const { port } = running;
    const nameplates: number[] = [];
    const peers = await Promise.all(Array.from({ length: 40 }, async () => (await RawPeer.open(port)).hello()));
    await until(() => peers.every((p) => p.messages().messages.length === 1));
    for (const peer of peers) {
      const [message] = peer.messages().messages;
      expect(message?.type).toBe('waiting');
      if (message?.type === 'waiting') nameplates.push(message.nameplate);
    }
    expect(new Set(nameplates).size).toBe(40);
    expect(nameplates.every((n) => n >= 1 && n <= 999)).toBe(true);
    for (const peer of peers) peer.socket.destroy();
  });

  it('hands over a clean stream: partner bytes in the same read as PAIRED are given back, none consumed', async () => {
    const payload = Buffer.from('first partner bytes');
    const fake: Server = createServer((socket) => {
      socket.once('data', () => socket.end(Buffer.concat([encodeWaiting(9), encodePaired({ maxBytes: 0, rate: 0, lifetimeMs: 0, idleMs: 0, halfOpenGraceMs: 1 }), payload])));
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    const port = (fake.address() as { port: number }).port;
    try {
      const waited: number[] = [];
      const joined = await join({ host: '127.0.0.1', port, allocate: true, timeoutMs: 5000, onWaiting: (n) => waited.push(n) });
      expect(waited).toEqual([9]);
      expect(joined.nameplate).toBe(9);
      expect((await readAll(joined.socket)).equals(payload)).toBe(true);
    } finally {
      fake.close();
    }
  });

  it('holds up to maxEarlyBytes sent before pairing and gives them to the partner first', async () => {
    running = await startRelay({ maxEarlyBytes: 300 });
    const early = randomBytes(300);
    const waiting = await RawPeer.open(running.port);
    // HELLO and the first early bytes in one write, the rest after WAITING.
    waiting.socket.write(Buffer.concat([encodeHello({ mode: 'claim', nameplate: 77 }), early.subarray(0, 100)]));
    await until(() => waiting.messages().messages.length === 1);
    waiting.socket.write(early.subarray(100));
    const joiner = await join({ host: '127.0.0.1', port: running.port, nameplate: 77, timeoutMs: 5000 });
    const got = readAll(joiner.socket);
    waiting.socket.end(Buffer.from('after'));
    expect((await got).equals(Buffer.concat([early, Buffer.from('after')]))).toBe(true);
    joiner.socket.end();
  });

  it('cuts a waiting peer that sends more than maxEarlyBytes, with SENT_BEFORE_PAIRED', async () => {
    running = await startRelay({ maxEarlyBytes: 256 });
    const peer = await RawPeer.open(running.port);
    peer.hello(31);
    await until(() => peer.messages().messages.length === 1);
    peer.socket.write(Buffer.alloc(200));
    peer.socket.write(Buffer.alloc(100));
    await peer.closed;
    expect(peer.messages().messages.at(-1)).toEqual({ type: 'error', code: 7, message: 'more than 256 bytes sent before the partner joined' });
    await until(() => running?.events['room-closed'].length === 1);
    expect(running.events['room-closed']).toMatchObject([{ nameplate: 31, reason: 'sent-before-paired', paired: false }]);
    expect(running.relay.rooms).toBe(0);
  });

  it('refuses a peer whose HELLO comes with more than maxEarlyBytes (it never gets a room)', async () => {
    running = await startRelay({ maxEarlyBytes: 256 });
    const peer = await RawPeer.open(running.port);
    peer.socket.write(Buffer.concat([encodeHello({ mode: 'claim', nameplate: 32 }), Buffer.alloc(257)]));
    await peer.closed;
    expect(peer.messages().messages).toEqual([{ type: 'error', code: 7, message: 'more than 256 bytes sent before the partner joined' }]);
    expect(running.relay.rooms).toBe(0);
  });
});

describe('relay: refusals before a room', () => {
  it('BAD_HELLO for something that is not a peer; UNSUPPORTED_VERSION for another version; HELLO_TIMEOUT for silence', async () => {
    running = await startRelay({ helloTimeoutMs: 200 });
    const http = await RawPeer.open(running.port);
    http.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const future = await RawPeer.open(running.port);
    future.socket.write(Buffer.from(`010014${Buffer.from('SFTRELAY').toString('hex')}02${'00'.repeat(11)}`, 'hex'));
    const silent = await RawPeer.open(running.port);
    await Promise.all([http.closed, future.closed, silent.closed]);
    expect(http.messages().messages).toMatchObject([{ type: 'error', code: 1, message: expect.stringMatching(/unexpected frame type 0x47/) }]);
    expect(future.messages().messages).toEqual([{ type: 'error', code: 2, message: 'relay protocol version 2 is not supported; this relay speaks version 1' }]);
    expect(silent.messages().messages).toEqual([{ type: 'error', code: 8, message: 'no HELLO in time' }]);
    expect(running.events.refused.map((e) => e.code).sort()).toEqual(['BAD_HELLO', 'HELLO_TIMEOUT', 'UNSUPPORTED_VERSION']);
  });

  it('caps connections per source; another loopback address is another source', async () => {
    running = await startRelay({ maxPerSource: 3 });
    const port = running.port;
    const held = await Promise.all([1, 2, 3].map(() => RawPeer.open(port)));
    const fourth = await RawPeer.open(port);
    await fourth.closed;
    expect(fourth.messages().messages).toEqual([{ type: 'error', code: 5, message: 'too many connections from your address (the limit is 3)' }]);
    const error = await rejection(join({ host: '127.0.0.1', port, allocate: true, timeoutMs: 5000 }));
    expect(error.code).toBe('REFUSED');
    expect(error.message).toMatch(/refused: too many connections from your address \(the limit is 3\)/);
    const elsewhere = (await RawPeer.open(port, '127.0.0.2')).hello();
    await until(() => elsewhere.messages().messages.length === 1);
    expect(elsewhere.messages().messages[0]?.type).toBe('waiting');
    held[0]?.socket.destroy();
    await held[0]?.closed;
    await until(() => running?.events.refused.length === 2);
    const back = (await RawPeer.open(port)).hello();
    await until(() => back.messages().messages.length === 1);
    expect(back.messages().messages[0]?.type).toBe('waiting');
    for (const p of [...held, back, elsewhere]) p.socket.destroy();
  });

  it('caps connections in all and rooms waiting, with BUSY', async () => {
    running = await startRelay({ maxConnections: 4, maxWaitingRooms: 2 });
    const port = running.port;
    const a = (await RawPeer.open(port)).hello();
    const b = (await RawPeer.open(port)).hello();
    await until(() => running?.relay.rooms === 2);
    const busy = await rejection(join({ host: '127.0.0.1', port, allocate: true, timeoutMs: 5000 }));
    expect(busy.message).toMatch(/refused: the relay has too many rooms waiting; try again later/);
    const c = await RawPeer.open(port);
    const d = await RawPeer.open(port);
    const e = await RawPeer.open(port);
    await e.closed;
    expect(e.messages().messages).toEqual([{ type: 'error', code: 4, message: 'the relay has too many connections; try again later' }]);
    for (const p of [a, b, c, d]) p.socket.destroy();
  });
});

describe('relay: rooms expire', () => {
  it('a peer waiting past waitTimeout gets TIMEOUT (exit 5)', async () => {
    running = await startRelay({ waitTimeoutMs: 200 });
    const error = await rejection(join({ host: '127.0.0.1', port: running.port, nameplate: 5, timeoutMs: 5000 }));
    expect(error).toBeInstanceOf(NetworkError);
    expect(error.code).toBe('TIMEOUT');
    expect(error.exitCode).toBe(5);
    expect(error.message).toBe('no partner joined room 5 before the relay stopped waiting');
    await until(() => running?.events['room-closed'].length === 1);
    expect(running.events['room-closed']).toMatchObject([{ nameplate: 5, reason: 'wait-timeout', paired: false }]);
  });

  it("the client's own timeout and an abort both free the room", async () => {
    running = await startRelay();
    const timedOut = await rejection(join({ host: '127.0.0.1', port: running.port, nameplate: 6, timeoutMs: 150 }));
    expect(timedOut).toMatchObject({ code: 'TIMEOUT', message: 'no partner joined room 6 in time' });
    await until(() => running?.relay.rooms === 0);
    const controller = new AbortController();
    const joining = join({ host: '127.0.0.1', port: running.port, nameplate: 8, timeoutMs: 5000, signal: controller.signal });
    await until(() => running?.relay.rooms === 1);
    controller.abort(new Error('stop'));
    await expect(joining).rejects.toThrow('stop');
    await until(() => running?.relay.rooms === 0);
    expect(running.events['room-closed'].map((e) => e.reason)).toEqual(['left', 'left']);
  });

  it('an idle paired room is closed after idleTimeout', async () => {
    running = await startRelay({ idleTimeoutMs: 300 });
    const [a, b] = await pair(running.port);
    a.socket.write('some');
    await Promise.all([readAll(a.socket).catch(() => undefined), readAll(b.socket).catch(() => undefined)]);
    await until(() => running?.events['room-closed'].length === 1);
    expect(running.events['room-closed']).toMatchObject([{ reason: 'idle', fromFirst: 4, fromSecond: 0 }]);
    expect(a.explainCut()).toBeUndefined();
  });

  it('half-open: an end is passed on, the other side may still send during the grace, then is closed', async () => {
    running = await startRelay({ halfOpenGraceMs: 300 });
    let nameplate = 0;
    const first = join({ host: '127.0.0.1', port: running.port, allocate: true, timeoutMs: 5000, onWaiting: (n) => (nameplate = n) });
    await until(() => nameplate !== 0);
    const b = await join({ host: '127.0.0.1', port: running.port, nameplate, timeoutMs: 5000, allowHalfOpen: true });
    const a = await first;
    let atA = '';
    a.socket.on('data', (d: Buffer) => (atA += d.toString()));
    a.socket.on('error', () => undefined);
    a.socket.end('bye');
    expect((await readAll(b.socket)).toString()).toBe('bye');
    b.socket.write('late reply');
    await until(() => atA === 'late reply');
    // b never ends: the relay cuts the room (a reset) when the grace is over; b, no longer reading, sees it on its
    // next write.
    await until(() => running?.events['room-closed'].length === 1);
    expect(running.events['room-closed']).toMatchObject([{ reason: 'half-open', fromFirst: 3, fromSecond: 10 }]);
    const cut = new Promise<Error>((resolve) => b.socket.once('error', resolve));
    b.socket.write('more');
    expect(await cut).toMatchObject({ code: expect.stringMatching(/^(ECONNRESET|EPIPE)$/) });
  });

  it('a room past its lifetime is cut; explainCut names the limit', async () => {
    running = await startRelay({ roomLifetimeMs: 1200 });
    const [a, b] = await pair(running.port);
    a.socket.on('error', () => undefined);
    b.socket.on('error', () => undefined);
    const trickle = setInterval(() => a.socket.writable && a.socket.write('x'), 20);
    b.socket.resume();
    await new Promise<void>((resolve) => a.socket.once('close', () => resolve()));
    clearInterval(trickle);
    await until(() => running?.events['room-closed'].length === 1);
    expect(running.events['room-closed'][0]?.reason).toBe('lifetime');
    expect(a.explainCut()).toMatchObject({ code: 'REFUSED', message: 'the relay closed the room at its limit of 1 s per room' });
  });
});

describe('relay: byte and rate limits', () => {
  it('cuts a room at maxRoomBytes (both directions together) without forwarding past it', async () => {
    const cap = 1024 * 1024;
    running = await startRelay({ maxRoomBytes: cap });
    const [a, b] = await pair(running.port);
    a.socket.on('error', () => undefined);
    b.socket.on('error', () => undefined);
    const got: Buffer[] = [];
    b.socket.on('data', (d: Buffer) => got.push(d));
    b.socket.write(Buffer.alloc(1000));
    a.socket.write(Buffer.alloc(2 * cap));
    await Promise.all([new Promise((r) => a.socket.once('close', r)), new Promise((r) => b.socket.once('close', r))]);
    await until(() => running?.events['room-closed'].length === 1);
    const closed = running.events['room-closed'][0];
    expect(closed?.reason).toBe('byte-limit');
    expect((closed?.fromFirst ?? 0) + (closed?.fromSecond ?? 0)).toBeLessThanOrEqual(cap);
    expect(Buffer.concat(got).length).toBeLessThanOrEqual(cap);
    expect(a.explainCut()).toMatchObject({ code: 'REFUSED', message: `the relay closed the room at its limit of ${cap} bytes per room (both directions)` });
  });

  it('slows a room to roomRate: 3 MiB at 1 MiB/s with a 1 MiB burst cannot arrive in under ~2 s', async () => {
    // A lower bound only (a slow machine can only be slower); the bucket itself is tested with a fake clock.
    running = await startRelay({ roomRate: 1024 * 1024 });
    const [a, b] = await pair(running.port);
    expect(a.limits.rate).toBe(1024 * 1024);
    const data = randomBytes(3 * 1024 * 1024);
    const started = performance.now();
    const got = readAll(b.socket);
    a.socket.end(data);
    expect((await got).equals(data)).toBe(true);
    const seconds = (performance.now() - started) / 1000;
    expect(seconds).toBeGreaterThan(0.75 * ((data.length - 1024 * 1024 - 64 * 1024) / (1024 * 1024)));
    b.socket.end();
  });
});

describe('relay: shutdown and addresses', () => {
  it('close(): a waiting peer gets SHUTTING_DOWN at once; a paired room may finish within the grace, then is cut', async () => {
    running = await startRelay();
    const [a, b] = await pair(running.port);
    a.socket.on('error', () => undefined);
    b.socket.on('error', () => undefined);
    const waiting = join({ host: '127.0.0.1', port: running.port, nameplate: 99, timeoutMs: 5000 });
    await until(() => running?.relay.rooms === 2);
    const closing = running.relay.close(300);
    const refused = await rejection(waiting);
    expect(refused.message).toMatch(/refused: the relay is shutting down/);
    a.socket.write('still flowing');
    const atB = await new Promise<Buffer>((resolve) => b.socket.once('data', resolve));
    expect(atB.toString()).toBe('still flowing');
    await closing;
    expect(running.events['room-closed'].map((e) => e.reason).sort()).toEqual(['shutdown', 'shutdown']);
    running = undefined;
  });

  it('unreachable relay: NETWORK (exit 5); a server that is not a relay: NETWORK naming it', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });
    const unreachable = await rejection(join({ host: '127.0.0.1', port: closedPort, allocate: true, timeoutMs: 5000 }));
    expect(unreachable).toMatchObject({ code: 'NETWORK', exitCode: 5, message: `cannot reach the relay at 127.0.0.1:${closedPort} (127.0.0.1: ECONNREFUSED)` });
    const other = createServer((s) => s.end('HTTP/1.0 400 Bad Request\r\n\r\n'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const port = (other.address() as { port: number }).port;
      const notRelay = await rejection(join({ host: '127.0.0.1', port, allocate: true, timeoutMs: 5000 }));
      expect(notRelay.code).toBe('NETWORK');
      expect(notRelay.message).toMatch(new RegExp(`^127\\.0\\.0\\.1:${port} is not an sft relay \\(relay protocol: unexpected frame type 0x48\\)$`));
      const unknown = await rejection(join({ host: 'no-such-host.invalid', port, allocate: true, timeoutMs: 5000 }));
      expect(unknown.message).toMatch(/^cannot resolve the relay host "no-such-host.invalid"/);
    } finally {
      other.close();
    }
  });

  it('rejects a bad port or nameplate before connecting (UsageError)', async () => {
    await expect(join({ host: '127.0.0.1', port: 0, allocate: true, timeoutMs: 10 })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(join({ host: '127.0.0.1', port: 1, nameplate: 0, timeoutMs: 10 })).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('IPv6 loopback: a relay on ::1 is joined as "[::1]" and "::1"', async (ctx) => {
    const probe = createServer();
    const haveV6 = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.listen(0, '::1', () => probe.close(() => resolve(true)));
    });
    if (!haveV6) {
      console.warn('SKIPPED: this machine has no IPv6 loopback (::1)');
      ctx.skip();
    }
    running = await startRelay({ host: '::1' });
    const first = join({ host: '[::1]', port: running.port, nameplate: 61, timeoutMs: 5000 });
    await until(() => running?.relay.rooms === 1);
    const second = await join({ host: '::1', port: running.port, nameplate: 61, timeoutMs: 5000 });
    second.socket.end('v6');
    expect((await readAll((await first).socket)).toString()).toBe('v6');
  });
});
