// The worked sessions of docs/PROTOCOL.md §9, captured from the real code with fixed randomness: the handshake
// functions of dist/protocol/handshake.js, then the real Sender and Receiver on both ends of a loopback socket.
// Session 1 (shared password) sends hello.txt; session 2 (account alice) gets it back. Every frame each side wrote
// is recorded. OPAQUE draws its own randomness, so session 2 records its OPAQUE material and, given it back,
// reproduces the same bytes: test/protocol/transcript.test.ts regenerates both and compares with
// test/vectors/sft-transcripts.json.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateGenerator, deriveIsk, scalarFromBytes, scalarMultVfy, transcriptIr } from '../dist/crypto/cpace.js';
import { kemDecapsulate } from '../dist/crypto/mlkem.js';
import { clientLoginFinish, clientLoginStart, createServerSetup, opaqueReady, register, serverLoginStart } from '../dist/crypto/opaque.js';
import { FrameDecoder, FrameType, HANDSHAKE_FRAMES, encodeFrame } from '../dist/protocol/frames.js';
import { clientFinish, clientHello, fileKeys, passwordCredentials, serverFinish, serverGreeting, serverRespond } from '../dist/protocol/handshake.js';
import { Mode, Op, decodeRequest, encodeRequest } from '../dist/protocol/messages.js';
import { Connection } from '../dist/transfer/connection.js';
import { Receiver } from '../dist/transfer/receiver.js';
import { Sender } from '../dist/transfer/sender.js';
import { Session } from '../dist/transfer/session.js';
import { FileStore } from '../dist/transfer/store.js';

const hex = (b) => Buffer.from(b).toString('hex');
const bytes = (start, length) => Buffer.from(Array.from({ length }, (_, i) => (start + i) & 0xff));
const NAMES = Object.fromEntries(Object.entries(FrameType).map(([name, type]) => [type, name]));
const SUITES = ['aes-256-gcm', 'chacha20-poly1305'];
export const PASSWORD = 'correct horse battery staple';
const CONTENT = Buffer.from('hello');

/** The fixed "random" values: nonces, salt, the CPace scalars of the draft's X25519 vectors, ML-KEM seed and message. */
export const FIXED = {
  serverNonce: bytes(0x00, 16),
  clientNonce: bytes(0x10, 16),
  salt: bytes(0x20, 16),
  ya: '21b4f4bd9e64ed355c3eb676a28ebedaf6d8f17bdc365995b319097153044080',
  yb: '848b0779ff415f0af4ea14df9dd1d3c29ac41d836c7808896c4eba19c51ac40a',
  kemSeed: bytes(0x40, 64),
  kemMessage: bytes(0x80, 32),
};

/** Two connected loopback sockets, each direction's frames recorded as they are written. */
async function socketPair() {
  const listener = createServer();
  await new Promise((r) => listener.listen(0, '127.0.0.1', r));
  const accepted = new Promise((r) => listener.once('connection', r));
  const client = connect(listener.address().port, '127.0.0.1');
  const server = await accepted;
  listener.close();
  const record = (socket) => {
    const frames = [];
    const decoder = new FrameDecoder(new Set(Object.values(FrameType)));
    socket.on('data', (data) => frames.push(...decoder.push(data).map((f) => ({ frame: NAMES[f.type], hex: hex(encodeFrame(f.type, f.body)) }))));
    return frames;
  };
  // What the server socket receives is what the client wrote, and the reverse.
  return { client, server, clientToServer: record(server), serverToClient: record(client) };
}

