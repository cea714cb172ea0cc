/**
 * The X25519 recipient (age.md "The X25519 recipient type"): an ephemeral share, wrap key =
 * HKDF-SHA-256(ikm = X25519(ephemeral, recipient), salt = share ‖ recipient, info = "age-encryption.org/v1/X25519").
 * Keys are Bech32: `age1…` recipients, `AGE-SECRET-KEY-1…` identities. Curve arithmetic from @noble/curves.
 */
import { randomBytes } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import { UsageError } from '../../errors.js';
import { encodeBase64, headerFailure, hkdf, type Stanza } from '../age-header.js';
import { decodeBech32, encodeBech32 } from './bech32.js';
import { checkSharedSecret, decodeArgument, openFileKey, sealFileKey, stanzasOfType, type Identity, type Recipient } from './recipient.js';

const TYPE = 'X25519';
const LABEL = 'age-encryption.org/v1/X25519';
export const X25519_RECIPIENT_PREFIX = 'age';
export const X25519_IDENTITY_PREFIX = 'AGE-SECRET-KEY-';

/** X25519(scalar, point); an all-zero result (a low-order point) is refused as age.md requires. */
export function sharedSecret(type: string, scalar: Uint8Array, point: Uint8Array): Buffer {
  let secret: Uint8Array;
  try {
    secret = x25519.getSharedSecret(scalar, point);
  } catch {
    // @noble/curves refuses an all-zero output itself.
    throw headerFailure(`${type} stanza: low-order share (all-zero shared secret)`);
  }
  checkSharedSecret(type, secret);
  return Buffer.from(secret);
}

/** Wraps for a Montgomery public key: the body of both the X25519 and the ssh-ed25519 stanzas. */
export function wrapToPoint(label: string, fileKey: Buffer, theirPoint: Uint8Array, tweak?: Uint8Array): { share: Buffer; body: Buffer } {
  const ephemeral = randomBytes(32);
  const share = Buffer.from(x25519.getPublicKey(ephemeral));
  let secret = sharedSecret(label, ephemeral, theirPoint);
  if (tweak !== undefined) secret = Buffer.from(x25519.getSharedSecret(tweak, secret));
  return { share, body: sealFileKey(hkdf(secret, Buffer.concat([share, theirPoint]), label), fileKey) };
}

export class X25519Recipient implements Recipient {
  readonly type = TYPE;
  readonly postQuantum = false;
  readonly publicKey: Buffer;

  /** @throws UsageError when `recipient` is not an `age1…` X25519 recipient. */
  constructor(recipient: string) {
    this.publicKey = decodeBech32(recipient, X25519_RECIPIENT_PREFIX, 'X25519 recipient');
    if (this.publicKey.length !== 32) throw new UsageError('malformed X25519 recipient: not 32 bytes');
  }

  wrap(fileKey: Buffer): Stanza[] {
    const { share, body } = wrapToPoint(LABEL, fileKey, this.publicKey);
    return [{ type: TYPE, args: [encodeBase64(share)], body }];
  }
}

export class X25519Identity implements Identity {
  readonly type = TYPE;
  readonly #secret: Buffer;
  readonly publicKey: Buffer;

  /** @throws UsageError when `identity` is not an `AGE-SECRET-KEY-1…` identity. */
  constructor(identity: string) {
    this.#secret = decodeBech32(identity, X25519_IDENTITY_PREFIX, 'X25519 identity');
    if (this.#secret.length !== 32) throw new UsageError('malformed X25519 identity: not 32 bytes');
    this.publicKey = Buffer.from(x25519.getPublicKey(this.#secret));
  }

  static generate(): string {
    return encodeBech32(X25519_IDENTITY_PREFIX, randomBytes(32), true);
  }

  get recipient(): string {
    return encodeBech32(X25519_RECIPIENT_PREFIX, this.publicKey);
  }

  unwrap(stanzas: readonly Stanza[]): Buffer | undefined {
    for (const stanza of stanzasOfType(stanzas, TYPE, 1)) {
      const share = decodeArgument(TYPE, stanza.args[0], 32, 'share');
      const secret = sharedSecret(TYPE, this.#secret, share);
      const fileKey = openFileKey(TYPE, hkdf(secret, Buffer.concat([share, this.publicKey]), LABEL), stanza.body);
      if (fileKey !== undefined) return fileKey;
    }
    return undefined;
  }
}
