/**
 * What a recipient type is (C2SP age.md "Native recipient types"): a Recipient wraps the file key into stanzas, an
 * Identity finds the stanzas addressed to it and unwraps the file key. Each type lives in its own file and owns its
 * wrapping, as typage's recipients.ts does.
 */
import { aeadOpen, aeadSeal } from '../../crypto/stream.js';
import { FILE_KEY_SIZE, decodeBase64, headerFailure, type Stanza } from '../age-header.js';

export type { Stanza } from '../age-header.js';

export interface Recipient {
  /** The stanza type this recipient writes, for messages and for the rules on mixing types. */
  readonly type: string;
  /** True for recipients that protect the file key against a future quantum computer (ML-KEM hybrid, scrypt). */
  readonly postQuantum: boolean;
  /** One or more stanzas that wrap `fileKey` for this recipient. */
  wrap(fileKey: Buffer): Stanza[] | Promise<Stanza[]>;
}

export interface Identity {
  readonly type: string;
  /**
   * The file key, when a stanza of this identity's type opens with it; undefined when none does (a different key).
   * @throws IntegrityError MALFORMED for a stanza of this type that breaks the spec's rules (argument count,
   *   encodings, lengths, an all-zero shared secret).
   */
  unwrap(stanzas: readonly Stanza[]): Buffer | undefined | Promise<Buffer | undefined>;
}

const ZERO_NONCE = Buffer.alloc(12);

/** body = ChaCha20-Poly1305(key = wrap key, nonce = 12 zero bytes, plaintext = file key), as every native type. */
export function sealFileKey(wrapKey: Uint8Array, fileKey: Uint8Array): Buffer {
  return Buffer.concat(aeadSeal('chacha20-poly1305', wrapKey, ZERO_NONCE, fileKey));
}

/**
 * Opens a stanza body; undefined when it does not authenticate (another recipient's stanza).
 * @throws IntegrityError MALFORMED when the body is not 32 bytes, checked first against partitioning oracles.
 */
export function openFileKey(type: string, wrapKey: Uint8Array, body: Buffer, nonce: Uint8Array = ZERO_NONCE): Buffer | undefined {
  if (body.length !== FILE_KEY_SIZE + 16) throw headerFailure(`${type} stanza body must be 32 bytes`);
  return aeadOpen('chacha20-poly1305', wrapKey, nonce, body);
}

/** A stanza argument that must be canonical base64 of `length` bytes. */
export function decodeArgument(type: string, text: string | undefined, length: number, what: string): Buffer {
  const bytes = text === undefined ? undefined : decodeBase64(text);
  if (bytes?.length !== length) throw headerFailure(`${type} stanza: ${what} must be canonical base64 of ${length} bytes`);
  return bytes;
}

/** The stanzas of one type, each with exactly `count` arguments. */
export function stanzasOfType(stanzas: readonly Stanza[], type: string, count: number): Stanza[] {
  const mine = stanzas.filter((s) => s.type === type);
  for (const s of mine) if (s.args.length !== count) throw headerFailure(`${type} stanza needs exactly ${count} argument${count === 1 ? '' : 's'}`);
  return mine;
}

/** X25519 outputs an all-zero secret for a low-order share: age.md says abort. */
export function checkSharedSecret(type: string, secret: Uint8Array): void {
  if (secret.every((b) => b === 0)) throw headerFailure(`${type} stanza: low-order share (all-zero shared secret)`);
}
