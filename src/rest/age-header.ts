/**
 * The age v1 file format (C2SP age.md) with scrypt passphrase recipients: header parsing and encoding, the
 * scrypt stanza, the header MAC and the payload key. The payload itself is the STREAM in crypto/stream.ts.
 * Armor and X25519 recipients are not implemented: sft encrypts to passphrases only.
 */
import { createHmac, hkdfSync, randomBytes, scrypt as scryptCallback } from 'node:crypto';
import { promisify } from 'node:util';
import { AuthError, IntegrityError, UsageError } from '../errors.js';
import { equalConstantTime, toBytes } from '../crypto/bytes.js';
import { aeadOpen, aeadSeal } from '../crypto/stream.js';

const scryptAsync = promisify(scryptCallback) as (password: Buffer, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

export const AGE_INTRO = 'age-encryption.org/v1\n';
const SCRYPT_LABEL = 'age-encryption.org/v1/scrypt';
/** age's default scrypt work factor (log2 N) when encrypting. */
export const DEFAULT_WORK_FACTOR = 18;
/** The largest work factor accepted when decrypting, as in the reference implementation: 2^22 costs ~4 GiB·s. */
export const MAX_WORK_FACTOR = 22;
/** The largest header we read; real headers are a few hundred bytes. */
export const MAX_HEADER_BYTES = 64 * 1024;
export const PAYLOAD_NONCE_SIZE = 16;
const FILE_KEY_SIZE = 16;
const COLUMNS = 64;
const B64 = /^[A-Za-z0-9+/]*$/;
const ARG = /^[\x21-\x7e]+$/;

export interface Stanza {
  type: string;
  args: string[];
  body: Buffer;
}

export interface AgeHeader {
  stanzas: Stanza[];
  /** The header bytes the MAC covers: everything up to and including "---". */
  macInput: Buffer;
  mac: Buffer;
  /** Total header length, through the newline after the MAC. */
  length: number;
}

function headerFailure(message: string): IntegrityError {
  return new IntegrityError('MALFORMED', `age header: ${message}`);
}

/** Canonical unpadded standard base64 (age.md "Encoding"), or undefined. */
export function decodeBase64(text: string): Buffer | undefined {
  if (!B64.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return encodeBase64(bytes) === text ? bytes : undefined;
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replace(/=+$/, '');
}

/**
 * Parses an age header from the start of `data`.
 * @returns the header, or undefined when `data` ends before the header does (read more and call again).
 * @throws IntegrityError MALFORMED on any deviation from the format, or when the header exceeds MAX_HEADER_BYTES.
 */
export function parseAgeHeader(data: Buffer): AgeHeader | undefined {
  let offset = 0;
  const nextLine = (): string | undefined => {
    const end = data.indexOf(0x0a, offset);
    if (end < 0) {
      if (data.length > MAX_HEADER_BYTES) throw headerFailure('too long');
      return undefined;
    }
    const line = data.toString('latin1', offset, end);
    offset = end + 1;
    return line;
  };
  const intro = nextLine();
  if (intro === undefined) {
    if (data.length >= AGE_INTRO.length && !data.subarray(0, AGE_INTRO.length).equals(Buffer.from(AGE_INTRO))) throw headerFailure('not an age v1 file');
    return undefined;
  }
  if (intro + '\n' !== AGE_INTRO) throw headerFailure('not an age v1 file');
  const stanzas: Stanza[] = [];
  for (;;) {
    const lineStart = offset;
    const line = nextLine();
    if (line === undefined) return undefined;
    if (line.startsWith('--- ')) {
      const mac = decodeBase64(line.slice(4));
      if (mac?.length !== 32) throw headerFailure('malformed mac');
      if (stanzas.length === 0) throw headerFailure('no recipients');
      return { stanzas, macInput: data.subarray(0, lineStart + 3), mac, length: offset };
    }
    if (!line.startsWith('-> ')) throw headerFailure('malformed stanza line');
    const [type, ...args] = line.slice(3).split(' ');
    if (type === undefined || !ARG.test(type) || !args.every((a) => ARG.test(a))) throw headerFailure('malformed stanza arguments');
    const bodyLines: string[] = [];
    for (;;) {
      const bodyLine = nextLine();
      if (bodyLine === undefined) return undefined;
      if (bodyLine.length > COLUMNS) throw headerFailure('stanza body line too long');
      bodyLines.push(bodyLine);
      if (bodyLine.length < COLUMNS) break;
    }
    const body = decodeBase64(bodyLines.join(''));
    if (body === undefined) throw headerFailure('stanza body is not canonical base64');
    stanzas.push({ type, args, body });
  }
}

/**
 * Parses the header and payload nonce of a complete age file prefix, read to its end or to at least
 * MAX_HEADER_BYTES + PAYLOAD_NONCE_SIZE bytes.
 * @throws IntegrityError MALFORMED when the header or nonce is incomplete or malformed.
 */
export function parseAgeHeaderAndNonce(data: Buffer): { header: AgeHeader; nonce: Buffer } {
  const header = parseAgeHeader(data);
  if (header === undefined) throw headerFailure('truncated');
  if (data.length < header.length + PAYLOAD_NONCE_SIZE) throw headerFailure('payload nonce missing or short');
  return { header, nonce: data.subarray(header.length, header.length + PAYLOAD_NONCE_SIZE) };
}

/** Encodes the header up to and including "---" (the MAC input). */
function encodeHeaderWithoutMac(stanzas: Stanza[]): Buffer {
  let text = AGE_INTRO;
  for (const s of stanzas) {
    text += `-> ${[s.type, ...s.args].join(' ')}\n`;
    const body = encodeBase64(s.body);
    for (let i = 0; i <= body.length; i += COLUMNS) text += body.slice(i, i + COLUMNS) + '\n';
  }
  return Buffer.from(text + '---', 'latin1');
}

function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
}

function headerMac(fileKey: Uint8Array, macInput: Uint8Array): Buffer {
  return createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header', 32)).update(macInput).digest();
}

/** The STREAM key: HKDF-SHA256(ikm = file key, salt = payload nonce, info = "payload"). */
export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return hkdf(fileKey, nonce, 'payload', 32);
}

