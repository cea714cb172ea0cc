/**
 * The STREAM chunked AEAD of the age format (C2SP age.md, "Payload"; Hoang, Reyhanitabar, Rogaway, Vizár 2015):
 * the plaintext is cut into 64 KiB chunks, each sealed with nonce = 11-byte big-endian chunk counter ‖ last-chunk
 * flag (0x01 on the final chunk, 0x00 otherwise). Only an empty payload has an empty (final) chunk. Because the
 * counter and the final flag are authenticated, truncation, reordering, duplication and appended data all fail.
 */
import { createCipheriv, createDecipheriv, type CipherChaCha20Poly1305, type CipherGCM, type DecipherChaCha20Poly1305, type DecipherGCM } from 'node:crypto';
import { IntegrityError, UsageError } from '../errors.js';
import { byteLength } from './bytes.js';
import { ByteQueue } from '../util/byte-queue.js';

export type AeadSuite = 'chacha20-poly1305' | 'aes-256-gcm';
export const CHUNK_SIZE = 64 * 1024;
export const TAG_SIZE = 16;
export const ENCRYPTED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE;
const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

/** 12-byte STREAM nonce: 11-byte big-endian counter, then the last-chunk flag. */
export function streamNonce(counter: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(BigInt(counter), 3);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

function checkKey(key: Uint8Array): void {
  if (key.length !== 32) throw new UsageError(`"key" expected 32 bytes, got ${key.length}`);
}

/** One AEAD seal with a 16-byte tag; returns [ciphertext, tag] so callers can write both without a concat. */
export function aeadSeal(suite: AeadSuite, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): [Buffer, Buffer] {
  const cipher: CipherGCM | CipherChaCha20Poly1305 =
    suite === 'aes-256-gcm'
      ? createCipheriv(suite, key, nonce, { authTagLength: TAG_SIZE })
      : createCipheriv(suite, key, nonce, { authTagLength: TAG_SIZE });
  if (aad !== undefined) cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const ciphertext = cipher.update(plaintext);
  cipher.final();
  return [ciphertext, cipher.getAuthTag()];
}

/** One AEAD open of ciphertext ‖ tag. Returns undefined when authentication fails: callers name the error. */
export function aeadOpen(suite: AeadSuite, key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Buffer | undefined {
  // One piece in, one piece out.
  return aeadOpenPieces(suite, key, nonce, [sealed], aad)?.[0];
}

/**
 * One AEAD open of ciphertext ‖ tag that arrived in pieces (socket reads): each piece is opened where it is, and
 * the plaintext comes back in pieces of the same sizes, with no joining copy. Undefined when authentication fails.
 */
export function aeadOpenPieces(suite: AeadSuite, key: Uint8Array, nonce: Uint8Array, sealed: readonly Uint8Array[], aad?: Uint8Array): Buffer[] | undefined {
  const dataLength = byteLength(sealed) - TAG_SIZE;
  if (dataLength < 0) return undefined;
  const decipher: DecipherGCM | DecipherChaCha20Poly1305 =
    suite === 'aes-256-gcm'
      ? createDecipheriv(suite, key, nonce, { authTagLength: TAG_SIZE })
      : createDecipheriv(suite, key, nonce, { authTagLength: TAG_SIZE });
  decipher.setAuthTag(lastBytes(sealed, TAG_SIZE));
  if (aad !== undefined) decipher.setAAD(aad, { plaintextLength: dataLength });
  const plaintext: Buffer[] = [];
  let left = dataLength;
  for (const piece of sealed) {
    if (left === 0) break;
    const data = piece.subarray(0, Math.min(piece.length, left));
    plaintext.push(decipher.update(data));
    left -= data.length;
  }
  try {
    decipher.final();
  } catch {
    return undefined;
  }
  return plaintext.length > 0 ? plaintext : [Buffer.alloc(0)];
}

/** The last `n` bytes of `pieces` (joined only when they span pieces). */
function lastBytes(pieces: readonly Uint8Array[], n: number): Uint8Array {
  const tail: Uint8Array[] = [];
  for (let i = pieces.length - 1, left = n; left > 0; i--) {
    const piece = pieces[i] as Uint8Array;
    const part = piece.subarray(Math.max(0, piece.length - left));
    tail.unshift(part);
    left -= part.length;
  }
  return tail.length === 1 ? (tail[0] as Uint8Array) : Buffer.concat(tail);
}

/** Incremental STREAM encryption: push() plaintext in any split, end() once. Output buffers alternate ciphertext and tag. */
export class StreamSealer {
  readonly #suite: AeadSuite;
  readonly #key: Uint8Array;
  readonly #pending = new ByteQueue();
  #counter = 0;
  #ended = false;

  constructor(suite: AeadSuite, key: Uint8Array, firstCounter = 0) {
    checkKey(key);
    this.#suite = suite;
    this.#key = key;
    this.#counter = firstCounter;
  }

  /** Chunks sealed so far. */
  get counter(): number {
    return this.#counter;
  }

  push(plaintext: Buffer): Buffer[] {
    if (this.#ended) throw new UsageError('stream already ended');
    this.#pending.push(plaintext);
    const out: Buffer[] = [];
    // A full chunk is sealed only once more data follows: until then it may be the last one.
    while (this.#pending.length > CHUNK_SIZE) out.push(...this.#seal(this.#pending.take(CHUNK_SIZE), false));
    return out;
  }

  end(): Buffer[] {
    if (this.#ended) throw new UsageError('stream already ended');
    this.#ended = true;
    return this.#seal(this.#pending.take(this.#pending.length), true);
  }

  #seal(chunk: Buffer, last: boolean): Buffer[] {
    if (this.#counter >= MAX_COUNTER) throw new UsageError('stream too long');
    return aeadSeal(this.#suite, this.#key, streamNonce(this.#counter++, last), chunk);
  }
}

/**
 * Incremental STREAM decryption: push() ciphertext in any split, end() at end of input. Returns only
 * authenticated plaintext.
 * @throws IntegrityError TAMPERED (a chunk fails authentication), TRUNCATED (input ends early).
 */
export class StreamOpener {
  readonly #suite: AeadSuite;
  readonly #key: Uint8Array;
  readonly #pending = new ByteQueue();
  #counter: number;
  #done = false;

  constructor(suite: AeadSuite, key: Uint8Array, firstCounter = 0) {
    checkKey(key);
    this.#suite = suite;
    this.#key = key;
    this.#counter = firstCounter;
  }

  get counter(): number {
    return this.#counter;
  }

  get done(): boolean {
    return this.#done;
  }

  /** Feeds ciphertext; `release` receives each authenticated chunk's plaintext, in order, as soon as it checks. */
  push(ciphertext: Buffer, release: (plaintext: Buffer) => void): void {
    this.#pending.push(ciphertext);
    // As the reference implementation does: a full-size chunk is tried as a middle chunk, then as the final one,
    // so authenticated plaintext is released without waiting to see what follows.
    while (this.#pending.length >= ENCRYPTED_CHUNK_SIZE && !this.#done) {
      const sealed = this.#pending.take(ENCRYPTED_CHUNK_SIZE);
      const middle = aeadOpen(this.#suite, this.#key, streamNonce(this.#counter, false), sealed);
      if (middle !== undefined) {
        this.#counter++;
        release(middle);
      } else {
        // Neither a middle nor the final chunk: say "chunk N", the likelier truth, not "final chunk N".
        const final = aeadOpen(this.#suite, this.#key, streamNonce(this.#counter, true), sealed);
        if (final === undefined) throw new IntegrityError('TAMPERED', `chunk ${this.#counter} failed authentication`);
        this.#counter++;
        this.#done = true;
        release(final);
      }
    }
    if (this.#done && this.#pending.length > 0) throw new IntegrityError('TAMPERED', 'data after the final chunk');
  }

  /** Call at end of input: opens what is left as the final chunk (empty when the final chunk was full-size). */
  end(): Buffer {
    if (this.#done) return Buffer.alloc(0);
    const rest = this.#pending.length;
    if (rest === 0) throw new IntegrityError('TRUNCATED', this.#counter === 0 ? 'no chunks: payload missing' : 'final chunk missing: truncated');
    if (rest < TAG_SIZE) throw new IntegrityError('TRUNCATED', `chunk ${this.#counter} truncated`);
    if (rest === TAG_SIZE && this.#counter > 0) throw new IntegrityError('TAMPERED', 'empty final chunk after data');
    const plaintext = aeadOpen(this.#suite, this.#key, streamNonce(this.#counter, true), this.#pending.take(rest));
    if (plaintext === undefined) throw new IntegrityError('TAMPERED', `final chunk ${this.#counter} failed authentication (tampered or truncated)`);
    this.#counter++;
    this.#done = true;
    return plaintext;
  }
}
