/**
 * Accounts mode (OPAQUE): each account is confined to its home, with its own permissions and quota; the accounts
 * file holds no password; a wrong password or an unknown account is an authentication failure.
 */
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountStore } from '../../src/transfer/accounts.js';
import { pseudoRandomBytes, tempDir } from '../helpers.js';
import { announceFile, client, inboxState, sendPaths, startServer, tree, type Running } from './harness.js';
import { OfferKind } from '../../src/protocol/messages.js';

let running: Running;
let accountsFile: string;
const alice = { account: 'alice', password: 'alice-Secret-1' };
const bob = { account: 'bob', password: 'bob-Secret-2' };
const carol = { account: 'carol', password: 'carol-Secret-3' };
const dave = { account: 'dave', password: 'dave-Secret-4' };

beforeAll(async () => {
  const root = tempDir();
  accountsFile = join(root, 'accounts.json');
  const store = await AccountStore.open(accountsFile, { create: true });
  await store.add('alice', alice.password, { can: ['send', 'get', 'list', 'delete'], quota: 1_000_000 });
  await store.add('bob', bob.password, { can: ['send', 'get', 'list'] });
  await store.add('carol', carol.password, { can: ['send'], quota: 1000 });
  await store.add('dave', dave.password, { can: ['send'], quota: 1000 });
  running = await startServer({ accounts: store, dir: join(root, 'homes') });
}, 30_000);
afterAll(() => running.close());

