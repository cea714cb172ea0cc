/**
 * Error paths of the real CLI that a newcomer meets (issue 9): a reader that goes away, a served directory that
 * cannot be one, a missing input, a tampered middle chunk, names with control characters. Each runs the built CLI
 * as a process and checks the one line, the exit code, and what is (not) left behind.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { pseudoRandomBytes, tempDir } from '../helpers.js';
import { asNobody } from '../tools.js';

const sft = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const PASSWORD = 'pw-Strong-enough-2024!';
const env = { ...process.env, SFT_PASSWORD: PASSWORD, NO_COLOR: '1' };
const STACK = /\n\s+at .*:\d+/;
const ERRNO = /\bE[A-Z]{3,}\b/;
const children: ChildProcess[] = [];
afterEach(() => {
  // Detached children lead a process group (bash, sft, head): end the whole group.
  for (const child of children.splice(0)) {
    try {
      process.kill(child.spawnargs[0] === 'bash' ? -(child.pid as number) : (child.pid as number), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

const run = (args: string[], cwd?: string) => spawnSync(process.execPath, [sft, ...args], { env, cwd, encoding: 'utf8', timeout: 60_000 });
/** `sft …` piped into `reader` by bash, with pipefail: the pipeline's status is sft's when the reader succeeds. */
const piped = (args: string, reader: string) => spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${sft}" ${args} | ${reader}`], { env, encoding: 'utf8', timeout: 60_000 });

