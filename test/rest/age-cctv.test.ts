import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseAgeHeaderAndNonce, payloadKey, unwrapScrypt, verifyHeaderMac, PAYLOAD_NONCE_SIZE } from '../../src/rest/age-header.js';
import { StreamOpener } from '../../src/crypto/stream.js';
import { SftError } from '../../src/errors.js';
import { cctvNames, readCctv, type CctvVector } from './cctv.js';
import { randomSplit } from '../helpers.js';

type Outcome = CctvVector['expect'];

/** Decrypts a vector, feeding the payload in `pieces`; returns the outcome and all plaintext released. */
async function decrypt(v: CctvVector, split: (payload: Buffer) => Buffer[]): Promise<{ outcome: Outcome; released: Buffer; error?: SftError }> {
  const released: Buffer[] = [];
  const result = (outcome: Outcome, error?: SftError) => ({ outcome, released: Buffer.concat(released), ...(error ? { error } : {}) });
  let header, nonce;
  try {
    ({ header, nonce } = parseAgeHeaderAndNonce(v.file));
  } catch (error) {
    return result('header failure', error as SftError);
  }
  let fileKey: Buffer;
  try {
    if (v.passphrases.length > 0) {
      fileKey = await unwrapScrypt(header, v.passphrases[0] as string);
    } else {
      // X25519 identities are not implemented: use the vector's file key and check everything after it.
      fileKey = v.fileKey as Buffer;
      verifyHeaderMac(fileKey, header);
    }
  } catch (error) {
    const e = error as SftError;
    return result(e.code === 'AUTH_FAILED' ? 'no match' : e.code === 'TAMPERED' ? 'HMAC failure' : 'header failure', e);
  }
  const opener = new StreamOpener('chacha20-poly1305', payloadKey(fileKey, nonce));
  try {
    for (const piece of split(v.file.subarray(header.length + PAYLOAD_NONCE_SIZE))) opener.push(piece, (plaintext) => released.push(plaintext));
    released.push(opener.end());
  } catch (error) {
    return result('payload failure', error as SftError);
  }
  return result('success');
}

const names = cctvNames();
// Cases that need what sft does not implement: armor, and X25519/hybrid key unwrapping when the expected outcome
// is decided by the unwrapping itself (all other X25519 cases run with the vector's file key).
const vectors = names.map(readCctv);
const unsupported = (v: CctvVector) => v.armored || v.expect === 'armor failure' || (v.passphrases.length === 0 && (v.expect === 'no match' || v.name.startsWith('hybrid') || v.name.startsWith('x25519')));
const runnable = vectors.filter((v) => !unsupported(v));

describe('CCTV age suite', () => {
  it('covers every stream_* and scrypt* case', () => {
    const required = vectors.filter((v) => v.name.startsWith('stream_') || v.name.startsWith('scrypt'));
    expect(required.length).toBe(28 + 25);
    for (const v of required) expect(runnable).toContain(v);
  });

  const splits: [string, (p: Buffer) => Buffer[]][] = [
    ['whole', (p) => [p]],
    ['random split', (p) => randomSplit(p, p.length + 7)],
    ['byte by byte (first 200 KiB)', (p) => (p.length <= 200 * 1024 ? [...p].map((b) => Buffer.of(b)) : [p])],
  ];
  for (const v of runnable) {
    it(`${v.name}: ${v.expect}`, async () => {
      for (const [label, split] of splits) {
        const { outcome, released, error } = await decrypt(v, split);
        expect(outcome, `${label}: ${error?.message ?? ''}`).toBe(v.expect);
        if (v.payload !== undefined) expect(createHash('sha256').update(released).digest('hex'), label).toBe(v.payload);
        if (v.expect !== 'success') expect(error, label).toBeInstanceOf(SftError);
      }
    });
  }
});
