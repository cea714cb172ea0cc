/**
 * After the handshake (docs/PROTOCOL.md §4): control frames are sealed under the session's direction keys with a
 * per-direction counter nonce; file content is sealed chunk by chunk under a per-file key with the STREAM nonce.
 */
import { IntegrityError } from '../errors.js';
import { byteLength } from '../crypto/bytes.js';
import { aeadOpen, aeadOpenPieces, aeadSeal, streamNonce, TAG_SIZE, type AeadSuite } from '../crypto/stream.js';
import { CHUNK_SIZE, type FrameType } from './frames.js';

function counterNonce(counter: number): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(BigInt(counter), 4);
  return nonce;
}

/** Seals and opens control frames; the frame type is the associated data, so it cannot be swapped. */
export class ControlChannel {
  #sent = 0;
  #received = 0;

  constructor(
    private readonly aead: AeadSuite,
    private readonly sendKey: Buffer,
    private readonly receiveKey: Buffer,
  ) {}

  seal(type: FrameType, plaintext: Buffer): Buffer {
    return Buffer.concat(aeadSeal(this.aead, this.sendKey, counterNonce(this.#sent++), plaintext, Buffer.of(type)));
  }

  /** @throws IntegrityError TAMPERED when the frame does not authenticate (modified, replayed, reordered). */
  open(type: FrameType, body: Buffer): Buffer {
    const plaintext = aeadOpen(this.aead, this.receiveKey, counterNonce(this.#received), body, Buffer.of(type));
    if (plaintext === undefined) throw new IntegrityError('TAMPERED', `control frame ${this.#received} failed authentication`);
    this.#received++;
    return plaintext;
  }
}

/**
 * Seals one file's content: chunks of CHUNK_SIZE bytes (the last may be shorter; an empty file is one empty final
 * chunk), nonce = STREAM(counter, last), no associated data. `firstChunk` > 0 continues a resumed file.
 */
export class ContentSealer {
  #counter: number;

  constructor(
    private readonly suite: AeadSuite,
    private readonly key: Buffer,
    firstChunk = 0,
  ) {
    this.#counter = firstChunk;
  }

  /** Returns [ciphertext, tag]: the frame body's two pieces. */
  seal(chunk: Buffer, last: boolean): [Buffer, Buffer] {
    return aeadSeal(this.suite, this.key, streamNonce(this.#counter++, last), chunk);
  }
}

/** Opens one file's chunks in order, enforcing the chunk rules of §4. */
export class ContentOpener {
  #counter: number;
  #done = false;

  constructor(
    private readonly suite: AeadSuite,
    private readonly key: Buffer,
    firstChunk = 0,
  ) {
    this.#counter = firstChunk;
  }

  /**
   * Opens one chunk, given in the pieces it arrived in; returns its plaintext in pieces.
   * @throws IntegrityError MALFORMED (a non-final chunk that is not full, a chunk too long), TAMPERED (fails
   *   authentication, an empty final chunk after data, anything after the final chunk).
   */
  open(sealed: readonly Buffer[], last: boolean): Buffer[] {
    if (this.#done) throw new IntegrityError('TAMPERED', 'data after the final chunk');
    const length = byteLength(sealed);
    if (length > CHUNK_SIZE + TAG_SIZE || length < TAG_SIZE || (!last && length !== CHUNK_SIZE + TAG_SIZE)) {
      throw new IntegrityError('MALFORMED', `chunk ${this.#counter} has a bad length`);
    }
    if (last && length === TAG_SIZE && this.#counter > 0) throw new IntegrityError('TAMPERED', 'empty final chunk after data');
    const plaintext = aeadOpenPieces(this.suite, this.key, streamNonce(this.#counter, last), sealed);
    if (plaintext === undefined) throw new IntegrityError('TAMPERED', `chunk ${this.#counter} failed authentication`);
    this.#counter++;
    if (last) this.#done = true;
    return plaintext;
  }
}
