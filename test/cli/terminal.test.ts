/**
 * The CLI in a real pseudo-terminal (80x24, progress bars on): every failing command stops its bars, prints its
 * error on its own line and exits with its code, promptly; Ctrl-C during send says how to resume; many files draw
 * one bar with a line per delivered file above it.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pseudoRandomBytes, tempDir } from '../helpers.js';
import { startProxy, startServer, type Running } from '../transfer/harness.js';
import { have } from '../tools.js';

const sft = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const ptyRun = new URL('./pty-run.py', import.meta.url).pathname;
const havePython = have('python3', 'the tests in a pseudo-terminal (test/cli/pty-run.py)');
const haveTmux = have('tmux', 'the screen test of the progress display', 'tmux -V');

interface Run { exit: number; output: string; timedOut: boolean }

/** Runs sft on a pseudo-terminal; asynchronous, so a server in this process keeps serving meanwhile. */
function inTerminal(args: string[], options: { env?: Record<string, string>; timeout?: number; interruptOn?: string } = {}): Promise<Run> {
  const child = spawn('python3', [ptyRun, String(options.timeout ?? 20), ...(options.interruptOn === undefined ? [] : ['--interrupt-on', options.interruptOn]), '--', process.execPath, sft, ...args], {
    env: { ...process.env, SFT_PASSWORD: 'pw', ...options.env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => child.on('exit', () => resolve(JSON.parse(out) as Run)));
}

/** The error line stands on its own line: after a newline (or at the start), not glued to a bar. */
function errorLine(output: string): string | undefined {
  const ansi = new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g');
  return output.split(/\r?\n/).find((line) => line.replace(ansi, '').replace(/^\r/, '').trimStart().startsWith('sft: error:'));
}

let running: Running | undefined;
let proxy: Server | undefined;
afterEach(async () => {
  proxy?.close();
  await running?.close();
  running = undefined;
  proxy = undefined;
});

describe.skipIf(!havePython)('errors in a terminal', () => {
  it('wrong password: exit 3, the message on its own line, no hang', async () => {
    running = await startServer();
    const src = tempDir();
    writeFileSync(join(src, 'f'), pseudoRandomBytes(20 * 1024 * 1024, 1));
    const run = await inTerminal(['send', join(src, 'f'), '--to', `127.0.0.1:${running.port}`], { env: { SFT_PASSWORD: 'wrong' } });
    expect(run.timedOut).toBe(false);
    expect(run.exit).toBe(3);
    expect(errorLine(run.output)).toMatch(/wrong password or authentication failed/);
  });

  it('connection refused: exit 5 at once, in words', async () => {
    const src = tempDir();
    writeFileSync(join(src, 'f'), 'x');
    const run = await inTerminal(['send', join(src, 'f'), '--to', '127.0.0.1:1'], { timeout: 10 });
    expect(run.timedOut).toBe(false);
    expect(run.exit).toBe(5);
    expect(errorLine(run.output)).toMatch(/cannot connect to 127\.0\.0\.1:1: connection refused/);
  });

  it('a connection killed mid-transfer: exit 5 within seconds, the bar stopped', async () => {
    running = await startServer();
    const started = await startProxy(running.port, { cutAfter: 8 * 1024 * 1024 });
    proxy = started.server;
    const src = tempDir();
    writeFileSync(join(src, 'big'), pseudoRandomBytes(64 * 1024 * 1024, 2));
    const before = Date.now();
    const run = await inTerminal(['send', join(src, 'big'), '--to', `127.0.0.1:${started.port}`]);
    expect(run.timedOut).toBe(false);
    expect(run.exit).toBe(5);
    expect(Date.now() - before).toBeLessThan(15_000);
    expect(errorLine(run.output)).toMatch(/connection/);
  });

  it('Ctrl-C during send: exit 130, says it was interrupted and that running it again resumes', async () => {
    running = await startServer();
    const src = tempDir();
    writeFileSync(join(src, 'big'), pseudoRandomBytes(200 * 1024 * 1024, 3));
    const run = await inTerminal(['send', join(src, 'big'), '--to', `127.0.0.1:${running.port}`], { interruptOn: 'MiB/s' });
    expect(run.timedOut).toBe(false);
    expect(run.exit).toBe(130);
    expect(errorLine(run.output)).toMatch(/interrupted; run the same command again to resume/);
  });

  it('serve on a port in use: one line, no stack trace, nothing created', async () => {
    running = await startServer();
    const dir = join(tempDir(), 'not-created');
    const run = await inTerminal(['serve', '--port', String(running.port), '--dir', dir], { env: { SFT_PASSWORD: 'violet-Tractor-93-quietly-harbor' } });
    expect(run.exit).toBe(2);
    expect(errorLine(run.output)).toMatch(new RegExp(`port ${running.port} is in use; choose another with --port`));
    expect(run.output).not.toMatch(/at .*\.js:\d+/);
    expect(spawnSync('test', ['-e', dir]).status).not.toBe(0);
  });
});


describe.skipIf(!havePython)('errors in a terminal: decrypt', () => {
  /** A 17 MiB file (above the 16 MiB from which a bar is drawn) encrypted to a new key; returns the paths. */
  function sealed(): { dir: string; key: string; file: string } {
    const dir = tempDir();
    const key = join(dir, 'key.txt');
    const keygen = spawnSync(process.execPath, [sft, 'keygen', '-o', key], { encoding: 'utf8' });
    const recipient = /Public key: (\S+)/.exec(keygen.stderr)?.[1] ?? '';
    writeFileSync(join(dir, 'plain'), pseudoRandomBytes(17 * 1024 * 1024, 4));
    const encrypt = spawnSync(process.execPath, [sft, 'encrypt', join(dir, 'plain'), '-r', recipient, '-o', join(dir, 'f.age')], { encoding: 'utf8' });
    expect(encrypt.status, encrypt.stderr).toBe(0);
    return { dir, key, file: join(dir, 'f.age') };
  }

  it('a 17 MiB age file with a byte flipped in the middle: exit 4, the bar stopped, the error on its own line, no output', async () => {
    const { dir, key, file } = sealed();
    const data = readFileSync(file);
    const middle = Math.floor(data.length / 2);
    data[middle] = (data[middle] as number) ^ 1;
    writeFileSync(file, data);
    const run = await inTerminal(['decrypt', '-i', key, file, '-o', join(dir, 'out')]);
    expect(run.timedOut).toBe(false);
    expect(run.exit).toBe(4);
    expect(run.output).toContain(`${file} |`); // the bar was drawn before the failure
    expect(errorLine(run.output)).toMatch(/failed authentication/);
    expect(readdirSync(dir).sort()).toEqual(['f.age', 'key.txt', 'plain']);
  });

  it('decrypt -o EXISTING: exit 1, "output exists" on its own line, the file untouched', async () => {
    const { dir, key, file } = sealed();
    writeFileSync(join(dir, 'existing'), 'keep me');
    const run = await inTerminal(['decrypt', '-i', key, file, '-o', join(dir, 'existing')], { timeout: 10 });
    expect(run.timedOut).toBe(false);
    expect(run.exit).toBe(1);
    expect(errorLine(run.output)).toMatch(/output exists: \S*existing/);
    expect(readFileSync(join(dir, 'existing'), 'utf8')).toBe('keep me');
  });
});

describe.skipIf(!haveTmux)('the progress display on screen (tmux)', () => {
  it('60 files: one total bar at the bottom, a line per delivered file above it, nothing overwritten', async () => {
    running = await startServer();
    const src = tempDir();
    mkdirSync(join(src, 'many'));
    for (let i = 0; i < 60; i++) writeFileSync(join(src, 'many', `f${String(i).padStart(2, '0')}.bin`), pseudoRandomBytes(300_000, i));
    const session = `sft-test-${process.pid}`;
    const command = `SFT_PASSWORD=pw ${process.execPath} ${sft} send ${join(src, 'many')} --to 127.0.0.1:${running.port}; echo EXIT=$?; sleep 30`;
    await new Promise((r) => spawn('tmux', ['new-session', '-d', '-s', session, '-x', '100', '-y', '30', command]).on('exit', r));
    try {
      let screen = '';
      for (let i = 0; i < 200 && !screen.includes('EXIT='); i++) {
        await new Promise((r) => setTimeout(r, 100));
        screen = await new Promise<string>((r) => {
          let text = '';
          spawn('tmux', ['capture-pane', '-p', '-t', session, '-S', '-200']).on('exit', () => r(text)).stdout.on('data', (d: Buffer) => (text += d.toString()));
        });
      }
      expect(screen).toContain('EXIT=0');
      const lines = screen.split('\n');
      expect(lines.filter((l) => / send \|/.test(l))).toHaveLength(1);
      for (let i = 0; i < 60; i++) expect(lines.filter((l) => l.includes(`delivered many/f${String(i).padStart(2, '0')}.bin`))).toHaveLength(1);
      expect(screen).toMatch(/sent 60 file\(s\)/);
    } finally {
      execFileSync('tmux', ['kill-session', '-t', session]);
    }
  });
});
