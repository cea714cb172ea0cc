import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { run, type CliIo } from '../../src/cli/run.js';
import { pseudoRandomBytes, tempDir } from '../helpers.js';
import { fakeIo } from './io.js';

const strong = { SFT_PASSWORD: 'violet-Tractor-93-quietly-harbor' };

/** An io whose standard input carries `input` and whose standard output is collected as bytes. */
function pipeIo(input: Buffer, env: Record<string, string> = {}, stdoutIsTTY = false): CliIo & { bytes: () => Buffer; err: () => string } {
  const chunks: Buffer[] = [];
  let err = '';
  const stdout = Object.assign(new Writable({ write: (chunk: Buffer, _e, done) => (chunks.push(chunk), done()) }), { isTTY: stdoutIsTTY });
  const stderr = { isTTY: false, write: (s: string) => ((err += s), true) };
  const stdin = Object.assign(Readable.from([input]), { isTTY: false });
  return { stdin, stdout, stderr, env, bytes: () => Buffer.concat(chunks), err: () => err } as unknown as CliIo & { bytes: () => Buffer; err: () => string };
}

async function keygen(dir: string, name: string, pq = false): Promise<string> {
  const io = fakeIo();
  expect(await run(['keygen', '-o', join(dir, name), ...(pq ? ['--pq'] : [])], io)).toBe(0);
  return /Public key: (\S+)/.exec(io.err())?.[1] ?? '';
}

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

  it('exit codes: 2 usage, 3 wrong password, 4 tampered, 1 other; one line in words on stderr, no output file', async () => {
    const dir = tempDir();
    const file = join(dir, 'f');
    writeFileSync(file, pseudoRandomBytes(1000, 1));
    expect(await run(['encrypt', file], fakeIo(strong))).toBe(0);
    const sealed = readFileSync(`${file}.age`);
    const tampered = Buffer.from(sealed);
    tampered[tampered.length - 5] = (tampered[tampered.length - 5] as number) ^ 1;
    writeFileSync(join(dir, 't.age'), tampered);
    writeFileSync(join(dir, 'junk.age'), 'not an age file');
    mkdirSync(join(dir, 'sub.age'));
    const cases: [string[], Record<string, string>, number, RegExp][] = [
      [['frobnicate'], strong, 2, /unknown command/],
      [['encrypt', file, '--format', 'zip'], strong, 2, /Allowed choices/],
      [['encrypt', file, '-r', 'age1nope'], strong, 2, /malformed X25519 recipient/],
      [['encrypt', file, '-r', 'AGE-SECRET-KEY-1QQQ'], strong, 2, /this is an identity \(a secret key\), not a recipient/],
      [['decrypt', `${file}.age`, '-o', join(dir, 'o')], {}, 2, /no password/],
      [['decrypt', join(dir, 'f')], strong, 2, /pass -o/],
      [['decrypt', `${file}.age`, '-o', join(dir, 'o')], { SFT_PASSWORD: 'nope' }, 3, /wrong password/],
      [['decrypt', join(dir, 't.age'), '-o', join(dir, 'o')], strong, 4, /failed authentication/],
      [['decrypt', join(dir, 'junk.age'), '-o', join(dir, 'o')], strong, 4, /unknown file format/],
      [['decrypt', join(dir, 'missing.age'), '-o', join(dir, 'o')], strong, 1, /^sft: error: cannot read \S+missing\.age: no such file or directory\n$/],
      [['decrypt', join(dir, 'sub.age'), '-o', join(dir, 'o')], strong, 1, /^sft: error: \S+sub\.age is a directory\n$/],
      [['encrypt', file, '-o', join(dir, 'nodir', 'x.age')], strong, 1, /cannot write \S+x\.age: the directory \S+nodir does not exist/],
      [['encrypt', file, '-o', '/sys/x.age'], strong, 1, /^sft: error: cannot write \/sys\/x\.age: permission denied\n$/],
    ];
    for (const [argv, env, code, message] of cases) {
      const io = fakeIo(env);
      expect(await run(argv, io), argv.join(' ')).toBe(code);
      expect(io.err(), argv.join(' ')).toMatch(message);
      expect(io.err(), argv.join(' ')).not.toMatch(/\bE[A-Z]{3,}\b|sft-tmp/);
      expect(existsSync(join(dir, 'o'))).toBe(false);
    }
    expect(readdirSync(dir).sort()).toEqual(['f', 'f.age', 'junk.age', 'sub.age', 't.age']);
  });

  it('checks the output, its directory and the input before asking for a password or reading anything', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'in'), 'data');
    writeFileSync(join(dir, 'in.age'), 'already here');
    // No SFT_PASSWORD and no terminal: had the command asked for a password first, it would say "no password".
    for (const argv of [['encrypt', join(dir, 'in')], ['decrypt', join(dir, 'in.age'), '-o', join(dir, 'in')]]) {
      const io = fakeIo();
      expect(await run(argv, io)).toBe(1);
      expect(io.err()).toMatch(/^sft: error: output exists: \S+ \(use --force to replace it\)\n$/);
    }
    const io = fakeIo();
    expect(await run(['encrypt', join(dir, 'absent'), '-o', join(dir, 'new.age')], io)).toBe(1);
    expect(io.err()).toMatch(/cannot read \S+absent: no such file or directory/);
    expect(readFileSync(join(dir, 'in.age'), 'utf8')).toBe('already here');
  });

  it('--json reports errors as a JSON line too; --debug adds the stack', async () => {
    const io = fakeIo({ SFT_PASSWORD: 'x' });
    expect(await run(['decrypt', '/nonexistent.age', '-o', '/tmp/never', '--json', '--debug'], io)).toBe(1);
    expect(JSON.parse(io.out())).toMatchObject({ event: 'error', code: 'IO' });
    expect(io.err()).toMatch(/\n\s+at /);
  });
});

