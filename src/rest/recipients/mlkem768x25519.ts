/**
 * The post-quantum hybrid recipient (age.md "The MLKEM768-X25519 (i.e. X-Wing) hybrid post-quantum recipient
 * type", age 1.3, typage): HPKE SealBase with the MLKEM768-X25519 KEM (X-Wing, KEM id 0x647a), HKDF-SHA256 and
 * ChaCha20Poly1305, info "age-encryption.org/mlkem768x25519". Stanza: `-> mlkem768x25519 <enc, 1120 bytes>`, body 32
 * bytes. Keys: `age1pq1…` recipients (1216 bytes), `AGE-SECRET-KEY-PQ-1…` identities (a 32-byte seed). The KEM is
 * @noble/post-quantum's ml_kem768_x25519.
 */
import { randomBytes } from 'node:crypto';
import { ml_kem768_x25519 } from '@noble/post-quantum/hybrid.js';
import { UsageError } from '../../errors.js';
import { encodeBase64, headerFailure, type Stanza } from '../age-header.js';
import { decodeBech32, encodeBech32 } from './bech32.js';
import { openBaseKey, sealBase } from './hpke.js';
import { decodeArgument, openFileKey, stanzasOfType, type Identity, type Recipient } from './recipient.js';

const TYPE = 'mlkem768x25519';
const INFO = 'age-encryption.org/mlkem768x25519';
const KEM_MLKEM768_X25519 = 0x647a;
export const HYBRID_RECIPIENT_PREFIX = 'age1pq';
export const HYBRID_IDENTITY_PREFIX = 'AGE-SECRET-KEY-PQ-';
const PUBLIC_KEY_SIZE = 1216;
const ENC_SIZE = 1120;

export class HybridRecipient implements Recipient {
  readonly type = TYPE;
  readonly postQuantum = true;
  readonly publicKey: Buffer;

  /** @throws UsageError when `recipient` is not an `age1pq1…` recipient. */
  constructor(recipient: string) {
    this.publicKey = decodeBech32(recipient, HYBRID_RECIPIENT_PREFIX, 'post-quantum recipient');
    if (this.publicKey.length !== PUBLIC_KEY_SIZE) throw new UsageError(`malformed post-quantum recipient: not ${PUBLIC_KEY_SIZE} bytes`);
  }

  wrap(fileKey: Buffer): Stanza[] {
    const { cipherText, sharedSecret } = ml_kem768_x25519.encapsulate(this.publicKey);
    return [{ type: TYPE, args: [encodeBase64(cipherText)], body: sealBase(KEM_MLKEM768_X25519, sharedSecret, INFO, fileKey) }];
  }
}

export class HybridIdentity implements Identity {
  readonly type = TYPE;
  readonly #seed: Buffer;

  /** @throws UsageError when `identity` is not an `AGE-SECRET-KEY-PQ-1…` identity. */
  constructor(identity: string) {
    this.#seed = decodeBech32(identity, HYBRID_IDENTITY_PREFIX, 'post-quantum identity');
    if (this.#seed.length !== 32) throw new UsageError('malformed post-quantum identity: not 32 bytes');
  }

  static generate(): string {
    return encodeBech32(HYBRID_IDENTITY_PREFIX, randomBytes(32), true);
  }

  get recipient(): string {
    return encodeBech32(HYBRID_RECIPIENT_PREFIX, ml_kem768_x25519.getPublicKey(this.#seed));
  }

  unwrap(stanzas: readonly Stanza[]): Buffer | undefined {
    for (const stanza of stanzasOfType(stanzas, TYPE, 1)) {
      const enc = decodeArgument(TYPE, stanza.args[0], ENC_SIZE, 'encapsulated key');
      if (stanza.body.length !== 32) throw headerFailure(`${TYPE} stanza body must be 32 bytes`);
      let sharedSecret: Uint8Array;
      try {
        sharedSecret = ml_kem768_x25519.decapsulate(enc, this.#seed);
      } catch {
        // The X25519 half refuses a low-order share (an all-zero secret); ML-KEM decapsulation itself never fails.
        throw headerFailure(`${TYPE} stanza: low-order X25519 share (all-zero shared secret)`);
      }
      const { key, nonce } = openBaseKey(KEM_MLKEM768_X25519, sharedSecret, INFO);
      const fileKey = openFileKey(TYPE, key, stanza.body, nonce);
      if (fileKey !== undefined) return fileKey;
    }
    return undefined;
  }
}
