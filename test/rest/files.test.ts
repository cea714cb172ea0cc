import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { InterruptedError } from '../../src/errors.js';
import { MAX_FILE_ITERATIONS } from '../../src/rest/fernet-file.js';
import { decrypt, decryptFile, encrypt, encryptFile } from '../../src/rest/files.js';
import { generateIdentity, identityToRecipient } from '../../src/rest/keys.js';
import { pseudoRandomBytes, randomSplit, SIZES, tempDir } from '../helpers.js';
import { handMadeFernetFile } from './fernet-fixture.js';

function collector() {
  const chunks: Buffer[] = [];
  return { sink: new Writable({ write: (c: Buffer, _e, done) => (chunks.push(c), done()) }), bytes: () => Buffer.concat(chunks) };
}

describe('encrypt() / decrypt() on streams', () => {
  it('round-trips every boundary size to two X25519 or two hybrid recipients, binary and armored, fed in random splits', async () => {
    const classic = [generateIdentity(), generateIdentity()];
    const postQuantum = [generateIdentity({ postQuantum: true }), generateIdentity({ postQuantum: true })];
    for (const size of SIZES) {
      const data = pseudoRandomBytes(size, size + 1);
      for (const [armor, keys] of [[false, classic], [true, classic], [false, postQuantum], [true, postQuantum]] as const) {
        const sealed = collector();
        await encrypt(Readable.from(randomSplit(data, size + 3)), sealed.sink, { recipients: keys.map(identityToRecipient), armor });
        for (const key of keys) {
          const opened = collector();
          const result = await decrypt(Readable.from(randomSplit(sealed.bytes(), size + 5)), opened.sink, { identities: [key] });
          expect(result).toEqual({ format: 'age', size });
          expect(opened.bytes().equals(data), `${size} ${armor}`).toBe(true);
        }
      }
    }
  });

  it('asks for the passphrase only when the file needs one', async () => {
    const key = generateIdentity();
    const sealed = collector();
    await encrypt(Readable.from([Buffer.from('x')]), sealed.sink, { recipients: [identityToRecipient(key)] });
    let asked = 0;
    const password = async () => (asked++, 'unused');
    await decrypt(Readable.from([sealed.bytes()]), collector().sink, { identities: [key], password });
    expect(asked).toBe(0);
    await expect(decrypt(Readable.from([sealed.bytes()]), collector().sink, { password })).rejects.toMatchObject({ code: 'AUTH_FAILED', message: expect.stringMatching(/encrypted to keys \(X25519\)/) });
    expect(asked).toBe(0);
  });

  it('refuses to mix post-quantum and classic recipients, as age 1.3 does', async () => {
    const mixed = [generateIdentity({ postQuantum: true }), generateIdentity()].map(identityToRecipient);
    await expect(encrypt(Readable.from([Buffer.from('x')]), collector().sink, { recipients: mixed })).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/cannot be mixed/) });
  });

  it('refuses to mix a passphrase with recipients, and anything without a key', async () => {
    await expect(encrypt(Readable.from([]), collector().sink, { recipients: [identityToRecipient(generateIdentity())], password: 'pw' })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(encrypt(Readable.from([]), collector().sink, {})).rejects.toMatchObject({ code: 'USAGE', message: 'nothing to encrypt to: give recipients or a password' });
    await expect(encrypt(Readable.from([]), collector().sink, { format: 'zip' as 'age', password: 'pw' })).rejects.toMatchObject({ code: 'USAGE', message: 'unknown format "zip" (age or fernet)' });
  });
});

describe('files: atomic output, modes, abort', () => {
  it('says "overwrite" (the option name) when the output exists, and checks that before any work', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'p'), 'x');
    writeFileSync(join(dir, 'o'), 'old');
    let asked = false;
    const password = async () => ((asked = true), 'pw');
    await expect(encryptFile(join(dir, 'p'), join(dir, 'o'), { password })).rejects.toMatchObject({ code: 'IO', message: `output exists: ${join(dir, 'o')} (set overwrite to replace it)` });
    expect(asked).toBe(false);
    expect(readFileSync(join(dir, 'o'), 'utf8')).toBe('old');
  });

  it('an AbortSignal stops decryption, removes the temporary file and rejects with InterruptedError', async () => {
    const dir = tempDir();
    const key = generateIdentity();
    writeFileSync(join(dir, 'p'), pseudoRandomBytes(8 * 1024 * 1024, 3));
    await encryptFile(join(dir, 'p'), join(dir, 's'), { recipients: [identityToRecipient(key)] });
    const controller = new AbortController();
    const started = decryptFile(join(dir, 's'), join(dir, 'o'), {
      identities: [key],
      signal: controller.signal,
      onProgress: (done) => done > 2 * 1024 * 1024 && controller.abort(),
    });
    await expect(started).rejects.toBeInstanceOf(InterruptedError);
    expect(readdirSync(dir).sort()).toEqual(['p', 's']);
  });
});

