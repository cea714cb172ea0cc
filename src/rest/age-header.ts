/**
 * The age v1 header (C2SP age.md "Header"): an incremental parser fed bytes in any split, the encoder, the header
 * MAC and the payload key. Which stanza means what is the business of recipients/; the payload is the STREAM in
 * crypto/stream.ts.
 */
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { IntegrityError } from '../errors.js';
import { equalConstantTime } from '../crypto/bytes.js';

export const AGE_INTRO = 'age-encryption.org/v1\n';
const INTRO = Buffer.from(AGE_INTRO, 'latin1');
/** The largest header read: ~650 hybrid (1.5 KiB) stanzas. A header is read into memory whole, for its MAC. */
export const MAX_HEADER_BYTES = 1024 * 1024;
/** The most stanzas in a header: every identity may try every stanza of its type (ML-KEM decapsulation ~1 ms). */
export const MAX_STANZAS = 1024;
export const PAYLOAD_NONCE_SIZE = 16;
export const FILE_KEY_SIZE = 16;
const COLUMNS = 64;
const BASE64 = /^[A-Za-z0-9+/]*$/;
const ARGUMENT = /^[\x21-\x7e]+$/;

/** One recipient stanza: `-> type args…` and its body. */
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

export function headerFailure(message: string): IntegrityError {
  return new IntegrityError('MALFORMED', `age header: ${message}`);
}

