/**
 * The v2 handshake (docs/PROTOCOL.md §3), as pure functions of their inputs (randomness injectable), no I/O:
 *
 *   server                                client
 *   Greeting: mode, nonceS [, salt, iterations]  ──▶
 *                                        ◀──  ClientHello: nonceS, nonceC, suites, ML-KEM ek, Ya | name + KE1
 *   ServerHello: suite, ML-KEM ct, Yb | KE2, confirmS  ──▶
 *                                        ◀──  ClientFinish: [KE3,] confirmC      (then sealed frames)
 *
 * Password mode runs CPace (CPACE-X25519-SHA512) on PRS = PBKDF2(password, the server's salt and count), which the
 * server derived once at start; accounts mode runs OPAQUE-3DH. Both add ML-KEM-768 in the first round trip, and
 * every key comes from one HKDF over (PAKE key ‖ KEM secret) salted with the transcript hash, so a session stays
 * confidential if either the PAKE's group or ML-KEM holds (as OpenSSH's mlkem768x25519-sha256 and the TLS hybrid
 * design combine: concatenate, then one KDF over the transcript).
 */
import { createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { AuthError, IntegrityError, SftError, UsageError } from '../errors.js';
import { equalConstantTime } from '../crypto/bytes.js';
import { cpaceShare, deriveIsk, scalarMultVfy, transcriptIr, type CpaceScalar } from '../crypto/cpace.js';
import { kemDecapsulate, kemEncapsulate, kemKeyPair, type KemKeyPair } from '../crypto/mlkem.js';
import { clientLoginFinish, clientLoginStart, serverLoginFinish, serverLoginStart, type ClientLoginStart } from '../crypto/opaque.js';
import { pbkdf2Sha256 } from '../crypto/pbkdf2.js';
import {
  Mode, NONCE_SIZE, SALT_SIZE, SUITES, decodeClientFinish, decodeClientHello, decodeGreeting, decodeServerHello, encodeClientFinish,
  encodeClientHello, encodeGreeting, encodeServerHello, encodeServerHelloUnconfirmed, suiteName,
  type ClientHello, type Greeting, type ServerHelloBody, type Suite,
} from './messages.js';

/** CPace channel identifier (§3.6): the protocol name, no addresses (they change across NAT, proxies and relays). */
export const CI = Buffer.from('sft/2');
/** PBKDF2 iteration counts a client accepts from a server's greeting. */
export const CLIENT_ITERATION_BOUNDS = { min: 1000, max: 10_000_000 };

export interface SessionKeys {
  suite: Suite;
  /** Control-frame keys, client → server and server → client. */
  clientToServer: Buffer;
  serverToClient: Buffer;
  /** Root of the per-file content keys. */
  files: Buffer;
  /** SHA-256 transcript hash TH (§3.7). */
  transcriptHash: Buffer;
}

/** TH = SHA-256 over the three handshake bodies, each preceded by its length (u32). */
export function transcriptHash(greeting: Buffer, clientHello: Buffer, serverHelloBody: Buffer): Buffer {
  const hash = createHash('sha256');
  for (const part of [greeting, clientHello, serverHelloBody]) {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(part.length);
    hash.update(length).update(part);
  }
  return hash.digest();
}

/** PRK = HKDF-Extract(salt = TH, IKM = ikm), then k(label) = HKDF-Expand(PRK, "sft/2 " ‖ label, 32) (§3.7). */
function keySchedule(ikm: Buffer, th: Buffer) {
  return (label: string) => Buffer.from(hkdfSync('sha256', ikm, th, `sft/2 ${label}`, 32));
}

function hmac(key: Buffer, data: Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function sessionKeys(suite: Suite, k: (label: string) => Buffer, th: Buffer): SessionKeys {
  return { suite, clientToServer: k('c2s'), serverToClient: k('s2c'), files: k('files'), transcriptHash: th };
}

/** Accounts mode's ServerHello confirmation covers the KEM secret and the transcript (the server has no OPAQUE key yet). */
function kemConfirm(sharedSecret: Buffer, th: Buffer): Buffer {
  return hmac(keySchedule(sharedSecret, th)('kem confirm'), th);
}

// Server ---------------------------------------------------------------------------------------------------------

export type ServerCredentials =
  | { mode: typeof Mode.Password; prs: Buffer; salt: Buffer; iterations: number }
  | { mode: typeof Mode.Accounts; setup: string; record: (name: string) => Buffer | undefined };

/** Shared-password mode: PRS derived once at start, from the server's own salt and count (§3.2). */
export async function passwordCredentials(password: string | Uint8Array, iterations: number, salt: Buffer = randomBytes(SALT_SIZE)): Promise<ServerCredentials> {
  return { mode: Mode.Password, prs: await pbkdf2Sha256(password, salt, iterations, 32), salt, iterations };
}

export function serverGreeting(credentials: ServerCredentials, nonce: Buffer = randomBytes(NONCE_SIZE)): Buffer {
  const greeting: Greeting =
    credentials.mode === Mode.Password ? { mode: Mode.Password, nonce, salt: credentials.salt, iterations: credentials.iterations } : { mode: Mode.Accounts, nonce };
  return encodeGreeting(greeting);
}

/** What the server keeps between its hello and the client's finish. */
export interface ServerPending {
  mode: Mode;
  suite: Suite;
  th: Buffer;
  sharedSecret: Buffer;
  /** Password mode: the CPace ISK. */
  isk?: Buffer;
  /** Accounts mode: OPAQUE's server state and the account name. */
  login?: { state: string; name: string };
}

/** Fixed randomness, for the worked transcripts only. */
export interface ServerFixed {
  yb?: CpaceScalar;
  kemMessage?: Buffer;
  /** A recorded OPAQUE server step (the library draws its own randomness). */
  login?: { state: string; ke2: Buffer };
}

/**
 * The server's answer to a ClientHello: cheap checks first (it answers this greeting, a common suite), then one
 * ML-KEM encapsulation and the PAKE's server step (two X25519 or one OPAQUE login start).
 * @throws IntegrityError MALFORMED (malformed, or not an answer to this greeting: replayed), UNSUPPORTED (no common
 *   suite), AuthError (invalid share or encapsulation key).
 */
export function serverRespond(
  credentials: ServerCredentials,
  greetingBody: Buffer,
  helloBody: Buffer,
  suites: readonly Suite[],
  fixed: ServerFixed = {},
): { body: Buffer; pending: ServerPending } {
  const greeting = decodeGreeting(greetingBody);
  const hello = decodeClientHello(helloBody, credentials.mode);
  if (!equalConstantTime(hello.serverNonce, greeting.nonce)) throw new IntegrityError('MALFORMED', 'client hello does not answer this greeting (replayed?)');
  const suite = hello.suites.map(suiteName).find((s): s is Suite => s !== undefined && suites.includes(s));
  if (suite === undefined) throw new IntegrityError('UNSUPPORTED', 'no cipher suite in common');
  const { ciphertext, sharedSecret } = kemEncapsulate(hello.encapsulationKey, fixed.kemMessage);
  if (credentials.mode === Mode.Password && hello.mode === Mode.Password) {
    const sid = Buffer.concat([greeting.nonce, hello.nonce]);
    const share = cpaceShare(credentials.prs, CI, sid, fixed.yb);
    const isk = deriveIsk(sid, scalarMultVfy(share.y, hello.Ya), transcriptIr(hello.Ya, Buffer.alloc(0), share.Y, Buffer.alloc(0)));
    const unconfirmed: ServerHelloBody = { mode: Mode.Password, suite: SUITES[suite], ciphertext, Yb: share.Y };
    const th = transcriptHash(greetingBody, helloBody, encodeServerHelloUnconfirmed(unconfirmed));
    const confirm = hmac(keySchedule(Buffer.concat([isk, sharedSecret]), th)('server confirm'), th);
    return { body: encodeServerHello({ ...unconfirmed, confirm }), pending: { mode: Mode.Password, suite, th, sharedSecret, isk } };
  }
  if (credentials.mode !== Mode.Accounts || hello.mode !== Mode.Accounts) throw new SftError('INTERNAL', 'handshake mode mismatch');
  const login = fixed.login ?? serverLoginStart(credentials.setup, hello.name, credentials.record(hello.name), hello.ke1);
  const unconfirmed: ServerHelloBody = { mode: Mode.Accounts, suite: SUITES[suite], ciphertext, ke2: login.ke2 };
  const th = transcriptHash(greetingBody, helloBody, encodeServerHelloUnconfirmed(unconfirmed));
  return {
    body: encodeServerHello({ ...unconfirmed, confirm: kemConfirm(sharedSecret, th) }),
    pending: { mode: Mode.Accounts, suite, th, sharedSecret, login: { state: login.state, name: hello.name } },
  };
}

/**
 * Checks the client's finish: OPAQUE's client MAC (accounts mode), then confirmC over the transcript.
 * @throws AuthError when either fails (wrong password, or the handshake was altered).
 */
export function serverFinish(pending: ServerPending, finishBody: Buffer): { keys: SessionKeys; account?: string } {
  const finish = decodeClientFinish(finishBody, pending.mode);
  let pakeKey: Buffer;
  if (pending.login !== undefined) pakeKey = serverLoginFinish(pending.login.state, finish.ke3 ?? Buffer.alloc(0));
  else if (pending.isk !== undefined) pakeKey = pending.isk;
  else throw new SftError('INTERNAL', 'handshake state without a PAKE key');
  const k = keySchedule(Buffer.concat([pakeKey, pending.sharedSecret]), pending.th);
  if (!equalConstantTime(hmac(k('client confirm'), pending.th), finish.confirm)) throw new AuthError();
  return { keys: sessionKeys(pending.suite, k, pending.th), ...(pending.login === undefined ? {} : { account: pending.login.name }) };
}

// Client ---------------------------------------------------------------------------------------------------------

export interface ClientCredentials {
  password: string;
  /** Accounts mode: the account name. Without it the server must be in shared-password mode. */
  account?: string;
}

export interface ClientPending {
  greeting: Greeting;
  greetingBody: Buffer;
  helloBody: Buffer;
  hello: ClientHello;
  kem: KemKeyPair;
  password: string;
  ya?: CpaceScalar;
  prs?: Buffer;
  login?: ClientLoginStart;
}

/** Fixed randomness, for the worked transcripts only. */
export interface ClientFixed {
  nonce?: Buffer;
  ya?: CpaceScalar;
  kemSeed?: Buffer;
  /** A recorded OPAQUE client start (the library draws its own randomness). */
  login?: ClientLoginStart;
}

/**
 * The client's answer to the server's greeting: PBKDF2 with the server's parameters and a CPace share (password
 * mode), or OPAQUE's KE1 (accounts mode), plus a fresh ML-KEM key pair.
 * @throws IntegrityError UNSUPPORTED (not an sft/2 server), UsageError (the account / mode do not fit the server,
 *   or the server asks for a PBKDF2 count outside CLIENT_ITERATION_BOUNDS).
 */
export async function clientHello(greetingBody: Buffer, credentials: ClientCredentials, suites: readonly Suite[], fixed: ClientFixed = {}): Promise<ClientPending> {
  const greeting = decodeGreeting(greetingBody);
  const kem = kemKeyPair(fixed.kemSeed);
  const common = { serverNonce: greeting.nonce, nonce: fixed.nonce ?? randomBytes(NONCE_SIZE), suites: suites.map((s) => SUITES[s]), encapsulationKey: kem.encapsulationKey };
  const base = { greeting, greetingBody, kem, password: credentials.password };
  if (greeting.mode === Mode.Password) {
    if (credentials.account !== undefined) throw new UsageError('this server uses a shared password, not accounts: leave out the user name');
    const { min, max } = CLIENT_ITERATION_BOUNDS;
    if (greeting.iterations < min || greeting.iterations > max) throw new UsageError(`the server asks for ${greeting.iterations} PBKDF2 iterations, outside the ${min}–${max} this client accepts`);
    const prs = await pbkdf2Sha256(credentials.password, greeting.salt, greeting.iterations, 32);
    const share = cpaceShare(prs, CI, Buffer.concat([greeting.nonce, common.nonce]), fixed.ya);
    const hello: ClientHello = { ...common, mode: Mode.Password, Ya: share.Y };
    return { ...base, hello, helloBody: encodeClientHello(hello), prs, ya: share.y };
  }
  if (credentials.account === undefined) throw new UsageError('this server has accounts: name yours, as user@host');
  const login = fixed.login ?? clientLoginStart(credentials.password);
  const hello: ClientHello = { ...common, mode: Mode.Accounts, name: credentials.account, ke1: login.ke1 };
  return { ...base, hello, helloBody: encodeClientHello(hello), login };
}

/**
 * Checks the server's hello (the server's confirmation, or OPAQUE's server MAC and the KEM confirmation) and
 * returns the session keys and the ClientFinish body.
 * @throws AuthError: wrong password, unknown account, or a handshake altered in transit (a flipped ML-KEM key or
 *   ciphertext gives an unrelated KEM secret: implicit rejection); IntegrityError when the server chose a suite
 *   that was not offered.
 */
export function clientFinish(pending: ClientPending, serverHelloBody: Buffer): { keys: SessionKeys; body: Buffer } {
  const hello = decodeServerHello(serverHelloBody, pending.greeting.mode);
  const suite = suiteName(hello.suite);
  if (suite === undefined || !pending.hello.suites.includes(hello.suite)) throw new IntegrityError('MALFORMED', 'server chose a suite that was not offered');
  const sharedSecret = kemDecapsulate(hello.ciphertext, pending.kem.decapsulationKey);
  const th = transcriptHash(pending.greetingBody, pending.helloBody, encodeServerHelloUnconfirmed(hello));
  if (hello.mode === Mode.Password && pending.ya !== undefined && pending.hello.mode === Mode.Password) {
    const sid = Buffer.concat([pending.greeting.nonce, pending.hello.nonce]);
    const isk = deriveIsk(sid, scalarMultVfy(pending.ya, hello.Yb), transcriptIr(pending.hello.Ya, Buffer.alloc(0), hello.Yb, Buffer.alloc(0)));
    const k = keySchedule(Buffer.concat([isk, sharedSecret]), th);
    if (!equalConstantTime(hmac(k('server confirm'), th), hello.confirm)) throw new AuthError();
    return { keys: sessionKeys(suite, k, th), body: encodeClientFinish({ confirm: hmac(k('client confirm'), th) }) };
  }
  if (hello.mode !== Mode.Accounts || pending.login === undefined) throw new SftError('INTERNAL', 'handshake mode mismatch');
  const { ke3, sessionKey } = clientLoginFinish(pending.login, hello.ke2, pending.password);
  if (!equalConstantTime(kemConfirm(sharedSecret, th), hello.confirm)) throw new AuthError('the key exchange was altered in transit (ML-KEM confirmation failed)');
  const k = keySchedule(Buffer.concat([sessionKey, sharedSecret]), th);
  return { keys: sessionKeys(suite, k, th), body: encodeClientFinish({ ke3, confirm: hmac(k('client confirm'), th) }) };
}

/**
 * The content keys of a session (§4): key(direction, index) = HKDF-SHA256(IKM = files, salt = empty, info =
 * "sft/2 file " ‖ direction ‖ " " ‖ u32(index), 32). The extract step is the same for every file and runs once
 * here; each file then costs one HKDF-Expand (@noble/hashes: ~10 µs, where node:crypto's hkdfSync redoes the
 * extract and makes a key object on each call: 20 µs in a loop, 76 µs per file in a profile of 10,000 files).
 * node:crypto has no HKDF-Expand on its own; @noble/hashes' (also HPKE's here) is an audited implementation of it.
 */
export function fileKeys(keys: SessionKeys): (direction: 'c2s' | 's2c', index: number) => Buffer {
  const prk = extract(sha256, keys.files, new Uint8Array(0));
  const prefixes = { c2s: Buffer.from('sft/2 file c2s '), s2c: Buffer.from('sft/2 file s2c ') };
  return (direction, index) => {
    const prefix = prefixes[direction];
    const info = Buffer.allocUnsafe(prefix.length + 4);
    prefix.copy(info);
    info.writeUInt32BE(index, prefix.length);
    const key = expand(sha256, prk, info, 32);
    return Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  };
}
