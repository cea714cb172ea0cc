import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientLoginFinish, clientLoginStart, RECORD_SIZE, serverLoginFinish, serverLoginStart } from '../../src/crypto/opaque.js';
import { AuthError, SftError } from '../../src/errors.js';
import { AccountStore, MAX_ACCOUNTS_FILE_BYTES, MAX_USERS, resolveHome, type Account } from '../../src/transfer/accounts.js';
import { tempDir } from '../helpers.js';

const PASSWORD = 'violet-Tractor-93-quietly-harbor';
const sft = new URL('../../dist/cli/main.js', import.meta.url).pathname;

async function newStore(): Promise<AccountStore> {
  return AccountStore.open(join(tempDir(), 'accounts.json'), { create: true });
}

/** A whole OPAQUE login against `account`; resolves to the client's error, or to true when both keys agree. */
function login(store: AccountStore, name: string, password: string): Error | true {
  const start = clientLoginStart(password);
  const server = serverLoginStart(store.serverSetup, name, store.lookup(name)?.record, start.ke1);
  try {
    const client = clientLoginFinish(start, server.ke2, password);
    return serverLoginFinish(server.state, client.ke3).equals(client.sessionKey) || new Error('keys differ');
  } catch (error) {
    return error as Error;
  }
}

async function rejection(promise: Promise<unknown>): Promise<SftError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof SftError)) throw new Error(`expected an SftError, got ${String(error)}`);
  return error;
}

/** The file as JSON, to be edited into a bad one. */
function readJson(store: AccountStore): { version: unknown; serverSetup: unknown; users: Record<string, Record<string, unknown>> } {
  return JSON.parse(readFileSync(store.file, 'utf8')) as never;
}

function writePrivate(file: string, content: string | object): void {
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content), { mode: 0o600 });
  chmodSync(file, 0o600);
}