/** Canonical unpadded standard base64 (age.md "Conventions"), or undefined. */
export function decodeBase64(text: string): Buffer | undefined {
  if (!BASE64.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return encodeBase64(bytes) === text ? bytes : undefined;
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64').replace(/=+$/, '');
}

/**
 * Reads a header from bytes pushed in any split. push() returns the header and the bytes that followed it (the
 * start of the payload) once the MAC line is complete.
 * @throws IntegrityError MALFORMED on any deviation from age.md's ABNF, past MAX_HEADER_BYTES or MAX_STANZAS.
 */
export class HeaderReader {
  readonly #lines: Buffer[] = [];
  readonly #partial: Buffer[] = [];
  #size = 0;
  readonly #stanzas: Stanza[] = [];
  #open: { type: string; args: string[]; body: string } | undefined;

  push(data: Buffer): { header: AgeHeader; rest: Buffer } | undefined {
    let offset = 0;
    for (;;) {
      const end = data.indexOf(0x0a, offset);
      if (end < 0) {
        this.#partial.push(data.subarray(offset));
        this.#size += data.length - offset;
        this.#checkPartial();
        return undefined;
      }
      this.#partial.push(data.subarray(offset, end + 1));
      this.#size += end + 1 - offset;
      offset = end + 1;
      if (this.#size > MAX_HEADER_BYTES) throw headerFailure(`longer than ${MAX_HEADER_BYTES} bytes`);
      const line = Buffer.concat(this.#partial.splice(0));
      this.#lines.push(line);
      const header = this.#line(line.toString('latin1', 0, line.length - 1));
      if (header !== undefined) return { header, rest: data.subarray(offset) };
    }
  }

  /** Fails early on input that cannot become a header (not age, or a line past the size cap). */
  #checkPartial(): void {
    if (this.#size > MAX_HEADER_BYTES) throw headerFailure(`longer than ${MAX_HEADER_BYTES} bytes`);
    if (this.#lines.length === 0) {
      const start = Buffer.concat(this.#partial).subarray(0, INTRO.length);
      if (!INTRO.subarray(0, start.length).equals(start)) throw headerFailure('not an age v1 file');
    }
  }

  #line(line: string): AgeHeader | undefined {
    if (this.#lines.length === 1) {
      if (line + '\n' !== AGE_INTRO) throw headerFailure(line.startsWith('age-encryption.org/') ? `unsupported version ${JSON.stringify(line.slice(19, 40))}` : 'not an age v1 file');
      return undefined;
    }
    if (this.#open !== undefined) return this.#bodyLine(line, this.#open);
    if (line.startsWith('-> ')) {
      const [type, ...args] = line.slice(3).split(' ');
      if (type === undefined || !ARGUMENT.test(type) || !args.every((a) => ARGUMENT.test(a))) throw headerFailure('malformed stanza arguments');
      if (this.#stanzas.length >= MAX_STANZAS) throw headerFailure(`more than ${MAX_STANZAS} stanzas`);
      this.#open = { type, args, body: '' };
      return undefined;
    }
    if (line.startsWith('--- ')) return this.#end(line);
    throw headerFailure(line.startsWith('---') ? 'malformed mac line' : 'malformed stanza line');
  }

  #bodyLine(line: string, open: { type: string; args: string[]; body: string }): undefined {
    if (line.length > COLUMNS) throw headerFailure('stanza body line longer than 64 columns');
    open.body += line;
    if (line.length === COLUMNS) return undefined;
    const body = decodeBase64(open.body);
    if (body === undefined) throw headerFailure('stanza body is not canonical base64');
    this.#stanzas.push({ type: open.type, args: open.args, body });
    this.#open = undefined;
    return undefined;
  }

  #end(line: string): AgeHeader {
    const mac = decodeBase64(line.slice(4));
    if (mac?.length !== 32) throw headerFailure('malformed mac');
    if (this.#stanzas.length === 0) throw headerFailure('no recipients');
    const all = Buffer.concat(this.#lines);
    return { stanzas: this.#stanzas, macInput: all.subarray(0, all.length - line.length + 2), mac, length: all.length };
  }
}

/**
 * Parses a complete header from the start of `data` (a whole file or at least its header).
 * @throws IntegrityError MALFORMED when malformed or when `data` ends inside the header.
 */
export function parseHeader(data: Buffer): { header: AgeHeader; rest: Buffer } {
  const result = new HeaderReader().push(data);
  if (result === undefined) throw headerFailure('truncated');
  return result;
}

function encodeWithoutMac(stanzas: readonly Stanza[]): Buffer {
  let text = AGE_INTRO;
  for (const s of stanzas) {
    text += `-> ${[s.type, ...s.args].join(' ')}\n`;
    const body = encodeBase64(s.body);
    // The body ends with a line shorter than 64 columns, so an empty one when its length is a multiple of 64.
    for (let i = 0; i <= body.length; i += COLUMNS) text += body.slice(i, i + COLUMNS) + '\n';
  }
  return Buffer.from(text + '---', 'latin1');
}

/** The whole header for `stanzas`, MAC line included. */
export function encodeHeader(stanzas: readonly Stanza[], fileKey: Uint8Array): Buffer {
  const macInput = encodeWithoutMac(stanzas);
  return Buffer.concat([macInput, Buffer.from(` ${encodeBase64(headerMac(fileKey, macInput))}\n`, 'latin1')]);
}

/** The length encodeHeader() gives for stanzas of these shapes (bodies and arguments of the same lengths). */
export function encodedHeaderLength(stanzas: readonly Stanza[]): number {
  return encodeWithoutMac(stanzas).length + 1 + 43 + 1;
}

export function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string, length = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
}

/** HMAC-SHA-256 keyed with HKDF(file key, info "header"), over the header through "---" (age.md "Header MAC"). */
function headerMac(fileKey: Uint8Array, macInput: Uint8Array): Buffer {
  return createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header')).update(macInput).digest();
}

/** @throws IntegrityError TAMPERED when the header MAC does not match. */
export function verifyHeaderMac(fileKey: Uint8Array, header: AgeHeader): void {
  if (!equalConstantTime(headerMac(fileKey, header.macInput), header.mac)) {
    throw new IntegrityError('TAMPERED', 'age header mac mismatch: header tampered');
  }
}

/** The STREAM key: HKDF-SHA-256(ikm = file key, salt = payload nonce, info = "payload"). */
export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return hkdf(fileKey, nonce, 'payload');
}

export function newFileKey(): Buffer {
  return randomBytes(FILE_KEY_SIZE);
}
