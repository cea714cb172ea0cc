import { describe, expect, it } from 'vitest';
import { Fernet } from '../../src/crypto/fernet.js';
import { readVector } from '../helpers.js';

interface Generate { token: string; now: string; iv: number[]; src: string; secret: string }
interface Verify { token: string; now: string; ttl_sec: number; src: string; secret: string }
interface Invalid { desc: string; token: string; now: string; ttl_sec: number; secret: string }

const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

describe('Fernet (spec vectors)', () => {
  it('generate.json: exact tokens from a fixed IV and time', () => {
    const cases = readVector<Generate[]>('fernet/generate.json');
    expect(cases.length).toBeGreaterThan(0);
    for (const c of cases) {
      const token = new Fernet(c.secret).encrypt(Buffer.from(c.src), { iv: Buffer.from(c.iv), time: seconds(c.now) });
      expect(token).toBe(c.token);
    }
  });

  it('verify.json: tokens decrypt within their TTL', () => {
    for (const c of readVector<Verify[]>('fernet/verify.json')) {
      const plain = new Fernet(c.secret).decrypt(c.token, { ttl: c.ttl_sec, now: seconds(c.now) });
      expect(plain.toString()).toBe(c.src);
    }
  });

  it('invalid.json: every case is rejected', () => {
    const cases = readVector<Invalid[]>('fernet/invalid.json');
    expect(cases.length).toBe(8);
    for (const c of cases) {
      expect(() => new Fernet(c.secret).decrypt(c.token, { ttl: c.ttl_sec, now: seconds(c.now) }), c.desc).toThrow(/fernet token/);
    }
  });

  it('round-trips and rejects a token made under another key', () => {
    const a = new Fernet(Fernet.generateKey());
    const b = new Fernet(Fernet.generateKey());
    const token = a.encrypt(Buffer.from('data'));
    expect(a.decrypt(token).toString()).toBe('data');
    expect(() => b.decrypt(token)).toThrow(expect.objectContaining({ code: 'TAMPERED' }));
  });

  it('applies the 60 s future clock-skew check even without a TTL', () => {
    const f = new Fernet(Fernet.generateKey());
    const token = f.encrypt(Buffer.from('x'), { time: 1000 });
    expect(f.decrypt(token, { now: 940 }).toString()).toBe('x');
    expect(() => f.decrypt(token, { now: 939 })).toThrow(expect.objectContaining({ code: 'EXPIRED' }));
  });
});
