/**
 * age's ssh-rsa recipient (agessh, not in age.md): the file key encrypted with RSA-OAEP-SHA-256, label
 * "age-encryption.org/v1/ssh-rsa", keys of 2048 bits or more. Stanza: `-> ssh-rsa <tag>`, body the OAEP ciphertext.
 * RSA from node:crypto (OpenSSL).
 */
import { constants, privateDecrypt, publicEncrypt, type KeyObject } from 'node:crypto';
import type { Stanza } from '../age-header.js';
import { sshTag, type SshPrivateKey, type SshPublicKey } from '../ssh-keys.js';
import { stanzasOfType, type Identity, type Recipient } from './recipient.js';

const TYPE = 'ssh-rsa';
const LABEL = Buffer.from('age-encryption.org/v1/ssh-rsa');

function oaep(key: KeyObject) {
  return { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: LABEL };
}

export class SshRsaRecipient implements Recipient {
  readonly type = TYPE;
  readonly postQuantum = false;
  readonly #key: SshPublicKey & { type: 'ssh-rsa' };

  constructor(key: SshPublicKey & { type: 'ssh-rsa' }) {
    this.#key = key;
  }

  wrap(fileKey: Buffer): Stanza[] {
    return [{ type: TYPE, args: [sshTag(this.#key)], body: publicEncrypt(oaep(this.#key.key), fileKey) }];
  }
}

export class SshRsaIdentity implements Identity {
  readonly type = TYPE;
  readonly #key: SshPrivateKey & { type: 'ssh-rsa' };

  constructor(key: SshPrivateKey & { type: 'ssh-rsa' }) {
    this.#key = key;
  }

  unwrap(stanzas: readonly Stanza[]): Buffer | undefined {
    const tag = sshTag(this.#key.publicKey);
    for (const stanza of stanzasOfType(stanzas, TYPE, 1)) {
      if (stanza.args[0] !== tag) continue;
      try {
        const fileKey = privateDecrypt(oaep(this.#key.key), stanza.body);
        if (fileKey.length === 16) return fileKey;
      } catch {
        // Not this key after all (a tag collision) or a tampered body: try the next stanza.
      }
    }
    return undefined;
  }
}
