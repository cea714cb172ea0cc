/**
 * ML-KEM-768 (FIPS 203) from @noble/post-quantum, for the hybrid session keys of the v2 handshake. A thin layer:
 * fixed sizes, and the encapsulation key's input check (FIPS 203 §7.2) reported as a typed error.
 */
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { AuthError } from '../errors.js';

export const ENCAPSULATION_KEY_SIZE = 1184;
export const CIPHERTEXT_SIZE = 1088;
export const SHARED_SECRET_SIZE = 32;

export interface KemKeyPair {
  encapsulationKey: Buffer;
  decapsulationKey: Uint8Array;
}

/** A fresh key pair; `seed` (64 bytes: d ‖ z) only for test vectors. */
export function kemKeyPair(seed?: Uint8Array): KemKeyPair {
  const { publicKey, secretKey } = ml_kem768.keygen(seed);
  return { encapsulationKey: Buffer.from(publicKey), decapsulationKey: secretKey };
}

/**
 * Encapsulates to the peer's key. `message` (32 bytes) only for test vectors.
 * @throws AuthError when the key fails FIPS 203's modulus check or has the wrong length: the session aborts.
 */
export function kemEncapsulate(encapsulationKey: Uint8Array, message?: Uint8Array): { ciphertext: Buffer; sharedSecret: Buffer } {
  if (encapsulationKey.length !== ENCAPSULATION_KEY_SIZE) throw new AuthError('peer sent an ML-KEM key of the wrong length');
  let result;
  try {
    result = ml_kem768.encapsulate(encapsulationKey, message);
  } catch {
    throw new AuthError('peer sent an invalid ML-KEM encapsulation key');
  }
  return { ciphertext: Buffer.from(result.cipherText), sharedSecret: Buffer.from(result.sharedSecret) };
}

/**
 * Decapsulates. A ciphertext altered in transit does not fail here: ML-KEM's implicit rejection returns an
 * unrelated secret, and the key confirmation that follows fails (AuthError).
 */
export function kemDecapsulate(ciphertext: Uint8Array, decapsulationKey: Uint8Array): Buffer {
  if (ciphertext.length !== CIPHERTEXT_SIZE) throw new AuthError('peer sent an ML-KEM ciphertext of the wrong length');
  return Buffer.from(ml_kem768.decapsulate(ciphertext, decapsulationKey));
}