describe('the Fernet container', () => {
  const fernetFile = (content: Buffer, iterations: number, time: number) => handMadeFernetFile(content, 'pw', time, iterations);

  it('a file written by a machine whose clock is a day fast decrypts (no 60-second future rule for files)', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'f'), await fernetFile(Buffer.from('hello'), 1000, Math.floor(Date.now() / 1000) + 86_400));
    const result = await decryptFile(join(dir, 'f'), join(dir, 'o'), { password: 'pw' });
    expect(result).toMatchObject({ format: 'fernet', size: 5 });
    expect(readFileSync(join(dir, 'o'), 'utf8')).toBe('hello');
  });

  it(`refuses more than ${MAX_FILE_ITERATIONS} iterations before deriving anything, both ways`, async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'f'), await fernetFile(Buffer.from('x'), MAX_FILE_ITERATIONS + 1, 0));
    await expect(decryptFile(join(dir, 'f'), join(dir, 'o'), { password: 'pw' })).rejects.toMatchObject({ code: 'MALFORMED', message: expect.stringMatching(/iteration count 10000001 out of range/) });
    writeFileSync(join(dir, 'p'), 'x');
    await expect(encryptFile(join(dir, 'p'), join(dir, 'q'), { password: 'pw', format: 'fernet', iterations: MAX_FILE_ITERATIONS + 1 })).rejects.toMatchObject({ code: 'USAGE' });
    expect(existsSync(join(dir, 'o')) || existsSync(join(dir, 'q'))).toBe(false);
  });
});

describe('hostile age files', () => {
  const key = generateIdentity();
  const open = (file: Buffer, password?: string) => decrypt(Readable.from([file]), collector().sink, { identities: [key], ...(password ? { password } : {}) });
  const stanza = (i: number) => `-> grease${i}\n\n`;

  it('a header over 1 MiB is refused as soon as the cap is passed', async () => {
    const huge = Buffer.from(`age-encryption.org/v1\n-> X25519 ${'A'.repeat(2 * 1024 * 1024)}`);
    await expect(open(huge)).rejects.toMatchObject({ code: 'MALFORMED', message: expect.stringMatching(/longer than 1048576 bytes/) });
  });

  it('more than 1024 stanzas are refused', async () => {
    const many = Buffer.from(`age-encryption.org/v1\n${Array.from({ length: 1025 }, (_, i) => stanza(i)).join('')}--- ${'A'.repeat(43)}\n`);
    await expect(open(many)).rejects.toMatchObject({ code: 'MALFORMED', message: expect.stringMatching(/more than 1024 stanzas/) });
  });

  it('a scrypt work factor above 22 is refused before any scrypt work', async () => {
    const file = Buffer.from(`age-encryption.org/v1\n-> scrypt ${'A'.repeat(22)} 40\n${'A'.repeat(43)}\n--- ${'A'.repeat(43)}\n${'\0'.repeat(40)}`);
    await expect(open(file, 'pw')).rejects.toMatchObject({ code: 'MALFORMED', message: expect.stringMatching(/work factor 40 above the limit of 22/) });
  });

  it('truncated armor and a tampered header fail with their codes', async () => {
    const sealed = collector();
    await encrypt(Readable.from([Buffer.from('secret')]), sealed.sink, { recipients: [identityToRecipient(key)], armor: true });
    const text = sealed.bytes().toString('latin1');
    await expect(open(Buffer.from(text.slice(0, text.length - 20), 'latin1'))).rejects.toMatchObject({ code: 'MALFORMED', message: expect.stringMatching(/age armor/) });
    const binary = collector();
    await encrypt(Readable.from([Buffer.from('secret')]), binary.sink, { recipients: [identityToRecipient(key), identityToRecipient(generateIdentity())] });
    const tampered = Buffer.from(binary.bytes());
    const second = tampered.indexOf('-> X25519 ', 30) + 12;
    tampered[second] = tampered[second] === 0x41 ? 0x42 : 0x41; // another recipient's share: only the MAC notices
    await expect(open(tampered)).rejects.toMatchObject({ code: 'TAMPERED', message: expect.stringMatching(/header mac/) });
  });
});