/** Runs the handshake with fixed randomness; returns both sessions and the values worth printing. */
async function handshake(pair, credentials, client, fixed) {
  const serverConn = new Connection(pair.server, HANDSHAKE_FRAMES.fromClient);
  const clientConn = new Connection(pair.client, HANDSHAKE_FRAMES.fromServer);
  const greeting = serverGreeting(credentials, FIXED.serverNonce);
  serverConn.send(FrameType.Greeting, [greeting]);
  const pending = await clientHello((await clientConn.expect('greeting')).body, client, SUITES, { nonce: FIXED.clientNonce, ya: scalarFromBytes(Buffer.from(FIXED.ya, 'hex')), kemSeed: FIXED.kemSeed, ...fixed.client });
  clientConn.send(FrameType.ClientHello, [pending.helloBody]);
  const response = serverRespond(credentials, greeting, (await serverConn.expect('hello')).body, SUITES, { yb: scalarFromBytes(Buffer.from(FIXED.yb, 'hex')), kemMessage: FIXED.kemMessage, ...fixed.server });
  serverConn.send(FrameType.ServerHello, [response.body]);
  const finished = clientFinish(pending, (await clientConn.expect('server hello')).body);
  clientConn.send(FrameType.ClientFinish, [finished.body]);
  const { keys } = serverFinish(response.pending, (await serverConn.expect('finish')).body);
  const sharedSecret = kemDecapsulate(response.body.subarray(1, 1089), pending.kem.decapsulationKey);
  const opaqueKey = pending.login === undefined ? {} : { 'OPAQUE session_key': hex(clientLoginFinish(pending.login, response.body.subarray(1089, 1409), PASSWORD).sessionKey) };
  const values = { ...cpaceValues(pending, response.body), ...opaqueKey, 'ML-KEM shared secret': hex(sharedSecret),
    TH: hex(keys.transcriptHash),
    'k(c2s)': hex(keys.clientToServer),
    'k(s2c)': hex(keys.serverToClient),
    'k(files)': hex(keys.files),
    'fileKey(c2s, 0)': hex(fileKeys(keys)('c2s', 0)),
    'fileKey(s2c, 0)': hex(fileKeys(keys)('s2c', 0)),
  };
  return { server: new Session(serverConn, keys, 'server'), client: new Session(clientConn, finished.keys, 'client'), values };
}

/** The CPace intermediate values of a password-mode session (an implementer checks against these). */
function cpaceValues(pending, serverHello) {
  if (pending.prs === undefined) return {};
  const sid = Buffer.concat([FIXED.serverNonce, FIXED.clientNonce]);
  const Yb = serverHello.subarray(1089, 1121);
  const K = scalarMultVfy(pending.ya, Yb);
  const ISK = deriveIsk(sid, K, transcriptIr(pending.hello.Ya, Buffer.alloc(0), Yb, Buffer.alloc(0)));
  return { PRS: hex(pending.prs), ya: FIXED.ya, yb: FIXED.yb, sid: hex(sid), g: hex(calculateGenerator(pending.prs, Buffer.from('sft/2'), sid)), Ya: hex(pending.hello.Ya), Yb: hex(Yb), K: hex(K), ISK: hex(ISK) };
}

function entry(dir) {
  writeFileSync(join(dir, 'hello.txt'), CONTENT);
  return { source: join(dir, 'hello.txt'), path: 'hello.txt', kind: 'file', size: CONTENT.length, mode: 0o644, mtimeNs: 0n, noFollow: true };
}

async function store() {
  const s = new FileStore(mkdtempSync(join(tmpdir(), 'sft-transcript-')));
  await s.init(1000, false);
  return s;
}

/** Session 1: shared password, the client sends hello.txt. */
async function passwordSession() {
  const pair = await socketPair();
  const credentials = await passwordCredentials(PASSWORD, 1000, FIXED.salt);
  const { server, client, values } = await handshake(pair, credentials, { password: PASSWORD }, { client: {}, server: {} });
  client.send(FrameType.Request, encodeRequest({ op: Op.Put, into: '' }));
  const receiving = (async () => {
    decodeRequest((await server.next('request')).body);
    return new Receiver(server, await store(), { maxFileSize: 1e9, maxEntries: 10 }).run();
  })();
  await new Sender(client, [entry(mkdtempSync(join(tmpdir(), 'sft-transcript-src-')))]).run();
  await receiving;
  await new Promise((r) => setTimeout(r, 50));
  pair.client.destroy();
  pair.server.destroy();
  return { values, clientToServer: pair.clientToServer, serverToClient: pair.serverToClient };
}

