import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pseudoRandomBytes, tempDir } from '../helpers.js';
import { have } from '../tools.js';

/** The built CLI (npm test builds it first), run as a real process. */
const sft = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const node = process.execPath;
const haveTar = have('tar', 'the tar pipe test');
const havePython = have('python3', 'the passphrase-prompt-on-a-terminal test');
const withPty = new URL('../../scripts/with-pty.py', import.meta.url).pathname;

function keygen(dir: string): string {
  execFileSync(node, [sft, 'keygen', '-o', join(dir, 'key.txt')], { stdio: 'ignore' });
  return execFileSync(node, [sft, 'keygen', '-y', join(dir, 'key.txt')]).toString().trim();
}

describe('sft encrypt / decrypt as processes in pipes', () => {
  it.skipIf(!haveTar)('tar c dir | sft encrypt -r … | sft decrypt -i … | tar x reproduces the tree', () => {
    const dir = tempDir();
    const recipient = keygen(dir);
    mkdirSync(join(dir, 'tree/sub/deeper'), { recursive: true });
    writeFileSync(join(dir, 'tree/a.txt'), 'alpha\n');
    writeFileSync(join(dir, 'tree/sub/b.bin'), pseudoRandomBytes(1_000_003, 3));
    writeFileSync(join(dir, 'tree/sub/deeper/empty'), '');
    mkdirSync(join(dir, 'out'));
    const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
    const pipeline = `tar -C ${q(dir)} -c tree | ${q(node)} ${q(sft)} encrypt -r ${recipient} | ${q(node)} ${q(sft)} decrypt -i ${q(join(dir, 'key.txt'))} | tar -C ${q(join(dir, 'out'))} -x`;
    execFileSync('bash', ['-c', `set -o pipefail; ${pipeline}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    for (const file of ['a.txt', 'sub/b.bin', 'sub/deeper/empty']) expect(readFileSync(join(dir, 'out/tree', file)).equals(readFileSync(join(dir, 'tree', file))), file).toBe(true);
  });

  it('/dev/stdin works as an input path (a shell pipe), and - as an output', () => {
    const dir = tempDir();
    const recipient = keygen(dir);
    const data = pseudoRandomBytes(200_000, 4);
    writeFileSync(join(dir, 'data'), data);
    // Through `cat |`: Node gives a child a socket, not a pipe, as its standard input, and /dev/stdin cannot open a socket.
    const viaPipe = (args: string[], input: string) => execFileSync('sh', ['-c', 'cat "$0" | "$@"', input, node, sft, ...args]);
    writeFileSync(join(dir, 'sealed'), viaPipe(['encrypt', '-r', recipient, '-o', '-', '/dev/stdin'], join(dir, 'data')));
    expect(viaPipe(['decrypt', '-i', join(dir, 'key.txt'), '-o', '-', '/dev/stdin'], join(dir, 'sealed')).equals(data)).toBe(true);
  });

  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal} during decrypt says "interrupted", exits ${code} and leaves no plaintext temporary file`, async () => {
      const dir = tempDir();
      const recipient = keygen(dir);
      writeFileSync(join(dir, 'plain'), pseudoRandomBytes(4 * 1024 * 1024, 6));
      execFileSync(node, [sft, 'encrypt', '-r', recipient, join(dir, 'plain'), '-o', join(dir, 'sealed.age')], { stdio: 'ignore' });
      const sealed = readFileSync(join(dir, 'sealed.age'));
      const out = join(dir, 'out');
      mkdirSync(out);
      const child = spawn(node, [sft, 'decrypt', '-i', join(dir, 'key.txt'), '-o', join(out, 'plain')], { stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdin.on('error', () => undefined); // EPIPE once the child is gone
      const exit = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      // Half the file, then wait until the temporary file exists: decryption is under way and the pipe stays open.
      child.stdin.write(sealed.subarray(0, sealed.length / 2));
      for (let i = 0; i < 200 && readdirSync(out).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
      expect(readdirSync(out).some((n) => n.endsWith('.sft-tmp'))).toBe(true);
      child.kill(signal);
      expect(await exit).toBe(code);
      expect(stderr).toMatch(/sft: error: interrupted/);
      expect(readdirSync(out)).toEqual([]);
      child.stdin.destroy();
    });
  }

  it.skipIf(!havePython)('with the data on standard input, the passphrase is asked on the terminal (/dev/tty)', () => {
    const dir = tempDir();
    // with-pty.py runs the pipeline on a pseudo-terminal and types the passphrase at each prompt; sft itself has no
    // SFT_PASSWORD, so it can only have read the passphrase from the terminal.
    const password = { ...process.env, SFT_PASSWORD: 'violet-Tractor-93-quietly-harbor' };
    const pipeline = (command: string) => execFileSync('python3', [withPty, 'sh', '-c', command, 'sh', node, sft, dir], { env: password });
    pipeline('echo secret-words | env -u SFT_PASSWORD "$1" "$2" encrypt -o "$3/p.age"');
    pipeline('env -u SFT_PASSWORD "$1" "$2" decrypt -o "$3/p.txt" < "$3/p.age"');
    expect(readFileSync(join(dir, 'p.txt'), 'utf8')).toBe('secret-words\n');
  });

  it('no stat -: ENOENT and no file named -', () => {
    const dir = tempDir();
    const recipient = keygen(dir);
    const r = spawnSync(node, [sft, 'encrypt', '-r', recipient, '-'], { input: 'x', cwd: dir });
    expect(r.status).toBe(0);
    expect(r.stderr.toString()).not.toMatch(/ENOENT|ESPIPE/);
    expect(existsSync(join(dir, '-'))).toBe(false);
  });
});
