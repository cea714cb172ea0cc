/**
 * The handshake (docs/PROTOCOL.md §3): CPace with the client as initiator, PRS = PBKDF2-HMAC-SHA256(password, salt,
 * iterations), session keys from ISK through HKDF salted with the transcript hash, and explicit key confirmation
 * both ways. Pure functions of their inputs (randomness injectable), no I/O.
 */
import { createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { AuthError, IntegrityError, SftError } from '../errors.js';
import { equalConstantTime } from '../crypto/bytes.js';
import { cpaceShare, deriveIsk, scalarMultVfy, transcriptIr } from '../crypto/cpace.js';
import { pbkdf2Sha256 } from '../crypto/pbkdf2.js';
import {
  PROTOCOL_VERSION, SUITES, clientAd, encodeClientHello, serverAd, suiteName,
  type ClientHello, type ServerHello, type Suite,
} from './messages.js';

/** CPace channel identifier: the protocol name (no addresses: they change across NAT and proxies). */
export const CI = Buffer.from('sft/1');

export interface SessionKeys {
  suite: Suite;
  /** AEAD key for sealed control frames client → server, and server → client. */
  clientToServer: Buffer;
  serverToClient: Buffer;
  /** Root of the per-file content keys. */
  files: Buffer;
  /** SHA-256 of the handshake transcript (ClientHello body ‖ ServerHello body without its confirm tag). */
  transcriptHash: Buffer;
}

export interface ClientState {
  hello: ClientHello;
  helloBody: Buffer;
  prs: Buffer;
  ya: bigint;
}

function hkdf(isk: Buffer, transcriptHash: Buffer, label: string): Buffer {
  return Buffer.from(hkdfSync('sha256', isk, transcriptHash, `sft/1 ${label}`, 32));
}

function confirmTag(isk: Buffer, transcriptHash: Buffer, role: 'server' | 'client'): Buffer {
  return createHmac('sha256', hkdf(isk, transcriptHash, `${role} confirm`)).update(transcriptHash).digest();
}

function sessionKeys(suite: Suite, isk: Buffer, transcriptHash: Buffer): SessionKeys {
  return {
    suite,
    clientToServer: hkdf(isk, transcriptHash, 'c2s'),
    serverToClient: hkdf(isk, transcriptHash, 's2c'),
    files: hkdf(isk, transcriptHash, 'files'),
    transcriptHash,
  };
}

function transcriptHashOf(helloBody: Buffer, serverHelloWithoutConfirm: Buffer): Buffer {
  return createHash('sha256').update(helloBody).update(serverHelloWithoutConfirm).digest();
}

export interface ClientOptions {
  suites: Suite[];
  iterations: number;
  /** Test vectors only: fixed salt, sid and scalar. */
  fixed?: { salt: Buffer; sid: Buffer; ya: bigint };
}

/** Client step 1: derive PRS and the CPace share; returns the ClientHello body to send. */
export async function clientStart(password: string | Uint8Array, options: ClientOptions): Promise<ClientState> {
  const salt = options.fixed?.salt ?? randomBytes(16);
  const sid = options.fixed?.sid ?? randomBytes(16);
  const prs = await pbkdf2Sha256(password, salt, options.iterations, 32);
  const share = cpaceShare(prs, CI, sid, options.fixed?.ya);
  const hello: ClientHello = {
    version: PROTOCOL_VERSION,
    suites: options.suites.map((s) => SUITES[s]),
    salt,
    iterations: options.iterations,
    sid,
    Ya: Buffer.from(share.Y),
  };
  return { hello, helloBody: encodeClientHello(hello), prs, ya: share.y };
}

export interface ServerPolicy {
  suites: Suite[];
  minIterations: number;
  maxIterations: number;
  fixed?: { yb: bigint };
}

/**
 * Server step: checks the hello against policy, derives PRS, answers with Yb and its key confirmation.
 * @throws SftError REFUSED (iterations out of bounds, no common suite), AuthError (invalid Ya).
 */
export async function serverRespond(
  password: string | Uint8Array,
  hello: ClientHello,
  helloBody: Buffer,
  policy: ServerPolicy,
): Promise<{ serverHello: ServerHello; keys: SessionKeys; expectedClientConfirm: Buffer }> {
  if (hello.iterations < policy.minIterations || hello.iterations > policy.maxIterations) {
    throw new SftError('REFUSED', `iteration count ${hello.iterations} outside the server's bounds [${policy.minIterations}, ${policy.maxIterations}]`);
  }
  const suite = hello.suites.map(suiteName).find((s): s is Suite => s !== undefined && policy.suites.includes(s));
  if (suite === undefined) throw new SftError('REFUSED', 'no cipher suite in common');
  const prs = await pbkdf2Sha256(password, hello.salt, hello.iterations, 32);
  const share = cpaceShare(prs, CI, hello.sid, policy.fixed?.yb);
  const K = scalarMultVfy(share.y, hello.Ya);
  const partial = { version: PROTOCOL_VERSION, suite: SUITES[suite] };
  const ADb = serverAd(partial);
  const isk = deriveIsk(hello.sid, K, transcriptIr(hello.Ya, clientAd(hello), share.Y, ADb));
  const th = transcriptHashOf(helloBody, Buffer.concat([ADb, share.Y]));
  return {
    serverHello: { ...partial, Yb: Buffer.from(share.Y), confirm: confirmTag(isk, th, 'server') },
    keys: sessionKeys(suite, isk, th),
    expectedClientConfirm: confirmTag(isk, th, 'client'),
  };
}

/**
 * Client step 2: checks the server's confirmation; returns the keys and the client's confirmation to send.
 * @throws AuthError when the server did not prove knowledge of the password (or Yb is invalid).
 */
export function clientFinish(state: ClientState, serverHello: ServerHello): { keys: SessionKeys; clientConfirm: Buffer } {
  const suite = suiteName(serverHello.suite);
  if (suite === undefined || !state.hello.suites.includes(serverHello.suite)) throw new IntegrityError('MALFORMED', 'server chose a suite that was not offered');
  const K = scalarMultVfy(state.ya, serverHello.Yb);
  const ADb = serverAd(serverHello);
  const isk = deriveIsk(state.hello.sid, K, transcriptIr(state.hello.Ya, clientAd(state.hello), serverHello.Yb, ADb));
  const th = transcriptHashOf(state.helloBody, Buffer.concat([ADb, serverHello.Yb]));
  if (!equalConstantTime(confirmTag(isk, th, 'server'), serverHello.confirm)) throw new AuthError();
  return { keys: sessionKeys(suite, isk, th), clientConfirm: confirmTag(isk, th, 'client') };
}

/** Server step 2. @throws AuthError when the client's confirmation does not match. */
export function serverFinish(expectedClientConfirm: Buffer, clientConfirm: Buffer): void {
  if (!equalConstantTime(expectedClientConfirm, clientConfirm)) throw new AuthError();
}

/** The content key of file `index` in this session. */
export function fileKey(keys: SessionKeys, index: number): Buffer {
  const info = Buffer.alloc(4);
  info.writeUInt32BE(index);
  return Buffer.from(hkdfSync('sha256', keys.files, Buffer.alloc(0), Buffer.concat([Buffer.from('sft/1 file '), info]), 32));
}