/**
 * Session 2: account alice, the client gets hello.txt. `opaque` is the recorded OPAQUE material (server setup,
 * registration record, the client's and the server's login steps); without it, new material is drawn.
 */
async function accountsSession(opaque) {
  await opaqueReady();
  const setup = opaque?.setup ?? createServerSetup();
  const record = opaque === undefined ? register(setup, 'alice', PASSWORD) : Buffer.from(opaque.record, 'hex');
  const login = opaque === undefined ? clientLoginStart(PASSWORD) : { state: opaque.clientState, ke1: Buffer.from(opaque.ke1, 'hex') };
  const serverLogin = opaque === undefined ? serverLoginStart(setup, 'alice', record, login.ke1) : { state: opaque.serverState, ke2: Buffer.from(opaque.ke2, 'hex') };
  const pair = await socketPair();
  const credentials = { mode: Mode.Accounts, setup, record: (name) => (name === 'alice' ? record : undefined) };
  const { server, client, values } = await handshake(pair, credentials, { password: PASSWORD, account: 'alice' }, { client: { login }, server: { login: serverLogin } });
  client.send(FrameType.Request, encodeRequest({ op: Op.Get, paths: ['hello.txt'] }));
  const sending = (async () => {
    decodeRequest((await server.next('request')).body);
    return new Sender(server, [entry(mkdtempSync(join(tmpdir(), 'sft-transcript-src-')))]).run();
  })();
  await new Receiver(client, await store(), { maxFileSize: 1e9, maxEntries: 10 }).run();
  await sending;
  await new Promise((r) => setTimeout(r, 50));
  pair.client.destroy();
  pair.server.destroy();
  return {
    opaque: { setup, record: hex(record), clientState: login.state, ke1: hex(login.ke1), serverState: serverLogin.state, ke2: hex(serverLogin.ke2) },
    values,
    clientToServer: pair.clientToServer,
    serverToClient: pair.serverToClient,
  };
}

export async function transcripts(recordedOpaque) {
  const inputs = { password: PASSWORD, iterations: 1000, suitesOffered: SUITES, ...Object.fromEntries(Object.entries(FIXED).map(([k, v]) => [k, typeof v === 'string' ? v : hex(v)])), file: { path: 'hello.txt', content: 'hello', mode: '0644', mtimeNs: '0' } };
  return { inputs, password: await passwordSession(), accounts: await accountsSession(recordedOpaque) };
}

if (import.meta.url === `file://${process.argv[1]}` && process.argv[2] !== '--markdown') console.log(JSON.stringify(await transcripts(), null, 1));

/** docs/PROTOCOL.md §9 from a transcripts object (`node scripts/transcript.js --markdown < test/vectors/sft-transcripts.json`). */
export function markdown(t) {
  const wrap = (h) => h.match(/.{1,96}/g).map((line) => `    ${line}`).join('\n');
  const out = [];
  for (const [n, name, title] of [[1, 'password', 'Session 1: shared password, `sft send hello.txt`'], [2, 'accounts', 'Session 2: account `alice`, `sft get hello.txt`']]) {
    const s = t[name];
    out.push(`### 9.${n} ${title}\n`);
    if (name === 'accounts') out.push('OPAQUE draws its own randomness: the recorded material (server setup, registration record, both login steps) is in `test/vectors/sft-transcripts.json` under `accounts.opaque`; given back to the code it reproduces every byte below.\n');
    out.push('```', ...Object.entries(s.values).map(([k, v]) => `${k.padEnd(22)} ${v.match(/.{1,96}/g).join(`\n${' '.repeat(23)}`)}`), '```\n');
    for (const [direction, label] of [['clientToServer', 'client → server'], ['serverToClient', 'server → client']]) {
      out.push(`Frames ${label}, in the order written:\n`, '```');
      for (const f of s[direction]) out.push(`${f.frame} (${f.hex.length / 2} bytes)`, wrap(f.hex));
      out.push('```\n');
    }
  }
  return out.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}` && process.argv[2] === '--markdown') {
  const { readFileSync } = await import('node:fs');
  console.log(markdown(JSON.parse(readFileSync(0, 'utf8'))));
}