describe('accounts (OPAQUE), confined homes', () => {
  it('each account sends, lists and gets its own files', async () => {
    const src = tempDir();
    writeFileSync(join(src, 'a.txt'), 'from alice');
    writeFileSync(join(src, 'b.txt'), 'from bob');
    await sendPaths(running.port, [join(src, 'a.txt')], alice);
    await sendPaths(running.port, [join(src, 'b.txt')], bob);
    expect(readFileSync(join(running.inbox, 'alice/a.txt'), 'utf8')).toBe('from alice');
    expect(readFileSync(join(running.inbox, 'bob/b.txt'), 'utf8')).toBe('from bob');
    expect((await client(running.port, alice).list('')).map((e) => e.name)).toEqual(['a.txt']);
    expect((await client(running.port, bob).list('')).map((e) => e.name)).toEqual(['b.txt']);
    const down = tempDir();
    await client(running.port, bob).get(['b.txt'], { dir: down });
    expect(readFileSync(join(down, 'b.txt'), 'utf8')).toBe('from bob');
  });

  it("every attempt to reach the other's files is refused or finds nothing", async () => {
    const src = tempDir();
    writeFileSync(join(src, 'secret.txt'), 'bob only');
    await sendPaths(running.port, [join(src, 'secret.txt')], bob);
    // A symlink planted in alice's home that points into bob's (as if alice's home had one).
    symlinkSync(join(running.inbox, 'bob'), join(running.inbox, 'alice', 'to-bob'));
    const down = tempDir();
    const attempts = ['../bob/secret.txt', '/bob/secret.txt', 'bob/secret.txt', 'to-bob/secret.txt', 'to-bob', '..', '../..'];
    const got = await client(running.port, alice).get(attempts, { dir: down });
    expect(got.stored).toEqual([]);
    expect(got.notices).toHaveLength(attempts.length);
    expect(Object.keys(tree(down))).toEqual([]);
    for (const path of ['../bob', '/../bob', 'to-bob/']) {
      const listing = await client(running.port, alice).list(path).catch((e: unknown) => e);
      expect(listing).toMatchObject({ code: 'REFUSED' });
    }
    // Listing the symlink itself shows the link, never what it points to.
    expect(await client(running.port, alice).list('to-bob')).toEqual([expect.objectContaining({ name: 'to-bob', type: 'symlink' })]);
    expect(await client(running.port, alice).list('')).toContainEqual(expect.objectContaining({ name: 'to-bob', type: 'symlink' }));
    const removed = await client(running.port, alice).remove(['../bob/secret.txt', 'to-bob/secret.txt']);
    expect(removed.removed).toBe(0);
    await expect(sendPaths(running.port, [join(src, 'secret.txt')], alice, '../bob')).rejects.toMatchObject({ code: 'REFUSED' });
    const offer = await announceFile(running.port, '../bob/secret.txt', 1, alice);
    expect(offer.kind).toBe(OfferKind.Refused);
    expect(readFileSync(join(running.inbox, 'bob/secret.txt'), 'utf8')).toBe('bob only');
  });

  it('permissions and quota: bob may not delete; alice may, and her quota refuses a file over it', async () => {
    const src = tempDir();
    writeFileSync(join(src, 'gone.txt'), 'x');
    await sendPaths(running.port, [join(src, 'gone.txt')], alice);
    await expect(client(running.port, bob).remove(['b.txt'])).rejects.toMatchObject({ code: 'REFUSED', message: expect.stringMatching(/may not delete/) });
    expect((await client(running.port, alice).remove(['gone.txt'])).removed).toBe(1);
    expect(existsSync(join(running.inbox, 'alice/gone.txt'))).toBe(false);
    mkdirSync(join(running.inbox, 'alice/empty'));
    mkdirSync(join(running.inbox, 'alice/full'));
    writeFileSync(join(running.inbox, 'alice/full/kept.txt'), 'kept');
    const dirs = await client(running.port, alice).remove(['empty', 'full']);
    expect(dirs.removed).toBe(1);
    expect(dirs.notices).toEqual([expect.objectContaining({ message: 'full: directory not empty' })]);
    expect([existsSync(join(running.inbox, 'alice/empty')), existsSync(join(running.inbox, 'alice/full/kept.txt'))]).toEqual([false, true]);
    writeFileSync(join(src, 'big.bin'), pseudoRandomBytes(1_500_000, 1));
    const result = await sendPaths(running.port, [join(src, 'big.bin')], alice);
    expect(result.refused).toEqual([expect.objectContaining({ message: expect.stringMatching(/quota/) })]);
    expect(inboxState(join(running.inbox, 'alice')).received).not.toContain('big.bin');
  });

  it('a quota is filled to the byte: files that add up to it are stored, one byte more is refused, in a session and across sessions', async () => {
    const src = tempDir();
    const file = (name: string, size: number) => (writeFileSync(join(src, name), pseudoRandomBytes(size, size)), join(src, name));
    const exact = await sendPaths(running.port, [file('a.bin', 600), file('b.bin', 400)], carol);
    expect(exact.delivered.map((d) => d.path).sort()).toEqual(['a.bin', 'b.bin']);
    const over = await sendPaths(running.port, [file('c.bin', 1)], carol);
    expect(over.refused).toEqual([expect.objectContaining({ message: expect.stringMatching(/quota \(0 bytes left\)/) })]);
    const split = await sendPaths(running.port, [file('x.bin', 600), file('y.bin', 401)], dave);
    expect(split.delivered.map((d) => d.path)).toEqual(['x.bin']);
    expect(split.refused).toEqual([expect.objectContaining({ message: expect.stringMatching(/file of 401 bytes exceeds the account's quota \(400 bytes left\)/) })]);
  });

  it('a wrong password and an unknown account both fail authentication (exit 3)', async () => {
    await expect(client(running.port, { account: 'alice', password: 'wrong' }).list('')).rejects.toMatchObject({ code: 'AUTH_FAILED', exitCode: 3 });
    await expect(client(running.port, { account: 'mallory', password: 'whatever' }).list('')).rejects.toMatchObject({ code: 'AUTH_FAILED', exitCode: 3 });
    await expect(client(running.port, { password: alice.password }).list('')).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/user@host/) });
  });

  it('the accounts file holds no password, in any encoding', () => {
    const text = readFileSync(accountsFile, 'utf8');
    for (const { password } of [alice, bob]) {
      for (const form of [password, Buffer.from(password).toString('hex'), Buffer.from(password).toString('base64'), Buffer.from(password).toString('base64url')]) {
        expect(text.includes(form)).toBe(false);
      }
    }
  });
});

