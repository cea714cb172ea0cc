import { describe, expect, it } from 'vitest';
import { pbkdf2Sha256 } from '../../src/crypto/pbkdf2.js';
import { hex, readVector } from '../helpers.js';

interface Rfc7914 { tests: { password: string; salt: string; iterations: number; dkLen: number; dk: string }[] }
interface Community { tests: { password_hex: string; salt_hex: string; iterations: number; dkLen: number; dk: string; slow?: boolean }[] }
interface Wycheproof { testGroups: { tests: { tcId: number; password: string; salt: string; iterationCount: number; dkLen: number; dk: string; result: string }[] }[] }

describe('PBKDF2-HMAC-SHA256', () => {
  it('matches every RFC 7914 §11 vector', async () => {
    const { tests } = readVector<Rfc7914>('pbkdf2/rfc7914_section11_pbkdf2_hmac_sha256.json');
    expect(tests).toHaveLength(2);
    for (const t of tests) {
      const dk = await pbkdf2Sha256(t.password, Buffer.from(t.salt), t.iterations, t.dkLen);
      expect(dk.toString('hex')).toBe(t.dk);
    }
  });

  it('matches every Wycheproof pbkdf2_hmacsha256 vector', async () => {
    const tests = readVector<Wycheproof>('pbkdf2/wycheproof_pbkdf2_hmacsha256_test.json').testGroups.flatMap((g) => g.tests);
    expect(tests.length).toBe(60);
    for (const t of tests) {
      const dk = await pbkdf2Sha256(hex(t.password), hex(t.salt), t.iterationCount, t.dkLen);
      expect(dk.toString('hex'), `tcId ${t.tcId}`).toBe(t.dk);
    }
  });

  it('matches the community RFC 6070-style set (the 2^24-iteration case included)', async () => {
    const { tests } = readVector<Community>('pbkdf2/rfc6070_style_sha256_community.json');
    for (const t of tests) {
      const dk = await pbkdf2Sha256(hex(t.password_hex), hex(t.salt_hex), t.iterations, t.dkLen);
      expect(dk.toString('hex')).toBe(t.dk);
    }
  }, 120_000);

  it('refuses iteration counts outside [1, 1e8]', async () => {
    await expect(pbkdf2Sha256('p', Buffer.alloc(16), 0)).rejects.toMatchObject({ code: 'USAGE' });
    await expect(pbkdf2Sha256('p', Buffer.alloc(16), 1e9)).rejects.toMatchObject({ code: 'USAGE' });
    await expect(pbkdf2Sha256('p', Buffer.alloc(16), 1.5)).rejects.toMatchObject({ code: 'USAGE' });
  });
});
