/**
 * The slice of HPKE (RFC 9180) that age's hybrid recipient uses: the base-mode key schedule (§5.1) for
 * KDF HKDF-SHA256 and AEAD ChaCha20Poly1305, and single-shot SealBase/OpenBase (§6.1) with empty aad.
 * HKDF-Extract and -Expand from @noble/hashes; the AEAD from node:crypto.
 */
import { expand, extract } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { aeadSeal } from '../../crypto/stream.js';

const KDF_HKDF_SHA256 = 0x0001;
const AEAD_CHACHA20POLY1305 = 0x0003;
const VERSION = Buffer.from('HPKE-v1');
const MODE_BASE = 0x00;

function suiteId(kemId: number): Buffer {
  const id = Buffer.alloc(10);
  id.write('HPKE');
  id.writeUInt16BE(kemId, 4);
  id.writeUInt16BE(KDF_HKDF_SHA256, 6);
  id.writeUInt16BE(AEAD_CHACHA20POLY1305, 8);
  return id;
}

/** LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" ‖ suite_id ‖ label ‖ ikm). */
function labeledExtract(suite: Buffer, salt: Uint8Array | undefined, label: string, ikm: Uint8Array): Uint8Array {
  return extract(sha256, Buffer.concat([VERSION, suite, Buffer.from(label), ikm]), salt);
}

/** LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) ‖ "HPKE-v1" ‖ suite_id ‖ label ‖ info, L). */
function labeledExpand(suite: Buffer, prk: Uint8Array, label: string, info: Uint8Array, length: number): Buffer {
  const prefix = Buffer.alloc(2);
  prefix.writeUInt16BE(length);
  return Buffer.from(expand(sha256, prk, Buffer.concat([prefix, VERSION, suite, Buffer.from(label), info]), length));
}

/** KeySchedule(mode_base, shared_secret, info, psk = "", psk_id = ""): the AEAD key and base nonce. */
function keySchedule(kemId: number, sharedSecret: Uint8Array, info: string): { key: Buffer; nonce: Buffer } {
  const suite = suiteId(kemId);
  const context = Buffer.concat([
    Buffer.of(MODE_BASE),
    labeledExtract(suite, undefined, 'psk_id_hash', new Uint8Array(0)),
    labeledExtract(suite, undefined, 'info_hash', Buffer.from(info)),
  ]);
  const secret = labeledExtract(suite, sharedSecret, 'secret', new Uint8Array(0));
  return { key: labeledExpand(suite, secret, 'key', context, 32), nonce: labeledExpand(suite, secret, 'base_nonce', context, 12) };
}

/** The ciphertext of the first (and only) message of a base-mode context: sequence number 0, so the base nonce. */
export function sealBase(kemId: number, sharedSecret: Uint8Array, info: string, plaintext: Uint8Array): Buffer {
  const { key, nonce } = keySchedule(kemId, sharedSecret, info);
  return Buffer.concat(aeadSeal('chacha20-poly1305', key, nonce, plaintext));
}

/** The AEAD key and nonce to open a SealBase ciphertext with. */
export function openBaseKey(kemId: number, sharedSecret: Uint8Array, info: string): { key: Buffer; nonce: Buffer } {
  return keySchedule(kemId, sharedSecret, info);
}

