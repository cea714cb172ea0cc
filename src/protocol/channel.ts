/**
 * After the handshake (docs/PROTOCOL.md §4): control frames are sealed under the session's direction keys with a
 * per-direction counter nonce; file content is sealed chunk by chunk under a per-file key in the negotiated suite.
 */
import { IntegrityError, SftError } from '../errors.js';
import { Fernet } from '../crypto/fernet.js';
import { aeadOpen, aeadSeal, CHUNK_SIZE, StreamOpener, streamNonce, type AeadSuite } from '../crypto/stream.js';
import type { FrameType } from './frames.js';
import type { Suite } from './messages.js';

/** The AEAD for control frames: AES-256-GCM when that is the suite, ChaCha20-Poly1305 otherwise. */
export function controlAead(suite: Suite): AeadSuite {
  return suite === 'aes-256-gcm' ? 'aes-256-gcm' : 'chacha20-poly1305';
}

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

export interface ContentSealer {
  /** Seals one chunk (at most 64 KiB; empty only as the only chunk); returns the frame body's pieces. */
  seal(chunk: Buffer, last: boolean): Buffer[];
}

export interface ContentOpener {
  /** @throws IntegrityError TAMPERED or MALFORMED. */
  open(body: Buffer, last: boolean): Buffer;
}

const NO_CLOCK_CHECK = { now: Number.MAX_SAFE_INTEGER - 120 };

/** `firstChunk` > 0 continues a file from chunk `firstChunk` (a resumed transfer). */
export function contentSealer(suite: Suite, key: Buffer, firstChunk = 0): ContentSealer {
  let counter = firstChunk;
  if (suite === 'fernet') {
    const fernet = new Fernet(key);
    return {
      seal(chunk, last) {
        const prefix = Buffer.alloc(9);
        prefix.writeBigUInt64BE(BigInt(counter++));
        prefix[8] = last ? 1 : 0;
        return [fernet.encryptToBytes([prefix, chunk])];
      },
    };
  }
  return { seal: (chunk, last) => aeadSeal(suite, key, streamNonce(counter++, last), chunk) };
}

export function contentOpener(suite: Suite, key: Buffer, firstChunk = 0): ContentOpener {
  if (suite === 'fernet') {
    const fernet = new Fernet(key);
    let counter = firstChunk;
    return {
      open(body, last) {
        let plain: Buffer;
        try {
          // Sender and receiver clocks may differ: the timestamp is authenticated but not checked.
          plain = fernet.decryptBytes(body, NO_CLOCK_CHECK);
        } catch (error) {
          throw new IntegrityError('TAMPERED', `chunk ${counter} failed verification (${(error as SftError).message})`);
        }
        if (plain.length < 9 || plain.readBigUInt64BE(0) !== BigInt(counter) || plain[8] !== (last ? 1 : 0)) {
          throw new IntegrityError('TAMPERED', `chunk ${counter} out of order`);
        }
        const data = plain.subarray(9);
        if (data.length > CHUNK_SIZE || (!last && data.length !== CHUNK_SIZE) || (last && data.length === 0 && counter > 0)) {
          throw new IntegrityError('MALFORMED', `chunk ${counter} has a bad length`);
        }
        counter++;
        return data;
      },
    };
  }
  const opener = new StreamOpener(suite, key, firstChunk);
  return { open: (body, last) => opener.openChunk(body, last) };
}
