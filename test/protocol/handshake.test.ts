import { beforeAll, describe, expect, it } from 'vitest';
import { createServerSetup, opaqueReady, register } from '../../src/crypto/opaque.js';
import { clientFinish, clientHello, passwordCredentials, serverFinish, serverGreeting, serverRespond, type ServerCredentials } from '../../src/protocol/handshake.js';
import { Mode } from '../../src/protocol/messages.js';

const suites = ['chacha20-poly1305', 'aes-256-gcm'] as const;

async function run(credentials: ServerCredentials, client: { password: string; account?: string }, tamper: (stage: string, body: Buffer) => Buffer = (_, b) => b) {
  const greeting = tamper('greeting', serverGreeting(credentials));
  const pending = await clientHello(greeting, client, suites);
  const helloBody = tamper('hello', pending.helloBody);
  const server = serverRespond(credentials, greeting, helloBody, suites);
  const c = clientFinish(pending, tamper('server hello', server.body));
  const s = serverFinish(server.pending, tamper('finish', c.body));
  return { client: c.keys, server: s.keys, account: s.account };
}

function flip(at: number) {
  return (body: Buffer) => {
    const copy = Buffer.from(body);
    const i = at < 0 ? copy.length + at : at;
    copy[i] = (copy[i] as number) ^ 1;
    return copy;
  };
}

describe('v2 handshake, shared password (CPace + ML-KEM-768)', () => {
  let credentials: ServerCredentials;
  beforeAll(async () => {
    credentials = await passwordCredentials('pw', 1000);
  });

  it('both sides derive the same keys; each session differs', async () => {
    const a = await run(credentials, { password: 'pw' });
    const b = await run(credentials, { password: 'pw' });
    expect(a.client).toEqual(a.server);
    expect(a.client.clientToServer.equals(b.client.clientToServer)).toBe(false);
  });

  it('a wrong password fails on the client (the server confirmation does not verify)', async () => {
    await expect(run(credentials, { password: 'nope' })).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });

  it('a flipped byte in the ML-KEM key or ciphertext fails key confirmation', async () => {
    // ek sits after the two nonces and the suite list (16 + 16 + 1 + 2); ct right after the suite byte.
    await expect(run(credentials, { password: 'pw' }, (stage, body) => (stage === 'hello' ? flip(40)(body) : body))).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(run(credentials, { password: 'pw' }, (stage, body) => (stage === 'server hello' ? flip(10)(body) : body))).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });

  it('a replayed hello (for another greeting) is refused before any work', async () => {
    const greeting = serverGreeting(credentials);
    const pending = await clientHello(greeting, { password: 'pw' }, suites);
    expect(() => serverRespond(credentials, serverGreeting(credentials), pending.helloBody, suites)).toThrow(/does not answer this greeting/);
  });

  it('names the mode mismatch', async () => {
    await expect(run(credentials, { password: 'pw', account: 'alice' })).rejects.toThrow(/shared password/);
  });
});

describe('v2 handshake, accounts (OPAQUE + ML-KEM-768)', () => {
  let credentials: ServerCredentials;
  beforeAll(async () => {
    await opaqueReady();
    const setup = createServerSetup();
    const record = register(setup, 'alice', 'correct horse');
    credentials = { mode: Mode.Accounts, setup, record: (name) => (name === 'alice' ? record : undefined) };
  });

  it('both sides derive the same keys and the server learns the account', async () => {
    const r = await run(credentials, { password: 'correct horse', account: 'alice' });
    expect(r.client).toEqual(r.server);
    expect(r.account).toBe('alice');
  });

  it('a wrong password or an unknown account fails on the client', async () => {
    await expect(run(credentials, { password: 'wrong', account: 'alice' })).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(run(credentials, { password: 'correct horse', account: 'bob' })).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });

  it('a flipped ML-KEM ciphertext byte fails the KEM confirmation; a flipped KE3 fails on the server', async () => {
    await expect(run(credentials, { password: 'correct horse', account: 'alice' }, (stage, body) => (stage === 'server hello' ? flip(10)(body) : body))).rejects.toThrow(/ML-KEM/);
    await expect(run(credentials, { password: 'correct horse', account: 'alice' }, (stage, body) => (stage === 'finish' ? flip(3)(body) : body))).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });
});
