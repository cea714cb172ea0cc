// ML-KEM-768 (FIPS 203) through src/crypto/mlkem.ts against the Wycheproof vectors (test/vectors/mlkem): key
// generation from seeds, encapsulation with a fixed message (valid keys, and keys whose coefficients overflow the
// modulus, which must be refused), and decapsulation of valid and modified ciphertexts (implicit rejection).
import { describe, expect, it } from 'vitest';
import { kemDecapsulate, kemEncapsulate, kemKeyPair } from '../../src/crypto/mlkem.js';
import { hex, readVector } from '../helpers.js';

interface Suite<T> { testGroups: { tests: (T & { tcId: number; result: 'valid' | 'invalid'; comment?: string })[] }[] }
const tests = <T>(name: string) => readVector<Suite<T>>(`mlkem/${name}`).testGroups.flatMap((g) => g.tests);

describe('ML-KEM-768 (Wycheproof)', () => {
  it('key generation from seed: every vector', () => {
    const vectors = tests<{ seed: string; ek: string; dk: string }>('mlkem_768_keygen_seed_test.json');
    expect(vectors.length).toBe(100);
    for (const v of vectors) {
      const pair = kemKeyPair(hex(v.seed));
      expect(pair.encapsulationKey.toString('hex'), `tcId ${v.tcId}`).toBe(v.ek);
      expect(Buffer.from(pair.decapsulationKey).toString('hex'), `tcId ${v.tcId}`).toBe(v.dk);
    }
  });

  it('encapsulation: valid keys give the expected ciphertext and secret; invalid keys are refused', () => {
    const vectors = tests<{ ek: string; m: string; c: string; K: string }>('mlkem_768_encaps_test.json');
    let valid = 0;
    let invalid = 0;
    for (const v of vectors) {
      if (v.result === 'valid') {
        const { ciphertext, sharedSecret } = kemEncapsulate(hex(v.ek), hex(v.m));
        expect(ciphertext.toString('hex'), `tcId ${v.tcId}`).toBe(v.c);
        expect(sharedSecret.toString('hex'), `tcId ${v.tcId}`).toBe(v.K);
        valid++;
      } else {
        expect(() => kemEncapsulate(hex(v.ek), hex(v.m)), `tcId ${v.tcId}`).toThrow(expect.objectContaining({ code: 'AUTH_FAILED' }));
        invalid++;
      }
    }
    expect(valid + invalid).toBe(vectors.length);
    expect(invalid).toBeGreaterThan(0);
  });

  it('decapsulation: valid and modified ciphertexts give the expected secret (implicit rejection)', () => {
    const vectors = tests<{ seed: string; c: string; K: string }>('mlkem_768_test.json');
    let checked = 0;
    for (const v of vectors) {
      if (v.result === 'valid') {
        const { decapsulationKey } = kemKeyPair(hex(v.seed));
        expect(kemDecapsulate(hex(v.c), decapsulationKey).toString('hex'), `tcId ${v.tcId}`).toBe(v.K);
      } else {
        // The invalid cases are seeds (private keys) or ciphertexts of the wrong length: refused, never decapsulated.
        expect(() => kemDecapsulate(hex(v.c), kemKeyPair(hex(v.seed)).decapsulationKey), `tcId ${v.tcId}`).toThrow();
      }
      checked++;
    }
    expect(checked).toBe(vectors.length);
  });

  it('a round trip agrees; a flipped ciphertext byte gives an unrelated secret', () => {
    const pair = kemKeyPair();
    const { ciphertext, sharedSecret } = kemEncapsulate(pair.encapsulationKey);
    expect(kemDecapsulate(ciphertext, pair.decapsulationKey).equals(sharedSecret)).toBe(true);
    ciphertext[100] = (ciphertext[100] as number) ^ 1;
    expect(kemDecapsulate(ciphertext, pair.decapsulationKey).equals(sharedSecret)).toBe(false);
  });
});
