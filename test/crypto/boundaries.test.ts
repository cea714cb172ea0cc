/**
 * What each crypto helper refuses, exactly at its boundary and with its error code: the cases mutation testing
 * (docs/TESTING.md) found unguarded. Wrong lengths of keys, shares and ciphertexts are refused with a typed error
 * naming them (never a RangeError from OpenSSL); Fernet tokens with a bad shape, version, padding or age fail as
 * Python's cryptography does; the STREAM opener names what went wrong.
 */
import { createCipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { equalConstantTime, u64be } from '../../src/crypto/bytes.js';
import { scalarFromBytes, scalarMultVfy, sampleScalar } from '../../src/crypto/cpace.js';
import { Fernet, toBase64Url } from '../../src/crypto/fernet.js';
import { hashFilePrefix } from '../../src/crypto/hash.js';
import { checkServerSetup, createServerSetup, opaqueReady, serverLoginStart } from '../../src/crypto/opaque.js';
import { kemDecapsulate, kemEncapsulate, kemKeyPair } from '../../src/crypto/mlkem.js';
import { MAX_ITERATIONS, pbkdf2Sha256 } from '../../src/crypto/pbkdf2.js';
import { aeadOpen, aeadSeal, CHUNK_SIZE, StreamOpener, StreamSealer, streamNonce } from '../../src/crypto/stream.js';
import { pseudoRandomBytes, tempDir } from '../helpers.js';

const code = (c: string, message?: RegExp) => expect.objectContaining({ code: c, ...(message === undefined ? {} : { message: expect.stringMatching(message) }) });

describe('constant-time comparison and file hashing', () => {
  it('values of different lengths compare unequal instead of throwing', () => {
    expect(equalConstantTime(Buffer.alloc(32), Buffer.alloc(31))).toBe(false);
    expect(equalConstantTime(Buffer.alloc(32, 1), Buffer.alloc(32, 1))).toBe(true);
  });

  it('u64be writes 8 big-endian bytes, up to 2^53 - 1', () => {
    expect(u64be(0x0102030405).toString('hex')).toBe('0000000102030405');
    expect(u64be(Number.MAX_SAFE_INTEGER).toString('hex')).toBe('001fffffffffffff');
  });

  it('hashFilePrefix hashes exactly the first n bytes: 0, 1, all, and past one read block', async () => {
    const data = pseudoRandomBytes(1024 * 1024 + 5, 2);
    const path = join(tempDir(), 'f');
    writeFileSync(path, data);
    for (const n of [0, 1, 1000, 1024 * 1024 + 1, data.length]) {
      const expected = createHash('sha256').update(data.subarray(0, n)).digest('hex');
      expect((await hashFilePrefix(path, n)).digest('hex'), `n = ${n}`).toBe(expected);
    }
  });
});

describe('CPace shares and scalars', () => {
  it('a share of the wrong length is refused as such, a low-order one as low-order (both AUTH_FAILED)', () => {
    const y = sampleScalar();
    expect(() => scalarMultVfy(y, Buffer.alloc(31, 9))).toThrow(code('AUTH_FAILED', /wrong length/));
    expect(() => scalarMultVfy(y, Buffer.alloc(32))).toThrow(code('AUTH_FAILED', /low-order/));
  });

  it('a scalar of the wrong length is a usage error', () => {
    expect(() => scalarFromBytes(Buffer.alloc(31))).toThrow(code('USAGE', /"scalar" expected 32 bytes, got 31/));
  });
});

describe('ML-KEM-768 lengths', () => {
  it('a key or ciphertext of the wrong length is refused before the library sees it (AUTH_FAILED, named)', () => {
    const { encapsulationKey, decapsulationKey } = kemKeyPair();
    expect(() => kemEncapsulate(encapsulationKey.subarray(1))).toThrow(code('AUTH_FAILED', /key of the wrong length/));
    const { ciphertext } = kemEncapsulate(encapsulationKey);
    expect(() => kemDecapsulate(ciphertext.subarray(1), decapsulationKey)).toThrow(code('AUTH_FAILED', /ciphertext of the wrong length/));
    // A key whose coefficients are not reduced mod q (FIPS 203 §7.2): every byte 0xff.
    expect(() => kemEncapsulate(Buffer.alloc(1184, 0xff))).toThrow(code('AUTH_FAILED', /invalid ML-KEM encapsulation key/));
  });
});

describe('OPAQUE wrapper', () => {
  it('refuses to run before opaqueReady(); an invalid server setup or KE1 is MALFORMED', async () => {
    expect(() => createServerSetup()).toThrow(code('INTERNAL', /before opaqueReady/));
    await opaqueReady();
    expect(() => checkServerSetup('AAAA')).toThrow(code('MALFORMED', /server setup is not valid/));
    expect(() => serverLoginStart(createServerSetup(), 'alice', undefined, Buffer.alloc(96))).toThrow(code('MALFORMED', /invalid credential request/));
  });
});

describe('PBKDF2 bounds', () => {
  it('the iteration ceiling itself is allowed (the key length check comes next), and key lengths 1 and 1024 too', async () => {
    await expect(pbkdf2Sha256('p', Buffer.alloc(16), MAX_ITERATIONS, 0)).rejects.toThrow(code('USAGE', /"keyLength"/));
    await expect(pbkdf2Sha256('p', Buffer.alloc(16), MAX_ITERATIONS + 1)).rejects.toThrow(code('USAGE', /"iterations" expected an integer in \[1, 100000000\], got 100000001/));
    expect(await pbkdf2Sha256('p', Buffer.alloc(16), 1, 1)).toHaveLength(1);
    expect(await pbkdf2Sha256('p', Buffer.alloc(16), 1, 1024)).toHaveLength(1024);
    for (const keyLength of [0, 1025, 1.5]) await expect(pbkdf2Sha256('p', Buffer.alloc(16), 1, keyLength)).rejects.toThrow(code('USAGE', /"keyLength"/));
  });
});

/** A Fernet token built by hand under `key`: any version, ciphertext and padding, with a valid HMAC. */
function handMade(key: Buffer, plaintextBlocks: Buffer, options: { version?: number; time?: number } = {}): Buffer {
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-128-cbc', key.subarray(16), iv).setAutoPadding(false);
  const ciphertext = Buffer.concat([cipher.update(plaintextBlocks), cipher.final()]);
  const time = Buffer.alloc(8);
  time.writeBigUInt64BE(BigInt(options.time ?? Math.floor(Date.now() / 1000)));
  const body = Buffer.concat([Buffer.of(options.version ?? 0x80), time, iv, ciphertext]);
  return Buffer.concat([body, createHmac('sha256', key.subarray(0, 16)).update(body).digest()]);
}

describe('Fernet token shapes', () => {
  const key = randomBytes(32);
  const fernet = new Fernet(key);

  it('a key that is not 32 bytes of url-safe base64 is a usage error', () => {
    for (const bad of ['!!!!', toBase64Url(Buffer.alloc(16)), Buffer.alloc(31)]) expect(() => new Fernet(bad)).toThrow(code('USAGE', /"key" expected 32 bytes/));
  });

  it('an IV that is not 16 bytes is a usage error', () => {
    expect(() => fernet.encrypt(Buffer.from('x'), { iv: Buffer.alloc(8) })).toThrow(code('USAGE', /"iv" expected 16 bytes, got 8/));
  });

  it('round-trips every plaintext length over two blocks (padding of 1 to 16 bytes), as text and as bytes', () => {
    for (let n = 0; n <= 33; n++) {
      const data = pseudoRandomBytes(n, n + 1);
      const token = fernet.encrypt(data);
      expect(fernet.decrypt(token).equals(data), `length ${n}`).toBe(true);
      expect(fernet.decrypt(Buffer.from(token, 'latin1')).equals(data), `length ${n}, token as bytes`).toBe(true);
    }
  });

  it('encryptToBytes writes into a buffer it is given only when the token fits, else into a new one', () => {
    const data = Buffer.from('sixteen bytes!!!');
    const small = Buffer.alloc(20, 7);
    const token = fernet.encryptToBytes(data, {}, small);
    expect(token).not.toBe(small);
    expect(small.equals(Buffer.alloc(20, 7))).toBe(true);
    expect(fernet.decryptBytes(token).equals(data)).toBe(true);
    const large = Buffer.alloc(200);
    const reused = fernet.encryptToBytes(data, {}, large);
    expect(reused.buffer).toBe(large.buffer);
    expect(fernet.decryptBytes(reused).equals(data)).toBe(true);
  });

  it('decrypts into a scratch buffer it is given when that is large enough, and not into one too small', () => {
    const data = pseudoRandomBytes(100, 3);
    const token = fernet.encrypt(data);
    const exact = (token.length / 4) * 3;
    expect(fernet.decrypt(token, {}, Buffer.alloc(exact - 3)).equals(data)).toBe(true);
    expect(fernet.decrypt(token, {}, Buffer.alloc(exact)).equals(data)).toBe(true);
  });

  it('a token without its base64 padding, or with other characters, is MALFORMED', () => {
    const token = fernet.encrypt(Buffer.from('x'));
    expect(token.endsWith('=')).toBe(true);
    expect(() => fernet.decrypt(token.replace(/=+$/, ''))).toThrow(code('MALFORMED', /not url-safe base64/));
    expect(() => fernet.decrypt(`${token.slice(0, -4)}+/==`)).toThrow(code('MALFORMED', /not url-safe base64/));
  });

  it('a token with no ciphertext block, or a length off the block size, is MALFORMED even with a valid HMAC', () => {
    expect(() => fernet.decryptBytes(handMade(key, Buffer.alloc(0)))).toThrow(code('MALFORMED', /bad length/));
    const token = handMade(key, Buffer.alloc(16, 16));
    expect(() => fernet.decryptBytes(Buffer.concat([token, Buffer.alloc(1)]))).toThrow(code('MALFORMED', /bad length/));
  });

  it('a version byte other than 0x80 is MALFORMED even with a valid HMAC', () => {
    expect(() => fernet.decryptBytes(handMade(key, Buffer.alloc(16, 16), { version: 0x81 }))).toThrow(code('MALFORMED', /unknown version/));
  });

  it('padding of 0 or 17 (not PKCS#7) is TAMPERED even with a valid HMAC; a whole block of 16 is padding', () => {
    expect(() => fernet.decryptBytes(handMade(key, Buffer.concat([Buffer.alloc(15, 1), Buffer.of(0)])))).toThrow(code('TAMPERED', /bad padding/));
    expect(() => fernet.decryptBytes(handMade(key, Buffer.alloc(32, 17)))).toThrow(code('TAMPERED', /bad padding/));
    expect(fernet.decryptBytes(handMade(key, Buffer.alloc(16, 16)))).toHaveLength(0);
  });

  it('the TTL is checked against now (by default the clock), and a token exactly ttl seconds old still passes', () => {
    const token = fernet.encrypt(Buffer.from('x'), { time: 1000 });
    expect(fernet.decrypt(token, { ttl: 60, now: 1060 }).toString()).toBe('x');
    expect(() => fernet.decrypt(token, { ttl: 60, now: 1061 })).toThrow(code('EXPIRED', /expired/));
    expect(fernet.decrypt(fernet.encrypt(Buffer.from('y')), { ttl: 60 }).toString()).toBe('y');
  });
});

describe('AEAD and STREAM edges', () => {
  const key = randomBytes(32);
  for (const suite of ['aes-256-gcm', 'chacha20-poly1305'] as const) {
    it(`${suite}: input shorter than a tag does not open (no exception)`, () => {
      for (const n of [0, 5, 15]) expect(aeadOpen(suite, key, Buffer.alloc(12), Buffer.alloc(n))).toBeUndefined();
    });
  }

  it('keys of another length than 32 bytes are a usage error', () => {
    expect(() => new StreamSealer('chacha20-poly1305', Buffer.alloc(16))).toThrow(code('USAGE', /"key" expected 32 bytes, got 16/));
    expect(() => new StreamOpener('chacha20-poly1305', Buffer.alloc(33))).toThrow(code('USAGE', /"key" expected 32 bytes, got 33/));
  });

  it('a sealer refuses data after end() and a second end(), and stops before its counter would overflow', () => {
    const sealer = new StreamSealer('chacha20-poly1305', key);
    sealer.end();
    expect(() => sealer.push(Buffer.from('x'))).toThrow(code('USAGE', /already ended/));
    expect(() => sealer.end()).toThrow(code('USAGE', /already ended/));
    expect(() => new StreamSealer('chacha20-poly1305', key, Number.MAX_SAFE_INTEGER).end()).toThrow(code('USAGE', /too long/));
    expect(new StreamSealer('chacha20-poly1305', key, Number.MAX_SAFE_INTEGER - 1).end()).toHaveLength(2);
    const counting = new StreamSealer('chacha20-poly1305', key);
    counting.push(Buffer.alloc(CHUNK_SIZE + 1));
    expect(counting.counter).toBe(1);
  });

  /** Seals `chunks` by hand: [plaintext, last] with counters from 0. */
  const sealed = (...chunks: [Buffer, boolean][]) => Buffer.concat(chunks.flatMap(([p, last], i) => aeadSeal('chacha20-poly1305', key, streamNonce(i, last), p)));
  const open = (input: Buffer) => {
    const opener = new StreamOpener('chacha20-poly1305', key);
    const out: Buffer[] = [];
    opener.push(input, (p) => out.push(p));
    out.push(opener.end());
    return { opener, data: Buffer.concat(out) };
  };

  it('names each failure: missing payload, missing final chunk, a cut tag, an empty final chunk after data, data after a full final chunk', () => {
    const full = pseudoRandomBytes(CHUNK_SIZE, 4);
    expect(() => open(Buffer.alloc(0))).toThrow(code('TRUNCATED', /payload missing/));
    expect(() => open(sealed([full, false]))).toThrow(code('TRUNCATED', /final chunk missing/));
    expect(() => open(Buffer.concat([sealed([full, false]), Buffer.alloc(10)]))).toThrow(code('TRUNCATED', /chunk 1 truncated/));
    expect(() => open(sealed([full, false], [Buffer.alloc(0), true]))).toThrow(code('TAMPERED', /empty final chunk after data/));
    expect(() => open(Buffer.concat([sealed([full, true]), Buffer.from('x')]))).toThrow(code('TAMPERED', /data after the final chunk/));
    expect(() => open(sealed([full, false], [full, false]).subarray(0, CHUNK_SIZE + 16 + 20))).toThrow(code('TAMPERED', /final chunk 1 failed authentication/));
  });

  it('after the final chunk the opener is done, its counter the number of chunks', () => {
    const full = pseudoRandomBytes(CHUNK_SIZE, 5);
    const { opener, data } = open(sealed([full, false], [Buffer.from('end'), true]));
    expect(data.length).toBe(CHUNK_SIZE + 3);
    expect(opener.done).toBe(true);
    expect(opener.counter).toBe(2);
    expect(opener.end()).toHaveLength(0);
    const fullFinal = open(sealed([full, false], [full, true]));
    expect(fullFinal.data.length).toBe(2 * CHUNK_SIZE);
    expect(fullFinal.opener.counter).toBe(2);
  });

  it('a full-size chunk that is neither a middle nor the final one is named by its number', () => {
    const full = pseudoRandomBytes(CHUNK_SIZE, 6);
    const forged = sealed([full, false], [full, false]);
    forged.writeUInt8(forged.readUInt8(forged.length - 1) ^ 1, forged.length - 1);
    expect(() => open(forged)).toThrow(code('TAMPERED', /^chunk 1 failed authentication$/));
  });
});
