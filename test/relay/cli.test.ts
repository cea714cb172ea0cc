import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { join, readAll, until } from './harness.js';

const sft = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

function start(args: string[]) {
  const child = spawn(process.execPath, [sft, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? `killed by ${signal}`)));
  return { child, exit, stderr: () => stderr };
}

describe('sft relay (a real process)', () => {
  it('pairs peers, reports JSON events with byte counts, refuses a third, and stops cleanly on SIGTERM', async () => {
    const relay = start(['relay', '--port', '0', '--json', '--wait-timeout', '30']);
    const events: Record<string, unknown>[] = [];
    const lines = createInterface({ input: relay.child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => events.push(JSON.parse(line) as Record<string, unknown>));
    await until(() => events.length === 1, 15_000);
    expect(events[0]).toMatchObject({ event: 'listening', host: '127.0.0.1', limits: { maxPerSource: 32, waitTimeoutMs: 30_000 } });
    const port = events[0]?.port as number;
    let nameplate = 0;
    const first = join({ host: '127.0.0.1', port, allocate: true, timeoutMs: 10_000, onWaiting: (n) => (nameplate = n) });
    await until(() => nameplate !== 0);
    const second = await join({ host: '127.0.0.1', port, nameplate, timeoutMs: 10_000 });
    const a = await first;
    await expect(join({ host: '127.0.0.1', port, nameplate, timeoutMs: 10_000 })).rejects.toMatchObject({ code: 'REFUSED' });
    const atB = readAll(second.socket);
    a.socket.end(Buffer.alloc(1000, 1));
    expect((await atB).length).toBe(1000);
    second.socket.end();
    await until(() => events.some((e) => e.event === 'room-closed'));
    expect(events.slice(1)).toEqual([
      { event: 'paired', nameplate },
      { event: 'refused', peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/), code: 'ROOM_FULL', message: `nameplate ${nameplate} already has two peers`, nameplate },
      { event: 'room-closed', nameplate, reason: 'done', fromFirst: 1000, fromSecond: 0, paired: true, ms: expect.any(Number) },
    ]);
    let inRoom = false;
    const waiting = join({ host: '127.0.0.1', port, nameplate: 5, timeoutMs: 10_000, onWaiting: () => (inRoom = true) });
    await until(() => inRoom);
    relay.child.kill('SIGTERM');
    await expect(waiting).rejects.toMatchObject({ code: 'REFUSED', message: expect.stringMatching(/shutting down/) });
    expect(await relay.exit).toBe(0);
    expect(events.at(-1)).toEqual({ event: 'stopped' });
    expect(relay.stderr()).toBe('');
  });

  it('says in one line when the port is in use, and names a bad option value (exit 2 both, as serve)', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    try {
      const busy = start(['relay', '--port', String(port)]);
      expect(await busy.exit).toBe(2);
      expect(busy.stderr()).toBe(`sft: error: port ${port} is in use; choose another with --port\n`);
    } finally {
      holder.close();
    }
    const bad = start(['relay', '--max-per-source', '0']);
    expect(await bad.exit).toBe(2);
    expect(bad.stderr()).toMatch(/--max-per-source expects an integer in \[1, /);
  });

  it('prints plain lines without --json, and stops on SIGINT', async () => {
    const relay = start(['relay', '--port', '0']);
    await until(() => relay.stderr().includes('relay listening on'), 15_000);
    expect(relay.stderr()).toMatch(/^relay listening on 127\.0\.0\.1:\d+\n$/);
    relay.child.kill('SIGINT');
    expect(await relay.exit).toBe(0);
    expect(relay.stderr()).toMatch(/SIGINT: no new connections; waiting up to 10 s for paired rooms\n$/);
  });
});
