import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SecureFileTransfer, type FileFormat } from '../../src/index.js';
import { pseudoRandomBytes, SIZES, tempDir } from '../helpers.js';
import { have } from '../tools.js';

const havePython = have('python3-cryptography', "the checks against Python's cryptography (the reference Fernet)", "python3 -c 'import cryptography'");
const haveAge = have('age', 'the passphrase round trip with the age CLI', 'command -v age && command -v python3');

const python = (args: string[], password = 'pw') =>
  execFileSync('python3', [new URL('../interop/fernet_tool.py', import.meta.url).pathname, ...args], { env: { ...process.env, SFT_PASSWORD: password } }).toString().trim();
/** Debian's age CLI, with the passphrase typed on a pseudo-terminal (it reads passphrases only from a terminal). */
const agePty = (mode: 'encrypt' | 'decrypt', input: string, output: string, password: string) =>
  execFileSync('python3', [new URL('../../scripts/with-pty.py', import.meta.url).pathname, 'age', ...(mode === 'encrypt' ? ['-p'] : ['-d']), '-o', output, input], {
    env: { ...process.env, SFT_PASSWORD: password },
  });

const fast = { workFactor: 10, iterations: 1000 };
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('SecureFileTransfer key and token API, against Python cryptography', () => {
  it.skipIf(!havePython)('deriveKey equals PBKDF2HMAC + urlsafe_b64encode', async () => {
    const salt = randomBytes(16);
    const key = await SecureFileTransfer.deriveKey('correct horse', salt, 5000);
    expect(key).toBe(python(['derive', salt.toString('hex'), '5000'], 'correct horse'));
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}=$/);
  });

  it.skipIf(!havePython)('a token made by Python decrypts, and ours decrypts in Python', async () => {
    const key = await SecureFileTransfer.deriveKey('pw', randomBytes(16), 1000);
    for (const size of [0, 1, 15, 16, 17, 1000]) {
      const data = randomBytes(size);
      const fromPython = python(['encrypt', key, data.toString('hex')]);
      expect(SecureFileTransfer.decrypt(fromPython, key).equals(data)).toBe(true);
      const ours = SecureFileTransfer.encrypt(data, key);
      expect(python(['decrypt', key, ours])).toBe(data.toString('hex'));
    }
  });

  it('decrypt honours the ttl', () => {
    const key = 'cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=';
    const token = SecureFileTransfer.encrypt('x', key);
    expect(SecureFileTransfer.decrypt(token, key, 60).toString()).toBe('x');
  });
});

/** Every name in `dir` other than the ones given: catches leftover temporary files. */
const others = (dir: string, keep: string[]) => readdirSync(dir).filter((n) => !keep.includes(n));

