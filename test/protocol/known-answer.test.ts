// The handshake of docs/PROTOCOL.md §9 computed by src/ (transcript.test.ts regenerates the sessions from dist/ and
// compares whole frames): every handshake body, the transcript hash and every derived key equal the worked vectors.
import { hkdfSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { scalarFromBytes } from '../../src/crypto/cpace.js';
import { opaqueReady } from '../../src/crypto/opaque.js';
import { FrameDecoder, FrameType } from '../../src/protocol/frames.js';
import { clientFinish, clientHello, fileKeys, passwordCredentials, serverFinish, serverGreeting, serverRespond, type ServerCredentials } from '../../src/protocol/handshake.js';
import { Mode, type Suite } from '../../src/protocol/messages.js';
import { readVector } from '../helpers.js';

interface Frame { frame: string; hex: string }
interface Session { values: Record<string, string>; clientToServer: Frame[]; serverToClient: Frame[] }
interface Transcripts {
  inputs: { password: string; iterations: number; suitesOffered: Suite[]; serverNonce: string; clientNonce: string; salt: string; ya: string; yb: string; kemSeed: string; kemMessage: string };
  password: Session;
  accounts: Session & { opaque: { setup: string; record: string; clientState: string; ke1: string; serverState: string; ke2: string } };
}

const t = readVector<Transcripts>('sft-transcripts.json');
const hex = (s: string) => Buffer.from(s, 'hex');
const bodies = (frames: Frame[]) => new FrameDecoder(new Set(Object.values(FrameType) as FrameType[])).push(hex(frames.map((f) => f.hex).join(''))).map((f) => f.body.toString('hex'));

async function handshake(credentials: ServerCredentials, account: string | undefined, fixed: { client?: object; server?: object }, kemMessage = hex(t.inputs.kemMessage)) {
  const { inputs } = t;
  const greeting = serverGreeting(credentials, hex(inputs.serverNonce));
  const pending = await clientHello(greeting, { password: inputs.password, ...(account === undefined ? {} : { account }) }, inputs.suitesOffered, { nonce: hex(inputs.clientNonce), ya: scalarFromBytes(hex(inputs.ya)), kemSeed: hex(inputs.kemSeed), ...fixed.client });
  const response = serverRespond(credentials, greeting, pending.helloBody, inputs.suitesOffered, { yb: scalarFromBytes(hex(inputs.yb)), kemMessage, ...fixed.server });
  const finished = clientFinish(pending, response.body);
  const server = serverFinish(response.pending, finished.body);
  expect(finished.keys).toEqual(server.keys);
  const keys = server.keys;
  return {
    up: [pending.helloBody, finished.body].map((b) => b.toString('hex')),
    down: [greeting, response.body].map((b) => b.toString('hex')),
    values: {
      TH: keys.transcriptHash.toString('hex'),
      'k(c2s)': keys.clientToServer.toString('hex'),
      'k(s2c)': keys.serverToClient.toString('hex'),
      'k(files)': keys.files.toString('hex'),
      'fileKey(c2s, 0)': fileKeys(keys)('c2s', 0).toString('hex'),
      'fileKey(s2c, 0)': fileKeys(keys)('s2c', 0).toString('hex'),
    },
    account: server.account,
  };
}

function expectSession(got: Awaited<ReturnType<typeof handshake>>, session: Session) {
  expect(got.up).toEqual(bodies(session.clientToServer).slice(0, 2));
  expect(got.down).toEqual(bodies(session.serverToClient).slice(0, 2));
  for (const [name, value] of Object.entries(got.values)) expect([name, value]).toEqual([name, session.values[name]]);
}

describe('handshake known answers (docs/PROTOCOL.md §9, from src/)', () => {
  it('session 1, shared password: bodies, TH and keys', async () => {
    const credentials = await passwordCredentials(t.inputs.password, t.inputs.iterations, hex(t.inputs.salt));
    expectSession(await handshake(credentials, undefined, {}), t.password);
  });

  it('with every PAKE input the same, another ML-KEM encapsulation alone changes every session key', async () => {
    const credentials = await passwordCredentials(t.inputs.password, t.inputs.iterations, hex(t.inputs.salt));
    const other = await handshake(credentials, undefined, {}, Buffer.alloc(32, 0x55));
    for (const name of ['k(c2s)', 'k(s2c)', 'k(files)', 'fileKey(c2s, 0)'] as const) expect(other.values[name]).not.toBe(t.password.values[name]);
    expect(other.up[0]).toBe(bodies(t.password.clientToServer)[0]);
  });

  it('session 2, account alice with the recorded OPAQUE material: bodies (KEM confirmation included), TH and keys', async () => {
    await opaqueReady();
    const o = t.accounts.opaque;
    const credentials: ServerCredentials = { mode: Mode.Accounts, setup: o.setup, record: (name) => (name === 'alice' ? hex(o.record) : undefined) };
    const got = await handshake(credentials, 'alice', { client: { login: { state: o.clientState, ke1: hex(o.ke1) } }, server: { login: { state: o.serverState, ke2: hex(o.ke2) } } });
    expectSession(got, t.accounts);
    expect(got.account).toBe('alice');
  });

  it('every content key is the HKDF of §4 as node:crypto computes it, whatever the index and direction', () => {
    const keys = { suite: 'aes-256-gcm' as const, clientToServer: Buffer.alloc(32), serverToClient: Buffer.alloc(32), files: hex(t.password.values['k(files)'] as string), transcriptHash: Buffer.alloc(32) };
    const derive = fileKeys(keys);
    for (const direction of ['c2s', 's2c'] as const) {
      for (const index of [0, 1, 255, 256, 65_536, 2 ** 32 - 1]) {
        const info = Buffer.alloc(4);
        info.writeUInt32BE(index);
        const expected = Buffer.from(hkdfSync('sha256', keys.files, Buffer.alloc(0), Buffer.concat([Buffer.from(`sft/2 file ${direction} `), info]), 32));
        expect(derive(direction, index).toString('hex')).toBe(expected.toString('hex'));
      }
    }
    expect(derive('c2s', 0).equals(derive('c2s', 1))).toBe(false);
  });
});