async function serve(dir: string, extra: string[] = [], stdio: 'pipe' | 'head' = 'pipe') {
  const args = ['serve', '--port', '0', '--dir', dir, '--iterations', '1000', '--workers', '1', '--json', ...extra];
  const child = stdio === 'pipe'
    ? spawn(process.execPath, [sft, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('bash', ['-c', `exec "${process.execPath}" "${sft}" ${args.join(' ')} | head -1`], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.push(child);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  const first = JSON.parse((await lines.next()).value as string) as { event: string; port: number };
  expect(first.event).toBe('listening');
  return { child, port: first.port };
}

describe('a reader that goes away: the command carries on, no stack trace', () => {
  it('ls | head -1, in words and --json, exits 0 and lists nothing after the reader left', async () => {
    const root = tempDir();
    for (let i = 0; i < 2000; i++) writeFileSync(join(root, `file-${String(i).padStart(4, '0')}-${'x'.repeat(60)}.txt`), 'x');
    const server = await serve(root, ['--allow-get']);
    for (const json of ['', '--json']) {
      const result = piped(`ls --from 127.0.0.1:${server.port} ${json}`, 'head -1');
      expect(result.stderr).not.toMatch(STACK);
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout.split('\n').filter(Boolean)).toHaveLength(1);
    }
  });

  it('send --json | head -1 still delivers every file and exits 0', async () => {
    const root = tempDir();
    mkdirSync(join(root, 'many'));
    for (let i = 0; i < 300; i++) writeFileSync(join(root, 'many', `f${i}.txt`), `file ${i}`);
    const server = await serve(join(root, 'inbox'));
    const result = piped(`send ${join(root, 'many')} --to 127.0.0.1:${server.port} --json 2>&1`, 'head -1');
    expect(result.stderr + result.stdout).not.toMatch(STACK);
    expect(result.status).toBe(0);
    for (let i = 0; i < 300; i++) expect(readFileSync(join(root, 'inbox', 'many', `f${i}.txt`), 'utf8')).toBe(`file ${i}`);
  });

  it('serve --json | head -1: the server keeps serving after its reader left', async () => {
    const root = tempDir();
    const server = await serve(join(root, 'inbox'), [], 'head');
    writeFileSync(join(root, 'f'), 'data');
    for (let i = 0; i < 3; i++) {
      const send = run(['send', join(root, 'f'), '--to', `127.0.0.1:${server.port}`]);
      expect(send.status, send.stderr).toBe(0);
    }
  });

  it('keygen -y KEY | true exits 0 without a stack trace', () => {
    const dir = tempDir();
    expect(run(['keygen', '-o', join(dir, 'key.txt')]).status).toBe(0);
    const result = piped(`keygen -y ${join(dir, 'key.txt')}`, 'true');
    expect(result.stderr).not.toMatch(STACK);
    expect(result.status).toBe(0);
  });
});

describe('serve: a directory that cannot be served is one line in words, at start', () => {
  it.each([
    ['a file', (root: string) => (writeFileSync(join(root, 'f'), ''), 'f'), /^sft: error: \S*f exists and is not a directory\n$/],
    ['under a file', (root: string) => (writeFileSync(join(root, 'f'), ''), 'f/inbox'), /^sft: error: cannot write into \S*f\/inbox: a part of the path is not a directory\n$/],
    ['under /sys (not permitted)', () => '/sys/sft-inbox', /^sft: error: cannot write into \/sys\/sft-inbox: .+\n$/],
    // mkdir answers ENOENT under /proc, which sent Node's recursive mkdir into an endless loop.
    ['under /proc (mkdir answers ENOENT)', () => '/proc/sft-inbox', /^sft: error: cannot write into \/proc\/sft-inbox: no such file or directory\n$/],
  ])('%s', (_what, make, message) => {
    const root = tempDir();
    const dir = make(root);
    const result = run(['serve', '--port', '0', '--dir', dir, '--iterations', '1000', '--workers', '1'], root);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(ERRNO);
  });

  const nobody = asNobody('serve of an inbox its user cannot write into', sft);
  it.skipIf(nobody === undefined)('an inbox this user cannot write into is refused at start, not at each session', () => {
    const root = tempDir();
    chmodSync(root, 0o755);
    mkdirSync(join(root, 'inbox'), { mode: 0o755 });
    const [command, ...prefix] = nobody ?? [];
    const result = spawnSync(command as string, [...prefix, process.execPath, sft, 'serve', '--port', '0', '--dir', join(root, 'inbox'), '--workers', '1', '--iterations', '1000'], { env, encoding: 'utf8', timeout: 30_000 });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`sft: error: cannot write into ${join(root, 'inbox')}: permission denied\n`);
  });
});

describe('inputs and integrity, in words', () => {
  it('a missing input is a file-system error (exit 1) for send as for decrypt', () => {
    const dir = tempDir();
    for (const args of [['send', join(dir, 'absent'), '--to', '127.0.0.1:9'], ['decrypt', join(dir, 'absent.age')]]) {
      const result = run(args);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/^sft: error: cannot read \S+absent(\.age)?: no such file or directory\n$/);
    }
  });

  it('a byte flipped in a middle chunk names that chunk, not "final chunk"', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'p'), pseudoRandomBytes(5 * 65536, 3));
    expect(run(['keygen', '-o', join(dir, 'key')]).status).toBe(0);
    const recipient = run(['keygen', '-y', join(dir, 'key')]).stdout.trim();
    expect(run(['encrypt', '-r', recipient, join(dir, 'p')]).status).toBe(0);
    const bytes = readFileSync(join(dir, 'p.age'));
    const at = bytes.length - 2 * 65536;
    bytes[at] = (bytes[at] as number) ^ 1;
    writeFileSync(join(dir, 'p.age'), bytes);
    const result = run(['decrypt', '-i', join(dir, 'key'), '-o', join(dir, 'out'), join(dir, 'p.age')]);
    expect(result.status).toBe(4);
    expect(result.stderr).toMatch(/^sft: error: .*\bchunk 3 failed authentication/);
    expect(result.stderr).not.toMatch(/final chunk/);
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });

  it('a refused file is not counted in what was sent; a control character in a local name is shown escaped', async () => {
    const root = tempDir();
    mkdirSync(join(root, 'mixed'));
    writeFileSync(join(root, 'mixed', 'big.bin'), pseudoRandomBytes(2 << 20, 1));
    writeFileSync(join(root, 'mixed', 'ok.txt'), 'small');
    writeFileSync(join(root, 'mixed', 'esc\u001b[2J.txt'), 'refused by name');
    const server = await serve(join(root, 'inbox'), ['--max-file-size', '1M']);
    const result = run(['send', join(root, 'mixed'), '--to', `127.0.0.1:${server.port}`]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/sent 1 file\(s\), 5 B in /);
    expect(result.stderr).toContain('refused by the receiver: mixed/esc\\u{1b}[2J.txt');
    expect(result.stderr).not.toContain('\u001b');
  });
});