describe('sft keygen, and encryption to keys', () => {
  it('keygen writes an identity file 0600 with its public key, refuses to overwrite it, and -y prints the recipient', async () => {
    const dir = tempDir();
    for (const pq of [false, true]) {
      const name = pq ? 'pq.txt' : 'key.txt';
      const recipient = await keygen(dir, name, pq);
      const text = readFileSync(join(dir, name), 'utf8');
      expect(statSync(join(dir, name)).mode & 0o777).toBe(0o600);
      expect(text).toMatch(pq ? /^# created: .*\n# public key: age1pq1[a-z0-9]+\nAGE-SECRET-KEY-PQ-1[A-Z0-9]+\n$/ : /^# created: .*\n# public key: age1[a-z0-9]{58}\nAGE-SECRET-KEY-1[A-Z0-9]{58}\n$/);
      expect(text).toContain(`# public key: ${recipient}\n`);
      const io = fakeIo();
      expect(await run(['keygen', '-y', join(dir, name)], io)).toBe(0);
      expect(io.out()).toBe(`${recipient}\n`);
      const again = fakeIo();
      expect(await run(['keygen', '-o', join(dir, name)], again)).toBe(1);
      expect(again.err()).toMatch(/output exists/);
      expect(readFileSync(join(dir, name), 'utf8')).toBe(text);
    }
    const stdin = pipeIo(readFileSync(join(dir, 'key.txt')));
    expect(await run(['keygen', '-y', '-'], stdin)).toBe(0);
    expect(stdin.bytes().toString()).toMatch(/^age1[a-z0-9]{58}\n$/);
  });

  it('-r, -R (comments, blank lines) and -i with several identities; armor written with -a and detected on decrypt; post-quantum and classic recipients not mixed', async () => {
    const dir = tempDir();
    const [x, pq, other] = [await keygen(dir, 'x.txt'), await keygen(dir, 'pq.txt', true), await keygen(dir, 'other.txt')];
    writeFileSync(join(dir, 'recipients'), `# team\n\n${other}\n   \n# old key\n${x}\n`);
    const data = pseudoRandomBytes(200_000, 5);
    writeFileSync(join(dir, 'p'), data);
    for (const armor of [false, true]) {
      const sealed = join(dir, armor ? 'p.asc' : 'p.age');
      expect(await run(['encrypt', join(dir, 'p'), '-r', x, '-R', join(dir, 'recipients'), '-o', sealed, ...(armor ? ['-a'] : [])], fakeIo())).toBe(0);
      expect(readFileSync(sealed, 'latin1').startsWith(armor ? '-----BEGIN AGE ENCRYPTED FILE-----\n' : 'age-encryption.org/v1\n')).toBe(true);
      for (const key of ['x.txt', 'other.txt']) {
        const out = join(dir, `${key}.${armor}.out`);
        expect(await run(['decrypt', sealed, '-i', join(dir, key), '-o', out], fakeIo()), key).toBe(0);
        expect(readFileSync(out).equals(data)).toBe(true);
      }
    }
    const mixed = fakeIo();
    expect(await run(['encrypt', join(dir, 'p'), '-r', x, '-r', pq, '-o', join(dir, 'mixed.age')], mixed)).toBe(2);
    expect(mixed.err()).toMatch(/post-quantum \(age1pq1…\) and classic recipients cannot be mixed/);
    expect(existsSync(join(dir, 'mixed.age'))).toBe(false);
    expect(await run(['encrypt', join(dir, 'p'), '-r', pq, '-o', join(dir, 'pq.age')], fakeIo())).toBe(0);
    expect(await run(['decrypt', join(dir, 'pq.age'), '-i', join(dir, 'pq.txt'), '-o', join(dir, 'pq.out')], fakeIo())).toBe(0);
    expect(readFileSync(join(dir, 'pq.out')).equals(data)).toBe(true);
    writeFileSync(join(dir, 'stranger.txt'), readFileSync(join(dir, 'x.txt'), 'utf8').replace(/AGE-SECRET-KEY-1\S+/, (await import('../../src/rest/keys.js')).generateIdentity()));
    const io = fakeIo();
    expect(await run(['decrypt', join(dir, 'p.age'), '-i', join(dir, 'stranger.txt'), '-o', join(dir, 'no')], io)).toBe(3);
    expect(io.err()).toMatch(/no identity matched/);
    expect(existsSync(join(dir, 'no'))).toBe(false);
  });

  it('pipes: - and no argument are standard input, -o - and standard input are standard output', async () => {
    const dir = tempDir();
    const recipient = await keygen(dir, 'k.txt');
    const data = pseudoRandomBytes(300_000, 9);
    const enc = pipeIo(data);
    expect(await run(['encrypt', '-r', recipient], enc)).toBe(0);
    expect(enc.bytes().subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');
    const dec = pipeIo(enc.bytes());
    expect(await run(['decrypt', '-i', join(dir, 'k.txt'), '-'], dec)).toBe(0);
    expect(dec.bytes().equals(data)).toBe(true);
    writeFileSync(join(dir, 'file'), data);
    const toStdout = pipeIo(Buffer.alloc(0));
    expect(await run(['encrypt', '-r', recipient, '-a', '-o', '-', join(dir, 'file')], toStdout)).toBe(0);
    const fromStdin = pipeIo(toStdout.bytes());
    expect(await run(['decrypt', '-i', join(dir, 'k.txt'), '-o', join(dir, 'out')], fromStdin)).toBe(0);
    expect(readFileSync(join(dir, 'out')).equals(data)).toBe(true);
    expect(existsSync(join(dir, '-'))).toBe(false);
  });

  it('refuses to write binary to a terminal unless armored, as age does, and --json with -o -', async () => {
    const dir = tempDir();
    const recipient = await keygen(dir, 'k.txt');
    const binary = pipeIo(Buffer.from('x'), {}, true);
    expect(await run(['encrypt', '-r', recipient], binary)).toBe(2);
    expect(binary.err()).toMatch(/refusing to write binary output to a terminal: use -a/);
    expect(binary.bytes().length).toBe(0);
    const armored = pipeIo(Buffer.from('x'), {}, true);
    expect(await run(['encrypt', '-r', recipient, '-a'], armored)).toBe(0);
    expect(armored.bytes().toString()).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----\n/);
    const json = pipeIo(Buffer.from('x'));
    expect(await run(['encrypt', '-r', recipient, '--json'], json)).toBe(2);
  });

  it('an ssh private key protected by a passphrase is refused with what to do', async () => {
    const dir = tempDir();
    // An OpenSSH key whose cipher is aes256-ctr: only the header fields matter, nothing is decrypted.
    const field = (s: string | Buffer) => Buffer.concat([Buffer.from([0, 0, 0, Buffer.from(s).length]), Buffer.from(s)]);
    const body = Buffer.concat([Buffer.from('openssh-key-v1\0'), field('aes256-ctr'), field('bcrypt'), field(Buffer.alloc(24)), Buffer.from([0, 0, 0, 1])]);
    writeFileSync(join(dir, 'id'), `-----BEGIN OPENSSH PRIVATE KEY-----\n${body.toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n`);
    writeFileSync(join(dir, 'f.age'), 'age-encryption.org/v1\n');
    const io = fakeIo();
    expect(await run(['decrypt', join(dir, 'f.age'), '-i', join(dir, 'id')], io)).toBe(2);
    expect(io.err()).toMatch(/protected by a passphrase.*ssh-keygen -p -N '' -f COPY.*sft keygen/);
  });

  it('decrypted files are created 0600, or with the input file\'s narrower mode', async () => {
    const dir = tempDir();
    const recipient = await keygen(dir, 'k.txt');
    writeFileSync(join(dir, 'p'), 'secret');
    expect(await run(['encrypt', join(dir, 'p'), '-r', recipient], fakeIo())).toBe(0);
    chmodSync(join(dir, 'p.age'), 0o644);
    expect(await run(['decrypt', join(dir, 'p.age'), '-i', join(dir, 'k.txt'), '-o', join(dir, 'a')], fakeIo())).toBe(0);
    expect(statSync(join(dir, 'a')).mode & 0o777).toBe(0o600);
    chmodSync(join(dir, 'p.age'), 0o400);
    expect(await run(['decrypt', join(dir, 'p.age'), '-i', join(dir, 'k.txt'), '-o', join(dir, 'b')], fakeIo())).toBe(0);
    expect(statSync(join(dir, 'b')).mode & 0o777).toBe(0o400);
  });
});
