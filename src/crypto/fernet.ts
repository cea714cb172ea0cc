/**
 * Fernet tokens, per https://github.com/fernet/spec/blob/master/Spec.md and byte-compatible with Python's
 * cryptography.fernet: base64url(0x80 ‖ timestamp(8, BE) ‖ IV(16) ‖ AES-128-CBC(PKCS#7) ‖ HMAC-SHA256(32)).
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { IntegrityError, UsageError } from '../errors.js';
import { byteLength, equalConstantTime, toBytes } from './bytes.js';

const VERSION = 0x80;
/** Python cryptography's _MAX_CLOCK_SKEW: a token stamped further in the future is refused. */
export const MAX_CLOCK_SKEW_SECONDS = 60;
const HEADER = 1 + 8 + 16;
const MAC = 32;
/** The smallest token: header, one AES block, HMAC. */
const MIN_TOKEN_BYTES = HEADER + 16 + MAC;
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

export interface FernetEncryptOptions {
  /** Seconds since the epoch; defaults to now. */
  time?: number;
  /** 16 bytes; random by default. Fixed only for test vectors. */
  iv?: Uint8Array;
}

export interface FernetDecryptOptions {
  /** Reject tokens older than this many seconds. */
  ttl?: number;
  /** Seconds since the epoch; defaults to now. */
  now?: number;
  /** Seconds a token may be stamped in the future (default 60, as Python); Infinity turns the check off. */
  maxClockSkew?: number;
}

/** Decodes a url-safe base64 Fernet key to 32 bytes. @throws UsageError on any other shape. */
export function decodeFernetKey(key: string | Uint8Array): Buffer {
  const raw = typeof key === 'string' ? decodeBase64Url(key) : toBytes(key);
  if (raw?.length !== 32) throw new UsageError('"key" expected 32 bytes of url-safe base64 (a Fernet key)');
  return raw;
}

/** Decodes into `scratch` (a buffer the caller reuses) when it is large enough. */
function decodeBase64Url(text: string, scratch?: Buffer): Buffer | undefined {
  if (!BASE64URL.test(text) || text.length % 4 !== 0) return undefined;
  if (scratch === undefined || scratch.length < (text.length / 4) * 3) return Buffer.from(text, 'base64url');
  return scratch.subarray(0, scratch.write(text, 'base64url'));
}

export class Fernet {
  readonly #signingKey: Buffer;
  readonly #encryptionKey: Buffer;

  constructor(key: string | Uint8Array) {
    const raw = decodeFernetKey(key);
    this.#signingKey = raw.subarray(0, 16);
    this.#encryptionKey = raw.subarray(16, 32);
  }

  /**
   * Encrypts the concatenation of `parts` to the token's raw bytes (before base64url), with one copy; into `into`
   * when it is large enough (a buffer the caller reuses), else into a new buffer.
   */
  encryptToBytes(parts: Uint8Array | Uint8Array[], options: FernetEncryptOptions = {}, into?: Buffer): Buffer {
    const iv = options.iv ?? randomBytes(16);
    if (iv.length !== 16) throw new UsageError(`"iv" expected 16 bytes, got ${iv.length}`);
    const time = options.time ?? Math.floor(Date.now() / 1000);
    const plaintextLength = Array.isArray(parts) ? byteLength(parts) : parts.length;
    const size = HEADER + (Math.floor(plaintextLength / 16) + 1) * 16 + MAC;
    const token = into !== undefined && into.length >= size ? into.subarray(0, size) : Buffer.allocUnsafe(size);
    header(time, iv).copy(token);
    const cipher = createCipheriv('aes-128-cbc', this.#encryptionKey, iv);
    let offset = HEADER;
    for (const part of Array.isArray(parts) ? parts : [parts]) offset += cipher.update(part).copy(token, offset);
    offset += cipher.final().copy(token, offset);
    createHmac('sha256', this.#signingKey).update(token.subarray(0, offset)).digest().copy(token, offset);
    return token;
  }

  encrypt(data: Uint8Array | Uint8Array[], options: FernetEncryptOptions = {}): string {
    return toBase64Url(this.encryptToBytes(data, options));
  }

  /**
   * Verifies and decrypts a token, in the order Python's cryptography does: shape, version, age, clock skew,
   * HMAC (constant time), then AES-CBC and padding.
   * @throws IntegrityError MALFORMED (not a token), EXPIRED (ttl or future timestamp), TAMPERED (bad HMAC or padding).
   */
  decrypt(token: string | Uint8Array, options: FernetDecryptOptions = {}, scratch?: Buffer): Buffer {
    const raw = decodeBase64Url(typeof token === 'string' ? token : Buffer.from(token).toString('latin1'), scratch);
    if (raw === undefined) throw new IntegrityError('MALFORMED', 'invalid fernet token: not url-safe base64');
    return this.decryptBytes(raw, options);
  }

  /** As decrypt(), on the token's raw bytes. */
  decryptBytes(raw: Buffer, options: FernetDecryptOptions = {}): Buffer {
    if (raw.length < MIN_TOKEN_BYTES || (raw.length - HEADER - MAC) % 16 !== 0) {
      throw new IntegrityError('MALFORMED', 'invalid fernet token: bad length');
    }
    if (raw[0] !== VERSION) throw new IntegrityError('MALFORMED', 'invalid fernet token: unknown version');
    const timestamp = Number(raw.readBigUInt64BE(1));
    const now = options.now ?? Math.floor(Date.now() / 1000);
    if (options.ttl !== undefined && timestamp + options.ttl < now) {
      throw new IntegrityError('EXPIRED', 'fernet token expired');
    }
    if (now + (options.maxClockSkew ?? MAX_CLOCK_SKEW_SECONDS) < timestamp) {
      throw new IntegrityError('EXPIRED', 'fernet token timestamp is in the future');
    }
    const body = raw.subarray(0, raw.length - MAC);
    const expected = createHmac('sha256', this.#signingKey).update(body).digest();
    if (!equalConstantTime(expected, raw.subarray(raw.length - MAC))) {
      throw new IntegrityError('TAMPERED', 'invalid fernet token: hmac mismatch');
    }
    // The HMAC checked, PKCS#7 padding is removed here rather than by OpenSSL: one output buffer, no concat.
    const decipher = createDecipheriv('aes-128-cbc', this.#encryptionKey, raw.subarray(9, 25)).setAutoPadding(false);
    const padded = decipher.update(raw.subarray(HEADER, raw.length - MAC));
    decipher.final();
    const pad = padded[padded.length - 1] ?? 0;
    if (pad < 1 || pad > 16 || !padded.subarray(padded.length - pad).every((b) => b === pad)) {
      throw new IntegrityError('TAMPERED', 'invalid fernet token: bad padding');
    }
    return padded.subarray(0, padded.length - pad);
  }

  static generateKey(): string {
    return toBase64Url(randomBytes(32));
  }
}

function header(time: number, iv: Uint8Array): Buffer {
  const out = Buffer.alloc(HEADER);
  out[0] = VERSION;
  out.writeBigUInt64BE(BigInt(time), 1);
  out.set(iv, 9);
  return out;
}

/** Node's base64url omits padding; Python's urlsafe_b64encode (and so every Fernet token and key) keeps it. */
export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url') + '='.repeat((3 - (bytes.length % 3)) % 3);
}
