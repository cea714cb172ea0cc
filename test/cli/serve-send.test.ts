import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { pseudoRandomBytes, tempDir } from '../helpers.js';

const sft = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

function start(args: string[], password: string) {
  const child = spawn(process.execPath, [sft, ...args], { env: { ...process.env, SFT_PASSWORD: password }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  return { child, exit, stderr: () => stderr };
}

async function serve(dir: string) {
  const server = start(['serve', '--port', '0', '--dir', dir, '--iterations', '1000', '--json'], 'pw-Strong-enough-2024!');
  const lines = createInterface({ input: server.child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  let listening: { event: string; port: number; dir: string } | undefined;
  while (listening?.event !== 'listening') listening = JSON.parse((await lines.next()).value as string) as { event: string; port: number; dir: string };
  return { ...server, lines, port: listening.port };
}

describe('sft serve / sft send (real processes)', () => {
  it('sends a directory, logs each file, stops cleanly on SIGTERM', async () => {
    const root = tempDir();
    const server = await serve(join(root, 'inbox'));
    mkdirSync(join(root, 'docs/sub'), { recursive: true });
    writeFileSync(join(root, 'docs/a.txt'), 'alpha');
    writeFileSync(join(root, 'docs/sub/b.bin'), pseudoRandomBytes(100_000, 1));
    const send = start(['send', join(root, 'docs'), '--to', `127.0.0.1:${server.port}`], 'pw-Strong-enough-2024!');
    expect(await send.exit).toBe(0);
    expect(send.stderr()).toMatch(/sent 2 file\(s\), 97\.7 KiB in .* every receipt verified/);
    const received: { storedPath: string; kind: string }[] = [];
    while (received.filter((e) => e.kind === 'file').length < 2) received.push(JSON.parse((await server.lines.next()).value as string) as { storedPath: string; kind: string });
    expect(received.filter((e) => e.kind === 'file').map((e) => e.storedPath).sort()).toEqual(['docs/a.txt', 'docs/sub/b.bin']);
    expect(readFileSync(join(root, 'inbox/docs/a.txt'), 'utf8')).toBe('alpha');
    server.child.kill('SIGTERM');
    expect(await server.exit).toBe(0);
  });

  it('wrong password: the client exits 3 and the server logs the attempt with the peer address', async () => {
    const root = tempDir();
    const server = await serve(join(root, 'inbox'));
    writeFileSync(join(root, 'f'), 'x');
    const send = start(['send', join(root, 'f'), '--to', `127.0.0.1:${server.port}`], 'not-the-password');
    expect(await send.exit).toBe(3);
    expect(send.stderr()).toMatch(/sft: error: wrong password or authentication failed/);
    const event = JSON.parse((await server.lines.next()).value as string) as Record<string, string>;
    expect(event).toMatchObject({ event: 'session-error', code: 'AUTH_FAILED' });
    expect(event.peer).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('no server: exit 5; bad --to: exit 2', async () => {
    const root = tempDir();
    writeFileSync(join(root, 'f'), 'x');
    expect(await start(['send', join(root, 'f'), '--to', '127.0.0.1:1'], 'pw').exit).toBe(5);
    expect(await start(['send', join(root, 'f'), '--to', 'host:99999'], 'pw').exit).toBe(2);
    expect(await start(['send', join(root, 'f')], 'pw').exit).toBe(2);
  });
});