describe('AccountStore', () => {
  it('creates a 0600 file, adds, lists, changes a password, removes, and reads it all back', async () => {
    const store = await newStore();
    expect(store.created).toBe(true);
    expect(store.list()).toEqual([]);
    const alice = await store.add('alice', PASSWORD);
    expect(alice).toMatchObject({ name: 'alice', home: 'alice', can: ['send', 'get', 'list'] });
    expect(alice.quota).toBeUndefined();
    expect(alice.record.length).toBe(RECORD_SIZE);
    await store.add('bob', 'another-Long-passphrase-42', { home: '/srv/bob', can: ['list', 'delete', 'get'], quota: 10 * 2 ** 30 });
    expect(statSync(store.file).mode & 0o777).toBe(0o600);
    expect(existsSync(`${store.file}.lock`)).toBe(false);

    const again = await AccountStore.open(store.file, { create: true });
    expect(again.created).toBe(false);
    expect(again.serverSetup).toBe(store.serverSetup);
    expect(again.list().map((a) => a.name)).toEqual(['alice', 'bob']);
    expect(again.lookup('bob')).toMatchObject({ home: '/srv/bob', can: ['get', 'list', 'delete'], quota: 10 * 2 ** 30 });
    expect(again.lookup('alice')?.record.equals(alice.record)).toBe(true);
    expect(again.lookup('carol')).toBeUndefined();
    expect(resolveHome('/data', alice)).toBe('/data/alice');
    expect(resolveHome('/data', { home: '/srv/bob' })).toBe('/srv/bob');

    const before = again.lookup('bob')?.record;
    await again.passwd('bob', 'a-third-Password-for-bob');
    expect(again.lookup('bob')?.record.equals(before as Buffer)).toBe(false);
    expect(again.lookup('bob')).toMatchObject({ home: '/srv/bob', quota: 10 * 2 ** 30 });
    await again.remove('alice');
    await store.reload();
    expect(store.list().map((a) => a.name)).toEqual(['bob']);
    expect(readJson(store)).toMatchObject({ version: 1, users: { bob: { home: '/srv/bob', can: ['get', 'list', 'delete'] } } });
  });

  it('logs in with the password of the latest add or passwd only', async () => {
    const store = await newStore();
    await store.add('alice', PASSWORD);
    expect(login(store, 'alice', PASSWORD)).toBe(true);
    expect(login(store, 'alice', 'not-the-password')).toBeInstanceOf(AuthError);
    await store.passwd('alice', 'the-New-password-77');
    expect(login(store, 'alice', PASSWORD)).toBeInstanceOf(AuthError);
    expect(login(store, 'alice', 'the-New-password-77')).toBe(true);
    // The record is bound to the name (the OPRF key is derived from it): alice's record does not serve "bob".
    const copy = await AccountStore.open(store.file);
    expect(login(copy, 'nobody', PASSWORD)).toBeInstanceOf(AuthError);
  });

  it('holds neither the password nor its UTF-8, hex, base64 or base64url forms', async () => {
    const store = await newStore();
    const secrets = [PASSWORD, 'ü-unicode-Pässword-✓-19'];
    await store.add('alice', secrets[0] as string);
    await store.add('bob', secrets[1] as string);
    const text = readFileSync(store.file, 'utf8');
    const json = readJson(store);
    const blobs = [Buffer.from(text), Buffer.from(json.serverSetup as string, 'base64url'), ...Object.values(json.users).map((u) => Buffer.from(u.record as string, 'base64url'))];
    for (const secret of secrets) {
      const utf8 = Buffer.from(secret);
      for (const form of [secret, utf8.toString('hex'), utf8.toString('base64'), utf8.toString('base64url'), utf8.toString('base64').slice(4, -4)]) {
        expect(text.includes(form)).toBe(false);
      }
      for (const blob of blobs) expect(blob.includes(utf8)).toBe(false);
    }
  });

  it('refuses a file that others can read or write, naming chmod 600', async () => {
    const store = await newStore();
    for (const mode of [0o644, 0o640, 0o604, 0o620]) {
      chmodSync(store.file, mode);
      const error = await rejection(AccountStore.open(store.file));
      expect(error.code).toBe('IO');
      expect(error.message).toBe(`accounts file ${store.file} is open to other users (mode ${mode.toString(8)}): run chmod 600 ${store.file}`);
    }
  });

  it.skipIf(process.getuid?.() !== 0)('refuses a file owned by another user (needs root to chown)', async () => {
    const store = await newStore();
    chownSync(store.file, 12345, 12345);
    expect((await rejection(AccountStore.open(store.file))).message).toMatch(/owned by uid 12345, not by this user/);
  });

  it('refuses a missing file without create, a directory, and keeps the file untouched on refusals', async () => {
    const dir = tempDir();
    expect((await rejection(AccountStore.open(join(dir, 'none.json')))).message).toMatch(/does not exist \(sft user add creates it\)/);
    chmodSync(dir, 0o700);
    expect((await rejection(AccountStore.open(dir))).message).toMatch(/is not a regular file/);

    const store = await newStore();
    await store.add('alice', PASSWORD);
    const before = readFileSync(store.file);
    const cases: [Promise<unknown>, RegExp][] = [
      [store.add('alice', PASSWORD), /user "alice" already exists/],
      [store.passwd('carol', PASSWORD), /no user "carol"/],
      [store.remove('carol'), /no user "carol"/],
      [store.add('carol', PASSWORD, { home: '../alice' }), /invalid home "..\/alice": empty, "." or ".." segment/],
      [store.add('carol', PASSWORD, { can: ['send', 'fly' as never] }), /unknown permission "fly"/],
      [store.add('carol', PASSWORD, { can: ['send', 'send'] }), /listed twice/],
      [store.add('carol', PASSWORD, { quota: -1 }), /whole number of bytes/],
    ];
    for (const [promise, message] of cases) {
      const error = await rejection(promise);
      expect(error.code).toBe('USAGE');
      expect(error.message).toMatch(message);
    }
    expect(readFileSync(store.file).equals(before)).toBe(true);
  });

  it('accepts Unix-like lower-case names only, each a safe path segment', async () => {
    const store = await newStore();
    for (const name of ['a', '_svc', 'a.b-c_d9', 'x'.repeat(32), '__proto__']) {
      await store.add(name, PASSWORD, { home: 'h' });
    }
    const reopened = await AccountStore.open(store.file);
    expect(reopened.lookup('__proto__')?.name).toBe('__proto__');
    expect(reopened.list()).toHaveLength(5);
    for (const name of ['', 'Alice', '1abc', '-a', '.hidden', 'a.', 'a/b', '..', 'a b', 'é', 'x'.repeat(33), 'a\u0000', 'con\\x']) {
      const error = await rejection(store.add(name, PASSWORD));
      expect(error.code).toBe('USAGE');
      expect(error.message).toMatch(/^invalid user name /);
    }
    for (const home of ['', '/', '..', 'a//b', 'a/./b', '/srv/../etc', 'a\u0001b', 'x'.repeat(1025)]) {
      expect((await rejection(store.add('carol', PASSWORD, { home }))).message).toMatch(/^invalid home /);
    }
  });

  it('refuses malformed content with an error naming the field', async () => {
    const store = await newStore();
    await store.add('alice', PASSWORD);
    const good = readJson(store);
    const alice = good.users.alice as Record<string, unknown>;
    const withAlice = (change: Record<string, unknown>) => ({ ...good, users: { alice: { ...alice, ...change } } });
    const cases: [string | object, string][] = [
      ['{"version": 1', 'not valid JSON'],
      ['[]', 'expected a JSON object'],
      [{ ...good, version: 2 }, 'version: expected 1, got 2'],
      [{ ...good, extra: true }, 'top level: unknown field "extra"'],
      [{ ...good, serverSetup: (good.serverSetup as string).slice(0, -4) }, 'serverSetup: expected 128 bytes in base64url'],
      [{ ...good, serverSetup: Buffer.alloc(128, 0xff).toString('base64url') }, 'serverSetup: not a valid OPAQUE server setup'],
      [{ ...good, users: [] }, 'users: expected an object'],
      [{ ...good, users: { Alice: alice } }, 'users: invalid user name "Alice"'],
      [{ ...good, users: { alice: 'x' } }, 'users.alice: expected an object'],
      [withAlice({ record: undefined }), 'users.alice.record: expected 192 bytes in base64url'],
      [withAlice({ record: (alice.record as string) + 'A' }), 'users.alice.record: expected 192 bytes in base64url'],
      [withAlice({ record: Buffer.from(alice.record as string, 'base64url').toString('base64') + '==' }), 'users.alice.record: expected 192 bytes in base64url'],
      [withAlice({ home: 7 }), 'users.alice.home: expected a string'],
      [withAlice({ home: 'a/../../etc' }), 'users.alice.home: invalid home "a/../../etc"'],
      [withAlice({ can: 'send' }), 'users.alice.can: expected a list'],
      [withAlice({ can: ['send', 'admin'] }), 'users.alice.can: unknown permission "admin"'],
      [withAlice({ quota: -5 }), 'users.alice.quota: expected a whole number of bytes'],
      [withAlice({ quota: 1.5 }), 'users.alice.quota: expected a whole number of bytes'],
      [withAlice({ quota: '10G' }), 'users.alice.quota: expected a whole number of bytes'],
      [withAlice({ qouta: 10 }), 'users.alice: unknown field "qouta"'],
    ];
    for (const [content, message] of cases) {
      writePrivate(store.file, content);
      const error = await rejection(AccountStore.open(store.file));
      expect([error.code, error.message]).toEqual(['MALFORMED', expect.stringContaining(`accounts file ${store.file}: ${message}`)]);
    }
  });

  it('refuses a file over the size cap before parsing it, and more users than the cap', async () => {
    const store = await newStore();
    const alice = await store.add('alice', PASSWORD);
    writePrivate(store.file, ' '.repeat(MAX_ACCOUNTS_FILE_BYTES + 1));
    expect((await rejection(AccountStore.open(store.file))).message).toBe(`accounts file ${store.file}: over ${MAX_ACCOUNTS_FILE_BYTES} bytes`);
    const user = { record: alice.record.toString('base64url'), home: 'h', can: [] };
    const users = Object.fromEntries(Array.from({ length: MAX_USERS + 1 }, (_, i) => [`u${i}`, user]));
    writePrivate(store.file, { version: 1, serverSetup: store.serverSetup, users });
    expect((await rejection(AccountStore.open(store.file))).message).toBe(`accounts file ${store.file}: users: more than ${MAX_USERS}`);
  });

  it('waits for a lock held by a live writer, and names a stale lock instead of taking it over', async () => {
    const store = await newStore();
    writeFileSync(`${store.file}.lock`, `${process.pid}\n`);
    const waiting = store.add('alice', PASSWORD);
    await new Promise((r) => setTimeout(r, 300));
    expect(store.lookup('alice')).toBeUndefined();
    const { rmSync } = await import('node:fs');
    rmSync(`${store.file}.lock`);
    await waiting;
    expect((await AccountStore.open(store.file)).lookup('alice')).toBeDefined();

    const child = spawn(process.execPath, ['-e', '']);
    await once(child, 'exit');
    writeFileSync(`${store.file}.lock`, `${child.pid}\n`);
    const error = await rejection(store.add('bob', PASSWORD));
    expect(error.message).toBe(`stale lock ${store.file}.lock: process ${child.pid} that made it is gone; remove the file if no sft user command is running`);
    expect(store.lookup('bob')).toBeUndefined();
  });

  it('loses no update when four sft user add processes race on a new file (needs dist/, built by npm test)', async () => {
    const dir = tempDir();
    const file = join(dir, 'accounts.json');
    writeFileSync(join(dir, 'pw'), `${PASSWORD}\n`);
    const names = ['ann', 'ben', 'cid', 'dee'];
    const results = await Promise.all(names.map((name) => runNode([sft, 'user', 'add', name, '--accounts', file, '--password-file', join(dir, 'pw'), '--json'])));
    expect(results).toEqual(names.map(() => ({ code: 0, stderr: '' })));
    const store = await AccountStore.open(file);
    expect(store.list().map((a: Account) => a.name)).toEqual(names);
    for (const name of names) expect(login(store, name, PASSWORD)).toBe(true);
  });

  it('loses no update when two processes remove 30 users each as fast as they can (needs dist/)', async () => {
    // Removal costs no Argon2, so the two read-modify-write loops overlap closely: without the lock, each write
    // would put back users the other had just removed.
    const store = await newStore();
    const alice = await store.add('alice', PASSWORD);
    const json = readJson(store);
    const names = Array.from({ length: 60 }, (_, i) => `u${i}`);
    for (const name of names) json.users[name] = { record: alice.record.toString('base64url'), home: name, can: [] };
    writePrivate(store.file, json);
    const accounts = new URL('../../dist/transfer/accounts.js', import.meta.url).href;
    const script = `const { AccountStore } = await import(${JSON.stringify(accounts)});
      const store = await AccountStore.open(process.argv[1]);
      for (const name of process.argv.slice(2)) await store.remove(name);`;
    const halves = [names.filter((_, i) => i % 2 === 0), names.filter((_, i) => i % 2 === 1)];
    const results = await Promise.all(halves.map((half) => runNode(['--input-type=module', '-e', script, store.file, ...half])));
    expect(results).toEqual([{ code: 0, stderr: '' }, { code: 0, stderr: '' }]);
    await store.reload();
    expect(store.list().map((a) => a.name)).toEqual(['alice']);
  });
});

function runNode(args: string[]): Promise<{ code: number; stderr: string }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return once(child, 'exit').then(([code]) => ({ code: code as number, stderr }));
}
