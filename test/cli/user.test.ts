import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/cli/run.js';
import { AccountStore } from '../../src/transfer/accounts.js';
import { tempDir } from '../helpers.js';
import { fakeIo, type FakeIo } from './io.js';

const strong = { SFT_PASSWORD: 'violet-Tractor-93-quietly-harbor' };

function events(io: FakeIo): Record<string, unknown>[] {
  return io
    .out()
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** A terminal on stdin that types `lines`, one per 'data' listener (the prompt attaches one per question). */
function typing(io: FakeIo, lines: string[]): FakeIo {
  const stdin = Object.assign(new EventEmitter(), { isTTY: true, setRawMode: () => stdin, resume: () => stdin, pause: () => stdin });
  stdin.on('newListener', (event) => {
    if (event === 'data') setImmediate(() => stdin.emit('data', Buffer.from(`${lines.shift() ?? ''}\r`)));
  });
  return { ...io, stdin: stdin as unknown as NodeJS.ReadStream };
}

describe('sft user', () => {
  it('add, list, passwd, remove: one line each on stderr, JSON events with --json', async () => {
    const file = join(tempDir(), 'accounts.json');
    let io = fakeIo(strong);
    expect(await run(['user', 'add', 'alice', '--accounts', file], io)).toBe(0);
    expect(io.out()).toBe('');
    expect(io.err()).toBe(`created accounts file ${file}\nadded user alice (home alice, can send,get,list, quota none) to ${file}\n`);

    io = fakeIo(strong);
    expect(await run(['user', 'add', 'bob', '--accounts', file, '--home', '/srv/bob', '--can', 'get,list', '--quota', '10G', '--json'], io)).toBe(0);
    expect(events(io)).toEqual([{ event: 'user-added', accounts: file, name: 'bob', home: '/srv/bob', can: ['get', 'list'], quota: 10 * 2 ** 30 }]);
    expect(io.err()).toBe('');

    io = fakeIo();
    expect(await run(['user', 'list', '--accounts', file], io)).toBe(0);
    expect(io.out()).toBe('alice\thome alice, can send,get,list, quota none\nbob\thome /srv/bob, can get,list, quota 10.0 GiB\n');
    io = fakeIo();
    expect(await run(['user', 'list', '--accounts', file, '--json'], io)).toBe(0);
    expect(events(io)).toEqual([
      { event: 'user', name: 'alice', home: 'alice', can: ['send', 'get', 'list'] },
      { event: 'user', name: 'bob', home: '/srv/bob', can: ['get', 'list'], quota: 10 * 2 ** 30 },
    ]);

    const before = (await AccountStore.open(file)).lookup('alice')?.record;
    io = fakeIo({ SFT_PASSWORD: 'another-Strong-passphrase-61' });
    expect(await run(['user', 'passwd', 'alice', '--accounts', file], io)).toBe(0);
    expect(io.err()).toBe(`changed the password of alice in ${file}\n`);
    expect((await AccountStore.open(file)).lookup('alice')?.record.equals(before as Buffer)).toBe(false);

    io = fakeIo();
    expect(await run(['user', 'remove', 'alice', '--accounts', file, '--json'], io)).toBe(0);
    expect(events(io)).toEqual([{ event: 'user-removed', accounts: file, name: 'alice' }]);
    io = fakeIo();
    expect(await run(['user', 'remove', 'bob', '--accounts', file], io)).toBe(0);
    expect(io.err()).toBe(`removed user bob from ${file} (files under its home are kept)\n`);
    io = fakeIo();
    expect(await run(['user', 'list', '--accounts', file], io)).toBe(0);
    expect([io.out(), io.err()]).toEqual(['', `no users in ${file}\n`]);
  });

  it('reads the new password from --password-file, warns about a weak one, and never stores it', async () => {
    const dir = tempDir();
    const file = join(dir, 'accounts.json');
    writeFileSync(join(dir, 'pw'), 'password\n');
    const io = fakeIo();
    expect(await run(['user', 'add', 'alice', '--accounts', file, '--password-file', join(dir, 'pw')], io)).toBe(0);
    expect(io.err()).toMatch(/^warning: weak password \(strength 0\/4\)/);
    expect(readFileSync(file, 'utf8')).not.toMatch(/password/);
  });

  it('asks twice on a terminal, and refuses two different entries', async () => {
    const file = join(tempDir(), 'accounts.json');
    let io = typing(fakeIo(), ['violet-Tractor-93-quietly-harbor', 'violet-Tractor-93-quietly-harbor']);
    expect(await run(['user', 'add', 'alice', '--accounts', file], io)).toBe(0);
    expect(io.err()).toMatch(/^Password: \nRepeat password: \ncreated accounts file/);
    io = typing(fakeIo(), ['first-Long-passphrase-1', 'second-Long-passphrase-2']);
    expect(await run(['user', 'passwd', 'alice', '--accounts', file], io)).toBe(2);
    expect(io.err()).toMatch(/sft: error: passwords do not match\n$/);
  });

  it('exit codes: 2 usage, 1 file refused, 4 malformed; one line on stderr, the file unchanged', async () => {
    const dir = tempDir();
    const file = join(dir, 'accounts.json');
    expect(await run(['user', 'add', 'alice', '--accounts', file], fakeIo(strong))).toBe(0);
    const before = readFileSync(file);
    const open = join(dir, 'open.json');
    writeFileSync(open, before, { mode: 0o644 });
    chmodSync(open, 0o644);
    const junk = join(dir, 'junk.json');
    writeFileSync(junk, '{"version": 1}', { mode: 0o600 });
    const cases: [string[], Record<string, string>, number, RegExp][] = [
      [['user', 'add', 'bob'], strong, 2, /required option '--accounts <file>' not specified/],
      [['user', 'add', 'Bob', '--accounts', file], strong, 2, /invalid user name "Bob"/],
      [['user', 'add', 'bob', '--accounts', file, '--can', 'send,fly'], strong, 2, /--can expects a comma-separated list of send, get, list, delete, got "send,fly"/],
      [['user', 'add', 'bob', '--accounts', file, '--can', ''], strong, 2, /--can expects/],
      [['user', 'add', 'bob', '--accounts', file, '--quota', 'lots'], strong, 2, /--quota expects a size/],
      [['user', 'add', 'bob', '--accounts', join(dir, 'new.json'), '--home', '../alice'], strong, 2, /invalid home "..\/alice"/],
      [['user', 'add', 'bob', '--accounts', file], {}, 2, /no password/],
      [['user', 'add', 'alice', '--accounts', file], strong, 2, /user "alice" already exists/],
      [['user', 'passwd', 'carol', '--accounts', file], {}, 2, /no user "carol"/],
      [['user', 'remove', 'carol', '--accounts', file], {}, 2, /no user "carol"/],
      [['user', 'list', '--accounts', join(dir, 'missing.json')], {}, 1, /accounts file .*missing.json does not exist/],
      [['user', 'list', '--accounts', open], {}, 1, /open to other users \(mode 644\): run chmod 600 /],
      [['user', 'list', '--accounts', junk], {}, 4, /junk.json: serverSetup: expected 128 bytes in base64url/],
    ];
    for (const [argv, env, code, message] of cases) {
      const io = fakeIo(env);
      expect([argv.join(' '), await run(argv, io)]).toEqual([argv.join(' '), code]);
      expect(io.err()).toMatch(message);
      expect(io.err().trim().split('\n')).toHaveLength(1);
    }
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(existsSync(join(dir, 'new.json'))).toBe(false);
  });
});

describe('the password strength check', () => {
  it('leaves nothing in the heap of the process that asked (zxcvbn runs in a worker thread that ends with it)', () => {
    // In this thread zxcvbn's word lists stayed live (2.7 MiB after collection), which set off mark-compacts all
    // through a large transfer. A child with --expose-gc measures its heap after two collections.
    const script = `
      const { passwordStrength } = await import(${JSON.stringify(new URL('../../dist/cli/password.js', import.meta.url).href)});
      gc(); const before = process.memoryUsage().heapUsed;
      const strength = await passwordStrength('password123');
      await new Promise((resolve) => setTimeout(resolve, 20));
      gc(); gc();
      console.log(JSON.stringify({ score: strength.score, grown: process.memoryUsage().heapUsed - before }));`;
    const child = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(child.status, child.stderr).toBe(0);
    const { score, grown } = JSON.parse(child.stdout) as { score: number; grown: number };
    expect(score).toBe(0);
    expect(grown).toBeLessThan(1024 * 1024);
  });
});