/** @throws IntegrityError TAMPERED when the header MAC does not match. */
export function verifyHeaderMac(fileKey: Uint8Array, header: AgeHeader): void {
  if (!equalConstantTime(headerMac(fileKey, header.macInput), header.mac)) {
    throw new IntegrityError('TAMPERED', 'age header mac mismatch: header tampered');
  }
}

async function scryptKey(passphrase: Buffer, salt: Buffer, workFactor: number): Promise<Buffer> {
  const N = 2 ** workFactor;
  return scryptAsync(passphrase, Buffer.concat([Buffer.from(SCRYPT_LABEL), salt]), 32, { N, r: 8, p: 1, maxmem: 128 * 8 * N + 4 * 1024 * 1024 });
}

/**
 * Builds a header with one scrypt recipient (age.md "The scrypt recipient type") for `fileKey`.
 */
export async function encodeScryptHeader(fileKey: Uint8Array, passphrase: string | Uint8Array, workFactor = DEFAULT_WORK_FACTOR): Promise<Buffer> {
  if (!Number.isInteger(workFactor) || workFactor < 1 || workFactor > MAX_WORK_FACTOR) {
    throw new UsageError(`"workFactor" expected an integer in [1, ${MAX_WORK_FACTOR}], got ${workFactor}`);
  }
  const salt = randomBytes(16);
  const wrapKey = await scryptKey(toBytes(passphrase), salt, workFactor);
  const body = Buffer.concat(aeadSeal('chacha20-poly1305', wrapKey, Buffer.alloc(12), fileKey));
  const macInput = encodeHeaderWithoutMac([{ type: 'scrypt', args: [encodeBase64(salt), String(workFactor)], body }]);
  return Buffer.concat([macInput, Buffer.from(` ${encodeBase64(headerMac(fileKey, macInput))}\n`)]);
}

/** The length of a header from encodeScryptHeader(): fixed for a work factor, so the payload can be written first. */
export function scryptHeaderLength(workFactor = DEFAULT_WORK_FACTOR): number {
  const stanza: Stanza = { type: 'scrypt', args: [encodeBase64(Buffer.alloc(16)), String(workFactor)], body: Buffer.alloc(32) };
  return encodeHeaderWithoutMac([stanza]).length + 1 + 43 + 1;
}

/**
 * Unwraps the file key from the header's scrypt stanza with `passphrase`, then checks the header MAC.
 * @throws IntegrityError MALFORMED (a malformed or disallowed scrypt stanza, work factor above the limit),
 *   AuthError (no scrypt stanza, or the passphrase is wrong), IntegrityError TAMPERED (header MAC).
 */
export async function unwrapScrypt(header: AgeHeader, passphrase: string | Uint8Array, maxWorkFactor = MAX_WORK_FACTOR): Promise<Buffer> {
  const scryptStanzas = header.stanzas.filter((s) => s.type === 'scrypt');
  if (scryptStanzas.length === 0) throw new AuthError('no passphrase recipient in this age file');
  // age.md: a scrypt stanza must be the only stanza, so a passphrase file cannot also be opened with a key.
  if (header.stanzas.length !== 1) throw headerFailure('a scrypt stanza must be the only stanza');
  const stanza = scryptStanzas[0] as Stanza;
  const [saltText, factorText, ...extra] = stanza.args;
  if (saltText === undefined || factorText === undefined || extra.length > 0) throw headerFailure('scrypt stanza needs exactly two arguments');
  const salt = decodeBase64(saltText);
  if (salt?.length !== 16) throw headerFailure('scrypt salt must be 16 bytes');
  if (!/^[1-9][0-9]{0,1}$/.test(factorText)) throw headerFailure('scrypt work factor is not a canonical decimal');
  const workFactor = Number(factorText);
  if (workFactor > maxWorkFactor) throw headerFailure(`scrypt work factor ${workFactor} above the limit of ${maxWorkFactor}`);
  if (stanza.body.length !== FILE_KEY_SIZE + 16) throw headerFailure('scrypt stanza body must be 32 bytes');
  const wrapKey = await scryptKey(toBytes(passphrase), salt, workFactor);
  const fileKey = aeadOpen('chacha20-poly1305', wrapKey, Buffer.alloc(12), stanza.body);
  if (fileKey === undefined) throw new AuthError();
  verifyHeaderMac(fileKey, header);
  return fileKey;
}

export function newFileKey(): Buffer {
  return randomBytes(FILE_KEY_SIZE);
}
