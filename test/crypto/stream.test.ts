import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { aeadOpen, aeadOpenPieces, aeadSeal, CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, StreamOpener, StreamSealer, type AeadSuite } from '../../src/crypto/stream.js';
import { hex, pseudoRandomBytes, randomSplit, readVector, SIZES } from '../helpers.js';

interface WycheproofAead {
  testGroups: { ivSize: number; keySize: number; tagSize: number; tests: { tcId: number; key: string; iv: string; aad: string; msg: string; ct: string; tag: string; result: string }[] }[];
}

function seal(suite: AeadSuite, key: Buffer, data: Buffer): Buffer {
  const sealer = new StreamSealer(suite, key);
  return Buffer.concat([...randomSplit(data, 3).flatMap((p) => sealer.push(p)), ...sealer.end()]);
}

function open(suite: AeadSuite, key: Buffer, data: Buffer, pieces: Buffer[] = [data]): Buffer {
  const opener = new StreamOpener(suite, key);
  const out: Buffer[] = [];
  for (const piece of pieces) opener.push(piece, (p) => out.push(p));
  out.push(opener.end());
  return Buffer.concat(out);
}

describe('AEAD layer (Wycheproof, 96-bit IV, 128-bit tag groups)', () => {
  const sets: [AeadSuite, string, number][] = [
    ['aes-256-gcm', 'wycheproof/aes_gcm_test.json', 256],
    ['chacha20-poly1305', 'wycheproof/chacha20_poly1305_test.json', 256],
  ];
  for (const [suite, file, keySize] of sets) {
    it(`${suite}: every valid case seals exactly, every invalid one fails to open`, () => {
      const groups = readVector<WycheproofAead>(file).testGroups.filter((g) => g.ivSize === 96 && g.tagSize === 128 && g.keySize === keySize);
      let count = 0;
      for (const t of groups.flatMap((g) => g.tests)) {
        const [key, iv, aad, msg, sealed] = [hex(t.key), hex(t.iv), hex(t.aad), hex(t.msg), hex(t.ct + t.tag)];
        const opened = aeadOpen(suite, key, iv, sealed, aad);
        if (t.result === 'invalid') {
          expect(opened, `tcId ${t.tcId}`).toBeUndefined();
        } else {
          expect(opened?.toString('hex'), `tcId ${t.tcId}`).toBe(t.msg);
          expect(Buffer.concat(aeadSeal(suite, key, iv, msg, aad)).toString('hex')).toBe(t.ct + t.tag);
        }
        count++;
      }
      expect(count).toBeGreaterThan(50);
    });
  }
});

describe('AEAD open in pieces (a content frame as it came off the socket)', () => {
  for (const suite of ['aes-256-gcm', 'chacha20-poly1305'] as const) {
    it(`${suite}: any split, the tag's bytes split too, opens to the plaintext in pieces of the input's sizes; a flipped bit fails`, () => {
      const key = randomBytes(32);
      const nonce = randomBytes(12);
      const aad = Buffer.of(0x23);
      for (const size of [0, 1, 15, 16, 17, 65_536, 262_144]) {
        const plaintext = pseudoRandomBytes(size, size + 3);
        const sealed = Buffer.concat(aeadSeal(suite, key, nonce, plaintext, aad));
        const n = sealed.length;
        const splits = [[sealed], randomSplit(sealed, size + 5), [sealed.subarray(0, n - 8), sealed.subarray(n - 8)], [sealed.subarray(0, n - 1), sealed.subarray(n - 1)], [...sealed.subarray(n - 20)].map((b) => Buffer.of(b))];
        splits[4]?.unshift(sealed.subarray(0, n - 20));
        for (const pieces of splits) {
          const opened = aeadOpenPieces(suite, key, nonce, pieces, aad);
          expect(opened && Buffer.concat(opened).equals(plaintext), `size ${size}, ${pieces.length} pieces`).toBe(true);
          if (size > 0 && pieces.length > 1) expect(opened?.[0]?.length).toBe(Math.min(pieces[0]?.length ?? 0, size));
          const flipped = pieces.map((p) => Buffer.from(p));
          const last = flipped[flipped.length - 1] as Buffer;
          last[last.length - 1] = (last[last.length - 1] as number) ^ 0x80;
          expect(aeadOpenPieces(suite, key, nonce, flipped, aad)).toBeUndefined();
        }
        expect(aeadOpenPieces(suite, key, nonce, [sealed], Buffer.of(0x24))).toBeUndefined();
      }
      expect(aeadOpenPieces(suite, key, nonce, [Buffer.alloc(15)])).toBeUndefined();
    });
  }
});

describe('STREAM', () => {
  for (const suite of ['chacha20-poly1305', 'aes-256-gcm'] as const) {
    const key = randomBytes(32);
    it(`${suite}: round-trips every boundary size, whole, random-split and byte by byte`, () => {
      for (const size of SIZES) {
        const data = pseudoRandomBytes(size, size + 1);
        const sealed = seal(suite, key, data);
        expect(sealed.length).toBe(size + 16 * Math.max(1, Math.ceil(size / CHUNK_SIZE)));
        expect(open(suite, key, sealed).equals(data)).toBe(true);
        expect(open(suite, key, sealed, randomSplit(sealed, size + 9)).equals(data)).toBe(true);
        if (size <= CHUNK_SIZE + 1) expect(open(suite, key, sealed, [...sealed].map((b) => Buffer.of(b))).equals(data)).toBe(true);
      }
    });

    it(`${suite}: detects truncation, reordering, duplication, appended data and bit flips`, () => {
      const data = pseudoRandomBytes(3 * CHUNK_SIZE + 100, 5);
      const sealed = seal(suite, key, data);
      const chunks = [0, 1, 2, 3].map((i) => sealed.subarray(i * ENCRYPTED_CHUNK_SIZE, (i + 1) * ENCRYPTED_CHUNK_SIZE));
      const [c0, c1, c2, c3] = chunks as [Buffer, Buffer, Buffer, Buffer];
      const cases: [string, Buffer, string][] = [
        ['drop final chunk', Buffer.concat([c0, c1, c2]), 'TRUNCATED'],
        ['cut inside final chunk', sealed.subarray(0, sealed.length - 1), 'TAMPERED'],
        ['cut to a tag', sealed.subarray(0, 3 * ENCRYPTED_CHUNK_SIZE + 10), 'TRUNCATED'],
        ['swap chunks', Buffer.concat([c1, c0, c2, c3]), 'TAMPERED'],
        ['duplicate a chunk', Buffer.concat([c0, c0, c1, c2, c3]), 'TAMPERED'],
        ['append data', Buffer.concat([sealed, Buffer.from('x')]), 'TAMPERED'],
        ['append a chunk', Buffer.concat([sealed, c3]), 'TAMPERED'],
        ['empty input', Buffer.alloc(0), 'TRUNCATED'],
      ];
      for (const [label, input, code] of cases) expect(() => open(suite, key, input), label).toThrow(expect.objectContaining({ code }));
      for (const at of [0, ENCRYPTED_CHUNK_SIZE - 1, ENCRYPTED_CHUNK_SIZE, sealed.length - 1]) {
        const flipped = Buffer.from(sealed);
        flipped[at] = (flipped[at] as number) ^ 1;
        expect(() => open(suite, key, flipped), `flip at ${at}`).toThrow(expect.objectContaining({ code: 'TAMPERED' }));
      }
      expect(() => open(suite, randomBytes(32), sealed)).toThrow(expect.objectContaining({ code: 'TAMPERED' }));
    });
  }
});
