import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/cli/run.js';
import { pseudoRandomBytes, tempDir } from '../helpers.js';
import { fakeIo } from './io.js';

const strong = { SFT_PASSWORD: 'violet-Tractor-93-quietly-harbor' };

describe('sft encrypt / decrypt', () => {
  it('round-trips in both formats, prints nothing on stdout, and JSON with --json', async () => {
    const dir = tempDir();
    const file = join(dir, 'doc.bin');
    const data = pseudoRandomBytes(70_000, 2);
    writeFileSync(file, data);
    for (const format of ['age', 'fernet']) {
      const io = fakeIo(strong);
      expect(await run(['encrypt', file, '--format', format, ...(format === 'fernet' ? ['--iterations', '1000'] : [])], io)).toBe(0);
      expect(io.out()).toBe('');
      expect(io.err()).not.toContain('warning');
      const io2 = fakeIo(strong);
      const out = join(dir, `plain.${format}`);
      expect(await run(['decrypt', `${file}.${format}`, '-o', out, '--json'], io2)).toBe(0);
      const event = JSON.parse(io2.out().trim()) as Record<string, unknown>;
      expect(event).toMatchObject({ event: 'decrypted', format, size: data.length });
      expect(readFileSync(out).equals(data)).toBe(true);
    }
  });

  it('reads the password from --password-file, and warns about a weak one', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'f'), 'x');
    writeFileSync(join(dir, 'pw'), 'password\n');
    const io = fakeIo();
    expect(await run(['encrypt', join(dir, 'f'), '--password-file', join(dir, 'pw')], io)).toBe(0);
    expect(io.err()).toMatch(/warning: weak password \(strength 0\/4\)/);
    expect(await run(['decrypt', join(dir, 'f.age'), '-o', join(dir, 'g'), '--password-file', join(dir, 'pw')], fakeIo())).toBe(0);
    expect(readFileSync(join(dir, 'g'), 'utf8')).toBe('x');
  });

  it('exit codes: 2 usage, 3 wrong password, 4 tampered, 1 other; one line on stderr, no output file', async () => {
    const dir = tempDir();
    const file = join(dir, 'f');
    writeFileSync(file, pseudoRandomBytes(1000, 1));
    expect(await run(['encrypt', file], fakeIo(strong))).toBe(0);
    const sealed = readFileSync(`${file}.age`);
    const tampered = Buffer.from(sealed);
    tampered[tampered.length - 5] = (tampered[tampered.length - 5] as number) ^ 1;
    writeFileSync(join(dir, 't.age'), tampered);
    writeFileSync(join(dir, 'junk.age'), 'not an age file');
    const cases: [string[], Record<string, string>, number, RegExp][] = [
      [['frobnicate'], strong, 2, /unknown command/],
      [['encrypt'], strong, 2, /missing required argument/],
      [['encrypt', file, '--format', 'zip'], strong, 2, /Allowed choices/],
      [['decrypt', `${file}.age`, '-o', join(dir, 'o')], {}, 2, /no password/],
      [['decrypt', join(dir, 'f')], strong, 2, /pass -o/],
      [['decrypt', `${file}.age`, '-o', join(dir, 'o')], { SFT_PASSWORD: 'nope' }, 3, /wrong password/],
      [['decrypt', join(dir, 't.age'), '-o', join(dir, 'o')], strong, 4, /failed authentication/],
      [['decrypt', join(dir, 'junk.age'), '-o', join(dir, 'o')], strong, 4, /unknown file format/],
      [['decrypt', join(dir, 'missing.age'), '-o', join(dir, 'o')], strong, 1, /ENOENT/],
    ];
    for (const [argv, env, code, message] of cases) {
      const io = fakeIo(env);
      expect(await run(argv, io), argv.join(' ')).toBe(code);
      expect(io.err(), argv.join(' ')).toMatch(message);
      expect(existsSync(join(dir, 'o'))).toBe(false);
    }
    expect(readdirSync(dir).sort()).toEqual(['f', 'f.age', 'junk.age', 't.age']);
  });

  it('--json reports errors as a JSON line too; --debug adds the stack', async () => {
    const io = fakeIo({ SFT_PASSWORD: 'x' });
    expect(await run(['decrypt', '/nonexistent.age', '-o', '/tmp/never', '--json', '--debug'], io)).toBe(1);
    expect(JSON.parse(io.out())).toMatchObject({ event: 'error', code: 'IO' });
    expect(io.err()).toMatch(/\n\s+at /);
  });
});
