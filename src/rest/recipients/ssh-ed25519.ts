/**
 * age's ssh-ed25519 recipient (agessh, not in age.md): the Ed25519 key as its X25519 (Montgomery) form, the X25519
 * construction with the shared secret multiplied by a tweak = HKDF-SHA-256(ikm = "", salt = ssh wire key,
 * info = label), and a 4-byte key tag so an identity skips stanzas for other keys.
 * Stanza: `-> ssh-ed25519 <tag> <share>`, body 32 bytes. Curve maps from @noble/curves.
 */
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { encodeBase64, hkdf, type Stanza } from '../age-header.js';
import { sshTag, type SshPrivateKey, type SshPublicKey } from '../ssh-keys.js';
import { decodeArgument, openFileKey, stanzasOfType, type Identity, type Recipient } from './recipient.js';
import { sharedSecret, wrapToPoint } from './x25519.js';

const TYPE = 'ssh-ed25519';
const LABEL = 'age-encryption.org/v1/ssh-ed25519';

function tweak(key: SshPublicKey): Buffer {
  return hkdf(Buffer.alloc(0), key.blob, LABEL);
}

type Ed25519Key = SshPublicKey & { type: 'ssh-ed25519' };

function montgomery(key: Ed25519Key): Buffer {
  return Buffer.from(ed25519.utils.toMontgomery(key.point));
}

export class SshEd25519Recipient implements Recipient {
  readonly type = TYPE;
  readonly postQuantum = false;
  readonly #key: Ed25519Key;
  readonly #point: Buffer;

  constructor(key: Ed25519Key) {
    this.#key = key;
    this.#point = montgomery(key);
  }

  wrap(fileKey: Buffer): Stanza[] {
    const { share, body } = wrapToPoint(LABEL, fileKey, this.#point, tweak(this.#key));
    return [{ type: TYPE, args: [sshTag(this.#key), encodeBase64(share)], body }];
  }
}

export class SshEd25519Identity implements Identity {
  readonly type = TYPE;
  readonly #key: Ed25519Key;
  readonly #scalar: Buffer;
  readonly #point: Buffer;

  constructor(key: SshPrivateKey & { type: 'ssh-ed25519' }) {
    this.#key = key.publicKey;
    this.#scalar = Buffer.from(ed25519.utils.toMontgomerySecret(key.seed));
    this.#point = montgomery(key.publicKey);
  }

  unwrap(stanzas: readonly Stanza[]): Buffer | undefined {
    const tag = sshTag(this.#key);
    for (const stanza of stanzasOfType(stanzas, TYPE, 2)) {
      if (stanza.args[0] !== tag) continue;
      const share = decodeArgument(TYPE, stanza.args[1], 32, 'share');
      const secret = Buffer.from(x25519.getSharedSecret(tweak(this.#key), sharedSecret(TYPE, this.#scalar, share)));
      const fileKey = openFileKey(TYPE, hkdf(secret, Buffer.concat([share, this.#point]), LABEL), stanza.body);
      if (fileKey !== undefined) return fileKey;
    }
    return undefined;
  }
}