describe('encryptFile / decryptFile', () => {
  for (const format of ['age', 'fernet'] as FileFormat[]) {
    it(`${format}: round-trips every boundary size`, async () => {
      const dir = tempDir();
      for (const size of SIZES) {
        const data = pseudoRandomBytes(size, size + 3);
        const [plain, sealed, opened] = [join(dir, `p${size}`), join(dir, `s${size}`), join(dir, `o${size}`)];
        writeFileSync(plain, data);
        const enc = await SecureFileTransfer.encryptFile(plain, sealed, { password: 'pw', format, ...fast });
        expect(enc).toEqual({ format, size });
        expect(await SecureFileTransfer.detectFormat(sealed)).toBe(format);
        const dec = await SecureFileTransfer.decryptFile(sealed, opened, { password: 'pw' });
        expect(dec.size).toBe(size);
        if (format === 'fernet') expect(dec.sha256).toBe(sha(data));
        expect(readFileSync(opened).equals(data)).toBe(true);
      }
      expect(others(dir, SIZES.flatMap((s) => [`p${s}`, `s${s}`, `o${s}`]))).toEqual([]);
    });

    it(`${format}: tampered, truncated, extended and wrong-password inputs fail with the right code and write nothing`, async () => {
      const dir = tempDir();
      const data = pseudoRandomBytes(3 * 65536 + 123, 9);
      const plain = join(dir, 'plain');
      const sealed = join(dir, 'sealed');
      writeFileSync(plain, data);
      await SecureFileTransfer.encryptFile(plain, sealed, { password: 'pw', format, ...fast });
      const original = readFileSync(sealed);
      const headerEnd = format === 'age' ? original.indexOf('\n---') + 49 + 16 : 33;
      const cases: [string, (path: string) => void, string, string?][] = [
        ['wrong password', () => undefined, 'AUTH_FAILED', 'wrong'],
        ['flip a payload byte', (p) => flip(p, headerEnd + 100_000), 'TAMPERED'],
        ['flip the last byte', (p) => flip(p, original.length - 1), 'TAMPERED'],
        ['truncate by one byte', (p) => truncateSync(p, original.length - 1), format === 'age' ? 'TAMPERED' : 'TRUNCATED'],
        ['truncate to a chunk boundary', (p) => truncateSync(p, format === 'age' ? headerEnd + 2 * 65552 : headerEnd), 'TRUNCATED'],
        ['truncate inside the header', (p) => truncateSync(p, 20), 'MALFORMED'],
        ['append a byte', (p) => appendFileSync(p, 'x'), 'TAMPERED'],
        ['append a copy of the payload', (p) => appendFileSync(p, original.subarray(headerEnd)), 'TAMPERED'],
      ];
      if (format === 'age') cases.push(['change a header mac character', (p) => setBase64Char(p, original.indexOf('\n---') + 10), 'TAMPERED'], ['change a salt character', (p) => setBase64Char(p, original.indexOf('scrypt ') + 8), 'AUTH_FAILED']);
      else cases.push(['change the iteration count', (p) => flip(p, 16), 'AUTH_FAILED'], ['change a character of the first token', (p) => setBase64Char(p, 60), 'AUTH_FAILED']);
      for (const [label, mutate, code, password] of cases) {
        const input = join(dir, 'input');
        writeFileSync(input, original);
        mutate(input);
        const output = join(dir, 'output');
        await expect(SecureFileTransfer.decryptFile(input, output, { password: password ?? 'pw' }), label).rejects.toMatchObject({ code });
        expect(existsSync(output), label).toBe(false);
        expect(others(dir, ['plain', 'sealed', 'input']), label).toEqual([]);
      }
    });
  }

  it('never replaces an existing output unless asked, and then atomically', async () => {
    const dir = tempDir();
    const [plain, sealed, out] = ['p', 's', 'o'].map((n) => join(dir, n)) as [string, string, string];
    writeFileSync(plain, 'new');
    writeFileSync(out, 'old');
    await SecureFileTransfer.encryptFile(plain, sealed, { password: 'pw', ...fast });
    await expect(SecureFileTransfer.decryptFile(sealed, out, { password: 'pw' })).rejects.toMatchObject({ code: 'IO' });
    expect(readFileSync(out, 'utf8')).toBe('old');
    await SecureFileTransfer.decryptFile(sealed, out, { password: 'pw', overwrite: true });
    expect(readFileSync(out, 'utf8')).toBe('new');
    expect(others(dir, ['p', 's', 'o'])).toEqual([]);
  });

  it('refuses a work factor above the limit before running scrypt', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'p'), 'x');
    await SecureFileTransfer.encryptFile(join(dir, 'p'), join(dir, 's'), { password: 'pw', workFactor: 12 });
    await expect(SecureFileTransfer.decryptFile(join(dir, 's'), join(dir, 'o'), { password: 'pw', maxWorkFactor: 11 })).rejects.toMatchObject({ code: 'MALFORMED' });
  });
});

describe('interoperability with independent implementations', () => {
  it.skipIf(!havePython)('Python decrypts our fernet file token by token and checks its SHA-256', async () => {
    const dir = tempDir();
    const data = pseudoRandomBytes(2 * 65536 + 1, 4);
    writeFileSync(join(dir, 'p'), data);
    await SecureFileTransfer.encryptFile(join(dir, 'p'), join(dir, 's'), { password: 'pw', format: 'fernet', iterations: 2000 });
    expect(python(['decrypt-file', join(dir, 's'), join(dir, 'py')])).toBe(sha(data));
    expect(readFileSync(join(dir, 'py')).equals(data)).toBe(true);
  });

  it.skipIf(!haveAge)('age -d decrypts what we write, and we decrypt what age -p writes', async () => {
    const dir = tempDir();
    const data = pseudoRandomBytes(65536 * 2, 11);
    writeFileSync(join(dir, 'p'), data);
    await SecureFileTransfer.encryptFile(join(dir, 'p'), join(dir, 'ours.age'), { password: 'pass phrase', workFactor: 12 });
    agePty('decrypt', join(dir, 'ours.age'), join(dir, 'by-age'), 'pass phrase');
    expect(readFileSync(join(dir, 'by-age')).equals(data)).toBe(true);
    agePty('encrypt', join(dir, 'p'), join(dir, 'theirs.age'), 'pass phrase');
    await SecureFileTransfer.decryptFile(join(dir, 'theirs.age'), join(dir, 'by-us'), { password: 'pass phrase' });
    expect(readFileSync(join(dir, 'by-us')).equals(data)).toBe(true);
    await expect(SecureFileTransfer.decryptFile(join(dir, 'theirs.age'), join(dir, 'nope'), { password: 'wrong' })).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    expect(statSync(join(dir, 'theirs.age')).size).toBeGreaterThan(data.length);
  });
});

function flip(path: string, offset: number): void {
  const bytes = readFileSync(path);
  bytes[offset] = (bytes[offset] as number) ^ 0x01;
  writeFileSync(path, bytes);
}

/** Replaces a base64 character with another valid one, so only the HMAC can notice. */
function setBase64Char(path: string, offset: number): void {
  const bytes = readFileSync(path);
  bytes[offset] = bytes[offset] === 0x41 ? 0x42 : 0x41;
  writeFileSync(path, bytes);
}
